#pragma once
// The compact MASA format, a folder:
//   masa.safetensors   masa.<role>.<g>.atoms [S, out, in], masa.<role>.<g>.coefficients [L_g, S],
//                      masa.<role>.<g>.residual.<layer>.{U,V} (refinement), or for the per-matrix
//                      baselines lowrank.<role>.<layer>.{U,V}; plus every non-attention tensor of the
//                      model under its Hugging Face name (attention biases included; attention
//                      weights left out: they are rebuilt).
//   masa_config.json   {"format": "atomscope.masa/1", "base_config": <transformers config.json>,
//                      "method", "dictionaries": [{"role", "group", "layers", "atoms", "residual_ranks"}],
//                      "low_rank": [{"role", "layers", "ranks"}], "attention_params", "report"}
//   the tokenizer file, when one is given.
// loadMasaFolder rebuilds a runnable dense lm model: every W_l is computed once at load time, so
// inference costs what the base model costs.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/lm/model_io.h"
#include "atomscope/masa/compress.h"

namespace atomscope::masa {

struct MasaSaveOptions {
  torch::Dtype dtype = torch::kFloat32;
  std::optional<std::filesystem::path> tokenizer;  // a file copied into the folder
};

// model: the model the result was computed from (its non-attention weights are stored).
void saveMasaFolder(lm::CausalLMImpl& model, const CompressionResult& result, const std::filesystem::path& folder,
                    const MasaSaveOptions& options = {});

struct MasaModel {
  lm::CausalLM model;  // dense attention, W_l precomputed
  std::vector<MatrixDictionary> dictionaries;
  std::map<std::string, std::vector<LowRankFactors>> lowRank;
  Json config;  // masa_config.json
  std::optional<std::filesystem::path> tokenizer;
  std::int64_t attentionParameters = 0;  // numbers the file stores for attention weights
};

bool isMasaFolder(const std::filesystem::path& path);
// Throws LmError naming the file and the tensor on anything missing or inconsistent.
MasaModel loadMasaFolder(const std::filesystem::path& folder, const lm::LoadOptions& options = {});

}  // namespace atomscope::masa
