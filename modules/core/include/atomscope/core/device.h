#pragma once
// Device names as users write them: auto | cpu | cuda | cuda:N. No torch in this header.
#include <string>
#include <vector>

namespace atomscope::core {

struct DeviceSpec {
  enum class Kind { Auto, Cpu, Cuda };
  Kind kind = Kind::Auto;
  int index = -1;  // cuda:N; -1 = current/default

  static DeviceSpec parse(const std::string& text);  // throws core::Error on e.g. "gpu" or "cuda:x"
  std::string toString() const;
};

struct DeviceInfo {
  std::string name;       // "cpu", "cuda:0"
  std::string description;  // "NVIDIA H200, 139 GiB" or "CPU, 2 threads"
};

// Implemented with LibTorch (device.cpp).
DeviceSpec resolveDevice(const DeviceSpec& spec);  // Auto -> cuda:0 if available else cpu; throws if cuda:N missing
std::vector<DeviceInfo> availableDevices();
bool cudaAvailable();
std::string torchVersion();

}  // namespace atomscope::core
