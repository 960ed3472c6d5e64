#pragma once
// Capture and replay of a step as CUDA graphs. A small model's step (a decoding step, a training
// step) is bound by kernel launches: a graph replays its hundreds of kernels with one launch.
// Several graphs can be held at once (keys), e.g. one per control-flow variant of a training step.
// Built only when LibTorch has CUDA (ATOMSCOPE_TORCH_CUDA); elsewhere available() is false.
#include <torch/torch.h>

#include <functional>
#include <memory>

namespace atomscope::lm {

class CapturedStep {
 public:
  // True when this build and device can capture graphs.
  static bool available(const torch::Device& device);
  // Work from here on runs on a side stream of `device` (graphs cannot be captured on the default
  // one); the stream waits for the device's earlier work first.
  explicit CapturedStep(const torch::Device& device);
  ~CapturedStep();  // waits for the side stream
  CapturedStep(const CapturedStep&) = delete;
  CapturedStep& operator=(const CapturedStep&) = delete;
  // Records fn as graph `key` without running it; returns fn's output, which every replay(key)
  // overwrites. Tensors fn allocates live in the graph's own memory pool.
  torch::Tensor capture(const std::function<torch::Tensor()>& fn, int key = 0);
  bool captured(int key = 0) const;
  void replay(int key = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atomscope::lm
