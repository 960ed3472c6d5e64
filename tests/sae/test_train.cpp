// Training on stories260K activations: the controller reaches the target L0, R^2 is well above 0,
// metrics stream, and sae.analyze tabulates the three bases.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "atomscope/sae/analysis.h"
#include "atomscope/sae/train.h"
#include "sae_test_util.h"

namespace atomscope::sae_test {

namespace {
struct Case {
  SaeKind kind;
  bool whiten;
};

// The SAE of a case at target L0 8, batch 512, trained on the rows before trainEnd.
TrainOptions optionsFor(Case c, std::int64_t steps, std::int64_t trainEnd) {
  TrainOptions o;
  o.kind = c.kind;
  o.whiten = c.whiten;
  o.targetL0 = 8;
  o.steps = steps;
  o.batch = 512;
  o.trainEnd = trainEnd;
  return o;
}
}  // namespace

// Issue 5: an independent computation on stories260K with 256 latents, L0 about 8 and 2000 steps
// gave R^2 0.75 to 0.95; we ask for the target L0 within 20% and held-out R^2 above 0.6 after
// 1500 steps (two cores).
TEST(SaeTrain, ReachesTargetL0OnStories260K) {
  const auto reader = ActivationReader::open(storiesActivations());
  const std::string site = "resid_post.2";
  const auto trainEnd = reader.rows() * 9 / 10;
  for (const auto c : {Case{SaeKind::JumpRelu, true}, Case{SaeKind::Relu, false}}) {
    SCOPED_TRACE(toString(c.kind));
    const TrainOptions o = optionsFor(c, 1500, trainEnd);
    core::Feedback fb;
    struct Collect : core::FeedbackSink {
      std::vector<core::MetricPoint> points;
      void onMetrics(const core::MetricPoint& p) override { points.push_back(p); }
    };
    auto sink = std::make_shared<Collect>();
    fb.addSink(sink);
    TrainReport rep;
    auto sae = trainSae(reader, site, o, torch::kCPU, fb, &rep);
    EXPECT_EQ(sae->dSae(), 4 * 64);
    const auto eval = evaluateSae(*sae, reader, site, trainEnd, reader.rows(), 0);
    EXPECT_NEAR(eval["l0"].get<double>(), 8.0, 1.6) << eval.dump();
    EXPECT_GT(eval["r2"].get<double>(), 0.6) << eval.dump();
    EXPECT_LT(eval["dead_fraction"].get<double>(), 0.5) << eval.dump();
    // Metrics streamed every 50 steps, with every quantity.
    ASSERT_EQ(sink->points.size(), 30u);
    for (const char* k : {"mse", "r2", "l0", "dead_fraction", "lambda", "lr"}) EXPECT_TRUE(sink->points.back().values.count(k)) << k;
    // Decoder rows stay unit length in the training space.
    EXPECT_TRUE(torch::allclose(sae->W_dec.norm(2, 1), torch::ones({sae->dSae()}), 1e-4, 1e-4));
  }
}

// Layer 0's threshold SAE fires about 5 latents of 256 without a penalty; at target 20 the controller
// alone ended 12-35% high (RESULTS.md, issue 5, 6a). With calibration the thresholds are scaled by one
// factor at the start of the learning-rate decay, frozen, and scaled once more at the end: fresh
// training batches then sit on the target and held-out rows near it.
TEST(SaeTrain, CalibrationBringsTheThresholdSaeToATargetAboveItsNaturalL0) {
  const auto reader = ActivationReader::open(storiesActivations());
  const std::string site = "resid_post.0";
  const auto trainEnd = reader.rows() * 9 / 10;
  TrainOptions o;
  o.kind = SaeKind::JumpRelu;
  o.targetL0 = 20;
  o.steps = 600;
  o.batch = 512;
  o.trainEnd = trainEnd;
  core::Feedback fb;
  TrainReport with, without;
  auto calibrated = trainSae(reader, site, o, torch::kCPU, fb, &with);
  o.calibrateL0 = false;
  auto plain = trainSae(reader, site, o, torch::kCPU, fb, &without);

  EXPECT_NEAR(with.calibrationL0After, 20.0, 0.2) << "before " << with.calibrationL0Before;
  EXPECT_EQ(without.calibrationL0Before, 0.0);
  EXPECT_EQ(without.thresholdFactor, 1.0);
  const auto eval = evaluateSae(*calibrated, reader, site, trainEnd, reader.rows(), 0);
  EXPECT_NEAR(eval["l0"].get<double>(), 20.0, 2.0) << eval.dump();
  // Held-out R^2 0.913 at L0 21.4 when this test was written (600 steps; 0.966 after 2,000 steps in
  // RESULTS.md): the floor catches a calibration that gates away what the decoder needs.
  EXPECT_GT(eval["r2"].get<double>(), 0.8) << eval.dump();
  EXPECT_NE(with.thresholdFactor, 1.0);
  EXPECT_EQ(calibrated->info["training"]["threshold_factor"].get<double>(), with.thresholdFactor);

  // Within the tolerance nothing is scaled or frozen: the controller's own L0 stands (a tolerance of
  // 1000% makes every L0 'on target'); the L0 measured on the calibration batches is still reported.
  o.calibrateL0 = true;
  o.calibrationTolerance = 10.0;
  TrainReport tolerant;
  auto left = trainSae(reader, site, o, torch::kCPU, fb, &tolerant);
  EXPECT_EQ(tolerant.thresholdFactor, 1.0);
  EXPECT_GT(tolerant.calibrationL0Before, 0.0);
  EXPECT_EQ(tolerant.calibrationL0Before, tolerant.calibrationL0After);
  // Off target (the controller alone overshoots 20 above the natural L0, as `without` shows), the
  // default tolerance of 5% calibrates.
  EXPECT_GT(std::abs(without.l0 - 20.0), 0.05 * 20.0) << "the controller alone landed on target: the case above is not exercised";
}

// The decoder refit: least squares on fresh training batches with the codes fixed. On held-out rows
// the codes fire on exactly the same latents as without it (the encoder, thresholds and b_enc are
// rescaled with the rows, never retrained), the rows stay unit length, and R^2 rises: the refitted
// decoder is the raw-space least-squares one for this encoder, and 8,192 rows fit its 257 numbers per
// output dimension. Both SAE kinds, 600 steps (undertrained, as the 2,000-step runs of RESULTS.md 6a
// also are).
TEST(SaeTrain, DecoderRefitKeepsTheCodesAndRaisesHeldOutR2) {
  const auto reader = ActivationReader::open(storiesActivations());
  const std::string site = "resid_post.1";
  const auto trainEnd = reader.rows() * 9 / 10;
  const auto heldOut = reader.gather(site, torch::arange(trainEnd, reader.rows(), torch::kLong));
  for (const auto c : {Case{SaeKind::JumpRelu, true}, Case{SaeKind::Relu, false}}) {
    SCOPED_TRACE(toString(c.kind));
    TrainOptions o = optionsFor(c, 600, trainEnd);
    core::Feedback fb;
    auto plain = trainSae(reader, site, o, torch::kCPU, fb);
    o.refitBatches = 16;
    auto refitted = trainSae(reader, site, o, torch::kCPU, fb);
    torch::NoGradGuard g;
    EXPECT_TRUE(torch::equal(plain->encode(heldOut) > 0, refitted->encode(heldOut) > 0));
    EXPECT_TRUE(torch::allclose(refitted->W_dec.norm(2, 1), torch::ones({refitted->dSae()}), 1e-4, 1e-4));
    const double before = evaluateSae(*plain, reader, site, trainEnd, reader.rows(), 0)["r2"].get<double>();
    const double after = evaluateSae(*refitted, reader, site, trainEnd, reader.rows(), 0)["r2"].get<double>();
    std::printf("[ measure  ] %s: held-out R2 %.4f -> %.4f with the decoder refit\n", toString(c.kind).c_str(), before, after);
    EXPECT_GT(after, before);
    EXPECT_EQ(refitted->info["training"]["refit_batches"].get<std::int64_t>(), 16);
  }
}

// The job: held-out evaluation in the summary, SAE folder written.
TEST(SaeTrain, JobSavesAndEvaluates) {
  test::ScopedTempDir dir("sae_train_job");
  auto out = runJob("sae.train",
                    Json{{"activations", storiesActivations().string()}, {"site", "resid_post.4"}, {"steps", 400},
                         {"batch", 256}, {"target_l0", 4}, {"expansion", 2}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto s = summary(out);
  EXPECT_GT(s["eval_r2"].get<double>(), 0.3);
  EXPECT_NEAR(s["eval_l0"].get<double>(), 4.0, 1.5);
  auto sae = loadSae(out.runDir / "artifacts" / "sae");
  EXPECT_EQ(sae->dSae(), 128);
  EXPECT_EQ(sae->info["site"], "resid_post.4");
  auto metrics = core::RunDir::open(out.runDir).readMetrics();
  EXPECT_EQ(metrics.size(), 8u);
  // Wrong site: a message listing the sites there are.
  auto bad = runJob("sae.train", Json{{"activations", storiesActivations().string()}, {"site", "mlp_out.1"}}, dir.path());
  EXPECT_EQ(bad.status, core::RunStatus::Failed);
  EXPECT_NE(bad.error.find("hold no site 'mlp_out.1'"), std::string::npos) << bad.error;
}

// The paper's faithfulness regime ("Towards Atoms of LLMs": R^2 approaches 1 only once the SAE's capacity matches
// the data): 1024 latents fitted to 512 rows of stories260K's residual stream reconstruct those rows almost
// exactly at L0 4, and do not generalise: on the held-out rows the same SAE is far worse (measured here: R^2
// 0.957 on its rows, -4.9 held out, after 1500 steps). train_rows and evaluate_on make that run from the job.
TEST(SaeTrain, CapacityAboveItsRowsFitsThemButNotHeldOutOnes) {
  test::ScopedTempDir dir("sae_capacity");
  auto out = runJob("sae.train",
                    Json{{"activations", storiesActivations().string()}, {"site", "resid_post.4"}, {"train_rows", 512},
                         {"latents", 1024}, {"steps", 1500}, {"batch", 512}, {"target_l0", 4}, {"evaluate_on", "training"},
                         {"eval_rows", 0}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto s = summary(out);
  EXPECT_EQ(s["evaluated_on"], "training");
  EXPECT_EQ(s["eval_rows"].get<std::int64_t>(), 512);
  const double fitted = s["eval_r2"].get<double>();
  EXPECT_GT(fitted, 0.9);
  auto sae = loadSae(out.runDir / "artifacts" / "sae");
  const auto reader = ActivationReader::open(storiesActivations());
  const auto heldOutBegin = static_cast<std::int64_t>(std::floor(static_cast<double>(reader.rows()) * 0.9));
  const auto heldOut = evaluateSae(*sae, reader, "resid_post.4", heldOutBegin, reader.rows(), 0);
  EXPECT_LT(heldOut["r2"].get<double>(), fitted - 0.5) << "held out: " << heldOut.dump();
  // Fewer than two rows to train on: refused, saying so.
  auto bad = runJob("sae.train", Json{{"activations", storiesActivations().string()}, {"site", "resid_post.4"}, {"train_rows", 1}},
                    dir.path());
  EXPECT_EQ(bad.status, core::RunStatus::Failed);
  EXPECT_NE(bad.error.find("too few activations"), std::string::npos) << bad.error;
}

// A ReLU SAE whose latents die in numbers (1024 latents on 512 rows) still reaches its target L0: each resampled
// latent's bias makes it fire at the average rate. With a zero bias each fired on about half the batch, the
// controller answered by silencing everything: before the change this test failed, and sae.analyze's ReLU SAE
// (3,000 steps, the same rows and latents) ended at L0 1.27 for a target of 4; after it, 3.79 here with R^2 0.998
// on the rows fitted (tests/bench/RESULTS.md, session 18).
TEST(SaeTrain, ReluSaeKeepsItsTargetL0WhileManyLatentsAreResampled) {
  test::ScopedTempDir dir("sae_relu_resample");
  auto out = runJob("sae.train",
                    Json{{"activations", storiesActivations().string()}, {"site", "resid_post.4"}, {"kind", "relu"},
                         {"whiten", false}, {"train_rows", 512}, {"latents", 1024}, {"steps", 1500}, {"batch", 512},
                         {"target_l0", 4}, {"evaluate_on", "training"}, {"eval_rows", 0}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto s = summary(out);
  EXPECT_GT(s["resampled"].get<double>(), 100);
  EXPECT_NEAR(s["eval_l0"].get<double>(), 4.0, 1.0);
  EXPECT_GT(s["eval_r2"].get<double>(), 0.9);
}

// With the thresholds frozen for the learning-rate decay, the encoder alone moves the L0 (on 512 rows with 1024
// latents, layer 0 at target 8: calibrated 11.2 -> 8 at the freeze, then back up), and the one calibration at the
// end cut R^2 on the rows fitted from 0.978 to 0.655 (3,000 steps; measured before the change). Calibrated ten
// times through the decay, the encoder and decoder follow each step: 0.888 at L0 8.0 (after the change; both
// at threshold_lr_scale 10, the default then; the default of 3 since gives 0.995 with the same settings).
TEST(SaeTrain, ThresholdsRecalibratedThroughTheDecayKeepTheFitAtTheTargetL0) {
  test::ScopedTempDir dir("sae_recalibrate");
  auto out = runJob("sae.train",
                    Json{{"activations", storiesActivations().string()}, {"site", "resid_post.0"}, {"kind", "jumprelu"},
                         {"train_rows", 512}, {"latents", 1024}, {"steps", 3000}, {"batch", 512}, {"target_l0", 8},
                         {"evaluate_on", "training"}, {"eval_rows", 0}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto s = summary(out);
  EXPECT_NEAR(s["eval_l0"].get<double>(), 8.0, 0.4);
  EXPECT_GT(s["eval_r2"].get<double>(), 0.8);
}

// When the L0 controller reaches its bound (the thresholds cannot follow: here they may not move at all, the target
// lies below the L0 they start at, and the controller runs 50x faster), the job says so and records the step; with
// the defaults over the same 100 steps the controller stays inside its range and nothing is recorded.
TEST(SaeTrain, SaturatedL0ControllerIsReported) {
  test::ScopedTempDir dir("sae_saturated");
  const Json base{{"activations", storiesActivations().string()}, {"site", "resid_post.0"}, {"kind", "jumprelu"},
                  {"steps", 100}, {"batch", 256}, {"target_l0", 0.05}, {"eval_rows", 1000}};
  auto stuck = base;
  stuck.update(Json{{"threshold_lr_scale", 0.0}, {"controller_rate", 1.0}});
  const auto a = runJob("sae.train", stuck, dir.path());
  ASSERT_EQ(a.status, core::RunStatus::Completed) << a.error;
  ASSERT_TRUE(summary(a).contains("controller_saturated_at"));
  EXPECT_GE(summary(a)["controller_saturated_at"].get<double>(), 50);
  EXPECT_EQ(summary(a)["threshold_lr_scale"].get<double>(), 0.0);
  const auto b = runJob("sae.train", base, dir.path());
  ASSERT_EQ(b.status, core::RunStatus::Completed) << b.error;
  EXPECT_FALSE(summary(b).contains("controller_saturated_at"));
  EXPECT_EQ(summary(b)["threshold_lr_scale"].get<double>(), 3.0);
}

// Threshold tracking (threshold_tracking): the thresholds follow the L0 error directly, every step. In the stuck set-up
// above (thresholds that Adam may not move, a target far below the starting L0) the controller saturates without it;
// with it the L0 of the last batches comes down to the target's neighbourhood (no calibration at the end to help) and
// the controller stays inside its range.
TEST(SaeTrain, ThresholdTrackingBringsTheL0DownWhereTheControllerSaturates) {
  test::ScopedTempDir dir("sae_tracking");
  const Json stuck{{"activations", storiesActivations().string()}, {"site", "resid_post.0"}, {"kind", "jumprelu"},
                   {"steps", 100}, {"batch", 256}, {"target_l0", 0.5}, {"eval_rows", 1000}, {"threshold_lr_scale", 0.0},
                   {"controller_rate", 1.0}, {"calibrate_l0", false}, {"log_every", 10}};
  const auto a = runJob("sae.train", stuck, dir.path());
  ASSERT_EQ(a.status, core::RunStatus::Completed) << a.error;
  ASSERT_TRUE(summary(a).contains("controller_saturated_at"));
  auto tracked = stuck;
  tracked["threshold_tracking"] = 0.05;
  const auto b = runJob("sae.train", tracked, dir.path());
  ASSERT_EQ(b.status, core::RunStatus::Completed) << b.error;
  EXPECT_FALSE(summary(b).contains("controller_saturated_at"));
  EXPECT_EQ(summary(b)["threshold_tracking"].get<double>(), 0.05);
  const double l0Stuck = summary(a)["train_l0"].get<double>(), l0Tracked = summary(b)["train_l0"].get<double>();
  std::cout << "L0 of the last batches: " << l0Stuck << " stuck, " << l0Tracked << " tracked (target 0.5)\n";
  EXPECT_GT(l0Stuck, 0.75);                      // 1.10 here: over twice the target
  EXPECT_LT(std::abs(l0Tracked - 0.5), 0.1);      // 0.52 here
}

// The last threshold calibration: frozen thresholds are always scaled to the target; where the controller carried on,
// only an L0 above the target by more than the tolerance is cut, and an L0 below it is left (raising it cost R² 0.9997
// -> 0.941 on stories260K, session 23).
TEST(SaeTrain, TheLastCalibrationCutsAnL0AboveTheTargetButDoesNotRaiseOneBelow) {
  EXPECT_TRUE(calibrateThresholdsAtEnd(true, 7.2, 8, 0.05));
  EXPECT_TRUE(calibrateThresholdsAtEnd(true, 8.1, 8, 0.05));
  EXPECT_TRUE(calibrateThresholdsAtEnd(false, 9.0, 8, 0.05));
  EXPECT_FALSE(calibrateThresholdsAtEnd(false, 8.3, 8, 0.05));  // within 5%
  EXPECT_FALSE(calibrateThresholdsAtEnd(false, 7.2, 8, 0.05));  // below: left as trained
  EXPECT_FALSE(calibrateThresholdsAtEnd(false, 7.9, 8, 0.05));
}

// A calibration that moves the L0 by more than a quarter is flagged (the SAE was trained at another sparsity);
// and a real run whose controller cannot reach its target (controller_rate 0: the sparsity coefficient never moves
// from its start) says so in its log, naming the parameter to change.
TEST(SaeTrain, ACalibrationFarFromTheTrainedL0IsFlagged) {
  EXPECT_TRUE(calibrationMovedFar(5.17, 8.0));   // session 24's wide model at target 8
  EXPECT_TRUE(calibrationMovedFar(8.0, 5.17));
  EXPECT_FALSE(calibrationMovedFar(7.2, 8.0));   // a factor 1.11
  EXPECT_FALSE(calibrationMovedFar(8.0, 8.0));
  EXPECT_TRUE(calibrationMovedFar(0.0, 2.0));    // nothing fired before
  test::ScopedTempDir dir("sae_train_stuck_controller");
  auto out = runJob("sae.train",
                    Json{{"activations", storiesActivations().string()}, {"site", "resid_post.4"}, {"steps", 300},
                         {"batch", 256}, {"target_l0", 4}, {"expansion", 2}, {"controller_rate", 0.0},
                         {"resample_every", 0}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  std::ifstream log(out.runDir / "log.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("had not reached the target"), std::string::npos) << text.substr(0, 2000);
  EXPECT_NE(text.find("controller_rate"), std::string::npos);
}

TEST(SaeAnalyze, TabulatesThreeBases) {
  test::ScopedTempDir dir("sae_analyze");
  auto out = runJob("sae.analyze",
                    Json{{"activations", storiesActivations().string()}, {"sites", "resid_post.1"}, {"targets", "2,8"},
                         {"steps", 300}, {"batch", 256}, {"eval_rows", 3000}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto res = readJson(out.runDir / "artifacts" / "results.json")["results"];
  ASSERT_EQ(res.size(), 6u);  // 2 targets x (neurons, features, atoms)
  for (const auto& r : res) {
    SCOPED_TRACE(r.dump().substr(0, 200));
    EXPECT_EQ(r["rows"].get<std::int64_t>(), 3000);
    const auto q = r["aip"]["q_star"].get<double>();
    EXPECT_GE(q, 0.0);
    EXPECT_LE(q, 1.0);
    if (r["basis"] == "neurons") {
      EXPECT_EQ(r["l0"].get<double>(), r["target_l0"].get<double>());  // exactly K active
      EXPECT_EQ(r["euclidean"]["q_star"].get<double>(), 1.0);
    }
  }
  std::ifstream csv(out.runDir / "artifacts" / "results.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 7);
  // Every SAE keeps its training metrics (300 steps, one row each 50), and its messages reach the run's log with
  // the SAE named: session 21's two failed SAEs on the H200 left nothing to read.
  for (const std::string name : {"atoms_l0_2", "features_l0_8"}) {
    std::ifstream m(out.runDir / "artifacts" / "saes" / "resid_post.1" / name / "training_metrics.jsonl");
    std::vector<Json> rows;
    while (std::getline(m, line)) rows.push_back(Json::parse(line));
    ASSERT_EQ(rows.size(), 6u) << name;
    EXPECT_EQ(rows.back()["step"].get<long long>(), 300);
    for (const char* key : {"r2", "l0", "mse", "dead_fraction", "lambda", "lr"})
      EXPECT_TRUE(rows.back().contains(key)) << key;
  }
  std::ifstream log(out.runDir / "log.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("resid_post.1, L0 2 jumprelu: "), std::string::npos);
}

}  // namespace atomscope::sae_test

namespace atomscope::sae_test {

// Dead-latent resampling: data made of 512 directions in 16 dimensions (each row one direction with
// a random scale) need every one of 128 latents at L0 1; latents that die are a loss, and resampling
// brings them back, so fewer are dead at the end than in the same run without it (same seed). Measured on an
// AVX-512 EPYC: 3-5% dead with resampling against 27-31% without (one or two BLAS threads).
TEST(SaeTrain, ResamplingRevivesDeadLatents) {
  torch::manual_seed(21);
  auto centres = torch::randn({512, 16});
  centres = centres / centres.norm(2, 1, true);
  const auto pick = torch::randint(0, 512, {20000}, torch::kLong);
  const auto x = centres.index_select(0, pick) * (1 + torch::rand({20000, 1}) * 2);
  std::map<std::int64_t, double> dead;
  std::map<std::int64_t, std::int64_t> resampled;
  for (std::int64_t every : {0, 50}) {
    TrainOptions o;
    o.kind = SaeKind::JumpRelu;
    o.latents = 128;
    o.targetL0 = 1;
    o.steps = 600;
    o.batch = 256;
    o.deadWindow = 2560;
    o.resampleEvery = every;
    // No threshold calibration at the start of the decay: forcing the L0 to 1 there with one factor silences
    // latents in both runs alike, and how many depends on the BLAS's rounding (on an AVX-512 EPYC with two
    // threads it left 98% dead with resampling); this test is about resampling.
    o.calibrateL0 = false;
    core::Feedback fb;
    TrainReport rep;
    auto sae = trainSaeOnTensor(x, o, torch::kCPU, fb, &rep);
    torch::NoGradGuard g;
    dead[every] = 1.0 - (sae->encode(x) > 0).any(0).to(torch::kFloat32).mean().item<double>();
    resampled[every] = rep.resampled;
  }
  std::cout << "dead fraction without resampling " << dead[0] << ", with " << dead[50] << " (" << resampled[50] << " resampled)\n";
  EXPECT_EQ(resampled[0], 0);
  EXPECT_GT(resampled[50], 0);
  EXPECT_LT(dead[50], dead[0]) << "dead without resampling " << dead[0] << ", with " << dead[50];
}

}  // namespace atomscope::sae_test
