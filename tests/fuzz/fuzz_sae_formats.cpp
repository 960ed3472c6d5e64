// libFuzzer target: the sae module's text formats (formats.h). The first byte picks the parser:
// even = activation manifest, odd = SAE cfg.json. Anything rejected must be a SaeError; a manifest
// that parses must have consistent shards (rows add up, every site has a file name inside the folder).
#include <cstdint>
#include <string>

#include "atomscope/sae/formats.h"

using namespace atomscope::sae;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      const auto m = parseActivationManifest(text, "fuzz/manifest.json");
      std::int64_t rows = 0;
      for (const auto& s : m.shards) {
        if (s.rows <= 0 || s.acts.size() != m.sites.size()) __builtin_trap();
        for (const auto& [site, name] : s.acts)
          if (name.empty() || name.find('/') != std::string::npos || name == "..") __builtin_trap();
        rows += s.rows;
      }
      if (rows != m.rows || m.d <= 0) __builtin_trap();
    } else {
      const auto c = parseSaeConfig(text, "fuzz/cfg.json");
      if (c.dIn <= 0 || c.dSae <= 0 || (c.architecture != "jumprelu" && c.architecture != "standard")) __builtin_trap();
    }
  } catch (const SaeError&) {
  }
  return 0;
}
