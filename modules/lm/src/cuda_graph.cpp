#include "atomscope/lm/cuda_graph.h"

#include <map>

#include "atomscope/lm/tokenizer.h"  // LmError

#ifdef ATOMSCOPE_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#include <torch/version.h>
#endif

namespace atomscope::lm {

#ifdef ATOMSCOPE_TORCH_CUDA
namespace {
// Records fn on the current stream (which must not be the default one) into a new graph; out is fn's output.
// relaxed: capture in cudaStreamCaptureModeRelaxed, where calls that are unsafe during a capture (a
// cudaMalloc, say) from other threads, such as autograd's device threads, do not break it.
std::unique_ptr<at::cuda::CUDAGraph> record(const std::function<torch::Tensor()>& fn, torch::Tensor& out,
                                            bool relaxed = false) {
  auto graph = std::make_unique<at::cuda::CUDAGraph>();
#if TORCH_VERSION_MAJOR >= 2
  graph->capture_begin({0, 0}, relaxed ? cudaStreamCaptureModeRelaxed : cudaStreamCaptureModeGlobal);
#else
  if (relaxed) throw LmError("this LibTorch cannot capture in relaxed mode");
  graph->capture_begin();
#endif
  try {
    out = fn();
  } catch (...) {
    try { graph->capture_end(); } catch (...) {}
    throw;
  }
  graph->capture_end();
  return graph;
}
}  // namespace

struct CapturedStep::Impl {
  explicit Impl(const torch::Device& device)
      : stream(at::cuda::getStreamFromPool(false, device.index() < 0 ? at::cuda::current_device() : device.index())),
        guard(stream) {}
  at::cuda::CUDAStream stream;
  c10::cuda::CUDAStreamGuard guard;
  std::map<int, std::unique_ptr<at::cuda::CUDAGraph>> graphs;
};

bool CapturedStep::available(const torch::Device& device) { return device.is_cuda() && torch::cuda::is_available(); }

CapturedStep::CapturedStep(const torch::Device& device) {
  if (!available(device)) throw LmError("CUDA graphs need a CUDA device");
  torch::cuda::synchronize(device.index());  // the side stream sees earlier work (-1: the current device)
  impl_ = std::make_unique<Impl>(device);
}

CapturedStep::~CapturedStep() {
  if (impl_) impl_->stream.synchronize();
}

torch::Tensor CapturedStep::capture(const std::function<torch::Tensor()>& fn, int key) {
  if (captured(key)) throw LmError("a step is already captured under key " + std::to_string(key));
  impl_->stream.synchronize();
  torch::Tensor out;
  impl_->graphs[key] = record(fn, out);
  return out;
}

bool CapturedStep::captured(int key) const { return impl_->graphs.count(key) > 0; }

void CapturedStep::replay(int key) {
  auto it = impl_->graphs.find(key);
  if (it == impl_->graphs.end()) throw LmError("no step captured under key " + std::to_string(key));
  it->second->replay();
}

struct GraphedCall::Impl {
  explicit Impl(const torch::Device& device)
      : index(device.index() < 0 ? at::cuda::current_device() : device.index()), stream(at::cuda::getStreamFromPool(false, index)) {}
  c10::DeviceIndex index;
  at::cuda::CUDAStream stream;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
};

bool GraphedCall::available(const torch::Device& device) { return CapturedStep::available(device); }

GraphedCall::GraphedCall(const torch::Device& device) {
  if (!available(device)) throw LmError("CUDA graphs need a CUDA device");
  impl_ = std::make_unique<Impl>(device);
}

GraphedCall::~GraphedCall() {
  if (impl_) impl_->stream.synchronize();
}

torch::Tensor GraphedCall::capture(const std::function<torch::Tensor()>& fn) {
  if (impl_->graph) throw LmError("this call is already captured");
  at::cuda::getCurrentCUDAStream(impl_->index).synchronize();  // the side stream sees the caller's inputs
  torch::Tensor out;
  {
    c10::cuda::CUDAStreamGuard onSide(impl_->stream);
    fn();  // warm-up on the side stream, where the replays will run
    impl_->stream.synchronize();
    try {
      impl_->graph = record(fn, out);
    } catch (const std::exception& global) {
      // Autograd's backward runs on its own threads; a relaxed capture tolerates what they do meanwhile.
      const std::string first = global.what();
      (void)cudaGetLastError();
      impl_->stream.synchronize();
      try {
        impl_->graph = record(fn, out, true);
      } catch (const std::exception& relaxed) {
        throw LmError("CUDA graph capture failed: " + first + "; relaxed capture: " + relaxed.what());
      }
    }
  }
  return out;
}

bool GraphedCall::captured() const { return impl_->graph != nullptr; }

void GraphedCall::replay() {
  if (!impl_->graph) throw LmError("nothing captured to replay");
  at::cuda::getCurrentCUDAStream(impl_->index).synchronize();  // the inputs the caller just copied in
  {
    c10::cuda::CUDAStreamGuard onSide(impl_->stream);
    impl_->graph->replay();
  }
  impl_->stream.synchronize();
}

#else
struct GraphedCall::Impl {};
bool GraphedCall::available(const torch::Device&) { return false; }
GraphedCall::GraphedCall(const torch::Device&) {
  throw LmError("this build of Atomscope has no CUDA (LibTorch without CUDA): no CUDA graphs");
}
GraphedCall::~GraphedCall() = default;
torch::Tensor GraphedCall::capture(const std::function<torch::Tensor()>&) { return {}; }
void GraphedCall::replay() {}
bool GraphedCall::captured() const { return false; }
struct CapturedStep::Impl {};
bool CapturedStep::available(const torch::Device&) { return false; }
CapturedStep::CapturedStep(const torch::Device&) {
  throw LmError("this build of Atomscope has no CUDA (LibTorch without CUDA): no CUDA graphs");
}
CapturedStep::~CapturedStep() = default;
torch::Tensor CapturedStep::capture(const std::function<torch::Tensor()>&, int) { return {}; }
bool CapturedStep::captured(int) const { return false; }
void CapturedStep::replay(int) {}
#endif

}  // namespace atomscope::lm
