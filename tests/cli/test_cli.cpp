// Runs the real atomscope-cli binary the way a user does and checks what it prints and records.
#include <gtest/gtest.h>

#include "cli_runner.h"
#include "test_util.h"
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "atomscope/core/run_dir.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

using Result = test::CliResult;
using test::cli;

fs::path freshDir(const std::string& name) { return test::freshTempDir("cli" + name); }

using test::onlyRun;

}  // namespace

TEST(Cli, JobsListsRegisteredJobsWithHelp) {
  auto r = cli("jobs");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("core.gemm_benchmark"), std::string::npos) << r.out;
  r = cli("jobs core.gemm_benchmark");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("size (int, 16 .. 32768)  default 1024"), std::string::npos) << r.out;
  r = cli("jobs core.gemm_benchmark --json");
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["schema"]["params"][1]["name"], "size");
}

TEST(Cli, RunRecordsACompletedRun) {
  const auto root = freshDir("run");
  auto r = cli("--project " + root.string() + " run core.gemm_benchmark --param size=64 --param iterations=3 "
               "--device cpu --seed 5");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto run = core::RunDir::open(onlyRun(root));
  EXPECT_EQ(run.status(), core::RunStatus::Completed);
  EXPECT_EQ(run.record()["params"]["size"], 64);
  EXPECT_EQ(run.record()["seed"], 5);
  EXPECT_EQ(run.readMetrics().size(), 3u);

  r = cli("--project " + root.string() + " runs");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find(run.id()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("completed"), std::string::npos) << r.out;

  r = cli("--project " + root.string() + " show " + run.id().substr(run.id().size() - 6) + " --metrics");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("size = 64"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tflops: 3 values"), std::string::npos) << r.out;

  const auto exportDir = freshDir("export");
  r = cli("--project " + root.string() + " export " + run.id() + " --to " + exportDir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream csv(exportDir / run.id() / "metrics.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "step,seconds,ms,tflops");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 3);
  EXPECT_TRUE(fs::exists(exportDir / run.id() / "artifacts" / "gemm_benchmark.json"));
}

TEST(Cli, ParamsFromAFileAndFromTheCommandLine) {
  const auto root = freshDir("paramsfile");
  std::ofstream(root / "p.json") << R"({"size": 32, "iterations": 2, "dtype": "float64"})";
  auto r = cli("run core.gemm_benchmark --params " + (root / "p.json").string() + " --param iterations=4 --out " +
               (root / "runs").string() + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto run = core::RunDir::open(onlyRun(root / "runs"));
  EXPECT_EQ(run.record()["params"]["dtype"], "float64");
  EXPECT_EQ(run.record()["params"]["iterations"], 4);  // the command line wins over the file
}

TEST(Cli, BadInputGivesActionableErrors) {
  const auto root = freshDir("bad");
  auto r = cli("--project " + root.string() + " run core.gemm_benchmark --param size=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("'size': 3 is out of range; expected a value in [16, 32768]"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::is_empty(root));  // nothing half-made
  r = cli("run core.gemm_benchmark --param colour=red");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown parameter 'colour'"), std::string::npos) << r.out;
  r = cli("run no.such.job");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("no job named 'no.such.job'; known jobs: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("core.gemm_benchmark"), std::string::npos) << r.out;
  r = cli("run core.gemm_benchmark --device tpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("'tpu' is not a device"), std::string::npos) << r.out;
  r = cli("--project " + root.string() + " show nothing-like-this");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("no run 'nothing-like-this'"), std::string::npos) << r.out;
  r = cli("frobnicate");
  EXPECT_EQ(r.code, 2);
}

TEST(Cli, CtrlCCancelsCleanlyAndMarksTheRunCancelled) {
  const auto root = freshDir("sigint");
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(ATOMSCOPE_CLI_PATH, ATOMSCOPE_CLI_PATH, "--project", root.c_str(), "run", "core.gemm_benchmark",
          "--param", "size=512", "--param", "iterations=1000000", "--device", "cpu", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the run is running and has reported a metric.
  fs::path runDir;
  for (int i = 0; i < 600 && runDir.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const auto& e : fs::directory_iterator(root))
      if (fs::exists(e.path() / "metrics.jsonl")) runDir = e.path();
  }
  ASSERT_FALSE(runDir.empty());
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_LT(seconds, 1.0);
  EXPECT_EQ(core::RunDir::open(runDir).status(), core::RunStatus::Cancelled);
  // A gemm benchmark keeps no checkpoints: resuming it is refused with a reason.
  auto r = cli("--project " + root.string() + " resume " + runDir.filename().string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("cannot be resumed"), std::string::npos) << r.out;
}

#ifdef ATOMSCOPE_HAVE_STORE
TEST(Cli, RunsAreIndexedTaggedAndSurviveLosingTheDatabase) {
  const auto root = freshDir("store");
  auto r = cli("--project " + root.string() + " run core.gemm_benchmark --param size=32 --param iterations=2 --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto run = core::RunDir::open(onlyRun(root));
  r = cli("--project " + root.string() + " tag " + run.id() + " baseline");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("#baseline"), std::string::npos) << r.out;
  r = cli("--project " + root.string() + " runs --tag baseline");
  EXPECT_NE(r.out.find(run.id()), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(root / "atomscope.db"));
  // The run folders are the record: delete the database and the tag comes back from user.json.
  fs::remove(root / "atomscope.db");
  fs::remove(root / "atomscope.db-wal");
  fs::remove(root / "atomscope.db-shm");
  r = cli("--project " + root.string() + " runs --tag baseline");
  EXPECT_NE(r.out.find(run.id()), std::string::npos) << r.out;
  r = cli("--project " + root.string() + " runs --tag nonexistent");
  EXPECT_EQ(r.out.find(run.id()), std::string::npos) << r.out;
}
#endif
