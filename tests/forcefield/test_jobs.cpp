// The ff.* jobs end to end through the job runner (the CLI's path).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <set>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/runner.h"
#include "atomscope/forcefield/dynamics.h"
#include "atomscope/forcefield/ff_jobs.h"
#include "atomscope/forcefield/torchscript_calculator.h"
#include "atomscope/forcefield/xtb_calculator.h"
#include "cancel_at.h"
#include "ff_test_util.h"

using namespace atomscope;
using namespace atomscope::ff_test;

namespace {

core::JobRegistry& registry() {
  static core::JobRegistry* r = [] {
    auto* reg = new core::JobRegistry;
    forcefield::registerForceFieldJobs(*reg);
    return reg;
  }();
  return *r;
}

core::RunOutcome runJob(const std::string& job, Json params, const fs::path& root, unsigned long long seed = 1) {
  core::Feedback fb;
  return core::runJob(registry(), core::RunRequest{job, std::move(params), "cpu", seed, root, 2.0}, fb);
}

Json summary(const core::RunOutcome& o) { return core::RunDir::open(o.runDir).record()["summary"]; }

std::string python(const std::string& code) {
  const std::string cmd = "/usr/bin/python3 -c '" + code + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  std::string out;
  std::array<char, 4096> buf{};
  while (pipe && std::fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  return out;
}

bool haveXtb() { return ::access("/usr/bin/xtb", X_OK) == 0; }

}  // namespace

// A tiny PONITA through ff.train on 3BPA fits one frame (train_count 1): its force MAE after 100
// steps must be below 0.3x that after 1 step (same seed: same initial weights). Measured here:
// 0.641 -> 0.079 eV/A with invariants in Angstrom and zero-initialised readouts; with invariants
// divided by the cutoff the same run only reached about 0.9x, so this catches that regression.
// ff.evaluate reproduces the job's own validation number on the 10 held-out frames.
TEST(ForcefieldJobs, TrainTinyPonitaForceErrorDrops) {
  test::ScopedTempDir dir("ff_train");
  {
    std::ofstream out(dir / "bpa40.xyz");
    for (std::size_t k = 0; k < 40; ++k) chem::writeExtXyz(out, bpaFrames()[k]);
  }
  auto params = [&](int steps) {
    return Json{{"train", (dir / "bpa40.xyz").string()},
                {"valid_count", 10},
                {"train_count", 1},
                {"isolated_atoms", sharedData("md_forces/3bpa_iso_atoms.xyz").string()},
                {"orientations", 8},
                {"hidden", 24},
                {"basis", 24},
                {"layers", 2},
                {"cutoff", 4.0},
                {"steps", steps},
                {"batch_size", 1},
                {"lr", 5e-3},
                {"ema_decay", 0.5},
                {"eval_every", 0},
                {"checkpoint_every", 1000}};
  };
  auto trainMae = [&](const core::RunOutcome& run) {
    const auto ev = runJob("ff.evaluate", Json{{"model", (run.runDir / "artifacts" / "model.pt").string()},
                                               {"data", (dir / "bpa40.xyz").string()}, {"limit", 1}},
                           dir.path());
    EXPECT_EQ(ev.status, core::RunStatus::Completed) << ev.error;
    return summary(ev)["force_mae_eV_per_A"].get<double>();
  };
  const auto before = runJob("ff.train", params(1), dir.path());
  ASSERT_EQ(before.status, core::RunStatus::Completed) << before.error;
  const auto after = runJob("ff.train", params(100), dir.path());
  ASSERT_EQ(after.status, core::RunStatus::Completed) << after.error;
  const double f0 = trainMae(before), f1 = trainMae(after);
  std::cout << "train-frame force MAE: 1 step " << f0 << " eV/A, 100 steps " << f1 << " eV/A; held-out "
            << summary(before)["valid_force_mae_eV_per_A"] << " -> " << summary(after)["valid_force_mae_eV_per_A"] << "\n";
  EXPECT_LT(f1, 0.3 * f0);
  // The same with the reference's training recipe: random rotations and calibrated kernels. The model
  // is equivariant up to its 8-point grid, so it learns one frame's forces in every orientation, more
  // slowly (0.21 against 0.11 eV/A when written); forces turned inconsistently with the positions would
  // leave nothing to learn and the error near its start.
  Json recipe = params(100);
  recipe["rotate"] = true;
  recipe["calibrate"] = true;
  const auto rotated = runJob("ff.train", recipe, dir.path());
  ASSERT_EQ(rotated.status, core::RunStatus::Completed) << rotated.error;
  const double f2 = trainMae(rotated);
  std::cout << "with rotations and calibration: 100 steps " << f2 << " eV/A\n";
  EXPECT_LT(f2, 0.5 * f0);
  // ff.evaluate on the held-out frames gives the job's own validation number.
  const auto ev = runJob("ff.evaluate", Json{{"model", (after.runDir / "artifacts" / "model.pt").string()},
                                             {"data", (dir / "bpa40.xyz").string()}, {"skip", 30}},
                         dir.path());
  ASSERT_EQ(ev.status, core::RunStatus::Completed) << ev.error;
  const double v1 = summary(after)["valid_force_mae_eV_per_A"];
  EXPECT_NEAR(summary(ev)["force_mae_eV_per_A"].get<double>(), v1, 1e-4 * v1);
  EXPECT_EQ(summary(ev)["frames"].get<int>(), 10);
  EXPECT_TRUE(fs::exists(ev.runDir / "artifacts" / "parity_forces.csv"));
}

// ff.evaluate on the MACE toy model and the DFT frame: energy MAE = |E_model - dft_energy| with the
// DFT energy from the file (-842.19986612 eV).
TEST(ForcefieldJobs, EvaluateMaceAgainstDftLabels) {
  test::ScopedTempDir dir("ff_eval");
  const auto ev = runJob("ff.evaluate", Json{{"model", maceModel().string()}, {"data", mlipTestFile().string()},
                                             {"energy_key", "dft_energy"}, {"forces_key", "dft_forces"}},
                         dir.path());
  ASSERT_EQ(ev.status, core::RunStatus::Completed) << ev.error;
  forcefield::TorchScriptCalculator calc(maceModel(), "cpu", true);
  const auto r = calc.compute(chem::readXyz(mlipTestFile())[0]);
  EXPECT_NEAR(summary(ev)["energy_mae_eV"].get<double>(), std::abs(r.energy - (-842.19986612)), 1e-6);
}

// ff.label with xtb writes extxyz that ASE reads back with the same energies and forces.
TEST(ForcefieldJobs, LabelWithXtbReadsBackInAse) {
  if (!haveXtb()) {
    if (test::strictReferences()) FAIL() << "needs /usr/bin/xtb";
    GTEST_SKIP() << "needs /usr/bin/xtb";
  }
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  test::ScopedTempDir dir("ff_label");
  const auto src = sharedData("md_forces/rmd17_ethanol_reduced_100.xyz");
  const auto o = runJob("ff.label", Json{{"structures", src.string()}, {"limit", 2}}, dir.path());
  ASSERT_EQ(o.status, core::RunStatus::Completed) << o.error;
  const auto file = o.runDir / "artifacts" / "labelled.xyz";
  const auto out = python("from ase.io import read; a = read(\"" + file.string() +
                          "\", \":\"); print(len(a), repr(a[1].get_potential_energy()), repr(a[1].get_forces()[3][1]))");
  double e = 0, f = 0;
  int n = 0;
  ASSERT_EQ(std::sscanf(out.c_str(), "%d %lf %lf", &n, &e, &f), 3) << out;
  EXPECT_EQ(n, 2);
  forcefield::XtbCalculator xtb;
  const auto r = xtb.compute(chem::readXyz(src)[1]);
  EXPECT_NEAR(e, r.energy, 1e-6);
  EXPECT_NEAR(f, r.forces[3][1], 1e-6);
}

// ff.optimize (L-BFGS) and ff.md (NVE) through the runner on xtb ethanol.
TEST(ForcefieldJobs, OptimizeAndMdOnXtb) {
  if (!haveXtb()) {
    if (test::strictReferences()) FAIL() << "needs /usr/bin/xtb";
    GTEST_SKIP() << "needs /usr/bin/xtb";
  }
  test::ScopedTempDir dir("ff_dyn");
  const auto src = sharedData("md_forces/rmd17_ethanol_reduced_100.xyz");
  const auto opt = runJob("ff.optimize", Json{{"model", "xtb"}, {"structure", src.string()}, {"method", "lbfgs"}, {"fmax", 0.05}}, dir.path());
  ASSERT_EQ(opt.status, core::RunStatus::Completed) << opt.error;
  EXPECT_TRUE(summary(opt)["converged"].get<bool>());
  const auto fin = chem::readXyz(opt.runDir / "artifacts" / "final.xyz")[0];
  forcefield::XtbCalculator xtb;
  EXPECT_LT(forcefield::maxForce(xtb.compute(fin).forces), 0.05);
  const auto md = runJob("ff.md", Json{{"model", "xtb"}, {"structure", (opt.runDir / "artifacts" / "final.xyz").string()},
                                       {"timestep", 0.25}, {"steps", 40}, {"sample_every", 10}, {"temperature", 100.0}},
                         dir.path());
  ASSERT_EQ(md.status, core::RunStatus::Completed) << md.error;
  EXPECT_EQ(chem::readXyz(md.runDir / "artifacts" / "trajectory.xyz").size(), 5u);
  // 10 fs of NVE at 0.25 fs: total energy within 1 meV/atom (xtb's SCF noise and Verlet's dt^2 error).
  EXPECT_LT(summary(md)["max_energy_deviation_eV_per_atom"].get<double>(), 1e-3);
}

// max_seconds: a budget far below one step's time stops training after its first step, with a checkpoint
// there (so a later resume continues from it) and the model exported. Reference: the budget itself (any
// PONITA step takes more than 1 microsecond).
TEST(ForcefieldJobs, TrainStopsAtItsTimeBudgetWithACheckpoint) {
  test::ScopedTempDir dir("ff_train_budget");
  {
    std::ofstream out(dir / "bpa6.xyz");
    for (std::size_t k = 0; k < 6; ++k) chem::writeExtXyz(out, bpaFrames()[k]);
  }
  const auto run = runJob("ff.train", Json{{"train", (dir / "bpa6.xyz").string()}, {"valid_count", 2},
                                           {"orientations", 4}, {"hidden", 8}, {"basis", 8}, {"layers", 1},
                                           {"steps", 1000}, {"batch_size", 1}, {"eval_every", 0},
                                           {"checkpoint_every", 1000}, {"max_seconds", 1e-6},
                                           {"lr_schedule", "cosine"}},
                          dir.path());
  ASSERT_EQ(run.status, core::RunStatus::Completed) << run.error;
  EXPECT_EQ(summary(run)["steps_done"].get<long long>(), 1);
  EXPECT_TRUE(summary(run)["stopped_by_time"].get<bool>());
  EXPECT_TRUE(fs::exists(run.runDir / "artifacts" / "model.pt"));
  std::size_t checkpoints = 0;
  for (const auto& e : fs::directory_iterator(run.runDir / "checkpoints")) checkpoints += e.path().extension() == ".pt";
  EXPECT_EQ(checkpoints, 1u);
}

// A cancel (Ctrl-C, or the end of a GPU visit under `timeout -s INT`) keeps the steps since the last
// checkpoint: the run writes one at the step it stopped, and a resume continues from that step to the end.
TEST(ForcefieldJobs, CancelledTrainingCheckpointsWhereItStoppedAndResumesThere) {
  test::ScopedTempDir dir("ff_train_cancel");
  {
    std::ofstream out(dir / "bpa4.xyz");
    for (std::size_t k = 0; k < 4; ++k) chem::writeExtXyz(out, bpaFrames()[k]);
  }

  core::Feedback fb;
  test::CancelAtStep::install(fb, 7);
  const Json params{{"train", (dir / "bpa4.xyz").string()}, {"valid_count", 1}, {"orientations", 4}, {"hidden", 8},
                    {"basis", 8}, {"layers", 1}, {"steps", 12}, {"batch_size", 1}, {"eval_every", 0},
                    {"checkpoint_every", 1000}};
  const auto cut = core::runJob(registry(), core::RunRequest{"ff.train", params, "cpu", 1, dir.path(), 2.0}, fb);
  ASSERT_EQ(cut.status, core::RunStatus::Cancelled) << cut.error;
  std::vector<fs::path> checkpoints;
  for (const auto& e : fs::directory_iterator(cut.runDir / "checkpoints"))
    if (e.path().extension() == ".pt") checkpoints.push_back(e.path());
  ASSERT_EQ(checkpoints.size(), 1u);  // checkpoint_every 1000: this one is the cancel's
  core::Feedback fb2;
  const auto resumed = core::resumeJob(registry(), cut.runDir, fb2);
  ASSERT_EQ(resumed.status, core::RunStatus::Completed) << resumed.error;
  EXPECT_EQ(summary(resumed)["steps_done"].get<long long>(), 12);
  // The resumed part starts right after the cancel's step (7), not from step 1.
  long long firstResumed = 0;
  std::set<long long> seen;
  for (const auto& m : core::RunDir::open(resumed.runDir).readMetrics()) {
    if (!seen.insert(m.step).second && firstResumed == 0) firstResumed = m.step;
  }
  EXPECT_EQ(firstResumed, 0) << "a step was trained twice: " << firstResumed;
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_TRUE(fs::exists(resumed.runDir / "artifacts" / "model.pt"));
}

// zero_readouts (default true) starts the readouts at zero; false keeps PyTorch's initialisation, as
// the reference PONITA does. One step at lr 0 leaves the initial weights in model.pt, and the
// invariant_length and a2_root given to ff.train are the saved model's.
TEST(ForcefieldJobs, InitialisationOptionsReachTheSavedModel) {
  test::ScopedTempDir dir("ff_train_readouts");
  {
    std::ofstream out(dir / "bpa4.xyz");
    for (std::size_t k = 0; k < 4; ++k) chem::writeExtXyz(out, bpaFrames()[k]);
  }
  auto readoutMax = [&](bool zero) {
    const auto run = runJob("ff.train", Json{{"train", (dir / "bpa4.xyz").string()}, {"valid_count", 1},
                                             {"orientations", 4}, {"hidden", 8}, {"basis", 8}, {"layers", 2},
                                             {"steps", 1}, {"batch_size", 1}, {"lr", 0.0}, {"eval_every", 0},
                                             {"zero_readouts", zero}, {"invariant_length", zero ? 1.0 : 2.5}, {"a2_root", !zero}},
                            dir.path());
    EXPECT_EQ(run.status, core::RunStatus::Completed) << run.error;
    auto m = forcefield::loadPonita(run.runDir / "artifacts" / "model.pt");
    EXPECT_EQ(m->config.invariantLength, zero ? 1.0 : 2.5);
    EXPECT_EQ(m->config.a2Root, !zero);
    double mx = 0;
    for (const auto& item : m->named_parameters())
      if (item.key().rfind("readouts.", 0) == 0) mx = std::max(mx, item.value().abs().max().item<double>());
    return mx;
  };
  EXPECT_EQ(readoutMax(true), 0.0);
  EXPECT_GT(readoutMax(false), 0.0);
}

// init continues a saved model: at lr 0 one step leaves exactly the init file's weights in model.pt, the
// architecture is the file's whatever the parameters say, calibrate is skipped (it would rescale trained
// kernels), and training data with an element the model lacks (Zr in mlip_train.xyz) is refused
// with a message naming the file and the element.
TEST(ForcefieldJobs, InitContinuesASavedModel) {
  test::ScopedTempDir dir("ff_train_init");
  {
    std::ofstream out(dir / "bpa4.xyz");
    for (std::size_t k = 0; k < 4; ++k) chem::writeExtXyz(out, bpaFrames()[k]);
  }
  const Json base{{"train", (dir / "bpa4.xyz").string()}, {"valid_count", 1}, {"batch_size", 1}, {"eval_every", 0}};
  auto first = base;
  first.update(Json{{"orientations", 4}, {"hidden", 8}, {"basis", 8}, {"layers", 2}, {"steps", 3}, {"lr", 1e-2}});
  const auto a = runJob("ff.train", first, dir.path());
  ASSERT_EQ(a.status, core::RunStatus::Completed) << a.error;
  const auto initFile = a.runDir / "artifacts" / "model.pt";
  auto cont = base;
  cont.update(Json{{"init", initFile.string()}, {"hidden", 16}, {"steps", 1}, {"lr", 0.0}, {"calibrate", true}});
  const auto b = runJob("ff.train", cont, dir.path());
  ASSERT_EQ(b.status, core::RunStatus::Completed) << b.error;
  auto before = forcefield::loadPonita(initFile), after = forcefield::loadPonita(b.runDir / "artifacts" / "model.pt");
  EXPECT_EQ(after->config.hidden, 8);
  EXPECT_EQ(after->config.toJson(), before->config.toJson());
  const auto pa = before->named_parameters(), pb = after->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa)  // equal up to the float32 rounding of the EMA update
    EXPECT_LT((item.value() - pb[item.key()]).abs().max().item<double>(), 1e-6 * (1 + item.value().abs().max().item<double>()))
        << item.key();

  // warmup_steps: the reported lr rises linearly to lr over the first N steps, then follows the schedule.
  auto warm = base;
  warm.update(Json{{"init", initFile.string()}, {"steps", 6}, {"lr", 1e-3}, {"warmup_steps", 4}});
  const auto w = runJob("ff.train", warm, dir.path());
  ASSERT_EQ(w.status, core::RunStatus::Completed) << w.error;
  const std::vector<double> expected{2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3};
  const auto points = core::RunDir::open(w.runDir).readMetrics();
  ASSERT_EQ(points.size(), expected.size());
  for (std::size_t i = 0; i < points.size(); ++i) EXPECT_NEAR(points[i].values.at("lr"), expected[i], 1e-12) << "step " << i + 1;

  auto foreign = base;
  foreign.update(Json{{"train", sharedData("md_forces/mlip_train.xyz").string()}, {"init", initFile.string()}});
  const auto c = runJob("ff.train", foreign, dir.path());
  EXPECT_EQ(c.status, core::RunStatus::Failed);
  EXPECT_NE(c.error.find("Z=40"), std::string::npos) << c.error;
  EXPECT_NE(c.error.find(initFile.string()), std::string::npos) << c.error;
}

// The sample PONITA model (samples/models/ponita_3bpa, trained on the H200 from the first 450 frames of 3BPA
// 300 K: tests/bench/RESULTS.md, sessions 17, 18, 20 and 21) evaluated on the last 50 frames on the CPU gives the errors
// the GPU measured after training: force RMSE 17.30 meV/A, energy MAE 4.22 meV.
TEST(ForcefieldJobs, SamplePonitaModelKeepsItsTestError) {
  test::ScopedTempDir dir("ff_sample");
  {  // the file's last 50 frames, line for line
    std::ifstream in(bpaFile());
    std::ofstream out(dir / "test50.xyz");
    std::string line;
    for (int frame = 0; std::getline(in, line); ++frame) {
      const int n = std::stoi(line);
      std::string block = line + "\n";
      for (int k = 0; k < n + 1 && std::getline(in, line); ++k) block += line + "\n";
      if (frame >= 450) out << block;
    }
  }
  const auto ev = runJob("ff.evaluate", Json{{"model", std::string(ATOMSCOPE_SAMPLES_DIR) + "/models/ponita_3bpa/model.pt"},
                                             {"data", (dir / "test50.xyz").string()}},
                         dir.path());
  ASSERT_EQ(ev.status, core::RunStatus::Completed) << ev.error;
  EXPECT_EQ(summary(ev)["frames"].get<int>(), 50);
  EXPECT_NEAR(summary(ev)["force_rmse_eV_per_A"].get<double>(), 0.01730, 5e-5);
  EXPECT_NEAR(summary(ev)["energy_mae_eV"].get<double>(), 0.00422, 5e-5);
}
