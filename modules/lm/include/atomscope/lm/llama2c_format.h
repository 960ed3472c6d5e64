#pragma once
// The llama2.c legacy checkpoint layout (run.c's export): a 28-byte header of seven int32 (dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: untied head), seq_len), then
// float32 weights. Parsing and size checks only; no torch, so the fuzz build has it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "atomscope/lm/model_config.h"

namespace atomscope::lm {

struct Llama2cLayout {
  ModelConfig config;
  std::uint64_t floats = 0;         // weights after the header
  std::uint64_t expectedBytes = 0;  // 28 + 4 * floats
};

// Checks the header and that the file holds exactly the weights it declares (size = the file's
// size). Throws LmError naming `name` and the field or size that is wrong.
Llama2cLayout parseLlama2cHeader(const std::uint8_t* data, std::size_t size, const std::string& name);

}  // namespace atomscope::lm
