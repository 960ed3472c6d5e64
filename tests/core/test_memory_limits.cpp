// Resource limits (issue 11 item 4): arrays and tensor files whose headers declare more bytes than
// the memory available are refused before anything is allocated. The available memory is capped
// with ATOMSCOPE_MEMORY_LIMIT so a small real file is "larger than memory"; the files are numpy's
// own (np.save / np.savez from /usr/bin/python3) and the shared GPT-2 safetensors.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "atomscope/core/memory_limits.h"
#include "atomscope/core/npy.h"
#include "atomscope/core/safetensors.h"
#include "atomscope/core/tensor_io.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

// Caps the memory the readers see for the scope of one test.
class MemoryCap {
 public:
  explicit MemoryCap(unsigned long long bytes) { ::setenv("ATOMSCOPE_MEMORY_LIMIT", std::to_string(bytes).c_str(), 1); }
  ~MemoryCap() { ::unsetenv("ATOMSCOPE_MEMORY_LIMIT"); }
};

template <class F>
std::string errorOf(F f) {
  try {
    f();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(MemoryLimits, AvailableMemoryComesFromTheKernelAndTheCap) {
  const auto avail = core::availableMemoryBytes();
  EXPECT_GT(avail, 64ULL << 20);  // this machine and CI have gigabytes
  {
    MemoryCap cap(12345);
    EXPECT_EQ(core::availableMemoryBytes(), 12345u);
    EXPECT_FALSE(core::fitsInMemory(12346));
    const auto msg = errorOf([] { core::requireMemory(1ULL << 40, "a 1 TiB model"); });
    EXPECT_NE(msg.find("a 1 TiB model needs 1024.00 GiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ATOMSCOPE_MEMORY_LIMIT"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(core::requireMemory(1024, "a small array"));
}

TEST(MemoryLimits, NumpyFilesLargerThanMemoryAreRefused) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("numpy");
  test::ScopedTempDir dir("memlimits");
  const auto npy = dir / "big.npy", npz = dir / "big.npz";
  // 256 x 256 float64 = 524288 bytes each; the npz holds two of them.
  const std::string cmd = "/usr/bin/python3 -c \"import numpy as np; a = np.arange(65536.0).reshape(256, 256); np.save('" +
                          npy.string() + "', a); np.savez_compressed('" + npz.string() + "', a=a, b=a)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(core::readNpy(npy).bytes.size(), 524288u);  // loads without a cap
  EXPECT_EQ(core::readNpz(npz).size(), 2u);
  MemoryCap cap(600'000);  // room for one array, not two
  EXPECT_EQ(core::readNpy(npy).bytes.size(), 524288u);
  auto msg = errorOf([&] { core::readNpz(npz); });
  EXPECT_NE(msg.find(npz.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.00 MiB uncompressed, more than the 585.9 KiB of memory available"), std::string::npos) << msg;
  MemoryCap smaller(100'000);
  msg = errorOf([&] { core::readNpy(npy); });
  EXPECT_NE(msg.find("needs 512.0 KiB of memory but only 97.7 KiB are available"), std::string::npos) << msg;
}

TEST(MemoryLimits, SafetensorsLargerThanMemoryAreRefusedFromTheHeader) {
  // The shared random GPT-2 (transformers' save_pretrained): every tensor's bytes from its header.
  const fs::path file = fs::path(ATOMSCOPE_SHARED_DATA_DIR) / "lm/tiny_gpt2_random_vocab21/model.safetensors";
  const auto reader = core::SafetensorsReader::open(file);
  std::uint64_t bytes = 0;
  for (const auto& t : reader.tensors()) bytes += t.byteSize();
  ASSERT_GT(bytes, 1000u);
  EXPECT_EQ(core::loadSafetensors(file).size(), reader.tensors().size());
  MemoryCap cap(bytes - 1);
  const auto msg = errorOf([&] { core::loadSafetensors(file); });
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs " + core::bytesText(bytes) + " of memory"), std::string::npos) << msg;
  // Zero-copy loading maps the file and allocates nothing: still allowed.
  EXPECT_EQ(core::loadSafetensors(file, core::TensorLoadOptions{true}).size(), reader.tensors().size());
}

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)  // ASan has its own allocator
namespace {
long minorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}
long residentPages() {
  long size = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> size >> resident;
  return resident;
}
// Allocates and writes `bytes`, returns the page faults that took; frees the block.
long faultsToFill(std::size_t bytes) {
  const long before = minorFaults();
  auto* p = static_cast<volatile char*>(std::malloc(bytes));
  // Small pages whatever the kernel's transparent-huge-page setting, so that a fresh block faults page by page.
  const auto first = (reinterpret_cast<std::uintptr_t>(p) + 4095) & ~std::uintptr_t{4095};
  madvise(reinterpret_cast<void*>(first), (bytes - 4096) & ~std::size_t{4095}, MADV_NOHUGEPAGE);
  for (std::size_t k = 0; k < bytes; k += 4096) p[k] = 1;
  const long taken = minorFaults() - before;
  std::free(const_cast<char*>(p));
  return taken;
}
}  // namespace

// keepFreedHostMemory: a 256 MiB block freed and allocated again reuses its pages (glibc would otherwise
// map it anew and the kernel fault in and zero all 65,536 pages); releaseFreedHostMemory gives them back.
// ATOMSCOPE_HOST_MEMORY=release leaves glibc's policy as it is.
TEST(HostMemory, FreedBlocksAreReusedUntilReleased) {
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  const long pages = static_cast<long>(kBytes / 4096);
  setenv("ATOMSCOPE_HOST_MEMORY", "release", 1);
  core::keepFreedHostMemory();
  EXPECT_GT(faultsToFill(kBytes), pages / 2);  // glibc's default: a fresh mapping each time
  EXPECT_GT(faultsToFill(kBytes), pages / 2);
  unsetenv("ATOMSCOPE_HOST_MEMORY");
  core::keepFreedHostMemory();
  faultsToFill(kBytes);                        // the first fill under the new policy grows the heap
  EXPECT_LT(faultsToFill(kBytes), pages / 20);  // the second reuses those pages
  const long kept = residentPages();
  core::releaseFreedHostMemory();
  EXPECT_LT(residentPages(), kept - pages / 2);  // the freed block went back to the system
}
#endif
