// The supernet over modules/lm's GPT-2 family: every one-hot architecture reproduces lm's own GPT-2
// built from the extracted config and weights (learned positions, LayerNorms and biases included),
// the extracted model survives lm's Hugging Face export and import, its size and memory stay those
// of the largest sub-network, and nas.search with family=gpt2 hands lm.train an architecture it
// accepts.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "atomscope/core/runner.h"
#include "atomscope/lm/model.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/nas/nas_jobs.h"
#include "atomscope/nas/supernet.h"
#include "cli_runner.h"
#include "supernet_checks.h"
#include "test_util.h"

using namespace atomscope;
using namespace atomscope::nas;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(ATOMSCOPE_SHARED_DATA_DIR);
const std::string kTok512 = (kData / "lm" / "tok512.bin").string();
const std::string kSample5 = (kData / "text" / "tinystories" / "tinystories_sample5.txt").string();

// Head dims 15, 10, 24 and 16: odd ones are allowed for GPT-2 (no rotary pairs).
SearchSpace gpt2Space() {
  SearchSpace s;
  s.family = lm::ModelFamily::Gpt2;
  s.vocabSize = 512;  // tok512's vocabulary
  s.context = 24;
  s.choices[0] = {1, 2};    // layers
  s.choices[1] = {2, 3};    // heads
  s.choices[2] = {30, 48};  // embed
  s.choices[3] = {2, 4};    // mlp ratio
  s.validate();
  return s;
}

// lm initialises biases to 0 and norm scales to 1, which would hide a wrong slice of them: perturb
// every weight so each parameter's slice matters.
Supernet perturbedSupernet(const SearchSpace& space, std::uint64_t seed) {
  torch::manual_seed(seed);
  Supernet net(space);
  torch::NoGradGuard g;
  for (auto& p : net->weightParameters()) p.add_(0.1 * torch::randn_like(p));
  net->eval();
  return net;
}

Json readJson(const fs::path& p) {
  std::ifstream in(p);
  return Json::parse(in);
}

core::JobRegistry& registry() {
  static core::JobRegistry r;
  if (!r.contains("nas.search")) registerNasJobs(r);
  return r;
}

}  // namespace

TEST(NasSupernetGpt2, SpaceAcceptsGpt2AndOddHeadDims) {
  auto s = gpt2Space();
  const auto c = s.modelConfig(s.largest());
  EXPECT_EQ(c.family, lm::ModelFamily::Gpt2);
  EXPECT_EQ(c.maxSeqLen, 24);
  EXPECT_EQ(c.hiddenDim, 4 * 48);
  EXPECT_EQ(lmTrainParams(s, s.largest())["family"], "gpt2");
  // The same space is refused for Llama: head dim 15 cannot be rotated in pairs.
  s.family = lm::ModelFamily::Llama;
  EXPECT_THROW(s.validate(), NasError);
  // Heads must still split the embedding.
  auto bad = gpt2Space();
  bad.choices[1] = {4};
  try {
    bad.validate();
    FAIL() << "heads=4 with embed=30 was accepted";
  } catch (const NasError& e) {
    EXPECT_NE(std::string(e.what()).find("heads=4"), std::string::npos) << e.what();
  }
}

// Reference: lm::createModel's GPT-2 (modules/lm/src/model.cpp, GPT-2 of Radford et al. 2019: learned
// positions, pre-LayerNorm, biased attention and GELU MLP, tied head) with the sliced weights.
TEST(NasSupernetGpt2, OneHotSupernetReproducesTheExtractedLmGpt2) {
  const auto space = gpt2Space();
  auto net = perturbedSupernet(space, 21);
  const auto ids = torch::randint(0, 512, {2, 24}, torch::kLong);  // the full context of learned positions
  // All 16 architectures, the largest and smaller ones on every dimension, against lm's own GPT-2.
  test_checks::expectEveryOneHotArchitectureMatchesExtracted(net, space, ids);
  torch::NoGradGuard g;
  // Extraction slices every lm GPT-2 parameter, biases and the position table included.
  const auto sub = net->extract(Architecture{1, 3, 30, 2});
  const auto params = sub->named_parameters();
  EXPECT_TRUE(params.contains("wpe.weight"));
  EXPECT_EQ(params["wpe.weight"].sizes(), (std::vector<std::int64_t>{24, 30}));
  EXPECT_EQ(params["h.0.mlp.c_fc.bias"].size(0), 60);
  // More tokens than learned positions is an error, not a crash.
  EXPECT_THROW(net->forward(torch::zeros({1, 25}, torch::kLong), oneHotWeights(space, space.largest())), NasError);
}

// lm's Hugging Face export/import (GPT2LMHeadModel layout) keeps the extracted model's logits.
TEST(NasSupernetGpt2, ExtractedModelSurvivesHfExportAndImport) {
  const auto space = gpt2Space();
  auto net = perturbedSupernet(space, 22);
  test::ScopedTempDir dir("nas_gpt2_hf");
  const Architecture a{2, 3, 30, 4};
  const auto ids = torch::randint(0, 512, {2, 17}, torch::kLong);
  torch::NoGradGuard g;
  const auto expected = net->forward(ids, oneHotWeights(space, a));
  lm::saveHfModel(*net->extract(a), dir.path() / "model");
  const auto back = lm::loadHfModel(dir.path() / "model");
  EXPECT_EQ(back->config().family, lm::ModelFamily::Gpt2);
  EXPECT_EQ(back->config().dim, 30);
  const auto got = back->forward(ids);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5)) << "max diff " << (got - expected).abs().max().item<float>();
}

TEST(NasSupernetGpt2, SoftWeightsReachEveryAlpha) {
  const auto space = gpt2Space();
  auto net = perturbedSupernet(space, 23);
  net->train();
  const auto ids = torch::randint(0, 512, {2, 16}, torch::kLong);
  {
    torch::NoGradGuard g;
    for (auto& a : net->arch->alpha) a.normal_(0.0, 1.0);
  }
  net->loss(ids, net->arch->sample(Method::Darts)).backward();
  for (int d = 0; d < kNumDims; ++d) {
    ASSERT_TRUE(net->arch->alpha[d].grad().defined()) << d;
    EXPECT_GT(net->arch->alpha[d].grad().abs().sum().item<float>(), 0.0f) << dimName(static_cast<Dim>(d));
  }
}

TEST(NasSupernetGpt2, SizeIsTheLargestSubnetworkPlusTheAlphasAndMemoryStaysClose) {
  torch::manual_seed(24);
  test_checks::expectSizeAndMemoryCloseToLargest(gpt2Space(), 24, "gpt2");
}

// nas.search family=gpt2 on real TinyStories text; nas.evaluate inherits the GPT-2 weights; the
// architecture's lm_train_params are what lm.train takes (through the CLI), giving the same size.
TEST(NasSupernetGpt2, SearchWithFamilyGpt2FeedsEvaluateAndLmTrain) {
  test::ScopedTempDir root("nas_gpt2");
  core::Feedback fb;
  const Json params{{"data", kSample5}, {"tokenizer", kTok512}, {"family", "gpt2"}, {"layers", "1,2"}, {"heads", "2,3"},
                    {"embed", "24,30"}, {"mlp_ratio", "2"}, {"method", "darts"}, {"steps", 8}, {"context", 16}, {"lr", 3e-3}, {"warmup_steps", 2},
                    {"batch_size", 4}, {"log_every", 4}};
  const auto out = core::runJob(registry(), core::RunRequest{"nas.search", params, "cpu", 3ULL, root.path() / "search"}, fb);
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto arch = readJson(out.runDir / "artifacts" / "arch.json");
  const auto space = SearchSpace::fromJson(arch["space"]);
  EXPECT_EQ(space.family, lm::ModelFamily::Gpt2);
  const auto chosen = Architecture::fromJson(arch["architecture"]);
  EXPECT_TRUE(space.contains(chosen));
  EXPECT_EQ(arch["lm_train_params"]["family"], "gpt2");
  EXPECT_EQ(arch["params"], lm::createModel(space.modelConfig(chosen))->numParameters());

  const Json evalParams{{"search", out.runDir.string()}, {"mode", "finetune"}, {"steps", 2}, {"context", 16},
                        {"batch_size", 4}, {"warmup_steps", 1}};
  const auto ev = core::runJob(registry(), core::RunRequest{"nas.evaluate", evalParams, "cpu", 4ULL, root.path() / "eval"}, fb);
  ASSERT_EQ(ev.status, core::RunStatus::Completed) << ev.error;
  const auto res = readJson(ev.runDir / "artifacts" / "result.json");
  EXPECT_EQ(res["params"], arch["params"]);
  // A 512-token model is better than uniform guessing (perplexity 512) after the search's training.
  EXPECT_LT(res["inherited_val_ppl"].get<double>(), 512.0);

  std::string args;
  const Json trainParams = arch["lm_train_params"];
  for (const auto& [k, v] : trainParams.items())
    args += " --param " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  const auto trainRoot = root.path() / "train";
  const auto r = test::cli("--project " + trainRoot.string() + " run lm.train --device cpu --param data=" + kSample5 +
                           " --param tokenizer=" + kTok512 + " --param steps=2 --param batch_size=2 --param export=false" + args);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto trained = core::RunDir::open(test::onlyRun(trainRoot));
  EXPECT_EQ(trained.record()["summary"]["params"], arch["params"]);
}
