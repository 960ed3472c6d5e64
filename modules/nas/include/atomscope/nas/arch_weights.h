#pragma once
// Architecture parameters alpha (one vector per searchable dimension, initialised 1e-3 randn as in
// TangleNAS) and the architecture weights w drawn from them:
//   DARTS: softmax(alpha)
//   GDAS:  Gumbel-softmax at temperature tau, made hard (one-hot) with a straight-through gradient
//   DrNAS: a reparameterised sample of Dirichlet(ELU(alpha) + 1)
#include <torch/torch.h>

#include <array>
#include <string>

#include "atomscope/nas/search_space.h"

namespace atomscope::nas {

enum class Method { Darts, Gdas, Drnas };
Method methodFromString(const std::string& name);  // darts | gdas | drnas; throws NasError
std::string toString(Method m);

// w per dimension, each [K_d], summing to 1; `atoms` [K_atoms] only in a space with MASA atoms
// (undefined for dense attention).
struct ArchWeights : std::array<torch::Tensor, kNumDims> {
  torch::Tensor atoms;
};

// One-hot weights selecting architecture a (throws NasError when a is not in the space).
ArchWeights oneHotWeights(const SearchSpace& space, const Architecture& a, const torch::TensorOptions& options = {});

// Hard Gumbel-softmax: value one-hot at argmax((alpha + g) / tau) (exactly 0 elsewhere), gradient
// that of the soft sample.
torch::Tensor gumbelSoftmaxHard(const torch::Tensor& alpha, double tau);
// A Dirichlet(concentration) sample with the implicit reparameterisation gradient (torch's
// _sample_dirichlet / _dirichlet_grad, as torch.distributions.Dirichlet.rsample).
torch::Tensor dirichletSample(const torch::Tensor& concentration);

class ArchParametersImpl : public torch::nn::Module {
 public:
  explicit ArchParametersImpl(const SearchSpace& space);
  // The weights a training step uses.
  ArchWeights sample(Method m, double tau = 1.0);
  // What the alphas currently say (no sampling): softmax for DARTS and GDAS, the Dirichlet mean for DrNAS.
  ArchWeights expected(Method m) const;
  // The same, differentiable in the alphas (for terms of the architecture loss such as a size penalty).
  ArchWeights mean(Method m) const;
  Architecture argmax(const SearchSpace& space) const;
  std::array<torch::Tensor, kNumDims> alpha;
  torch::Tensor alphaAtoms;  // "alpha_atoms", only in a space with atoms choices
};
TORCH_MODULE(ArchParameters);

}  // namespace atomscope::nas
