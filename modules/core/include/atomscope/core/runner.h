#pragma once
// Runs a job from the registry in a run directory: validation, run.json lifecycle, metrics.jsonl,
// heartbeat, cancel and resume. Front ends (CLI, GUI JobRunner, tests) all go through here.
#include <filesystem>
#include <optional>
#include <string>

#include "atomscope/core/job.h"

namespace atomscope::core {

struct RunRequest {
  std::string job;
  Json params = Json::object();          // raw values; validated against the job's schema
  std::string device = "auto";
  std::optional<unsigned long long> seed;  // default: drawn from the clock and recorded
  std::filesystem::path runsRoot = "runs";
  double heartbeatSeconds = 2.0;
  // A new run that starts from this checkpoint (another run's): how the extra ranks of a resumed
  // data-parallel run join rank 0, which resumes the run itself.
  std::optional<std::filesystem::path> startFrom;
};

struct RunOutcome {
  std::filesystem::path runDir;
  RunStatus status = RunStatus::Created;
  std::string error;  // for Failed
};

// Throws ParamError (bad params, nothing created) or Error (unknown job, cannot create dir).
// Everything that goes wrong inside the job is caught and recorded in run.json.
RunOutcome runJob(const JobRegistry& registry, const RunRequest& request, Feedback& feedback);

// Continues a run that was cancelled, failed or crashed, from its newest checkpoint, with its
// recorded params, seed and device (device overridable). Throws Error if the job is not resumable.
RunOutcome resumeJob(const JobRegistry& registry, const std::filesystem::path& runDir, Feedback& feedback,
                     std::optional<std::string> device = std::nullopt);

// A run with status "running" whose heartbeat is older than this is stale (its process died).
bool isStale(const RunDir& run, double maxAgeSeconds = 30.0);

}  // namespace atomscope::core
