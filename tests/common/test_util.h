#pragma once
// Helpers every test folder may use (tests/CMakeLists.txt puts this folder on the include path).
#include <ftw.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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

// A folder for one test, named after it, emptied on entry and removed on exit.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    removeTree(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScopedTempDir() { removeTree(path_); }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// True when Debian's /usr/bin/python3 can import `module` (a reference implementation such as ASE).
inline bool pythonHas(const std::string& module) {
  const std::string cmd = "/usr/bin/python3 -c 'import " + module + "' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// The set-up script exports ATOMSCOPE_STRICT_REFERENCES=1: there a missing reference library fails
// the test; elsewhere (the GPU machine, which has no Debian Python packages) the test is skipped.
inline bool strictReferences() {
  const char* v = std::getenv("ATOMSCOPE_STRICT_REFERENCES");
  return v && std::string(v) == "1";
}

}  // namespace atomscope::test

#define ATOMSCOPE_REQUIRE_PYTHON_MODULE(module)                                                      \
  do {                                                                                               \
    if (!::atomscope::test::pythonHas(module)) {                                                     \
      if (::atomscope::test::strictReferences()) FAIL() << "reference needs /usr/bin/python3 with " module; \
      GTEST_SKIP() << "reference needs /usr/bin/python3 with " module;                              \
    }                                                                                                \
  } while (0)
