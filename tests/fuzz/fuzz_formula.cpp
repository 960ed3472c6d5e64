// libFuzzer target: parseFormula over arbitrary bytes (adit.sample's composition, typed by users). A formula that
// parses has positive counts of known elements, and written back as symbols and counts it parses to the same counts;
// anything else must be a ChemError, never a crash.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "atomscope/chem/elements.h"
#include "atomscope/chem/error.h"

using namespace atomscope::chem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::map<int, int> counts;
  try {
    counts = parseFormula(text);
  } catch (const ChemError&) {
    return 0;
  }
  std::string back;
  for (const auto& [z, n] : counts) {
    if (!isValidAtomicNumber(z) || n <= 0 || n > 1000000) __builtin_trap();
    back += std::string(element(z).symbol) + std::to_string(n);
  }
  if (parseFormula(back) != counts) __builtin_trap();
  return 0;
}
