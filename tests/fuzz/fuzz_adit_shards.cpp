// libFuzzer target: the adit module's data-folder formats (shard_format.h, no torch). The first byte
// picks the input: even = manifest.json text, odd = a shard (safetensors bytes, then the ADiT layout
// checks). Anything rejected must be an AditError or a SafetensorsError; what passes must be consistent.
#include <cstdint>
#include <string>
#include <vector>

#include "atomscope/adit/shard_format.h"

using namespace atomscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  try {
    if (data[0] % 2 == 0) {
      const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
      const auto m = adit::parseDataManifest(text, "fuzz/manifest.json");
      std::int64_t records = 0;
      for (const auto& s : m.shards) {
        if (s.file.empty() || s.file.find('/') != std::string::npos || s.file == ".." || s.records < 0 || s.atoms < 0)
          __builtin_trap();
        records += s.records;
      }
      if (records != m.records) __builtin_trap();
    } else {
      std::vector<std::uint8_t> bytes(data + 1, data + size);
      const auto reader = core::SafetensorsReader::fromBytes(std::move(bytes), "fuzz/shard.safetensors");
      const auto c = adit::checkShard(reader);
      if (c.records < 0 || c.atoms < 0 || static_cast<std::uint64_t>(c.atoms) != reader.info("numbers").numel())
        __builtin_trap();
    }
  } catch (const adit::AditError&) {
  } catch (const core::SafetensorsError&) {
  }
  return 0;
}
