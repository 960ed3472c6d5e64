// The torch-free half of device.h: parsing and printing device names.
#include <cctype>
#include <string>

#include "atomscope/core/device.h"
#include "atomscope/core/error.h"

namespace atomscope::core {

DeviceSpec DeviceSpec::parse(const std::string& raw) {
  std::string text;
  for (char c : raw)
    if (!std::isspace(static_cast<unsigned char>(c))) text += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  DeviceSpec spec;
  if (text.empty() || text == "auto") return spec;
  if (text == "cpu") {
    spec.kind = Kind::Cpu;
    return spec;
  }
  if (text == "cuda" || text == "gpu") {
    spec.kind = Kind::Cuda;
    return spec;
  }
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8) {
    const std::string digits = text.substr(5);
    bool ok = true;
    for (char c : digits) ok = ok && std::isdigit(static_cast<unsigned char>(c));
    if (ok) {
      spec.kind = Kind::Cuda;
      spec.index = std::stoi(digits);
      return spec;
    }
  }
  throw Error("'" + raw + "' is not a device; use auto, cpu, cuda or cuda:N (N = 0, 1, ...)");
}

std::string DeviceSpec::toString() const {
  switch (kind) {
    case Kind::Auto: return "auto";
    case Kind::Cpu: return "cpu";
    case Kind::Cuda: return index < 0 ? "cuda" : "cuda:" + std::to_string(index);
  }
  return "auto";
}

}  // namespace atomscope::core
