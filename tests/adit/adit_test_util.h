#pragma once
#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "atomscope/adit/adit_jobs.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/core/runner.h"
#include "test_util.h"

namespace atomscope::adit_test {

namespace fs = std::filesystem;

inline fs::path sharedData(const std::string& rel) { return fs::path(ATOMSCOPE_SHARED_DATA_DIR) / rel; }
inline fs::path qm9Xyz() { return sharedData("qm9/qm9_reduced_100.xyz"); }
inline fs::path mp20Csv() { return sharedData("crystals/mp_20_subset_train.csv"); }

// Output of tests/adit/tools/adit_reference.py (ASE / pymatgen) as JSON.
inline Json pythonReference(const std::string& args) {
  const std::string cmd = "/usr/bin/python3 " ATOMSCOPE_SOURCE_DIR "/tests/adit/tools/adit_reference.py " + args;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  std::string out;
  std::array<char, 4096> buf{};
  while (pipe && std::fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  return Json::parse(out);
}

inline core::JobRegistry& registry() {
  static core::JobRegistry* r = [] {
    auto* reg = new core::JobRegistry;  // lives for the process, as the global registry does
    adit::registerAditJobs(*reg);
    return reg;
  }();
  return *r;
}

inline core::RunOutcome runJob(const std::string& job, Json params, const fs::path& root, core::Feedback* fb = nullptr,
                               unsigned long long seed = 1) {
  core::Feedback local;
  return core::runJob(registry(), core::RunRequest{job, std::move(params), "cpu", seed, root, 2.0}, fb ? *fb : local);
}

inline Json summary(const core::RunOutcome& o) { return core::RunDir::open(o.runDir).record()["summary"]; }

}  // namespace atomscope::adit_test
