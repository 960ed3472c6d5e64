#include "atomscope/core/memory_limits.h"

#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "atomscope/core/error.h"

namespace atomscope::core {

namespace {

std::uint64_t memAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  // No /proc (not Linux): all physical memory.
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
  return std::numeric_limits<std::uint64_t>::max();
}

}  // namespace

std::uint64_t availableMemoryBytes() {
  std::uint64_t avail = memAvailable();
  if (const char* env = std::getenv("ATOMSCOPE_MEMORY_LIMIT"); env && *env) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (end && *end == '\0' && v < avail) avail = v;
  }
  return avail;
}

bool fitsInMemory(std::uint64_t bytes) { return bytes <= availableMemoryBytes(); }

std::string bytesText(std::uint64_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (bytes >= (std::uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1 << 30));
  else if (bytes >= (std::uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1 << 20));
  else if (bytes >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  return buf;
}

void requireMemory(std::uint64_t bytes, const std::string& what) {
  const std::uint64_t avail = availableMemoryBytes();
  if (bytes <= avail) return;
  throw Error(what + " needs " + bytesText(bytes) + " of memory but only " + bytesText(avail) +
              " are available (MemAvailable in /proc/meminfo" +
              (std::getenv("ATOMSCOPE_MEMORY_LIMIT") ? std::string(", capped by ATOMSCOPE_MEMORY_LIMIT") : std::string()) +
              "); nothing was allocated. Free memory, or use a smaller model or dataset.");
}

void keepFreedHostMemory() {
#ifdef __GLIBC__
  if (const char* v = std::getenv("ATOMSCOPE_HOST_MEMORY"); v && std::string(v) == "release") return;  // glibc's own
  mallopt(M_MMAP_MAX, 0);                                      // every block from the heap, none mapped on its own
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());  // and the heap's top kept when freed
#endif
}

void releaseFreedHostMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace atomscope::core
