// libFuzzer target: readPoscarString over arbitrary bytes. A POSCAR that parses must be a valid
// structure, and our writer's text must read back to the same atoms; anything else must be a
// ChemError, never a crash.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "atomscope/chem/poscar.h"

using namespace atomscope::chem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  PoscarReadOptions options;
  options.maxAtoms = 100'000;  // keeps each input's memory small
  Structure s;
  try {
    s = readPoscarString(text, "fuzz.poscar", options);
  } catch (const ChemError&) {
    return 0;
  }
  s.validate();
  // Round trip for structures well inside the reader's limits (1e6): the writer prints fractional
  // coordinates, which the reader checks again.
  for (const Vec3& r : s.positions)
    for (double v : r)
      if (std::abs(v) > 1e5) return 0;
  for (const Vec3& f : s.fractionalPositions())
    for (double v : f)
      if (std::abs(v) > 1e5) return 0;
  std::string written;
  try {
    written = toPoscar(s);
  } catch (const ChemError&) {
    return 0;  // e.g. a lattice too skewed to invert: refused, not crashed
  }
  const Structure back = readPoscarString(written, "roundtrip.poscar", options);
  if (back.numbers != s.numbers) __builtin_trap();
  return 0;
}
