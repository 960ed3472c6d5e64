#include <gtest/gtest.h>

#include "test_util.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "atomscope/core/device.h"
#include "atomscope/core/error.h"
#include "atomscope/core/runner.h"

using namespace atomscope;
using namespace atomscope::core;
namespace fs = std::filesystem;

namespace {

fs::path runnerDir(const std::string& name) { return test::freshTempDir("test" + name); }

// A resumable job for exercising the contract: a running sum over `steps` steps, one checkpoint
// every `every` steps. Its result depends only on its params, so resume must reproduce it exactly.
class CountingJob : public Job {
 public:
  static inline std::atomic<long long> stopAfter{-1};  // simulate a crash by throwing at this step
  JobInfo info() const override { return {"test.counting", "Counting", "Test", "", true}; }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addInt("steps", 20, 1, 1000, "");
    s.addInt("every", 5, 1, 1000, "");
    return s;
  }
  void run(Context& ctx) override {
    long long step = 0, sum = 0;
    if (ctx.resumeCheckpoint()) {
      std::ifstream in(*ctx.resumeCheckpoint());
      in >> step >> sum;
      ctx.feedback().info("resumed at step " + std::to_string(step));
    }
    const long long steps = ctx.params().getInt("steps"), every = ctx.params().getInt("every");
    while (step < steps) {
      ctx.feedback().throwIfCancelled();
      ++step;
      sum += step * step;
      ctx.feedback().reportMetrics(step, {{"sum", static_cast<double>(sum)}});
      if (step % every == 0) {
        const auto path = ctx.run().checkpointPath(step, "txt");
        std::ofstream(path.string() + ".tmp") << step << " " << sum;
        fs::rename(path.string() + ".tmp", path);
      }
      if (step == stopAfter.load()) throw Error("simulated crash");
    }
    ctx.run().setSummary("sum", sum);
  }
};

JobRegistry& makeRegistry() {
  static JobRegistry r;
  if (!r.contains("test.counting")) {
    registerCoreJobs(r);
    r.add([] { return std::make_unique<CountingJob>(); });
  }
  return r;
}

}  // namespace

TEST(Runner, CompletedRunRecordsEverything) {
  auto& reg = makeRegistry();
  Feedback fb;
  RunRequest req{"test.counting", Json{{"steps", 10}}, "cpu", 42ULL, runnerDir("complete")};
  const auto out = runJob(reg, req, fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto run = RunDir::open(out.runDir);
  EXPECT_EQ(run.status(), RunStatus::Completed);
  EXPECT_EQ(run.record()["seed"], 42);
  EXPECT_EQ(run.record()["device"], "cpu");
  EXPECT_EQ(run.record()["params"]["every"], 5);  // default filled in
  // sum of squares 1..10 = 10*11*21/6 = 385
  EXPECT_EQ(run.record()["summary"]["sum"], 385);
  const auto metrics = run.readMetrics();
  ASSERT_EQ(metrics.size(), 10u);
  EXPECT_EQ(metrics.back().values.at("sum"), 385);
  EXPECT_TRUE(run.record()["finished"].is_string());
}

TEST(Runner, BadParamsCreateNoRun) {
  auto& reg = makeRegistry();
  Feedback fb;
  const auto root = runnerDir("badparams");
  RunRequest req{"test.counting", Json{{"steps", -1}}, "cpu", 1ULL, root};
  EXPECT_THROW(runJob(reg, req, fb), ParamError);
  EXPECT_TRUE(fs::is_empty(root));
  req.job = "no.such";
  EXPECT_THROW(runJob(reg, req, fb), Error);
}

TEST(Runner, CrashThenResumeGivesTheUninterruptedResult) {
  auto& reg = makeRegistry();
  CountingJob::stopAfter = 13;
  Feedback fb;
  RunRequest req{"test.counting", Json{{"steps", 20}, {"every", 5}}, "cpu", 7ULL, runnerDir("resume")};
  const auto out = runJob(reg, req, fb);
  CountingJob::stopAfter = -1;
  ASSERT_EQ(out.status, RunStatus::Failed);
  EXPECT_EQ(out.error, "simulated crash");
  const auto crashed = RunDir::open(out.runDir);
  EXPECT_EQ(crashed.status(), RunStatus::Failed);
  ASSERT_TRUE(crashed.latestCheckpoint());
  EXPECT_EQ(RunDir::checkpointStep(*crashed.latestCheckpoint()), 10);

  Feedback fb2;
  const auto resumed = resumeJob(reg, out.runDir, fb2);
  ASSERT_EQ(resumed.status, RunStatus::Completed) << resumed.error;
  const auto run = RunDir::open(out.runDir);
  EXPECT_EQ(run.record()["summary"]["sum"], 2870);  // 20*21*41/6
  EXPECT_EQ(run.record()["resume_count"], 1);
  EXPECT_THROW(resumeJob(reg, out.runDir, fb2), Error);  // completed runs are not resumed
}

TEST(Runner, NonResumableJobRefusesResume) {
  auto& reg = makeRegistry();
  Feedback fb;
  fb.requestCancel();
  RunRequest req{"core.gemm_benchmark", Json{{"size", 32}, {"iterations", 3}}, "cpu", 1ULL, runnerDir("nores")};
  const auto out = runJob(reg, req, fb);
  EXPECT_EQ(out.status, RunStatus::Cancelled);
  Feedback fb2;
  EXPECT_THROW(resumeJob(reg, out.runDir, fb2), Error);
}

TEST(Runner, CancelTakesEffectQuicklyAndIsRecorded) {
  auto& reg = makeRegistry();
  Feedback fb;
  // Big enough to run for many seconds on a laptop CPU.
  RunRequest req{"core.gemm_benchmark", Json{{"size", 1024}, {"iterations", 100000}}, "cpu", 1ULL,
                 runnerDir("cancel")};
  RunOutcome out;
  std::thread worker([&] { out = runJob(reg, req, fb); });
  while (fb.progress() == 0.0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = std::chrono::steady_clock::now();
  fb.requestCancel();
  worker.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out.status, RunStatus::Cancelled);
  EXPECT_LT(seconds, 1.0) << "cancel took " << seconds << " s";  // the contract: cancel within 1 s
  EXPECT_EQ(RunDir::open(out.runDir).status(), RunStatus::Cancelled);
  EXPECT_FALSE(RunDir::open(out.runDir).readMetrics().empty());
}

TEST(Runner, GemmBenchmarkMeasuresSomething) {
  auto& reg = makeRegistry();
  Feedback fb;
  RunRequest req{"core.gemm_benchmark", Json{{"size", 128}, {"iterations", 4}}, "cpu", 1ULL, runnerDir("gemm")};
  const auto out = runJob(reg, req, fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto run = RunDir::open(out.runDir);
  EXPECT_GT(run.record()["summary"]["median_tflops"].get<double>(), 0.0);
  EXPECT_EQ(run.readMetrics().size(), 4u);
  ASSERT_EQ(run.record()["artifacts"].size(), 1u);
  EXPECT_TRUE(fs::exists(run.path() / run.record()["artifacts"][0]["path"].get<std::string>()));
}

TEST(Runner, HeartbeatKeepsRunningRunsFresh) {
  auto& reg = makeRegistry();
  Feedback fb;
  RunRequest req{"core.gemm_benchmark", Json{{"size", 512}, {"iterations", 100000}}, "cpu", 1ULL,
                 runnerDir("heartbeat")};
  req.heartbeatSeconds = 0.05;
  RunOutcome out;
  std::thread worker([&] { out = runJob(reg, req, fb); });
  while (fb.progress() == 0.0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  fs::path dir;
  for (const auto& e : fs::directory_iterator(req.runsRoot)) dir = e.path();
  const auto live = RunDir::open(dir);
  EXPECT_EQ(live.status(), RunStatus::Running);
  EXPECT_FALSE(isStale(live, 1.0));
  EXPECT_LT(secondsSinceIso(live.record()["updated"].get<std::string>()), 0.5);
  fb.requestCancel();
  worker.join();
  // A "running" record with an old heartbeat is what a killed process leaves: stale.
  auto dead = RunDir::open(dir);
  dead.mutableRecord()["status"] = "running";
  dead.mutableRecord()["updated"] = "2020-01-01T00:00:00.000Z";
  EXPECT_TRUE(isStale(dead));
}

TEST(Device, ParsesWhatUsersWrite) {
  EXPECT_EQ(DeviceSpec::parse("auto").kind, DeviceSpec::Kind::Auto);
  EXPECT_EQ(DeviceSpec::parse(" CPU ").kind, DeviceSpec::Kind::Cpu);
  EXPECT_EQ(DeviceSpec::parse("cuda:1").index, 1);
  EXPECT_EQ(DeviceSpec::parse("cuda:1").toString(), "cuda:1");
  EXPECT_THROW(DeviceSpec::parse("cuda:x"), Error);
  EXPECT_THROW(DeviceSpec::parse("tpu"), Error);
  EXPECT_EQ(resolveDevice(DeviceSpec::parse("cpu")).toString(), "cpu");
  const auto autoDev = resolveDevice(DeviceSpec::parse("auto"));
  EXPECT_EQ(autoDev.toString(), cudaAvailable() ? "cuda:0" : "cpu");
  if (!cudaAvailable()) {
    try {
      resolveDevice(DeviceSpec::parse("cuda:0"));
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos);
    }
  }
  EXPECT_EQ(availableDevices().front().name, "cpu");
}
