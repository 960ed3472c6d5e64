#pragma once
// Pieces of a training step shared by lm.train, the benchmark and later MASA and NAS training:
// bf16 autocast scope, gradient clipping and the AdamW update with as few kernel launches as the
// LibTorch at hand allows (foreach and fused kernels on CUDA; on a small model the per-parameter
// loops of torch::optim cost more time than the arithmetic).
#include <torch/torch.h>

#include "atomscope/core/torch_autocast.h"

#include <memory>
#include <vector>

namespace atomscope::lm {

// bf16 autocast on CUDA for the scope: the shared one in core.
using CudaAutocast = core::CudaAutocast;

// As torch::nn::utils::clip_grad_norm_ (2-norm over all gradients, scaled in place by
// min(1, maxNorm / (norm + 1e-6))) but without a host synchronisation: returns the norm before
// clipping as a 0-dim float tensor on the gradients' device. Parameters without gradients are skipped.
torch::Tensor clipGradNorm(const std::vector<torch::Tensor>& parameters, double maxNorm);

// Runs optimizer.step() for an AdamW, with the fused CUDA kernel (one launch for all parameters of a
// group) when every parameter is a CUDA float tensor and LibTorch has it (>= 2.1). The optimizer's
// own state (step, exp_avg, exp_avg_sq) is what it updates, so checkpoints and resume are the same
// either way. Keep one stepper per optimizer.
class AdamWStepper {
 public:
  explicit AdamWStepper(torch::optim::AdamW& optimizer, bool allowFused = true);
  ~AdamWStepper();
  void step();
  // The fused step with the learning rate read from `lr` (a float32 0-dim tensor on the parameters'
  // device) instead of the options: nothing is read on the host, so the step can be captured in a
  // CUDA graph and replayed with a changing lr. Needs the fused kernel (CUDA, LibTorch >= 2.4).
  void step(const torch::Tensor& lr);
  static bool canStepWithTensorLr(const torch::optim::AdamW& optimizer);
  // After graph replays (which advance only the device step counters): the optimizer state's host
  // step count, which checkpoints save, set to n, as the device counters are.
  void setStepCount(std::int64_t n);
  bool fused() const;  // whether the last step() used the fused kernel

 private:
  void fusedStep(const torch::Tensor& lr);  // lr undefined: the options' lr
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The end of a training step after backward, with no host read (capturable): clipping to maxNorm,
// the AdamW step (lr from the tensor when defined, else from the options) and the EMA of the weights
// (ema = decay * ema + (1 - decay) * params). Returns the gradient norm before clipping (clipGradNorm).
torch::Tensor clipStepAndAverage(const std::vector<torch::Tensor>& params, double maxNorm, AdamWStepper& stepper,
                                 const torch::Tensor& lr, std::vector<torch::Tensor>& ema, double emaDecay);

}  // namespace atomscope::lm
