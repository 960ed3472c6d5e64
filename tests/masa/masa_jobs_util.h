#pragma once
// Running jobs of the masa tests through the registry (lm.eval and masa.*), as the CLI does.
#include <unistd.h>

#include "atomscope/core/runner.h"
#include "atomscope/lm/lm_jobs.h"
#include "atomscope/masa/masa_jobs.h"
#include "masa_test_util.h"

namespace atomscope::masa_test {

using namespace ::atomscope::masa;

inline core::JobRegistry& registry() {
  static core::JobRegistry r;
  if (!r.contains("lm.eval")) lm::registerLmJobs(r);
  if (!r.contains("masa.compress")) registerMasaJobs(r);
  return r;
}

inline core::RunOutcome runJob(const std::string& job, Json params, const fs::path& root) {
  core::Feedback fb;
  return core::runJob(registry(), core::RunRequest{job, std::move(params), "cpu", 1ull, root, 2.0}, fb);
}

inline Json summary(const core::RunOutcome& o) { return core::RunDir::open(o.runDir).record()["summary"]; }

inline fs::path artifact(const core::RunOutcome& o, const std::string& name) {
  auto run = core::RunDir::open(o.runDir);
  for (const auto& a : run.record()["artifacts"])
    if (fs::path(a["path"].get<std::string>()).filename() == name) return run.path() / a["path"].get<std::string>();
  return {};
}

}  // namespace atomscope::masa_test
