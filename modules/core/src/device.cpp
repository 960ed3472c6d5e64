#include "atomscope/core/device.h"

#include <torch/cuda.h>
#include <torch/version.h>
#include <ATen/Parallel.h>

#include <cctype>

#include "atomscope/core/error.h"

namespace atomscope::core {

// DeviceSpec::parse and toString: device_spec.cpp (no torch, so the fuzz build has them).

bool cudaAvailable() { return torch::cuda::is_available(); }

DeviceSpec resolveDevice(const DeviceSpec& spec) {
  DeviceSpec out = spec;
  if (spec.kind == DeviceSpec::Kind::Auto) {
    if (cudaAvailable()) {
      out.kind = DeviceSpec::Kind::Cuda;
      out.index = 0;
    } else {
      out.kind = DeviceSpec::Kind::Cpu;
    }
    return out;
  }
  if (spec.kind == DeviceSpec::Kind::Cuda) {
    const int count = cudaAvailable() ? static_cast<int>(torch::cuda::device_count()) : 0;
    if (count == 0)
      throw Error("device " + spec.toString() +
                  " was asked for, but this LibTorch sees no CUDA device (a CPU-only build, or no driver); use cpu or auto");
    if (out.index < 0) out.index = 0;
    if (out.index >= count)
      throw Error("device " + spec.toString() + " was asked for, but only " + std::to_string(count) +
                  " CUDA device(s) are visible (cuda:0 .. cuda:" + std::to_string(count - 1) + ")");
  }
  return out;
}

std::vector<DeviceInfo> availableDevices() {
  std::vector<DeviceInfo> out;
  out.push_back({"cpu", "CPU, " + std::to_string(at::get_num_threads()) + " threads"});
  if (cudaAvailable()) {
    const int count = static_cast<int>(torch::cuda::device_count());
    for (int i = 0; i < count; ++i) out.push_back({"cuda:" + std::to_string(i), "CUDA device " + std::to_string(i)});
  }
  return out;
}

std::string torchVersion() { return TORCH_VERSION; }

}  // namespace atomscope::core
