// Training jobs on real molecules (CPU, tiny sizes): the VAE overfits 20 QM9 molecules, the DiT's
// loss decreases, resume continues exactly, sampling is reproducible by seed.
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>
#include <set>

#include "adit_test_util.h"
#include "cancel_at.h"
#include "atomscope/adit/training.h"
#include "atomscope/chem/xyz.h"

namespace atomscope::adit_test {

namespace {

// 20 QM9 molecules prepared once per process.
fs::path qm9Data(const fs::path& root) {
  auto out = runJob("adit.prepare", Json{{"sources", qm9Xyz().string()}, {"limit", 20}}, root);
  if (out.status != core::RunStatus::Completed) throw std::runtime_error("adit.prepare failed: " + out.error);
  return out.runDir / "artifacts" / "data";
}

std::map<long long, double> losses(const fs::path& runDir) {
  std::map<long long, double> out;
  for (const auto& m : core::RunDir::open(runDir).readMetrics()) out[m.step] = m.values.at("loss");
  return out;
}


}  // namespace

TEST(AditTrain, TinyVaeOverfitsTwentyMolecules) {
  test::ScopedTempDir root("adit_train");
  const auto data = qm9Data(root.path());
  auto out = runJob("adit.train_vae",
                    Json{{"data", data.string()}, {"size", "tiny"}, {"steps", 400}, {"batch_size", 20}, {"lr", 2e-3},
                         {"ema_decay", 0.9}, {"checkpoint_every", 400}, {"log_every", 1}},
                    root.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto s = summary(out);
  // Reconstruction of the training molecules (the brief's target: RMSD < 0.1 A, every atom type right).
  EXPECT_LT(s["reconstruction_rmsd"].get<double>(), 0.1);
  EXPECT_EQ(s["atom_type_accuracy"].get<double>(), 1.0);
  const auto l = losses(out.runDir);
  EXPECT_LT(l.at(400), 0.1 * l.at(1));

  // The DiT on its latents: the loss of the last 20 steps is below that of the first 20.
  auto dit = runJob("adit.train_dit",
                    Json{{"data", data.string()}, {"vae", (out.runDir / "artifacts" / "vae.pt").string()},
                         {"size", "tiny"}, {"steps", 150}, {"batch_size", 20}, {"lr", 1e-3}, {"checkpoint_every", 150},
                         {"log_every", 1}},
                    root.path());
  ASSERT_EQ(dit.status, core::RunStatus::Completed) << dit.error;
  const auto dl = losses(dit.runDir);
  double first = 0, last = 0;
  for (int i = 1; i <= 20; ++i) first += dl.at(i), last += dl.at(151 - i);
  EXPECT_LT(last, 0.8 * first);

  // Sampling: N molecules with atom counts from the training histogram; the same seed gives the same file.
  Json sp{{"vae", (out.runDir / "artifacts" / "vae.pt").string()},
          {"dit", (dit.runDir / "artifacts" / "dit.pt").string()}, {"count", 6}, {"steps", 10}, {"batch_size", 4}};
  auto a = runJob("adit.sample", sp, root.path(), nullptr, 7);
  auto b = runJob("adit.sample", sp, root.path(), nullptr, 7);
  ASSERT_EQ(a.status, core::RunStatus::Completed) << a.error;
  ASSERT_EQ(b.status, core::RunStatus::Completed) << b.error;
  const auto fa = chem::readXyz(a.runDir / "artifacts" / "samples.extxyz");
  const auto fb = chem::readXyz(b.runDir / "artifacts" / "samples.extxyz");
  ASSERT_EQ(fa.size(), 6u);
  const auto r = adit::loadDataset(data);
  const auto hist = adit::atomCountHistogram(r);
  for (std::size_t i = 0; i < fa.size(); ++i) {
    EXPECT_EQ(fa[i].numbers, fb[i].numbers);
    EXPECT_EQ(fa[i].positions, fb[i].positions);
    ASSERT_LT(fa[i].size(), hist[0].size());
    EXPECT_GT(hist[0][fa[i].size()], 0) << "an atom count the training set does not have";
  }
  // A crystal request from a molecule-only model is refused clearly.
  sp["kind"] = "crystal";
  auto c = runJob("adit.sample", sp, root.path());
  EXPECT_EQ(c.status, core::RunStatus::Failed);
  EXPECT_NE(c.error.find("without any crystal"), std::string::npos) << c.error;
}

// A DiT conditioned on composition (the default for a new one) keeps the training compositions in its file and
// samples them, or every sample of a formula given; a DiT without it refuses a formula, and a bad formula fails
// clearly.
TEST(AditTrain, CompositionConditionedDitSamplesCompositionsAndFormulas) {
  test::ScopedTempDir root("adit_composition");
  const auto data = qm9Data(root.path());
  auto vae = runJob("adit.train_vae", Json{{"data", data.string()}, {"size", "tiny"}, {"steps", 5}, {"batch_size", 4}},
                    root.path());
  ASSERT_EQ(vae.status, core::RunStatus::Completed) << vae.error;
  const auto vaeFile = (vae.runDir / "artifacts" / "vae.pt").string();
  const Json base{{"data", data.string()}, {"vae", vaeFile}, {"size", "tiny"}, {"steps", 5}, {"batch_size", 4}};
  auto conditioned = runJob("adit.train_dit", base, root.path());
  ASSERT_EQ(conditioned.status, core::RunStatus::Completed) << conditioned.error;
  const auto ditFile = conditioned.runDir / "artifacts" / "dit.pt";
  const auto bundle = adit::loadDit(ditFile);
  EXPECT_TRUE(bundle.dit->config.compositionCondition);
  const auto records = adit::loadDataset(data);
  const auto expected = adit::compositionHistogram(records);
  ASSERT_EQ(bundle.compositions.size(), expected.size());
  EXPECT_EQ(bundle.compositions[0], expected[0]);
  std::int64_t molecules = 0;
  for (const auto& [key, n] : bundle.compositions[0]) molecules += n;
  EXPECT_EQ(molecules, 20);

  // From the training set: every sample's atom count is one of a training composition.
  Json sp{{"vae", vaeFile}, {"dit", ditFile.string()}, {"count", 5}, {"steps", 4}, {"batch_size", 3}};
  auto drawn = runJob("adit.sample", sp, root.path(), nullptr, 3);
  ASSERT_EQ(drawn.status, core::RunStatus::Completed) << drawn.error;
  std::set<std::size_t> trainingSizes;
  for (const auto& [key, n] : expected[0]) {
    std::size_t atoms = 0;
    for (const auto& [z, count] : adit::compositionFromKey(key)) atoms += static_cast<std::size_t>(count);
    trainingSizes.insert(atoms);
  }
  for (const auto& s : chem::readXyz(drawn.runDir / "artifacts" / "samples.extxyz"))
    EXPECT_TRUE(trainingSizes.count(s.size())) << s.size() << " atoms";
  // A formula: every sample has its 19 atoms.
  sp["composition"] = "C7H10O2";
  auto formula = runJob("adit.sample", sp, root.path(), nullptr, 3);
  ASSERT_EQ(formula.status, core::RunStatus::Completed) << formula.error;
  const auto fs19 = chem::readXyz(formula.runDir / "artifacts" / "samples.extxyz");
  ASSERT_EQ(fs19.size(), 5u);
  for (const auto& s : fs19) EXPECT_EQ(s.size(), 19u);
  sp["composition"] = "C7Q";
  auto bad = runJob("adit.sample", sp, root.path());
  EXPECT_EQ(bad.status, core::RunStatus::Failed);
  EXPECT_NE(bad.error.find("'C7Q'"), std::string::npos) << bad.error;

  // Without the conditioning: no formula.
  auto plainParams = base;
  plainParams["composition_condition"] = false;
  auto plain = runJob("adit.train_dit", plainParams, root.path());
  ASSERT_EQ(plain.status, core::RunStatus::Completed) << plain.error;
  EXPECT_FALSE(adit::loadDit(plain.runDir / "artifacts" / "dit.pt").dit->config.compositionCondition);
  sp["dit"] = (plain.runDir / "artifacts" / "dit.pt").string();
  sp["composition"] = "C7H10O2";
  auto refused = runJob("adit.sample", sp, root.path());
  EXPECT_EQ(refused.status, core::RunStatus::Failed);
  EXPECT_NE(refused.error.find("without composition conditioning"), std::string::npos) << refused.error;

  // Continued with the conditioning (one step at lr 0): the DiT gains it, its other weights stay, the new
  // projection is zero, and it now samples the formula.
  auto grownParams = base;
  grownParams.update(Json{{"init", sp["dit"]}, {"steps", 1}, {"lr", 0.0}});
  auto grown = runJob("adit.train_dit", grownParams, root.path());
  ASSERT_EQ(grown.status, core::RunStatus::Completed) << grown.error;
  const auto before = adit::loadDit(plain.runDir / "artifacts" / "dit.pt");
  const auto after = adit::loadDit(grown.runDir / "artifacts" / "dit.pt");
  EXPECT_TRUE(after.dit->config.compositionCondition);
  const auto pb = before.dit->named_parameters(), pa = after.dit->named_parameters();
  EXPECT_EQ(pa.size(), pb.size() + 2);  // composition_proj's weight and bias
  for (const auto& item : pb)
    EXPECT_LT((item.value() - pa[item.key()]).abs().max().item<double>(), 1e-6 * (1 + item.value().abs().max().item<double>()))
        << item.key();
  EXPECT_EQ(after.dit->compositionProj->weight.abs().max().item<double>(), 0.0);
  sp["dit"] = (grown.runDir / "artifacts" / "dit.pt").string();
  auto nowFormula = runJob("adit.sample", sp, root.path(), nullptr, 3);
  ASSERT_EQ(nowFormula.status, core::RunStatus::Completed) << nowFormula.error;
  for (const auto& s : chem::readXyz(nowFormula.runDir / "artifacts" / "samples.extxyz")) EXPECT_EQ(s.size(), 19u);
}

// Composition keys: "Z:count" pairs round-trip; malformed ones are refused with the key in the message.
TEST(AditTrain, CompositionKeysRoundTripAndBadOnesAreRefused) {
  const std::map<int, int> c{{1, 10}, {6, 7}, {8, 2}};
  EXPECT_EQ(adit::compositionKey(c), "1:10,6:7,8:2");
  EXPECT_EQ(adit::compositionFromKey("1:10,6:7,8:2"), c);
  for (const char* bad : {"", "6", "6:", "6:x", "0:3", "6:0", "6:2,,8:1", "6:2x"}) {
    try {
      adit::compositionFromKey(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const adit::AditError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

// init continues a saved DiT (across machines, where resume needs the run folder): one step at lr 0 leaves
// its weights in the new dit.pt (up to the float32 rounding of the EMA update), with its size and latent
// scale whatever 'size' says.
TEST(AditTrain, DitInitContinuesTheSavedDit) {
  test::ScopedTempDir root("adit_init");
  const auto data = qm9Data(root.path());
  auto vae = runJob("adit.train_vae", Json{{"data", data.string()}, {"size", "tiny"}, {"steps", 5}, {"batch_size", 4}},
                    root.path());
  ASSERT_EQ(vae.status, core::RunStatus::Completed) << vae.error;
  const Json base{{"data", data.string()}, {"vae", (vae.runDir / "artifacts" / "vae.pt").string()}, {"batch_size", 4}};
  auto first = base;
  first.update(Json{{"size", "tiny"}, {"steps", 5}, {"lr", 1e-3}});
  auto a = runJob("adit.train_dit", first, root.path());
  ASSERT_EQ(a.status, core::RunStatus::Completed) << a.error;
  const auto initFile = a.runDir / "artifacts" / "dit.pt";
  auto cont = base;
  cont.update(Json{{"init", initFile.string()}, {"size", "small"}, {"steps", 1}, {"lr", 0.0}});
  auto b = runJob("adit.train_dit", cont, root.path());
  ASSERT_EQ(b.status, core::RunStatus::Completed) << b.error;
  const auto before = adit::loadDit(initFile), after = adit::loadDit(b.runDir / "artifacts" / "dit.pt");
  EXPECT_EQ(after.dit->config.toJson(), before.dit->config.toJson());
  EXPECT_DOUBLE_EQ(after.latentScale, before.latentScale);
  const auto pa = before.dit->named_parameters(), pb = after.dit->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa)
    EXPECT_LT((item.value() - pb[item.key()]).abs().max().item<double>(), 1e-6 * (1 + item.value().abs().max().item<double>()))
        << item.key();
  cont["init"] = (root / "missing.pt").string();
  auto c = runJob("adit.train_dit", cont, root.path());
  EXPECT_EQ(c.status, core::RunStatus::Failed);
  EXPECT_NE(c.error.find("missing.pt"), std::string::npos) << c.error;
}

// CUDA graphs (the GPU machine runs this; skipped without CUDA): the captured training step trains as
// the eager one does (the VAE overfits 20 molecules either way, to the CPU test's bounds), a DiT run
// under graphs lowers its loss, and a graph-mode run cut after a checkpoint resumes to the end.
TEST(AditTrain, CudaGraphStepsTrainAsEagerStepsDo) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  test::ScopedTempDir root("adit_graphs");
  const auto data = qm9Data(root.path());
  auto onCuda = [&](const std::string& job, const Json& params, core::Feedback* fb = nullptr) {
    core::Feedback local;
    return core::runJob(registry(), core::RunRequest{job, params, "cuda", 1, root.path(), 2.0}, fb ? *fb : local);
  };
  fs::path vaeFile;
  for (bool graph : {false, true}) {
    auto out = onCuda("adit.train_vae", Json{{"data", data.string()}, {"size", "tiny"}, {"steps", 400}, {"batch_size", 20},
                                             {"lr", 2e-3}, {"ema_decay", 0.9}, {"checkpoint_every", 400}, {"log_every", 1},
                                             {"cuda_graph", graph}});
    ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
    const auto s = summary(out);
    EXPECT_EQ(s["cuda_graphs"].get<bool>(), graph);
    EXPECT_LT(s["reconstruction_rmsd"].get<double>(), 0.1) << "cuda_graph " << graph;
    EXPECT_EQ(s["atom_type_accuracy"].get<double>(), 1.0) << "cuda_graph " << graph;
    const auto l = losses(out.runDir);
    EXPECT_LT(l.at(400), 0.1 * l.at(1)) << "cuda_graph " << graph;
    vaeFile = out.runDir / "artifacts" / "vae.pt";
  }
  const Json ditParams{{"data", data.string()}, {"vae", vaeFile.string()}, {"size", "tiny"}, {"steps", 150},
                       {"batch_size", 20}, {"lr", 1e-3}, {"checkpoint_every", 50}, {"log_every", 1}};
  auto dit = onCuda("adit.train_dit", ditParams);
  ASSERT_EQ(dit.status, core::RunStatus::Completed) << dit.error;
  EXPECT_TRUE(summary(dit)["cuda_graphs"].get<bool>());
  const auto dl = losses(dit.runDir);
  double first = 0, last = 0;
  for (int i = 1; i <= 20; ++i) first += dl.at(i), last += dl.at(151 - i);
  EXPECT_LT(last, 0.8 * first);
  // Each replay draws its step's batch and noise: at lr 0 (fixed weights) the replayed steps' losses differ
  // from step to step, as the eager steps' do, at the same level.
  auto frozen = ditParams;
  frozen.update(Json{{"steps", 40}, {"lr", 0.0}, {"checkpoint_every", 40}});
  std::map<bool, std::vector<double>> atLrZero;
  for (bool graph : {false, true}) {
    frozen["cuda_graph"] = graph;
    auto z = onCuda("adit.train_dit", frozen);
    ASSERT_EQ(z.status, core::RunStatus::Completed) << z.error;
    for (const auto& [step, value] : losses(z.runDir))
      if (step > 5) atLrZero[graph].push_back(value);
  }
  std::set<double> distinct(atLrZero[true].begin(), atLrZero[true].end());
  EXPECT_GT(distinct.size(), 30u) << "replayed steps repeat their random draws";
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); };
  EXPECT_NEAR(mean(atLrZero[true]), mean(atLrZero[false]), 0.25 * mean(atLrZero[false]));
  core::Feedback fb;
  test::CancelAtStep::install(fb, 60);
  auto cut = onCuda("adit.train_dit", ditParams, &fb);
  ASSERT_EQ(cut.status, core::RunStatus::Cancelled) << cut.error;
  core::Feedback fb2;
  auto resumed = core::resumeJob(registry(), cut.runDir, fb2);
  ASSERT_EQ(resumed.status, core::RunStatus::Completed) << resumed.error;
  const auto rl = losses(cut.runDir);
  double resumedLast = 0;
  for (int i = 1; i <= 20; ++i) resumedLast += rl.at(151 - i);
  EXPECT_LT(resumedLast, 0.8 * first);
}

TEST(AditTrain, ResumeGivesTheSameNextLoss) {
  test::ScopedTempDir root("adit_resume");
  const auto data = qm9Data(root.path());
  const Json params{{"data", data.string()}, {"size", "tiny"}, {"steps", 8}, {"batch_size", 4}, {"lr", 1e-3},
                    {"checkpoint_every", 3}, {"log_every", 1}};
  auto whole = runJob("adit.train_vae", params, root.path());
  ASSERT_EQ(whole.status, core::RunStatus::Completed) << whole.error;
  core::Feedback fb;
  test::CancelAtStep::install(fb, 4);
  auto cut = runJob("adit.train_vae", params, root.path(), &fb);
  ASSERT_EQ(cut.status, core::RunStatus::Cancelled) << cut.error;
  // The cancel came after step 4 was reported: a checkpoint is written there (not only the step-3 one).
  EXPECT_TRUE(fs::exists(core::RunDir::open(cut.runDir).checkpointPath(4)));
  core::Feedback fb2;
  auto resumed = core::resumeJob(registry(), cut.runDir, fb2);
  ASSERT_EQ(resumed.status, core::RunStatus::Completed) << resumed.error;
  // The resumed run continues from the step-4 checkpoint; steps 5..8 equal the uninterrupted run's.
  const auto a = losses(whole.runDir), b = losses(cut.runDir);
  for (long long s = 4; s <= 8; ++s) EXPECT_NEAR(b.at(s), a.at(s), 1e-6 * std::abs(a.at(s))) << "step " << s;
}

TEST(AditTrain, LossIsReadBackEveryKStepsAsTheWindowMean) {
  test::ScopedTempDir root("adit_window");
  const auto data = qm9Data(root.path());
  Json params{{"data", data.string()}, {"size", "tiny"}, {"steps", 10}, {"batch_size", 4}, {"lr", 1e-3},
              {"checkpoint_every", 100}, {"log_every", 1}};
  auto perStep = runJob("adit.train_vae", params, root.path());
  ASSERT_EQ(perStep.status, core::RunStatus::Completed) << perStep.error;
  params["log_every"] = 4;
  auto windowed = runJob("adit.train_vae", params, root.path());
  ASSERT_EQ(windowed.status, core::RunStatus::Completed) << windowed.error;
  const auto a = losses(perStep.runDir), b = losses(windowed.runDir);
  // Reports at steps 4 and 8 (multiples of 4) and 10 (the last step, a checkpoint); each is the
  // mean of the per-step losses of its window (the same seed draws the same batches and noise).
  ASSERT_EQ(b.size(), 3u);
  auto mean = [&](long long from, long long to) {
    double sum = 0;
    for (long long s = from; s <= to; ++s) sum += a.at(s);
    return sum / static_cast<double>(to - from + 1);
  };
  EXPECT_NEAR(b.at(4), mean(1, 4), 1e-5 * std::abs(mean(1, 4)));
  EXPECT_NEAR(b.at(8), mean(5, 8), 1e-5 * std::abs(mean(5, 8)));
  EXPECT_NEAR(b.at(10), mean(9, 10), 1e-5 * std::abs(mean(9, 10)));
}

TEST(AditTrain, MaxSecondsStopsWithACheckpointAndAModel) {
  test::ScopedTempDir root("adit_time");
  const auto data = qm9Data(root.path());
  // A million steps cannot finish in 1.5 s: the run stops itself, completed, with the model saved.
  auto out = runJob("adit.train_vae",
                    Json{{"data", data.string()}, {"size", "tiny"}, {"steps", 1000000}, {"batch_size", 4},
                         {"checkpoint_every", 100000}, {"max_seconds", 1.5}, {"save_dtype", "float16"}},
                    root.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto s = summary(out);
  EXPECT_TRUE(s["stopped_by_time"].get<bool>());
  const auto steps = s["steps_done"].get<long long>();
  EXPECT_GT(steps, 0);
  EXPECT_LT(steps, 1000000);
  const auto run = core::RunDir::open(out.runDir);
  ASSERT_TRUE(run.latestCheckpoint().has_value());
  EXPECT_NE(run.latestCheckpoint()->filename().string().find(std::to_string(steps)), std::string::npos);
  // The float16 file loads as a float32 model.
  auto vae = adit::loadVae(out.runDir / "artifacts" / "vae.pt");
  for (const auto& p : vae->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}

TEST(AditTrain, Float16ModelFileIsHalfTheSizeAndDecodesAlike) {
  torch::manual_seed(4);
  test::ScopedTempDir root("adit_f16");
  adit::Vae vae(adit::VaeConfig::preset("tiny"));
  adit::saveVae(root / "f32.pt", vae);
  adit::saveVae(root / "f16.pt", vae, torch::kFloat16);
  const auto a = fs::file_size(root / "f32.pt"), b = fs::file_size(root / "f16.pt");
  EXPECT_LT(static_cast<double>(b), 0.6 * static_cast<double>(a));
  auto v16 = adit::loadVae(root / "f16.pt");
  // Saving leaves the module as it was (float32, not rounded).
  auto again = adit::loadVae(root / "f32.pt");
  const auto pa = vae->parameters(), pb = again->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
  torch::NoGradGuard g;
  vae->eval();
  auto z = torch::randn({2, 5, 8});
  auto mask = torch::ones({2, 5}, torch::kBool);
  const auto x = vae->decode(z, mask).positions, y = v16->decode(z, mask).positions;
  // float16 keeps 11 significant bits: relative rounding 2^-11 per weight.
  EXPECT_LT((x - y).abs().max().item<float>(), 1e-2 * x.abs().max().item<float>());
}

TEST(AditTrain, BadParametersFailClearly) {
  test::ScopedTempDir root("adit_bad");
  auto out = runJob("adit.train_vae", Json{{"data", root.path().string()}, {"size", "tiny"}, {"steps", 2}}, root.path());
  EXPECT_EQ(out.status, core::RunStatus::Failed);
  EXPECT_NE(out.error.find("manifest.json"), std::string::npos) << out.error;
  const auto junk = root / "junk.pt";
  std::ofstream(junk) << "not a model";
  auto s = runJob("adit.sample", Json{{"vae", junk.string()}, {"dit", junk.string()}}, root.path());
  EXPECT_EQ(s.status, core::RunStatus::Failed);
  EXPECT_NE(s.error.find("junk.pt"), std::string::npos) << s.error;
}

}  // namespace atomscope::adit_test
