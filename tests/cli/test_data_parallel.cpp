// `atomscope-cli run lm.train --nproc 2` on the CPU (c10d with Gloo, two processes on loopback):
// with the same global batch and seed its loss curve equals one process's, and a checkpoint written
// at one number of processes resumes at another to the same result. The reference is the same job
// run as a single process in the same test (the definition of correct data parallelism);
// tolerance 1e-4 relative, for float sums taken in another order.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "cli_runner.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

using test::cli;
using test::onlyRun;

const std::string kData = std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/text/tinystories/tinystories_sample5.txt";
const std::string kTok = std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/lm/tok512.bin";

std::string trainArgs(const fs::path& out) {
  return "run lm.train --device cpu --seed 5 --quiet --out " + out.string() + " --param data=" + kData +
         " --param tokenizer=" + kTok +
         " --param family=llama --param dim=32 --param n_layers=2 --param n_heads=2 --param context=32"
         " --param batch_size=4 --param grad_accum=2 --param steps=6 --param lr=3e-3 --param warmup_steps=2"
         " --param checkpoint_every=3 --param val_every=3 --param val_batches=2 --param export=false";
}

// step -> {loss, val_loss (or NaN)}; a later line for a step replaces an earlier one (resume).
std::map<long long, std::pair<double, double>> curve(const fs::path& run) {
  std::map<long long, std::pair<double, double>> c;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = Json::parse(line);
    if (!j.contains("loss")) continue;
    c[j.at("step").get<long long>()] = {j.at("loss").get<double>(), j.value("val_loss", std::nan(""))};
  }
  return c;
}

void expectSameCurve(const std::map<long long, std::pair<double, double>>& want,
                     const std::map<long long, std::pair<double, double>>& got, long long from = 1) {
  for (long long s = from; s <= 6; ++s) {
    ASSERT_TRUE(want.count(s) && got.count(s)) << "step " << s << " missing";
    EXPECT_NEAR(got.at(s).first, want.at(s).first, 1e-4 * std::abs(want.at(s).first)) << "loss at step " << s;
    if (!std::isnan(want.at(s).second))
      EXPECT_NEAR(got.at(s).second, want.at(s).second, 1e-4 * std::abs(want.at(s).second)) << "val loss at step " << s;
  }
}

// The run as if it had crashed right after its step-3 checkpoint.
fs::path crashedCopy(const fs::path& run, const fs::path& where) {
  fs::create_directories(where);
  const auto copy = where / run.filename();
  fs::copy(run, copy, fs::copy_options::recursive);
  auto r = core::RunDir::open(copy);
  fs::remove(*r.latestCheckpoint());  // step 6
  r.setStatus(core::RunStatus::Failed, "simulated crash after step 3");
  return copy;
}

}  // namespace

TEST(DataParallel, TwoProcessesFollowOneProcessesLossCurveAndResumeAcrossWorldSizes) {
  const auto root = test::freshTempDir("cli_dp");
  const auto one = cli(trainArgs(root / "one"));
  ASSERT_EQ(one.code, 0) << one.out;
  const auto two = cli(trainArgs(root / "two") + " --nproc 2");
  ASSERT_EQ(two.code, 0) << two.out;
  EXPECT_NE(two.out.find("data parallel: 2 processes"), std::string::npos) << two.out;
  const auto runOne = onlyRun(root / "one"), runTwo = onlyRun(root / "two");
  const auto want = curve(runOne);
  ASSERT_EQ(want.size(), 6u);
  expectSameCurve(want, curve(runTwo));
  EXPECT_EQ(core::RunDir::open(runTwo).record().at("summary").value("processes", 0), 2);

  // Written by two processes, resumed by one; written by one, resumed by two.
  const auto a = crashedCopy(runTwo, root / "resumed_a");
  const auto ra = cli("resume " + a.string() + " --quiet");
  ASSERT_EQ(ra.code, 0) << ra.out;
  expectSameCurve(want, curve(a), 4);
  const auto b = crashedCopy(runOne, root / "resumed_b");
  const auto rb = cli("resume " + b.string() + " --quiet --nproc 2");
  ASSERT_EQ(rb.code, 0) << rb.out;
  expectSameCurve(want, curve(b), 4);
}

TEST(DataParallel, RefusesWhatItCannotSplit) {
  const auto root = test::freshTempDir("cli_dp_bad");
  // 4 sequences do not split over 3 processes: every rank says so, and the run fails cleanly.
  const auto r = cli(trainArgs(root / "three") + " --nproc 3");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("does not split evenly over 3 processes"), std::string::npos) << r.out;
  // A job without data-parallel support.
  const auto g = cli("run core.gemm_benchmark --param size=64 --nproc 2 --out " + (root / "g").string());
  EXPECT_EQ(g.code, 2);
  EXPECT_NE(g.out.find("does not run data-parallel"), std::string::npos) << g.out;
  const auto n = cli("run lm.train --nproc zero");
  EXPECT_EQ(n.code, 2);
  EXPECT_NE(n.out.find("--nproc expects"), std::string::npos) << n.out;
}
