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

// Large tensors that one step frees and the next allocates again would come from fresh pages each time:
// glibc maps every block over 32 MiB on its own and unmaps it when freed, and the kernel zeroes each page
// at first touch. On a CPU that zeroing took a quarter of PONITA's MD time (perf, 999 atoms); keeping the
// freed blocks made ff.md 2.3x faster there. keepFreedHostMemory() makes glibc keep them (call it once at
// start-up, before other threads allocate); releaseFreedHostMemory() returns what is kept to the system
// (after each job, so an idle workbench does not hold a finished job's peak). No-ops without glibc; with
// ATOMSCOPE_HOST_MEMORY=release in the environment, keepFreedHostMemory leaves glibc's defaults.
void keepFreedHostMemory();
void releaseFreedHostMemory();

}  // namespace atomscope::core
