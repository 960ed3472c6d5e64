// `atomscope-cli run lm.train | adit.train_vae | adit.train_dit | ff.train --nproc 2` on the CPU (c10d
// with Gloo, two processes on loopback): with the same global batch and seed the loss curve equals
// one process's, and a checkpoint written at one number of processes resumes at another to the same
// result. The reference is the same job run as a single process in the same test (the issue's
// definition of correct data parallelism). Tolerance 1e-4 relative: the two runs differ only in the
// order of float32 sums (each rank sums its half of the batch, the halves are added in double; a
// float32 sum of n terms can move by about n * 6e-8 relative, n ~ 1e3 here), carried through a
// few optimizer steps.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "cli_runner.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

using test::cli;
using test::onlyRun;

const std::string kStoriesText = std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/text/tinystories/tinystories_sample5.txt";
const std::string kTok = std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/lm/tok512.bin";

std::string trainArgs(const fs::path& out) {
  return "run lm.train --device cpu --seed 5 --quiet --out " + out.string() + " --param data=" + kStoriesText +
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

namespace {

// step -> metric -> value for the given keys (a later line for a step replaces an earlier one).
using Curve = std::map<long long, std::map<std::string, double>>;

Curve metricCurve(const fs::path& run, const std::vector<std::string>& keys) {
  Curve c;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = Json::parse(line);
    for (const auto& k : keys)
      if (j.contains(k)) c[j.at("step").get<long long>()][k] = j.at(k).get<double>();
  }
  return c;
}

// Every value of `want` for steps [from, to] is in `got` to 1e-4 relative (the file comment says why).
void expectSameMetrics(const Curve& want, const Curve& got, long long from, long long to) {
  for (long long s = from; s <= to; ++s) {
    ASSERT_TRUE(want.count(s)) << "step " << s << " missing in the one-process run";
    ASSERT_TRUE(got.count(s)) << "step " << s << " missing";
    for (const auto& [k, v] : want.at(s)) {
      ASSERT_TRUE(got.at(s).count(k)) << k << " missing at step " << s;
      EXPECT_NEAR(got.at(s).at(k), v, 1e-4 * std::abs(v)) << k << " at step " << s;
    }
  }
}

// One process, two processes, and both resumes across world sizes from the step-3 checkpoint of a
// 6-step run: the curves of `keys` agree. Returns the one-process run.
fs::path expectDataParallelMatches(const fs::path& root, const std::string& args, const std::vector<std::string>& keys) {
  const auto one = cli(args + " --out " + (root / "one").string());
  EXPECT_EQ(one.code, 0) << one.out;
  const auto two = cli(args + " --out " + (root / "two").string() + " --nproc 2");
  EXPECT_EQ(two.code, 0) << two.out;
  EXPECT_NE(two.out.find("data parallel: 2 processes"), std::string::npos) << two.out;
  if (one.code != 0 || two.code != 0) return {};
  const auto runOne = onlyRun(root / "one"), runTwo = onlyRun(root / "two");
  const auto want = metricCurve(runOne, keys);
  EXPECT_EQ(want.size(), 6u);
  expectSameMetrics(want, metricCurve(runTwo, keys), 1, 6);
  EXPECT_EQ(core::RunDir::open(runTwo).record().at("summary").value("processes", 0), 2);
  // Written by two processes, resumed by one; written by one, resumed by two.
  const auto a = crashedCopy(runTwo, root / "resumed_a");
  const auto ra = cli("resume " + a.string() + " --quiet");
  EXPECT_EQ(ra.code, 0) << ra.out;
  expectSameMetrics(want, metricCurve(a, keys), 4, 6);
  const auto b = crashedCopy(runOne, root / "resumed_b");
  const auto rb = cli("resume " + b.string() + " --quiet --nproc 2");
  EXPECT_EQ(rb.code, 0) << rb.out;
  expectSameMetrics(want, metricCurve(b, keys), 4, 6);
  return runOne;
}

}  // namespace

// ADiT: the VAE on 8 QM9 molecules (and 8 MP-20 crystals where the toolkits read CIFs, so the
// crystal-only loss terms are split too) with every random draw switched on (rotations, position
// and latent noise), then the DiT on that VAE's latents.
TEST(DataParallel, AditVaeAndDitFollowOneProcess) {
  const auto root = test::freshTempDir("cli_dp_adit");
  std::string sources = std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/qm9/qm9_reduced_100.xyz";
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  sources += ";" + std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/crystals/mp_20_subset_train.csv";
#endif
  const auto prep = cli("run adit.prepare --quiet --param limit=8 --out " + (root / "data").string() + " --param \"sources=" +
                        sources + "\"");
  ASSERT_EQ(prep.code, 0) << prep.out;
  const auto data = onlyRun(root / "data") / "artifacts" / "data";
  const std::string common = " --device cpu --seed 11 --quiet --param data=" + data.string() +
                             " --param size=tiny --param batch_size=4 --param steps=6 --param checkpoint_every=3"
                             " --param log_every=1 --param lr=2e-3";
  const auto vae = expectDataParallelMatches(
      root / "vae", "run adit.train_vae" + common + " --param augment_rotations=true --param position_noise=0.05"
                    " --param latent_noise=0.1", {"loss", "grad_norm"});
  ASSERT_FALSE(vae.empty());
  expectDataParallelMatches(root / "dit", "run adit.train_dit" + common + " --param vae=" +
                                              (vae / "artifacts" / "vae.pt").string(), {"loss", "grad_norm"});
  // 3 structures do not split over 2 processes.
  const auto bad = cli("run adit.train_vae" + common + " --param batch_size=3 --nproc 2 --out " + (root / "bad").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("does not split evenly over 2 processes"), std::string::npos) << bad.out;
}

namespace {
// The first n frames of an XYZ file, appended to `out`.
void copyFrames(const fs::path& from, std::size_t n, std::ofstream& out) {
  std::ifstream in(from);
  std::string line;
  for (std::size_t k = 0; k < n && std::getline(in, line); ++k) {
    const auto atoms = std::stoul(line);
    out << line << "\n";
    for (std::size_t i = 0; i < atoms + 1 && std::getline(in, line); ++i) out << line << "\n";
  }
}
}  // namespace

// ff.train: a tiny PONITA on 8 rMD17 ethanol frames (9 atoms) and 8 MD17 aspirin frames (21 atoms),
// both in kcal/mol, so the two ranks' shares of a batch hold different numbers of atoms and the
// force loss's whole-batch normaliser matters. The loss (energy and force MSEs over the whole
// batch), the batch RMSEs and rank 0's validation of the EMA weights follow one process.
TEST(DataParallel, ForceFieldTrainingFollowsOneProcess) {
  const auto root = test::freshTempDir("cli_dp_ff");
  const auto frames = root / "ethanol_aspirin.xyz";
  {
    std::ofstream out(frames);
    copyFrames(std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/md_forces/rmd17_ethanol_reduced_100.xyz", 8, out);
    copyFrames(std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/md_forces/md17_aspirin_15frames.xyz", 8, out);
  }
  // Training: the 8 ethanol and the first 4 aspirin frames; validation: the last 4 aspirin frames.
  const std::string args = "run ff.train --device cpu --seed 7 --quiet --param train=" + frames.string() +
                           " --param energy_unit=kcal/mol --param train_count=12 --param valid_count=4"
                           " --param orientations=4 --param hidden=8 --param basis=8 --param layers=1"
                           " --param batch_size=4 --param steps=6 --param checkpoint_every=3 --param eval_every=3"
                           " --param lr=5e-3";
  expectDataParallelMatches(root, args, {"loss", "energy_rmse_batch", "force_rmse_batch", "grad_norm", "valid_force_mae"});
  const auto bad = cli(args + " --param batch_size=3 --nproc 2 --out " + (root / "bad").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("does not split evenly over 2 processes"), std::string::npos) << bad.out;
}
