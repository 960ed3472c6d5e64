#pragma once
// LibTorch views of core's device and dtype names, for jobs that compute with torch. Header-only so
// torch-free code including core never sees torch.
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "atomscope/core/device.h"

namespace atomscope::core {

inline torch::Device toTorchDevice(const DeviceSpec& d) {
  if (d.kind == DeviceSpec::Kind::Cuda) return {torch::kCUDA, static_cast<c10::DeviceIndex>(std::max(0, d.index))};
  return {torch::kCPU};
}

// "bfloat16", "float16", "float64", anything else float32 (schemas restrict the choice).
inline torch::Dtype torchDtype(const std::string& name) {
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  if (name == "float64") return torch::kFloat64;
  return torch::kFloat32;
}

}  // namespace atomscope::core
