// libFuzzer target: the gemmi-based CIF reader over arbitrary bytes. Frames that parse must be
// valid; our P1 writer's text must read back to as many atoms; anything else a ChemError.
#include <cstdint>
#include <string_view>

#include "atomscope/chem/cif.h"

using namespace atomscope::chem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CifReadOptions options;
  options.maxAtoms = 100'000;
  Trajectory t;
  try {
    t = readCifString(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.cif", options);
  } catch (const ChemError&) {
    return 0;
  }
  for (const Structure& s : t) s.validate();
  std::string written;
  try {
    written = toCif(t);
  } catch (const ChemError&) {
    return 0;
  }
  // Images closer than the merge tolerance may merge on reading back, never multiply.
  const Trajectory back = readCifString(written, "roundtrip.cif", options);
  if (back.size() != t.size()) __builtin_trap();
  for (std::size_t i = 0; i < t.size(); ++i)
    if (back[i].size() > t[i].size()) __builtin_trap();
  return 0;
}
