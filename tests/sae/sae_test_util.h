#pragma once
// Shared helpers of the sae tests: data paths, the numpy reference script, jobs through a registry,
// and stories260K activations collected once per test process.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "atomscope/core/runner.h"
#include "atomscope/lm/lm_jobs.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/sae/activations.h"
#include "atomscope/sae/sae_jobs.h"
#include "test_util.h"

namespace atomscope::sae_test {

using namespace ::atomscope::sae;
namespace fs = std::filesystem;

inline fs::path dataDir() { return fs::path(ATOMSCOPE_SHARED_DATA_DIR); }
inline fs::path storiesModel() { return dataDir() / "lm" / "stories260K.bin"; }
inline fs::path storiesTokenizer() { return dataDir() / "lm" / "tok512.bin"; }
inline fs::path valText() { return dataDir() / "text" / "tinystories" / "tinystories_val_head.txt"; }
inline fs::path sampleText() { return dataDir() / "text" / "tinystories" / "tinystories_sample5.txt"; }

// Runs tests/sae/tools/sae_reference.py with Debian's python3 (numpy); false on failure.
inline bool numpyReference(const std::string& args) {
  const std::string cmd =
      "/usr/bin/python3 " + std::string(ATOMSCOPE_SOURCE_DIR) + "/tests/sae/tools/sae_reference.py " + args;
  return std::system(cmd.c_str()) == 0;
}

inline Json readJson(const fs::path& p) {
  std::ifstream in(p);
  return Json::parse(in);
}

inline core::JobRegistry& registry() {
  static core::JobRegistry r;
  if (!r.contains("lm.eval")) lm::registerLmJobs(r);
  if (!r.contains("sae.collect")) registerSaeJobs(r);
  return r;
}

inline core::RunOutcome runJob(const std::string& job, Json params, const fs::path& root, core::Feedback* fb = nullptr) {
  core::Feedback local;
  return core::runJob(registry(), core::RunRequest{job, std::move(params), "cpu", 1ull, root, 2.0}, fb ? *fb : local);
}

inline Json summary(const core::RunOutcome& o) { return core::RunDir::open(o.runDir).record()["summary"]; }

// stories260K's residual stream after every block over the first `rows` activations of the
// TinyStories validation head (context 256, BOS left out), collected once per process by sae.collect.
inline fs::path storiesActivations() {
  static fs::path folder = [] {
    const auto root = test::freshTempDir("sae-acts");
    auto out = runJob("sae.collect",
                      Json{{"model", storiesModel().string()}, {"tokenizer", storiesTokenizer().string()},
                           {"data", valText().string()}, {"max_activations", 60000}, {"context", 256}},
                      root);
    if (out.status != core::RunStatus::Completed) throw std::runtime_error("sae.collect failed: " + out.error);
    return out.runDir / "artifacts" / "activations";
  }();
  return folder;
}

}  // namespace atomscope::sae_test
