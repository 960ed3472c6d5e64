#include "cuda_graph.h"

#include "atomscope/lm/tokenizer.h"  // LmError

#ifdef ATOMSCOPE_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace atomscope::lm::detail {

#ifdef ATOMSCOPE_TORCH_CUDA
struct CapturedStep::Impl {
  explicit Impl(const torch::Device& device)
      : stream(at::cuda::getStreamFromPool(false, device.index() < 0 ? at::cuda::current_device() : device.index())),
        guard(stream) {}
  at::cuda::CUDAStream stream;
  c10::cuda::CUDAStreamGuard guard;
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

bool CapturedStep::available(const torch::Device& device) { return device.is_cuda() && torch::cuda::is_available(); }

CapturedStep::CapturedStep(const torch::Device& device) {
  if (!available(device)) throw LmError("CUDA graphs need a CUDA device");
  impl_ = std::make_unique<Impl>(device);
  impl_->stream.synchronize();
}

CapturedStep::~CapturedStep() {
  if (impl_) impl_->stream.synchronize();
}

torch::Tensor CapturedStep::capture(const std::function<torch::Tensor()>& fn) {
  if (impl_->captured) throw LmError("a step is already captured");
  impl_->stream.synchronize();
  impl_->graph.capture_begin();
  torch::Tensor out;
  try {
    out = fn();
  } catch (...) {
    try { impl_->graph.capture_end(); } catch (...) {}
    throw;
  }
  impl_->graph.capture_end();
  impl_->captured = true;
  return out;
}

void CapturedStep::replay() { impl_->graph.replay(); }

#else
struct CapturedStep::Impl {};
bool CapturedStep::available(const torch::Device&) { return false; }
CapturedStep::CapturedStep(const torch::Device&) {
  throw LmError("this build of Atomscope has no CUDA (LibTorch without CUDA): no CUDA graphs");
}
CapturedStep::~CapturedStep() = default;
torch::Tensor CapturedStep::capture(const std::function<torch::Tensor()>&) { return {}; }
void CapturedStep::replay() {}
#endif

}  // namespace atomscope::lm::detail
