// libFuzzer target: SafetensorsReader over arbitrary bytes. A file that parses must survive a
// write/read round trip unchanged; anything else must be a SafetensorsError, never a crash.
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "atomscope/core/safetensors.h"

using namespace atomscope::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<SafetensorsReader> reader;
  try {
    reader.emplace(SafetensorsReader::fromBytes(std::vector<std::uint8_t>(data, data + size), "fuzz.safetensors"));
  } catch (const SafetensorsError&) {
    return 0;
  }
  // Every declared byte is readable (ASan checks the bounds).
  unsigned acc = 0;
  SafetensorsWriter writer;
  for (const auto& t : reader->tensors()) {
    const auto b = reader->bytes(t.name);
    if (b.size() != t.numel() * dtypeSize(t.dtype)) __builtin_trap();
    for (auto x : b) acc += x;
    writer.addView(t.name, t.dtype, t.shape, b.data(), b.size());  // must not throw for a valid file
  }
  const auto image = writer.serialize(reader->metadata());
  const auto again = SafetensorsReader::fromBytes(image, "roundtrip");  // must not throw
  if (again.size() != reader->size() || again.metadata() != reader->metadata()) __builtin_trap();
  for (const auto& t : reader->tensors()) {
    const auto& u = again.info(t.name);
    const auto a = reader->bytes(t.name), b = again.bytes(t.name);
    if (u.dtype != t.dtype || u.shape != t.shape || a.size() != b.size()) __builtin_trap();
    if (!a.empty() && std::memcmp(a.data(), b.data(), a.size()) != 0) __builtin_trap();
  }
  return static_cast<int>(acc & 0);
}
