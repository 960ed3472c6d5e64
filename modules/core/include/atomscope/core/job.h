#pragma once
// The job contract: every long computation is a Job, declared once and run the same way from
// the GUI, the CLI and tests. A fresh instance is created for every run.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/core/device.h"
#include "atomscope/core/feedback.h"
#include "atomscope/core/params.h"
#include "atomscope/core/run_dir.h"

namespace atomscope::core {

struct JobInfo {
  std::string name;         // "masa.compress": module.verb
  std::string title;        // "Compress attention with MASA"
  std::string category;     // "Language models", "Chemistry", ...
  std::string description;  // a paragraph for help texts
  bool resumable = false;   // writes checkpoints and continues from the newest on resume
  bool dataParallel = false;  // runs as N processes under `atomscope-cli run --nproc N` (distributed.h)
};

class Context {
 public:
  Context(Params params, DeviceSpec device, unsigned long long seed, Feedback& feedback, RunDir& run,
          std::optional<std::filesystem::path> resumeCheckpoint)
      : params_(std::move(params)), device_(device), seed_(seed), feedback_(feedback), run_(run),
        resumeCheckpoint_(std::move(resumeCheckpoint)) {}

  const Params& params() const { return params_; }
  const DeviceSpec& device() const { return device_; }  // already resolved: cpu or cuda:N
  unsigned long long seed() const { return seed_; }
  Feedback& feedback() { return feedback_; }
  RunDir& run() { return run_; }
  // Set when the run is resumed and a checkpoint exists; the job continues from it.
  const std::optional<std::filesystem::path>& resumeCheckpoint() const { return resumeCheckpoint_; }

 private:
  Params params_;
  DeviceSpec device_;
  unsigned long long seed_;
  Feedback& feedback_;
  RunDir& run_;
  std::optional<std::filesystem::path> resumeCheckpoint_;
};

class Job {
 public:
  virtual ~Job() = default;
  virtual JobInfo info() const = 0;
  virtual ParamSchema schema() const = 0;
  // Does the work. Reports through ctx.feedback(), writes into ctx.run(). Throws core::Cancelled
  // (via throwIfCancelled) on cancel and any exception with a user-facing message on failure.
  virtual void run(Context& ctx) = 0;
};

using JobFactory = std::function<std::unique_ptr<Job>()>;

class JobRegistry {
 public:
  static JobRegistry& global();

  void add(JobFactory factory);  // the name comes from the job's info(); throws Error on a duplicate
  bool contains(const std::string& name) const;
  std::unique_ptr<Job> create(const std::string& name) const;  // throws Error listing known names
  std::vector<JobInfo> list() const;                           // sorted by name

 private:
  mutable std::mutex mutex_;
  std::map<std::string, JobFactory> factories_;
};

// Each module offers one registration function; the apps call them at start-up.
void registerCoreJobs(JobRegistry& registry);

}  // namespace atomscope::core
