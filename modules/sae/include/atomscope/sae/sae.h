#pragma once
// Sparse autoencoders over activations x in R^d (row vectors), with n latents:
//   threshold SAE (JumpReLU):  z = pre * 1[pre > theta],  theta > 0 learned per latent
//   ReLU SAE:                  z = max(pre, 0)
//   pre = (x A - b_dec) W_enc + b_enc,   x_hat = (z W_dec + b_dec) A^-1
// A is a fixed [d, d] input transform: the whitening S^(1/2) with S = E[x^T x]^-1 (the atomic inner
// product's metric, "Towards Atoms of Large Language Models", 2025), or a scalar c I scaling the
// data to E||x A||^2 = d. W_dec's rows (the atoms, in the transformed space) have unit norm.
// The paper writes sigma_tau(x) = x 1[x >= tau]; we use the strict > as SAELens does (they differ on
// a set of measure zero).
//
// Files (SAELens' layout, so SAELens and Neuronpedia tools read them): a folder with
//   sae_weights.safetensors  W_enc [d, n], W_dec [n, d], b_enc [n], b_dec [d], threshold [n] (jumprelu)
//   cfg.json                 {"architecture": "jumprelu"|"standard", "d_in", "d_sae", "dtype", "device",
//                             "apply_b_dec_to_input": true, "normalize_activations": "none", "metadata": {...},
//                             plus SAELens 5's top-level model_name, hook_name, hook_layer, ...}
// The stored weights act on the raw activations: A is folded in (W_enc' = A W_enc,
// W_dec' = W_dec A^-1, b_dec' = b_dec A^-1). Atomscope also writes input_transform.safetensors
// (A, A^-1) so a loaded SAE trains on in its own space; without that file A is the identity.
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "atomscope/core/json.h"
#include "atomscope/sae/activations.h"

namespace atomscope::sae {

enum class SaeKind { JumpRelu, Relu };
std::string toString(SaeKind k);              // "jumprelu" | "relu"
SaeKind saeKindFromString(const std::string&);  // "jumprelu" | "threshold" | "relu" | "standard"; throws SaeError

// The JumpReLU paper's straight-through estimators (Rajamanoharan et al. 2024, "Jumping Ahead"),
// with the rectangle kernel K(u) = 1[|u| < 1/2] and bandwidth eps:
//   jumpRelu(pre, theta) = pre * H(pre - theta); d/dpre = H(pre - theta);
//       d/dtheta = -(theta / eps) K((pre - theta) / eps)
//   step(pre, theta) = H(pre - theta); d/dpre = 0; d/dtheta = -(1 / eps) K((pre - theta) / eps)
// theta is [n] and broadcasts over the leading dimensions of pre [..., n]; its gradient is summed.
torch::Tensor jumpRelu(const torch::Tensor& pre, const torch::Tensor& theta, double bandwidth);
torch::Tensor heavisideStep(const torch::Tensor& pre, const torch::Tensor& theta, double bandwidth);

class SaeImpl : public torch::nn::Module {
 public:
  SaeImpl(SaeKind kind, std::int64_t d, std::int64_t n);

  SaeKind kind() const { return kind_; }
  std::int64_t dIn() const { return d_; }
  std::int64_t dSae() const { return n_; }

  // Random unit atoms, W_enc = W_dec^T, zero biases, thresholds `threshold`.
  void initialise(double threshold = 0.01);
  void setInputTransform(const torch::Tensor& A, const torch::Tensor& Ainv);
  bool whitened() const { return whitened_; }
  void setWhitened(bool w) { whitened_ = w; }
  torch::Tensor threshold() const;  // theta [n] (JumpReLU), zeros for ReLU

  torch::Tensor toTransformed(const torch::Tensor& x) const { return torch::matmul(x, A); }      // x A
  torch::Tensor fromTransformed(const torch::Tensor& y) const { return torch::matmul(y, Ainv); }  // y A^-1

  // On transformed inputs xt = x A: pre-activations and codes.
  torch::Tensor preActivations(const torch::Tensor& xt) const;
  torch::Tensor activate(const torch::Tensor& pre) const;  // no STE: for evaluation
  torch::Tensor decodeTransformed(const torch::Tensor& z) const { return torch::matmul(z, W_dec) + b_dec; }
  // On raw activations.
  torch::Tensor encode(const torch::Tensor& x) const { return activate(preActivations(toTransformed(x))); }
  torch::Tensor decode(const torch::Tensor& z) const { return fromTransformed(decodeTransformed(z)); }

  // The atoms as directions in the raw activation space: rows of W_dec A^-1, [n, d].
  torch::Tensor rawAtoms() const { return torch::matmul(W_dec, Ainv); }
  // Scales W_dec's rows to unit norm (and W_enc's columns, b_enc, theta by the same factors, so
  // the function the SAE computes is unchanged).
  void normaliseDecoder();

  torch::Tensor W_enc, b_enc, W_dec, b_dec, logThreshold;  // parameters (logThreshold only for JumpReLU)
  torch::Tensor A, Ainv;                                     // buffers: the input transform

  Json info = Json::object();  // provenance (site, model, activations, training summary) for cfg.json

 private:
  SaeKind kind_;
  std::int64_t d_, n_;
  bool whitened_ = false;
};
TORCH_MODULE(Sae);

// Writes the folder (created; files replaced atomically).
void saveSae(SaeImpl& sae, const std::filesystem::path& folder);
// Reads a folder written by saveSae or by SAELens (architecture jumprelu or standard; W_dec in any
// row norm). Throws SaeError naming the file and tensor (missing, wrong shape, bad cfg.json).
Sae loadSae(const std::filesystem::path& folder, torch::Device device = torch::kCPU);

}  // namespace atomscope::sae
