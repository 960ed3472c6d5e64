// libFuzzer target: PDB, SDF and MOL2 through Open Babel (built only with the toolkits on). The
// first byte picks the format; the rest is the file. Open Babel itself is not instrumented, so this
// finds crashes and hangs in it and sanitizer reports in our code around it.
#include <cstdint>
#include <string_view>

#include "atomscope/chem/openbabel_io.h"

using namespace atomscope::chem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* kFormats[] = {"pdb", "sdf", "mol2"};
  const std::string format = kFormats[data[0] % 3];
  OpenBabelReadOptions options;
  options.maxAtoms = 100'000;
  try {
    const Trajectory t = readOpenBabelString(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1),
                                             format, "fuzz." + format, options);
    for (const Structure& s : t) s.validate();
  } catch (const ChemError&) {
  }
  return 0;
}
