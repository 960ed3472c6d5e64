#pragma once
// Text generation with a KV cache: greedy, temperature, top-k, top-p, seed, stop tokens and stop
// strings, max new tokens, a streaming callback per token, and batches (left-padded prompts).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "atomscope/lm/model.h"
#include "atomscope/lm/tokenizer.h"

namespace atomscope::lm {

struct GenerationOptions {
  std::int64_t maxNewTokens = 128;
  double temperature = 0.0;  // 0: greedy (argmax)
  std::int64_t topK = 0;     // 0: off
  double topP = 1.0;         // 1: off; else nucleus sampling (smallest set with probability >= topP)
  std::uint64_t seed = 0;    // sampling is reproducible for a seed, on any device
  bool stopAtEos = true;     // the model config's eos id (and the tokenizer's) end a sequence
  std::vector<std::int32_t> stopTokens;
  std::vector<std::string> stopStrings;  // need a tokenizer; the text is cut before the stop string
  bool useCache = true;                  // false: recompute the whole sequence every step (for checks)
  // How cached steps run: "auto" (CUDA graph on CUDA when this build has it, else dynamic), "dynamic"
  // (growing cache), "static" (fixed-size cache, the graph's computation without capture: for checks
  // on any device), "cuda-graph" (static, captured once and replayed: one launch per token).
  std::string decoding = "auto";
};

struct GenerationResult {
  std::vector<std::int32_t> tokens;  // generated tokens only (a stop token is included)
  std::string text;                  // decoded generated text when a tokenizer was given
  std::string stopReason;            // "eos", "stop_token", "stop_string", "max_new_tokens", "context", "callback"
};

// Called after each new token of row `row`; piece is the newly decoded text (empty without a
// tokenizer). Return false to stop that row.
using TokenCallback = std::function<bool(std::size_t row, std::int32_t token, const std::string& piece)>;
// Checked once per step; return true to stop everything (e.g. a job's cancel flag).
using StopCheck = std::function<bool()>;

std::vector<GenerationResult> generate(CausalLMImpl& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                       const GenerationOptions& options, const Tokenizer* tokenizer = nullptr,
                                       const TokenCallback& onToken = {}, const StopCheck& shouldStop = {});

GenerationResult generate(CausalLMImpl& model, const std::vector<std::int32_t>& prompt,
                          const GenerationOptions& options, const Tokenizer* tokenizer = nullptr,
                          const TokenCallback& onToken = {}, const StopCheck& shouldStop = {});

// Picks the next token from one row of logits [V] (any device) with the options' temperature,
// top-k and top-p, drawing from rng. Exposed for tests.
std::int32_t sampleToken(const torch::Tensor& logits, const GenerationOptions& options, std::uint64_t& rngState);

}  // namespace atomscope::lm
