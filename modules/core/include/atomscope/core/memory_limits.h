#pragma once
// Refusing what cannot fit before allocating it: readers compute the bytes a model or dataset needs
// from its header and ask here first, so a file larger than memory gets a clear error instead of an
// out-of-memory kill. No torch.
#include <cstdint>
#include <string>

namespace atomscope::core {

// Bytes that may still be allocated: MemAvailable from /proc/meminfo (the kernel's estimate of what
// can be allocated without swapping), lowered to $ATOMSCOPE_MEMORY_LIMIT (bytes) when that is set.
std::uint64_t availableMemoryBytes();
bool fitsInMemory(std::uint64_t bytes);
std::string bytesText(std::uint64_t bytes);  // "1.50 GiB", "512 KiB", "12 bytes"
// Throws Error: "<what> needs 12.0 GiB of memory but only 3.10 GiB are available ..." when it does not fit.
void requireMemory(std::uint64_t bytes, const std::string& what);

}  // namespace atomscope::core
