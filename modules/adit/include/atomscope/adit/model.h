#pragma once
// The ADiT networks in LibTorch ("All-atom Diffusion Transformers", 2025; reference code
// facebookresearch/all-atom-diffusion-transformer, src/models): one token per atom =
// embedding(Z) + MLP(Cartesian position) + MLP(fractional coordinates) + sinusoidal index
// embedding; a VAE of pre-LN Transformer encoder and decoder with an 8-number diagonal-Gaussian
// latent per atom and heads for atom types, positions, fractional coordinates and the lattice
// (from mean-pooled tokens); a DiT over the latents with adaLN-Zero blocks, self-conditioning and
// classifier-free guidance on the data-set kind (and optionally the space group), also conditioned
// on the atom count (this project's lesson, issue 7). Padding masks allow mixed atom counts.
#include <string>

#include <torch/torch.h>

#include "atomscope/adit/dataset.h"
#include "atomscope/core/json.h"

namespace atomscope::adit {

struct VaeConfig {
  int width = 256, heads = 8, encoderLayers = 6, decoderLayers = 6, latent = 8;
  int maxAtoms = 512;  // largest sinusoidal index supported
  Json toJson() const;
  static VaeConfig fromJson(const Json& j);
  static VaeConfig preset(const std::string& name);  // tiny, small, S, B, L
};

struct DitConfig {
  int width = 384, heads = 6, layers = 12, latent = 8;
  int maxAtoms = 512;
  double classDropout = 0.1;  // classifier-free guidance: share of labels replaced by "none"
  bool spaceGroupCondition = true;
  // Also conditioned on the composition (compositionInput; a zero-initialised projection, dropped to "none" like
  // the labels for guidance): samples then take a composition drawn from the training set or given as a formula.
  // 72% of an unconditioned sample model's invalid molecules had an odd number of electrons (issue 7). Files
  // without the key load as false.
  bool compositionCondition = false;
  // What the projection reads: "counts" (atoms of each element: one hydrogen more is a step of 1, the size of the
  // parity errors it is meant to fix) or "fractions" (a step of 1/N; session 22's first try, and files without
  // the key).
  std::string compositionInput = "counts";
  Json toJson() const;
  static DitConfig fromJson(const Json& j);
  static DitConfig preset(const std::string& name);  // tiny, small (256/8/4), S (384/12/6), B (768/12/12), L (1024/24/16)
};

// Sinusoidal features of integer positions (index or atom count) or of a time in [0, 1]:
// [..] -> [.., dim] with cos/sin halves and periods up to 10000.
torch::Tensor sinusoidal(const torch::Tensor& x, int dim);

// Pre-LN Transformer block with a key padding mask (true = real atom).
struct BlockImpl : torch::nn::Module {
  BlockImpl(int width, int heads, bool affineNorms = true);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);
  torch::Tensor attention(const torch::Tensor& x, const torch::Tensor& mask);
  int heads;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Linear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Block);

// Token embedding of a padded batch: [B, N, width].
struct TokenEmbeddingImpl : torch::nn::Module {
  explicit TokenEmbeddingImpl(int width);
  torch::Tensor forward(const Batch& b);
  int width;
  torch::nn::Embedding atom{nullptr};
  torch::nn::Sequential posMlp{nullptr}, fracMlp{nullptr};
};
TORCH_MODULE(TokenEmbedding);

struct VaeOutput {
  torch::Tensor mean, logvar, z;        // [B, N, latent]
  torch::Tensor atomLogits;             // [B, N, 119]
  torch::Tensor positions, fractional;  // [B, N, 3]
  torch::Tensor lattice;                // [B, 6] normalised
};

struct VaeLoss {
  torch::Tensor total, atoms, positions, fractional, lattice, kl;
};

struct VaeImpl : torch::nn::Module {
  explicit VaeImpl(const VaeConfig& c);
  std::pair<torch::Tensor, torch::Tensor> encode(const Batch& b);  // mean, logvar
  // Decoded fields of latents z [B, N, latent] under mask [B, N].
  VaeOutput decode(const torch::Tensor& z, const torch::Tensor& mask);
  // latentNoise > 0 adds Gaussian noise of that many latent standard deviations (of the batch) to z
  // before decoding, so the decoder learns to tolerate imprecise latents from the DiT (issue 7's lesson).
  VaeOutput forward(const Batch& b, bool sample = true, torch::Generator* gen = nullptr, double latentNoise = 0.0);
  VaeConfig config;
  TokenEmbedding embed{nullptr};
  torch::nn::ModuleList encoder{nullptr}, decoder{nullptr};
  torch::nn::LayerNorm encNorm{nullptr}, decNorm{nullptr};
  torch::nn::Linear toLatent{nullptr}, fromLatent{nullptr};
  torch::nn::Linear atomHead{nullptr}, posHead{nullptr}, fracHead{nullptr}, latticeHead{nullptr};
};
TORCH_MODULE(Vae);

// CE on atom types + MSE on positions + MSE on fractional coordinates and lattice (crystals only)
// + klWeight * KL, all over real atoms only.
VaeLoss vaeLoss(const VaeOutput& out, const Batch& b, double klWeight = 1e-5);

// Conditioning labels for the DiT. kind / spaceGroup: -1 is "none" (the CFG null class).
struct DitCondition {
  torch::Tensor kind;        // [B] int64
  torch::Tensor spaceGroup;  // [B] int64, 0 = none
  torch::Tensor natoms;      // [B] int64
  torch::Tensor composition; // [B, kCompositionElements] float (compositionVector), all zero = none; may be undefined
};

// Elements 1 .. kCompositionElements in a composition vector (index Z - 1); heavier ones are left out of it.
constexpr int kCompositionElements = 100;
// Element counts [B, kCompositionElements] of padded atomic numbers [B, N] over the real atoms of mask [B, N].
torch::Tensor compositionCounts(const torch::Tensor& numbers, const torch::Tensor& mask);
// What a DiT of this config reads as its composition condition (config.compositionInput), from element counts
// [B, kCompositionElements] (compositionCounts) and atom counts natoms [B]: the counts, or them over natoms.
torch::Tensor compositionVector(const DitConfig& config, const torch::Tensor& counts, const torch::Tensor& natoms);

struct AdaLnBlockImpl : torch::nn::Module {
  AdaLnBlockImpl(int width, int heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c, const torch::Tensor& mask);
  Block inner{nullptr};  // its attention and MLP, with modulated norms
  torch::nn::Linear modulation{nullptr};  // c -> 6 width (shift, scale, gate for attention and MLP), zero-init
};
TORCH_MODULE(AdaLnBlock);

struct DitImpl : torch::nn::Module {
  explicit DitImpl(const DitConfig& c);
  // Predicts x1 from x_t [B, N, latent] at times t [B]; selfCond is the previous x1 estimate (or zeros).
  torch::Tensor forward(const torch::Tensor& xt, const torch::Tensor& t, const DitCondition& cond,
                        const torch::Tensor& mask, const torch::Tensor& selfCond);
  DitConfig config;
  torch::nn::Linear in{nullptr};
  torch::nn::Sequential timeMlp{nullptr};
  torch::nn::Embedding kindEmbed{nullptr}, groupEmbed{nullptr};
  torch::nn::Linear natomsProj{nullptr};
  torch::nn::Linear compositionProj{nullptr};  // only with config.compositionCondition
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm finalNorm{nullptr};
  torch::nn::Linear finalModulation{nullptr}, out{nullptr};
};
TORCH_MODULE(Dit);

// B uniformly random rotation matrices [B, 3, 3] (normalised Gaussian quaternions) on gen's device.
torch::Tensor randomRotations(std::int64_t B, torch::Generator* gen, const torch::Device& device);

// Centred standard Gaussian noise shaped like x: mean over real atoms is zero; padding is zero.
torch::Tensor centredNoise(const torch::IntArrayRef shape, const torch::Tensor& mask, torch::Generator* gen);

// Flow-matching loss: x_t = (1-t) x0 + t x1, predicted x1, per-structure masked MSE weighted by
// 1 / (1 - min(t, 0.9))^2, averaged over the batch.
torch::Tensor flowMatchingLoss(const torch::Tensor& predicted, const torch::Tensor& x1, const torch::Tensor& t,
                               const torch::Tensor& mask);

// Rows [first, first + size) of a batch; size < 0: all of them.
struct BatchRows {
  std::int64_t first = 0, size = -1;
};

// One DiT training loss on latents x1 [B, N, latent]: draws x0 and t ~ U[0.01, 0.99] (with gen, on
// x1's device), drops labels for CFG and, when selfCondition, first predicts x1 without gradient and
// feeds that estimate back (the caller decides, e.g. half of the steps, without a device sync).
// Data parallel: every rank passes the whole batch and its `rows`; the draws are made for the whole
// batch and cut to those rows, so the ranks' mean loss is the one-process loss.
torch::Tensor ditTrainingLoss(Dit& model, const torch::Tensor& x1, DitCondition cond, const torch::Tensor& mask,
                              torch::Generator* gen, bool selfCondition, BatchRows rows = {});

// Predicts x1 from (x_t, t) for the sampler.
using X1Predictor = std::function<torch::Tensor(const torch::Tensor& xt, double t, const torch::Tensor& selfCond)>;

struct SamplerOptions {
  int steps = 100;
  bool heun = false;
};

// Integrates dx/dt = (x1(x_t) - x_t) / (1 - t) from x0 at t = 0 to t = 1 with Euler (or Heun) steps;
// the last step lands on the predicted x1. A predictor returning a fixed x1 is reached exactly.
torch::Tensor sampleFlow(const X1Predictor& predict, torch::Tensor x0, const SamplerOptions& options,
                         const torch::Tensor& mask);

// The DiT as predictor with classifier-free guidance: uncond + scale (cond - uncond); scale 1 is
// plain conditional prediction.
X1Predictor ditPredictor(Dit& model, const DitCondition& cond, const torch::Tensor& mask, double guidance);

}  // namespace atomscope::adit
