#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "atomscope/core/json.h"

namespace atomscope::chem::testing {

inline std::filesystem::path sharedData(const std::string& rel) {
  return std::filesystem::path(ATOMSCOPE_SHARED_DATA_DIR) / rel;
}

// What ASE 3.22 reads from the shared files (tests/chem/make_ase_reference.py wrote it).
inline const Json& aseReference() {
  static const Json ref = [] {
    std::ifstream in(std::filesystem::path(ATOMSCOPE_SOURCE_DIR) / "tests/chem/data/ase_reference.json");
    return Json::parse(in);
  }();
  return ref;
}

inline std::string readText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh temporary directory per call.
inline std::filesystem::path tempDir(const std::string& tag) {
  static std::mt19937_64 rng(std::random_device{}());
  auto dir = std::filesystem::temp_directory_path() /
             ("atomscope_chem_" + tag + "_" + std::to_string(rng() % 1000000000ULL));
  std::filesystem::create_directories(dir);
  return dir;
}

inline void writeText(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

}  // namespace atomscope::chem::testing
