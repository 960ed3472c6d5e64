#pragma once
// The TangleNAS supernet over modules/lm's Llama and GPT-2 families: one model of the largest size, whose every
// architecture of a SearchSpace is a leading slice of each weight. A forward pass takes the
// architecture weights of every dimension and mixes
//   embedding width  by entangled weights (embedding, q/k/v/o, MLP, tied output head) and exact
//                    mixed norms,
//   MLP ratio        by entangled weights (hidden size ratio * embed, combined with the width choice),
//   heads            by a weighted sum of the attention of every (width, heads) pair on the mixed
//                    q, k, v (head dim = width / heads, so a split is not a slice of one weight),
//   depth            by a weighted sum of the residual stream after each candidate depth.
// Parameter names match lm's model of the space's family (Llama: embed_tokens, layers.<i>.self_attn.q_proj,
// ..., norm; GPT-2: wte, wpe, h.<i>.ln_1, h.<i>.attn.q_proj, h.<i>.mlp.c_fc, ..., ln_f), so the
// sub-network of an architecture is the leading slice of every parameter of the same name. GPT-2's
// learned position table (rows = the space's context) and its biases are entangled over width as
// the weights are (bias * the mixed output-size mask).
#include <torch/torch.h>

#include "atomscope/lm/model.h"
#include "atomscope/nas/arch_weights.h"
#include "atomscope/nas/entangled.h"
#include "atomscope/nas/search_space.h"

namespace atomscope::nas {

class SupernetImpl : public torch::nn::Module {
 public:
  // Initialised as lm::createModel initialises the largest model (current torch seed); alphas 1e-3 randn.
  explicit SupernetImpl(const SearchSpace& space);
  const SearchSpace& space() const { return space_; }

  // ids [B, T] -> logits [B, T, vocab].
  torch::Tensor forward(const torch::Tensor& ids, const ArchWeights& w);
  // Mean next-token cross-entropy of ids [B, T] (as lm::languageModelLoss).
  torch::Tensor loss(const torch::Tensor& ids, const ArchWeights& w);

  // The standalone lm model of architecture a with the inherited (sliced) weights, on this
  // supernet's device, float32. With atoms: masa's masa-qkvo model (frozen coefficients), its
  // masa.<p>.atoms and masa.<p>.coefficients the leading slices [S, e, e] and [L, S].
  lm::CausalLM extract(const Architecture& a);

  std::vector<torch::Tensor> weightParameters();  // everything but the alphas
  std::vector<torch::Tensor> archParameters();    // the alphas

  ArchParameters arch{nullptr};

 private:
  struct Block;
  struct Gpt2Block;
  struct SharedAtoms;
  SearchSpace space_;
  // Llama
  EntangledEmbedding embed_tokens{nullptr};
  std::vector<std::shared_ptr<Block>> blocks_;
  EntangledRMSNorm norm{nullptr};
  std::shared_ptr<SharedAtoms> masa_;  // MASA atoms and coefficients (a space with atoms choices)
  torch::Tensor atomMasks_;            // [K_atoms, S_max]: 1 on the first S_k atoms
  // GPT-2
  EntangledEmbedding wte{nullptr}, wpe{nullptr};
  std::vector<std::shared_ptr<Gpt2Block>> gpt2Blocks_;
  EntangledLayerNorm ln_f{nullptr};
  torch::Tensor embedMasks_;   // [Ke, Emax]
  torch::Tensor hiddenMasks_;  // [Ke, Kr, Hmax]: 1 on the first ratio * embed entries
};
TORCH_MODULE(Supernet);

// A fresh (untrained) standalone model of architecture a: lm's model of the space's family, or with
// a.atoms > 0 masa's masa-qkvo model with S = a.atoms and frozen coefficients (current torch seed).
lm::CausalLM createArchitectureModel(const SearchSpace& space, const Architecture& a);

}  // namespace atomscope::nas
