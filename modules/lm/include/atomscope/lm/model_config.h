#pragma once
// Configuration of a causal language model (Llama or GPT-2 family) and its conversion to and
// from Hugging Face config.json. No torch here: GUI code includes this.
#include <cstdint>
#include <string>

#include "atomscope/core/json.h"
#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::lm {

enum class ModelFamily { Llama, Gpt2 };
std::string toString(ModelFamily family);            // "llama", "gpt2"
ModelFamily modelFamilyFromString(const std::string&);  // throws LmError

struct ModelConfig {
  ModelFamily family = ModelFamily::Llama;
  std::int64_t vocabSize = 32000;
  std::int64_t dim = 4096;        // hidden size (n_embd)
  std::int64_t nLayers = 32;
  std::int64_t nHeads = 32;
  std::int64_t nKvHeads = 32;     // grouped-query attention when < nHeads; GPT-2: == nHeads
  std::int64_t headDim = 0;       // 0: dim / nHeads
  std::int64_t hiddenDim = 11008; // MLP inner size (GPT-2: n_inner, 4 * dim by default)
  std::int64_t maxSeqLen = 2048;  // context: GPT-2's position table size; Llama's nominal context
  double normEps = 1e-5;          // RMSNorm (Llama) or LayerNorm (GPT-2) epsilon
  double ropeTheta = 10000.0;     // Llama only
  bool tiedEmbeddings = false;    // the output projection is the token embedding (GPT-2: always)
  bool attentionBias = false;     // Llama q/k/v/o biases (GPT-2 always has them)
  bool mlpBias = false;           // Llama MLP biases (GPT-2 always has them)
  std::string activation;         // "" = family default: "silu" (Llama), "gelu_new" (GPT-2, tanh GELU)
  std::int64_t bosId = -1;        // -1: none
  std::int64_t eosId = -1;

  std::int64_t effectiveHeadDim() const { return headDim > 0 ? headDim : dim / nHeads; }
  std::string effectiveActivation() const;
  // Throws LmError listing what is inconsistent (heads not dividing dim, kv heads not dividing heads, ...).
  void validate() const;

  // Atomscope's own form: {"family","vocab_size","dim","n_layers",...}.
  Json toJson() const;
  static ModelConfig fromJson(const Json& json);  // missing keys keep their defaults; throws LmError

  // transformers' config.json for LlamaForCausalLM / GPT2LMHeadModel.
  Json toHfConfig() const;
  // source names the file in error messages.
  static ModelConfig fromHfConfig(const Json& json, const std::string& source = "config.json");
};

}  // namespace atomscope::lm
