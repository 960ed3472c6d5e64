// libFuzzer target: readXyzString (XYZ / extended XYZ) over arbitrary bytes: a ChemError or valid frames.
#include <cstdint>
#include <string_view>

#include "atomscope/chem/xyz.h"

using namespace atomscope::chem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  XyzReadOptions options;
  options.maxAtoms = 100'000;
  try {
    const Trajectory t = readXyzString(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.xyz", options);
    for (const Structure& s : t) s.validate();
  } catch (const ChemError&) {
  }
  return 0;
}
