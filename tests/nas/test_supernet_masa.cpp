// MASA's number of atoms S as a searchable choice of the Llama supernet: with one-hot weights the
// supernet equals the masa-qkvo model extract() builds (modules/masa's own forward), the extracted
// model reports its variant and S, and nas.search with atoms writes lm.train's MASA parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/runner.h"
#include "atomscope/masa/attention.h"
#include "atomscope/nas/nas_jobs.h"
#include "atomscope/nas/supernet.h"
#include "cli_runner.h"
#include "supernet_checks.h"
#include "test_util.h"

using namespace atomscope;
using namespace atomscope::nas;
namespace fs = std::filesystem;

namespace {

SearchSpace atomsSpace() {
  SearchSpace s;
  s.vocabSize = 512;  // tok512's vocabulary
  s.context = 32;
  s.choices[0] = {2, 3};    // layers
  s.choices[1] = {2, 4};    // heads
  s.choices[2] = {32, 48};  // embed
  s.choices[3] = {2};       // mlp ratio
  s.atoms = {1, 2};
  s.validate();
  return s;
}

Architecture arch(std::int64_t layers, std::int64_t heads, std::int64_t embed, std::int64_t atoms) {
  Architecture a{layers, heads, embed, 2};
  a.atoms = atoms;
  return a;
}

}  // namespace

TEST(NasSupernetMasa, OneHotSupernetReproducesTheExtractedMasaModel) {
  torch::manual_seed(21);
  const auto space = atomsSpace();
  ASSERT_EQ(space.numArchitectures(), 16);
  Supernet net(space);
  net->eval();
  const auto ids = torch::randint(0, 512, {2, 20}, torch::kLong);
  // Every architecture (16, S = 1 and 2) against masa's own masa-qkvo forward on the extracted weights.
  test_checks::expectEveryOneHotArchitectureMatchesExtracted(net, space, ids);

  torch::NoGradGuard g;
  // The largest architecture and a smaller one with S < S_max, checked by name.
  for (const auto& a : {space.largest(), arch(2, 2, 32, 1)}) {
    auto sub = net->extract(a);
    const auto d = masa::describeAttention(*sub);
    EXPECT_EQ(d.at("attention_variant"), "masa-qkvo") << a.toString();
    for (const char* role : {"q", "k", "v", "o"}) EXPECT_EQ(d.at(std::string("atoms_") + role), a.atoms) << a.toString();
    // MASA stores per projection type S atoms [e, e] and L x S coefficients (masa/attention.h).
    EXPECT_EQ(d.at("attention_parameters"), 4 * (a.atoms * a.embed * a.embed + a.layers * a.atoms)) << a.toString();
    const auto got = net->forward(ids, oneHotWeights(space, a));
    EXPECT_TRUE(torch::allclose(got, sub->forward(ids), 1e-5, 1e-5)) << a.toString();
  }
  // S is a real choice: the same architecture with one atom computes something else than with two.
  const auto one = net->forward(ids, oneHotWeights(space, arch(3, 4, 48, 1)));
  const auto two = net->forward(ids, oneHotWeights(space, arch(3, 4, 48, 2)));
  EXPECT_GT((one - two).abs().max().item<float>(), 1e-4f);
}

TEST(NasSupernetMasa, SizeIsTheLargestMasaModelPlusTheAlphasAndSoftWeightsReachAlphaAtoms) {
  torch::manual_seed(22);
  const auto space = atomsSpace();
  Supernet net(space);
  std::int64_t superParams = 0;
  for (const auto& p : net->parameters()) superParams += p.numel();
  const auto largest = createArchitectureModel(space, space.largest());
  // Alphas: one per choice of the four dimensions and of atoms.
  EXPECT_EQ(superParams, largest->numParameters() + test_checks::alphaCount(space) + 2);
  EXPECT_EQ(net->weightParameters().size(), largest->parameters().size());

  for (auto& a : net->arch->alpha) a.data().normal_(0.0, 1.0);
  net->arch->alphaAtoms.data().normal_(0.0, 1.0);
  const auto ids = torch::randint(0, 512, {2, 16}, torch::kLong);
  net->loss(ids, net->arch->sample(Method::Darts)).backward();
  ASSERT_TRUE(net->arch->alphaAtoms.grad().defined());
  EXPECT_GT(net->arch->alphaAtoms.grad().abs().sum().item<float>(), 0.0f);
}

TEST(NasSupernetMasa, SpaceAndArchitectureCarryAtoms) {
  const auto space = atomsSpace();
  const auto a = arch(2, 4, 32, 1);
  EXPECT_EQ(Architecture::fromJson(a.toJson()), a);
  EXPECT_EQ(SearchSpace::fromJson(space.toJson()).atoms, space.atoms);
  EXPECT_EQ(parseArchitecture("layers=2,heads=4,embed=32,mlp_ratio=2,atoms=1"), a);
  const auto p = lmTrainParams(space, a);
  EXPECT_EQ(p.at("attention"), "masa-qkvo");
  EXPECT_EQ(p.at("atoms"), 1);
  // Dense: lm.train's parameters as before, no attention or atoms keys.
  auto dense = space;
  dense.atoms.clear();
  EXPECT_FALSE(lmTrainParams(dense, arch(2, 4, 32, 0)).contains("attention"));
  EXPECT_FALSE(dense.contains(a));
  // MASA refuses more atoms than layers, so every S must fit the smallest depth.
  auto tooMany = space;
  tooMany.atoms = {1, 3};
  EXPECT_THROW(tooMany.validate(), NasError);
}

namespace {
const fs::path kSpaceData = fs::path(ATOMSCOPE_SHARED_DATA_DIR);
const std::string kTok512File = (kSpaceData / "lm" / "tok512.bin").string();
const std::string kSample5Text = (kSpaceData / "text" / "tinystories" / "tinystories_sample5.txt").string();

core::JobRegistry& nasRegistry() {
  static core::JobRegistry r;
  if (!r.contains("nas.search")) registerNasJobs(r);
  return r;
}

Json readSpaceJson(const fs::path& p) {
  std::ifstream in(p);
  return Json::parse(in);
}
}  // namespace

TEST(NasSupernetMasa, SearchWithAtomsWritesMasaTrainParamsAndEvaluates) {
  test::ScopedTempDir dir("nas_masa");
  core::Feedback fb;
  const Json params{{"data", kSample5Text}, {"tokenizer", kTok512File}, {"layers", "2"}, {"heads", "2"}, {"embed", "16,32"},
                    {"mlp_ratio", "2"}, {"atoms", "1,2"}, {"method", "darts"}, {"steps", 6}, {"context", 16},
                    {"batch_size", 4}, {"log_every", 3}};
  const auto out = core::runJob(nasRegistry(), core::RunRequest{"nas.search", params, "cpu", 5ULL, dir.path()}, fb);
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto archJson = readSpaceJson(out.runDir / "artifacts" / "arch.json");
  const auto chosen = Architecture::fromJson(archJson.at("architecture"));
  const auto space = SearchSpace::fromJson(archJson.at("space"));
  EXPECT_EQ(space.atoms, (std::vector<std::int64_t>{1, 2}));
  ASSERT_GT(chosen.atoms, 0);  // an atoms space has no dense choice
  EXPECT_EQ(archJson.at("lm_train_params").at("attention"), "masa-qkvo");
  EXPECT_EQ(archJson.at("lm_train_params").at("atoms"), chosen.atoms);
  EXPECT_EQ(archJson.at("params"), createArchitectureModel(space, chosen)->numParameters());
  EXPECT_EQ(archJson.at("alphas").at("atoms").size(), 2u);
  // The atoms weights were streamed with the others and sum to 1.
  const auto metrics = core::RunDir::open(out.runDir).readMetrics();
  ASSERT_FALSE(metrics.empty());
  const auto& last = metrics.back().values;
  EXPECT_NEAR(last.at("w.atoms.1") + last.at("w.atoms.2"), 1.0, 1e-6);

  // nas.evaluate inherits the chosen MASA model's weights from the saved supernet.
  const Json eval{{"search", out.runDir.string()}, {"steps", 2}, {"context", 16}, {"batch_size", 4}};
  const auto ev = core::runJob(nasRegistry(), core::RunRequest{"nas.evaluate", eval, "cpu", 5ULL, dir.path()}, fb);
  ASSERT_EQ(ev.status, core::RunStatus::Completed) << ev.error;
  const auto result = readSpaceJson(ev.runDir / "artifacts" / "result.json");
  EXPECT_EQ(result.at("lm_train_params").at("atoms"), chosen.atoms);
  EXPECT_TRUE(std::isfinite(result.at("val_loss").get<double>()));

  // lm.train (through the CLI, as a user runs it) takes the lm_train_params and builds masa-qkvo with the
  // chosen S; after freezing its coefficient MLPs (lm.train's summary "params" counts them while training)
  // masa's describeAttention gives the size arch.json reports.
  std::string args;
  const Json trainParams = archJson.at("lm_train_params");
  for (const auto& [k, v] : trainParams.items())
    args += " --param " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  const auto trainRoot = dir.path() / "train";
  const auto r = test::cli("--project " + trainRoot.string() + " run lm.train --device cpu --param data=" + kSample5Text +
                           " --param tokenizer=" + kTok512File + " --param steps=2 --param batch_size=2 --param export=false" + args);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto trained = core::RunDir::open(test::onlyRun(trainRoot));
  const auto summary = trained.record()["summary"];
  EXPECT_EQ(summary["attention_variant"], "masa-qkvo");
  EXPECT_EQ(summary["atoms_q"], chosen.atoms);
  EXPECT_EQ(summary["total_parameters"], archJson.at("params"));
}

TEST(NasSupernetMasa, BadAtomsListsAreRefusedClearly) {
  test::ScopedTempDir dir("nas_masa");
  core::Feedback fb;
  Json params{{"data", kSample5Text}, {"tokenizer", kTok512File}, {"layers", "2,3"}, {"heads", "2"}, {"embed", "16"},
              {"mlp_ratio", "2"}, {"steps", 1}, {"context", 16}, {"batch_size", 2}};
  for (const auto& [atoms, expected] : std::vector<std::pair<std::string, std::string>>{
           {"0", "'atoms': choice 0 is not positive"},
           {"x", "'atoms': 'x' is not an integer"},
           {"1,3", "atoms=3 exceeds the smallest depth choice 2"}}) {
    params["atoms"] = atoms;
    const auto out = core::runJob(nasRegistry(), core::RunRequest{"nas.search", params, "cpu", 1ULL, dir.path()}, fb);
    EXPECT_EQ(out.status, core::RunStatus::Failed) << atoms;
    EXPECT_NE(out.error.find(expected), std::string::npos) << atoms << ": " << out.error;
  }
  params["atoms"] = "1";
  params["family"] = "gpt2";
  const auto out = core::runJob(nasRegistry(), core::RunRequest{"nas.search", params, "cpu", 1ULL, dir.path()}, fb);
  EXPECT_NE(out.error.find("Llama family only"), std::string::npos) << out.error;
}
