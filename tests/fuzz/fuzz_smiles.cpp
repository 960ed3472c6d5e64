// libFuzzer target: the .smi reader (RDKit parse, ETKDG, MMFF; built only with the toolkits on).
// Inputs are capped at 200 bytes, molecules at 30 heavy atoms and ETKDG at 20 attempts so each
// run stays short.
#include <cstdint>
#include <string_view>

#include "atomscope/chem/smiles.h"

using namespace atomscope::chem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 200) return 0;
  SmilesOptions options;
  options.maxHeavyAtoms = 30;
  options.mmffMaxIterations = 200;
  options.maxEmbedAttempts = 20;  // unembeddable inputs would otherwise take ~20 s each
  try {
    const Trajectory t = readSmilesString(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.smi", options);
    for (const Structure& s : t) s.validate();
  } catch (const ChemError&) {
  }
  return 0;
}
