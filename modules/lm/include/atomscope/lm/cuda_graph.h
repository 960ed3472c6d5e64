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

// A computation captured once and replayed on demand, for callers without a loop of their own (a
// force-field calculator called once per MD step by code that knows nothing of streams). capture()
// and replay() each run on a side stream only for their own duration and wait for it: the caller's
// current stream is the same before and after, and the results can be read at once.
class GraphedCall {
 public:
  static bool available(const torch::Device& device);  // this build and device can capture
  explicit GraphedCall(const torch::Device& device);
  ~GraphedCall();
  GraphedCall(const GraphedCall&) = delete;
  GraphedCall& operator=(const GraphedCall&) = delete;
  // Runs fn once (warm-up: lazily made handles and caches), then records it; returns the recorded
  // output, which every replay() overwrites. fn's inputs must be tensors whose storage stays put:
  // the caller copies new values into them before each replay().
  torch::Tensor capture(const std::function<torch::Tensor()>& fn);
  void replay();
  bool captured() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atomscope::lm
