// libFuzzer target: the CDVAE CSV reader (our CSV parser, CIF cells through gemmi).
#include <cstdint>
#include <string_view>

#include "atomscope/chem/cdvae_csv.h"

using namespace atomscope::chem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const Trajectory t = readCdvaeCsvString(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv");
    for (const Structure& s : t) s.validate();
  } catch (const ChemError&) {
  }
  return 0;
}
