#pragma once
// bf16 autocast on CUDA for a scope, shared by the torch modules (lm, adit). Header-only, like
// torch_device.h, so atomscope_core itself stays free of torch headers.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace atomscope::core {

// Turns bf16 autocast on for CUDA ops while it lives (nothing when enable is false).
class CudaAutocast {
 public:
  explicit CudaAutocast(bool enable) : on_(enable) {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
  }
  ~CudaAutocast() {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

 private:
  bool on_;
};

}  // namespace atomscope::core
