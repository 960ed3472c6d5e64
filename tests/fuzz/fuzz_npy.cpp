// libFuzzer target: readNpy over arbitrary bytes. An array that parses must survive
// encodeNpy/readNpy unchanged; anything else must be an NpyError, never a crash.
#include <cstdint>
#include <optional>

#include "atomscope/core/npy.h"

using namespace atomscope::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<NpyArray> a;
  try {
    a = readNpy(data, size, "fuzz.npy");
  } catch (const NpyError&) {
    return 0;
  }
  if (a->bytes.size() != a->numel() * dtypeSize(a->dtype)) __builtin_trap();
  const auto encoded = encodeNpy(*a);  // must not throw for a valid array
  const NpyArray b = readNpy(encoded.data(), encoded.size(), "roundtrip.npy");
  if (b.dtype != a->dtype || b.shape != a->shape || b.fortranOrder != a->fortranOrder || b.bytes != a->bytes)
    __builtin_trap();
  return 0;
}
