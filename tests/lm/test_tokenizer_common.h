#pragma once
#include "test_util.h"
// Helpers shared by the tokenizer and token-shard tests (header-only).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "atomscope/core/json.h"

namespace atomscope::lm::test {

inline std::filesystem::path sharedData() { return ATOMSCOPE_SHARED_DATA_DIR; }
inline std::filesystem::path lmData() { return sharedData() / "lm"; }
inline std::filesystem::path fixtures() { return std::filesystem::path(ATOMSCOPE_SOURCE_DIR) / "tests/lm/data"; }

inline std::string readFile(const std::filesystem::path& p, std::size_t maxBytes = std::string::npos) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > maxBytes) {
    s.resize(maxBytes);
    // Keep whole UTF-8 characters (a cut character would be a different text, not a sample).
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
    if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.pop_back();
  }
  return s;
}

inline void writeFile(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

inline Json readJson(const std::filesystem::path& p) { return Json::parse(readFile(p)); }

// Every shared text file the round-trip tests use (text/tinystories/*, text/english/*, wikitext2_*,
// ptb.*, tinyshakespeare).
inline std::vector<std::filesystem::path> sharedTextFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(sharedData() / "text"))
    if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The round-trip tests sample the first kSampleBytes of each file to keep the test a few seconds long.
constexpr std::size_t kSampleBytes = 200 * 1024;

inline double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A fresh temporary folder, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("atomscope_lmtok_" + tag + "_" + std::to_string(::getpid()) + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { atomscope::test::removeTree(path); }  // not remove_all: see tests/common/test_util.h
};

}  // namespace atomscope::lm::test
