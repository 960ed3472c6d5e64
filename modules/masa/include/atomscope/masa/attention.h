#pragma once
// MASA attention for training from scratch, and the baselines it is compared with at the same
// attention parameter budget (paper: "Share Your Attention", 2025):
//   masa-qkvo / masa-qkv  each shared projection type has S matrix atoms D_s [out, in]; layer l uses
//                         W_l = sum_s c_ls D_s. While training, c_l = MLP(e_l) from a learned per-layer
//                         embedding e_l; finalize() freezes them into C [L, S]. Inference precomputes
//                         W_l once (no slowdown). masa-qkv keeps o dense.
//   gqa                   grouped-query attention (n_kv_heads = n_heads / 4 unless the config says otherwise)
//   low-rank              every projection W = U V with U [out, r], V [r, in]
//   sequential            G weight sets; consecutive blocks of L / G layers share one
//   repeat-all-over       G weight sets; layer l uses set l mod G
// The shared weights live in one module registered in the model as "masa" (masa.q.atoms,
// masa.q.layer_embedding, ...), so the optimizer, checkpoints and parameter counts see each once.
#include <torch/torch.h>

#include <string>

#include "atomscope/core/json.h"
#include "atomscope/lm/model.h"
#include "atomscope/masa/dictionary.h"

namespace atomscope::masa {

struct SharingOptions {
  std::string variant = "masa-qkvo";  // masa-qkvo, masa-qkv, gqa, low-rank, sequential, repeat-all-over
  std::int64_t atoms = 0;             // S (masa-*): 0 = max(1, round(L / 3))
  std::int64_t rank = 0;              // r (low-rank): 0 = max(1, dim / 3)
  std::int64_t groups = 0;            // G (sequential, repeat-all-over): 0 = max(1, round(L / 3))
  std::int64_t embeddingDim = 32;     // width of the per-layer embedding feeding the coefficient MLP
  // MASA coefficients at the start: "random" (the paper: random mixtures from the MLP) or
  // "sequential" (layer l starts as atom floor(l S / L) alone, the sequential-sharing model) or
  // "repeat" (layer l starts as atom l mod S alone, the repeat-all-over model).
  std::string coefficientInit = "random";
  // AdamW decay on the coefficient generator (embeddings, MLP) as on any matrix (the default), or only
  // on the atoms: decaying both factors of c_ls D_s shrinks the product twice over.
  bool coefficientDecay = true;
  static SharingOptions fromJson(const std::string& variant, const Json& options);
};

// An untrained model with the variant's attention (current torch seed).
lm::CausalLM createSharedAttentionModel(const lm::ModelConfig& config, const SharingOptions& options);

// MASA: replaces the coefficient MLPs by the coefficients they give now (C [L, S], still trainable).
// Nothing for the other variants. Idempotent.
void freezeCoefficients(lm::CausalLMImpl& model);

// Exact counts: attention_parameters (stored: atoms, coefficients or MLPs, biases, per-layer
// factors), dense_attention_parameters (the same model with dense attention), attention_reduction
// (1 - ratio), total parameters, the variant and its S / r / G.
Json describeAttention(lm::CausalLMImpl& model);

// The MASA dictionaries of a trained masa-* model (frozen coefficients), for export and analysis.
std::vector<MatrixDictionary> dictionariesOf(lm::CausalLMImpl& model);

// The 2-D parameters of the MASA coefficient generators that must not decay: empty unless the model was
// built with coefficientDecay off (and not frozen yet).
std::vector<torch::Tensor> undecayedParameters(lm::CausalLMImpl& model);

// Adds every variant to lm's registry (lm.train's 'attention' parameter).
void registerAttentionVariants();

}  // namespace atomscope::masa
