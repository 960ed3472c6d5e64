// libFuzzer target: readNpz (zip central directory, ZIP64, stored and deflated members, CRC,
// size and ratio limits) over arbitrary bytes: every outcome is an array map or an NpyError.
#include <cstdint>

#include "atomscope/core/npy.h"

using namespace atomscope::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  NpzOptions options;
  options.maxEntryBytes = 64u << 20;  // keep the fuzzer's memory bounded; the logic is the same
  options.maxTotalBytes = 256u << 20;
  try {
    const auto arrays = readNpz(data, size, "fuzz.npz", options);
    for (const auto& [name, a] : arrays)
      if (a.bytes.size() != a.numel() * dtypeSize(a.dtype)) __builtin_trap();
  } catch (const NpyError&) {
  }
  return 0;
}
