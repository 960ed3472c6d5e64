#include "atomscope/core/runner.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <random>
#include <thread>

#include "atomscope/core/error.h"
#include "atomscope/core/memory_limits.h"

namespace fs = std::filesystem;

namespace atomscope::core {

namespace {

std::string thisHost() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// Mirrors metrics into metrics.jsonl and errors into the run's log file.
class RunRecordSink : public FeedbackSink {
 public:
  explicit RunRecordSink(const RunDir& run) : run_(run), logPath_(run.path() / "log.txt") {}
  void onMetrics(const MetricPoint& point) override { run_.appendMetrics(point); }
  void onLog(LogLevel level, const std::string& message) override {
    std::lock_guard lock(mutex_);
    if (FILE* f = std::fopen(logPath_.c_str(), "a")) {
      std::fprintf(f, "%s [%s] %s\n", isoTimeNow().c_str(), toString(level).c_str(), message.c_str());
      std::fclose(f);
    }
  }

 private:
  const RunDir& run_;
  fs::path logPath_;
  std::mutex mutex_;
};

// Touches run.json's "updated" while the job runs so a dead process can be told from a live one.
class Heartbeat {
 public:
  Heartbeat(RunDir& run, double seconds) : run_(run), period_(seconds) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Heartbeat() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::duration<double>(period_), [this] { return stop_; })) {
      try {
        run_.heartbeat();
      } catch (const std::exception&) {
        // A full disk must not kill the job; the next beat tries again.
      }
    }
  }
  RunDir& run_;
  double period_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

RunOutcome execute(Job& job, RunDir& run, const Params& params, const DeviceSpec& device,
                   unsigned long long seed, Feedback& feedback, std::optional<fs::path> resumeCheckpoint,
                   double heartbeatSeconds) {
  feedback.addSink(std::make_shared<RunRecordSink>(run));
  RunOutcome outcome;
  outcome.runDir = run.path();
  run.setStatus(RunStatus::Running);
  Context ctx(params, device, seed, feedback, run, resumeCheckpoint);
  try {
    Heartbeat beat(run, heartbeatSeconds);
    job.run(ctx);
    outcome.status = feedback.isCancelled() ? RunStatus::Cancelled : RunStatus::Completed;
  } catch (const Cancelled&) {
    outcome.status = RunStatus::Cancelled;
  } catch (const std::exception& e) {
    outcome.status = RunStatus::Failed;
    outcome.error = e.what();
    feedback.log(LogLevel::Error, e.what());
  } catch (...) {
    outcome.status = RunStatus::Failed;
    outcome.error = "unknown error";
  }
  releaseFreedHostMemory();
  run.setStatus(outcome.status, outcome.error);
  if (outcome.status == RunStatus::Completed) feedback.setProgress(1.0, "done");
  return outcome;
}

unsigned long long freshSeed() {
  std::random_device rd;
  return (static_cast<unsigned long long>(rd()) << 32 | rd()) & 0x7fffffffffffffffULL;
}

}  // namespace

RunOutcome runJob(const JobRegistry& registry, const RunRequest& request, Feedback& feedback) {
  auto job = registry.create(request.job);
  const JobInfo info = job->info();
  Json params = job->schema().validate(request.params);
  // A job may declare its own device parameter; otherwise the request's device applies.
  std::string deviceText = request.device;
  if (params.contains("device") && params["device"].is_string() && request.device == "auto")
    deviceText = params["device"].get<std::string>();
  const DeviceSpec device = resolveDevice(DeviceSpec::parse(deviceText));
  if (params.contains("device")) params["device"] = device.toString();
  const unsigned long long seed = request.seed.value_or(freshSeed());

  RunDir run = RunDir::create(request.runsRoot, info.name);
  auto& rec = run.mutableRecord();
  rec["params"] = params;
  rec["seed"] = seed;
  rec["device"] = device.toString();
  rec["versions"] = Json{{"atomscope", ATOMSCOPE_VERSION}, {"torch", torchVersion()}};
  run.save();
  return execute(*job, run, Params(params), device, seed, feedback, request.startFrom, request.heartbeatSeconds);
}

RunOutcome resumeJob(const JobRegistry& registry, const fs::path& runDir, Feedback& feedback,
                     std::optional<std::string> device) {
  RunDir run = RunDir::open(runDir);
  auto job = registry.create(run.jobName());
  if (!job->info().resumable)
    throw Error("job '" + run.jobName() + "' writes no checkpoints and cannot be resumed; start a new run");
  if (run.status() == RunStatus::Completed) throw Error(runDir.string() + ": this run already completed");
  if (!run.record().value("seed", Json()).is_number())  // killed between creating the folder and recording params
    throw Error(runDir.string() + ": this run was stopped before it started (no parameters recorded); start a new run");
  if (run.status() == RunStatus::Running && !isStale(run))
    throw Error(runDir.string() + ": this run is still running (its heartbeat is fresh)");
  const Json params = job->schema().validate(run.record().value("params", Json::object()));
  std::string deviceText = device.value_or(run.record().value("device", std::string("auto")));
  const DeviceSpec resolved = resolveDevice(DeviceSpec::parse(deviceText));
  const unsigned long long seed = run.record().value("seed", 0ULL);
  run.mutableRecord()["resume_count"] = run.record().value("resume_count", 0) + 1;
  run.mutableRecord()["device"] = resolved.toString();
  run.mutableRecord()["pid"] = static_cast<long long>(::getpid());  // the process that owns it now
  run.mutableRecord()["host"] = thisHost();
  run.save();
  return execute(*job, run, Params(params), resolved, seed, feedback, run.latestCheckpoint(), 2.0);
}

bool isStale(const RunDir& run, double maxAgeSeconds) {
  if (run.status() != RunStatus::Running) return false;
  // Recorded on this host by a process that no longer exists (killed, crashed): stale now, without
  // waiting for the heartbeat to age. A reused pid only falls back to the heartbeat rule.
  const Json pid = run.record().value("pid", Json());
  if (pid.is_number_integer() && run.record().value("host", std::string()) == thisHost() &&
      ::kill(static_cast<pid_t>(pid.get<long long>()), 0) != 0 && errno == ESRCH)
    return true;
  try {
    return secondsSinceIso(run.record().value("updated", std::string())) > maxAgeSeconds;
  } catch (const Error&) {
    return true;
  }
}

}  // namespace atomscope::core
