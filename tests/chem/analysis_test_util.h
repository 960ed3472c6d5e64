#pragma once
// Runs tests/chem/analysis_reference.py (Debian's python3-ase / python3-pymatgen) and parses its JSON.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "atomscope/core/json.h"
#include "chem_test_util.h"

namespace atomscope::chem::testing {

// `args` is passed to the shell as written; stdout must be JSON. Sets `error` instead of throwing so a
// test can ASSERT on it with the script's stderr.
inline Json runAnalysisReference(const std::string& args, const std::filesystem::path& dir, std::string& error) {
  const auto out = dir / "reference.json";
  const auto err = dir / "reference.err";
  const std::string cmd = "/usr/bin/python3 " + std::string(ATOMSCOPE_SOURCE_DIR) +
                          "/tests/chem/analysis_reference.py " + args + " > " + out.string() + " 2> " + err.string();
  if (std::system(cmd.c_str()) != 0) {
    error = "reference script failed: " + cmd + "\n" + readText(err);
    return Json();
  }
  error.clear();
  return Json::parse(readText(out));
}

}  // namespace atomscope::chem::testing
