#pragma once
// Attention variants a new model can be built with: lm.train's 'attention' parameter. "dense" (the
// plain model) is built in; other modules register theirs when their jobs are registered (masa
// adds masa-qkvo, masa-qkv, gqa, low-rank, sequential and repeat-all-over), so lm needs no
// knowledge of them.
#include <functional>
#include <string>
#include <vector>

#include "atomscope/core/json.h"
#include "atomscope/lm/model.h"

namespace atomscope::lm {

struct AttentionVariant {
  std::string name;
  std::string help;
  // Builds an untrained model. options: {"atoms": S (0 = auto), "rank": r (0 = auto), "groups": g (0 = auto)}.
  std::function<CausalLM(const ModelConfig&, const Json& options)> build;
  // After training: turn training-only structure into the inference form (e.g. MASA's coefficient
  // MLP into a frozen matrix). May be empty.
  std::function<void(CausalLMImpl&)> finalize;
  // Exact attention parameter counts: {"attention_parameters", "dense_attention_parameters", ...}.
  std::function<Json(CausalLMImpl&)> describe;
  // Matrices AdamW must not decay although they are 2-D (e.g. MASA's coefficient generator when its
  // 'coefficient_decay' is off). May be empty: every matrix decays.
  std::function<std::vector<torch::Tensor>(CausalLMImpl&)> undecayed;
};

// Adds or replaces a variant by name.
void registerAttentionVariant(AttentionVariant variant);
// "dense" first, then the registered ones in registration order.
std::vector<AttentionVariant> attentionVariants();
// Throws LmError listing the known names when there is none called `name`.
const AttentionVariant& attentionVariant(const std::string& name);

// Parameters of the attention projections (q, k, v, o of every layer) as a dense model has them.
std::int64_t denseAttentionParameters(const ModelConfig& config);

}  // namespace atomscope::lm
