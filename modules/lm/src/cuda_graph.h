#pragma once
// Capture and replay of one decoding step as a CUDA graph (private to modules/lm). Decoding a small
// model is bound by kernel launches: a graph replays the step's hundreds of kernels with one launch.
// Built only when LibTorch has CUDA (ATOMSCOPE_TORCH_CUDA); elsewhere available() is false.
#include <torch/torch.h>

#include <functional>
#include <memory>

namespace atomscope::lm::detail {

class CapturedStep {
 public:
  // True when this build and device can capture graphs.
  static bool available(const torch::Device& device);
  // Work from here on runs on a side stream of `device` (graphs cannot be captured on the default one).
  explicit CapturedStep(const torch::Device& device);
  ~CapturedStep();
  CapturedStep(const CapturedStep&) = delete;
  CapturedStep& operator=(const CapturedStep&) = delete;
  // Records fn without running it; returns fn's output, which every replay() overwrites.
  torch::Tensor capture(const std::function<torch::Tensor()>& fn);
  void replay();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atomscope::lm::detail
