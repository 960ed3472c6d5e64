// libFuzzer target: adit.evaluate's SMILES-list reader (reference_smiles.h, no torch; the fuzz build has
// no chemistry toolkits, so this is the line and header parsing). The first byte says whether the file
// name ends in .smi. Anything rejected must be an AditError; every entry returned must be a non-empty
// first field (no separator inside).
#include <cstdint>
#include <string>

#include "atomscope/adit/reference_smiles.h"
#include "atomscope/adit/shard_format.h"

using namespace atomscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const auto list = adit::parseReferenceSmiles(text, "fuzz/reference.smi", data[0] % 2 == 1);
    for (const auto& s : list)
      if (s.empty() || s.find_first_of(",; \t\r\n") != std::string::npos) __builtin_trap();
  } catch (const adit::AditError&) {
  }
  return 0;
}
