#pragma once
// Helpers every test folder may use (tests/CMakeLists.txt puts this folder on the include path).
#include <ftw.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace atomscope::test {

// Removes a directory tree with POSIX nftw. Not std::filesystem::remove_all: the pip LibTorch on
// the GPU machine exports its own copy of that symbol, which interposes and jumps to null.
inline void removeTree(const std::filesystem::path& p) {
  ::nftw(
      p.c_str(), [](const char* f, const struct stat*, int, struct FTW*) { return ::remove(f); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

// An empty folder under the system temp dir, unique to this process and name.
inline std::filesystem::path freshTempDir(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() / ("atomscope-" + name + "-" + std::to_string(::getpid()));
  removeTree(p);
  std::filesystem::create_directories(p);
  return p;
}

}  // namespace atomscope::test
