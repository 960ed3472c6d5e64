// nas.search, nas.evaluate and nas.random_search on real TinyStories text with the tok512 tokenizer:
// DARTS finds the clearly better choice in-process, and the jobs run end to end through atomscope-cli.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "atomscope/core/runner.h"
#include "atomscope/lm/model.h"
#include "atomscope/nas/nas_jobs.h"
#include "atomscope/nas/search_space.h"
#include "cli_runner.h"
#include "test_util.h"

using namespace atomscope;
using namespace atomscope::core;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(ATOMSCOPE_SHARED_DATA_DIR);
const std::string kTok512 = (kData / "lm" / "tok512.bin").string();
const std::string kValText = (kData / "text" / "tinystories" / "tinystories_val_head.txt").string();
const std::string kSample5 = (kData / "text" / "tinystories" / "tinystories_sample5.txt").string();

JobRegistry& registry() {
  static JobRegistry r;
  if (!r.contains("nas.search")) nas::registerNasJobs(r);
  return r;
}

Json readJson(const fs::path& p) {
  std::ifstream in(p);
  return Json::parse(in);
}

fs::path artifact(const fs::path& runDir, const std::string& name) { return runDir / "artifacts" / name; }

}  // namespace

// An embedding of 8 cannot fit TinyStories as well as one of 64 (same depth, heads and MLP ratio):
// DARTS must move the embedding weight to 64 within 200 CPU steps.
TEST(NasJobs, DartsPrefersTheWideEmbeddingOnTinyStories) {
  test::ScopedTempDir dir("nas");
  Feedback fb;
  const Json params{{"data", kValText}, {"tokenizer", kTok512}, {"layers", "2"}, {"heads", "2"}, {"embed", "8,64"},
                    {"mlp_ratio", "2"}, {"method", "darts"}, {"steps", 200}, {"context", 32}, {"batch_size", 8},
                    {"lr", 3e-3}, {"log_every", 50}};
  const auto out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 7ULL, dir.path()}, fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto arch = readJson(artifact(out.runDir, "arch.json"));
  EXPECT_EQ(arch["architecture"]["embed"], 64);
  const auto w = arch["weights"]["embed"];
  EXPECT_GT(w[1].get<double>(), w[0].get<double>());
  // The weights were streamed: the embed-64 weight at every log step (0, 50, ..., 200).
  const auto metrics = RunDir::open(out.runDir).readMetrics();
  int seen = 0;
  for (const auto& m : metrics)
    if (m.values.count("w.embed.64")) ++seen;
  EXPECT_EQ(seen, 5);
  EXPECT_EQ(readJson(artifact(out.runDir, "alphas_history.json")).size(), 5u);
}

// The resource-aware objective: the same search as above with a parameter penalty of 2 nats per
// largest-model share must give up the wide embedding (which multiplies the parameters by ~6 and
// lowers the loss by far less than that), and stream the expected parameter count.
TEST(NasJobs, ParameterPenaltyTradesTheWideEmbeddingForSize) {
  test::ScopedTempDir dir("nas");
  Feedback fb;
  const Json params{{"data", kValText}, {"tokenizer", kTok512}, {"layers", "2"}, {"heads", "2"}, {"embed", "8,64"},
                    {"mlp_ratio", "2"}, {"method", "darts"}, {"steps", 200}, {"context", 32}, {"batch_size", 8},
                    {"lr", 3e-3}, {"log_every", 50}, {"param_penalty", 2.0}, {"arch_lr", 3e-2}};
  const auto out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 7ULL, dir.path()}, fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto arch = readJson(artifact(out.runDir, "arch.json"));
  EXPECT_EQ(arch["architecture"]["embed"], 8);
  EXPECT_EQ(arch["param_penalty"], 2.0);
  const auto metrics = RunDir::open(out.runDir).readMetrics();
  ASSERT_FALSE(metrics.empty());
  // Logged at steps 50, 100, 150 and 200 (not at step 0, before any architecture step): still falling.
  ASSERT_EQ(metrics.size(), 5u);
  ASSERT_TRUE(metrics[1].values.count("expected_params"));
  EXPECT_LT(metrics.back().values.at("expected_params"), metrics[1].values.at("expected_params"));
  EXPECT_GE(metrics.back().values.at("expected_params"), arch["params"].get<double>());
}

// Time-aware search: every architecture's step time is measured and stored in arch.json; given a table of
// step times (step_times, so that nothing asserted depends on this machine's timing), a strong time penalty
// drives the expected step time down and the choice to the fastest architecture.
TEST(NasJobs, TimePenaltyChoosesAFastArchitecture) {
  test::ScopedTempDir dir("nas");
  Json params{{"data", kValText}, {"tokenizer", kTok512}, {"layers", "1,4"}, {"heads", "2"}, {"embed", "16,128"},
              {"mlp_ratio", "2"}, {"method", "darts"}, {"steps", 2}, {"context", 32}, {"batch_size", 8},
              {"lr", 3e-3}, {"log_every", 1}, {"time_penalty", 20.0}, {"arch_lr", 3e-2}};
  // Measured on this machine: one positive time per architecture (their values are timings: not asserted).
  Feedback fb1;  // one Feedback a run: a Feedback keeps the sinks a run adds to it
  const auto measured = runJob(registry(), RunRequest{"nas.search", params, "cpu", 7ULL, dir.path()}, fb1);
  ASSERT_EQ(measured.status, RunStatus::Completed) << measured.error;
  const auto m = readJson(artifact(measured.runDir, "arch.json"));
  ASSERT_EQ(m["step_times"].size(), 4u);
  for (const auto& e : m["step_times"]) EXPECT_GT(e["step_ms"].get<double>(), 0.0);

  // The same search reading a given table (step_times): deterministic, so the choice can be asserted. The
  // table makes work grow with depth and width (1-layer embed-16 the fastest, 4-layer embed-128 20x slower).
  Json table{{"step_times", Json::array()}};
  for (int layers : {1, 4})
    for (int embed : {16, 128})
      table["step_times"].push_back(Json{{"architecture", {{"layers", layers}, {"heads", 2}, {"embed", embed}, {"mlp_ratio", 2}}},
                                         {"step_ms", (layers == 1 ? 2.0 : 8.0) * (embed == 16 ? 1.0 : 5.0)}});
  const auto tableFile = dir / "times.json";
  std::ofstream(tableFile) << table.dump();
  params["steps"] = 80;
  params["log_every"] = 40;
  params["step_times"] = tableFile.string();
  Feedback fb2;
  const auto out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 7ULL, dir.path()}, fb2);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto arch = readJson(artifact(out.runDir, "arch.json"));
  EXPECT_EQ(arch["time_penalty"], 20.0);
  EXPECT_EQ(arch["step_times"], table["step_times"]);
  EXPECT_EQ(arch["chosen_step_ms"].get<double>(), 2.0) << arch["architecture"].dump();
  const auto metrics = RunDir::open(out.runDir).readMetrics();
  ASSERT_EQ(metrics.size(), 3u);  // steps 0 (no penalty yet), 40 and 80
  ASSERT_TRUE(metrics[1].values.count("expected_step_ms"));
  EXPECT_LT(metrics.back().values.at("expected_step_ms"), metrics[1].values.at("expected_step_ms"));

  // A table without one of the space's architectures is refused, naming the file and the architecture.
  table["step_times"].erase(3);
  std::ofstream(tableFile, std::ios::trunc) << table.dump();
  Feedback fb3;
  const auto bad = runJob(registry(), RunRequest{"nas.search", params, "cpu", 7ULL, dir.path()}, fb3);
  EXPECT_EQ(bad.status, RunStatus::Failed);
  EXPECT_NE(bad.error.find("times.json"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("layers=4 heads=2 embed=128"), std::string::npos) << bad.error;
}

// DrNAS end to end (DARTS and GDAS are run by the tests around it): Dirichlet weights in the stream sum to 1.
TEST(NasJobs, DrnasSearchStreamsDirichletMeans) {
  test::ScopedTempDir dir("nas");
  Feedback fb;
  const Json params{{"data", kSample5}, {"tokenizer", kTok512}, {"layers", "1,2"}, {"heads", "2,4"}, {"embed", "16,32"},
                    {"mlp_ratio", "2"}, {"method", "drnas"}, {"steps", 10}, {"context", 16}, {"batch_size", 4},
                    {"log_every", 5}};
  const auto out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 3ULL, dir.path()}, fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto metrics = RunDir::open(out.runDir).readMetrics();
  ASSERT_FALSE(metrics.empty());
  const auto& last = metrics.back().values;
  EXPECT_NEAR(last.at("w.layers.1") + last.at("w.layers.2"), 1.0, 1e-6);
  EXPECT_NEAR(last.at("w.heads.2") + last.at("w.heads.4"), 1.0, 1e-6);
  const auto arch = readJson(artifact(out.runDir, "arch.json"));
  EXPECT_EQ(arch["method"], "drnas");
}

// Equal-GPU-time comparisons give a huge step count and a time budget: the learning rate must still
// decay and GDAS's temperature still anneal over the time the run has, not over steps it never reaches
// (before, both stayed at their starting values for the whole run).
TEST(NasJobs, TimeBudgetedSearchDecaysTheLearningRateAndAnnealsTheTemperature) {
  test::ScopedTempDir dir("nas");
  Feedback fb;
  const double lr = 2e-3, tauMax = 10.0, tauMin = 0.1;
  const Json params{{"data", kSample5}, {"tokenizer", kTok512}, {"layers", "1,2"}, {"heads", "2"}, {"embed", "16,32"},
                    {"mlp_ratio", "2"}, {"method", "gdas"}, {"steps", 1000000000}, {"time_budget_s", 3.0},
                    {"warmup_steps", 2}, {"lr", lr}, {"tau_max", tauMax}, {"tau_min", tauMin}, {"context", 16},
                    {"batch_size", 2}, {"log_every", 1}};
  const auto out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 5ULL, dir.path()}, fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto metrics = RunDir::open(out.runDir).readMetrics();
  ASSERT_GT(metrics.size(), 10u);  // a 2-layer width-32 model takes far less than 0.3 s a step
  const auto& last = metrics.back().values;
  // The last step is at (or just past) the budget: cosine at progress ~1 gives lr/10, tau ~tau_min.
  EXPECT_NEAR(last.at("lr"), 0.1 * lr, 0.05 * lr);
  EXPECT_LT(last.at("tau"), tauMin + 0.1 * (tauMax - tauMin));
  // And both moved monotonically from their starting values (after warm-up).
  const auto& early = metrics[3].values;
  EXPECT_GT(early.at("lr"), 0.8 * lr);
  EXPECT_GT(early.at("tau"), 0.8 * tauMax);
}

// Early stopping: with val_every the trained model keeps its best validation weights. On 5 short stories
// a width-64 model trained at a high learning rate overfits within 300 steps, so the kept weights are an
// earlier step's and their validation loss is below the last step's (measured again from the result).
TEST(NasJobs, EvaluateKeepsTheBestValidationWeights) {
  test::ScopedTempDir dir("nas");
  Feedback fb;
  const Json search{{"data", kSample5}, {"tokenizer", kTok512}, {"layers", "2"}, {"heads", "2"}, {"embed", "64"},
                    {"mlp_ratio", "4"}, {"steps", 1}, {"context", 32}, {"batch_size", 4}};
  const auto s = runJob(registry(), RunRequest{"nas.search", search, "cpu", 1ULL, dir.path()}, fb);
  ASSERT_EQ(s.status, RunStatus::Completed) << s.error;
  Json eval{{"search", s.runDir.string()}, {"mode", "scratch"}, {"steps", 300}, {"context", 32}, {"batch_size", 8},
            {"lr", 1e-2}, {"warmup_steps", 5}, {"val_fraction", 0.3}, {"val_batches", 2}};
  const auto plain = runJob(registry(), RunRequest{"nas.evaluate", eval, "cpu", 2ULL, dir.path()}, fb);
  ASSERT_EQ(plain.status, RunStatus::Completed) << plain.error;
  eval["val_every"] = 20;
  const auto early = runJob(registry(), RunRequest{"nas.evaluate", eval, "cpu", 2ULL, dir.path()}, fb);
  ASSERT_EQ(early.status, RunStatus::Completed) << early.error;
  const auto a = readJson(artifact(plain.runDir, "result.json")), b = readJson(artifact(early.runDir, "result.json"));
  EXPECT_EQ(a["best_step"], 300);
  EXPECT_LT(b["best_step"].get<int>(), 300);
  EXPECT_EQ(b["best_step"].get<int>() % 20, 0);
  // Same seed, same batches: the runs are the same model until the end, so early stopping can only help,
  // and here it must help (the last step overfits).
  EXPECT_LT(b["val_loss"].get<double>(), a["val_loss"].get<double>());
}

TEST(NasJobs, BadSpacesAndDataGiveClearErrors) {
  test::ScopedTempDir dir("nas");
  Feedback fb;
  Json params{{"data", kSample5}, {"tokenizer", kTok512}, {"heads", "3"}, {"embed", "64"}, {"steps", 1}};
  auto out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 1ULL, dir.path()}, fb);
  EXPECT_EQ(out.status, RunStatus::Failed);
  EXPECT_NE(out.error.find("heads=3"), std::string::npos) << out.error;
  params["heads"] = "2";
  params["embed"] = "64,x";
  out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 1ULL, dir.path()}, fb);
  EXPECT_NE(out.error.find("'x' is not an integer"), std::string::npos) << out.error;
  params["embed"] = "64";
  params["data"] = "/no/such/file.txt";
  out = runJob(registry(), RunRequest{"nas.search", params, "cpu", 1ULL, dir.path()}, fb);
  EXPECT_NE(out.error.find("does not exist"), std::string::npos) << out.error;
}

// search -> evaluate (inherited weights and from scratch) -> random search, and lm.train accepting
// the searched architecture's parameters, all through the CLI.
TEST(NasJobs, SearchEvaluateAndRandomSearchThroughTheCli) {
  test::ScopedTempDir root("nas");
  const auto searchRoot = root.path() / "search";
  auto r = test::cli("--project " + searchRoot.string() + " run nas.search --device cpu --seed 3 --param data=" + kSample5 +
                     " --param tokenizer=" + kTok512 +
                     " --param layers=1,2 --param heads=2 --param embed=16,32 --param mlp_ratio=2,3 --param method=gdas"
                     " --param steps=20 --param context=16 --param batch_size=4 --param log_every=5");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto searchRun = test::onlyRun(searchRoot);
  const auto arch = readJson(artifact(searchRun, "arch.json"));
  const auto chosen = nas::Architecture::fromJson(arch["architecture"]);
  const auto space = nas::SearchSpace::fromJson(arch["space"]);
  EXPECT_TRUE(space.contains(chosen));
  EXPECT_EQ(arch["params"], lm::createModel(space.modelConfig(chosen))->numParameters());
  ASSERT_TRUE(fs::exists(artifact(searchRun, "supernet.pt")));

  for (const std::string mode : {"finetune", "scratch"}) {
    const auto evalRoot = root.path() / ("eval-" + mode);
    r = test::cli("--project " + evalRoot.string() + " run nas.evaluate --device cpu --seed 4 --param search=" +
                  searchRun.string() + " --param mode=" + mode +
                  " --param steps=10 --param context=16 --param batch_size=4 --param lr=3e-3 --param warmup_steps=2");
    ASSERT_EQ(r.code, 0) << r.out;
    const auto res = readJson(artifact(test::onlyRun(evalRoot), "result.json"));
    EXPECT_EQ(res["params"], arch["params"]);
    EXPECT_EQ(res["architecture"], arch["architecture"]);
    const double ppl = res["val_ppl"].get<double>();
    // A trained 512-token model is better than uniform guessing (perplexity 512) but not perfect.
    EXPECT_TRUE(std::isfinite(ppl) && ppl > 1.0 && ppl < 512.0) << ppl;
    if (mode == "finetune") EXPECT_TRUE(res.contains("inherited_val_ppl"));
  }

  const auto rsRoot = root.path() / "random";
  r = test::cli("--project " + rsRoot.string() + " run nas.random_search --device cpu --seed 5 --param data=" + kSample5 +
                " --param tokenizer=" + kTok512 +
                " --param layers=1,2 --param heads=2 --param embed=16,32 --param mlp_ratio=2,3 --param samples=2"
                " --param steps=20 --param context=16 --param batch_size=4");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto table = readJson(artifact(test::onlyRun(rsRoot), "random_search.json"));
  ASSERT_EQ(table["results"].size(), 2u);
  EXPECT_NE(table["results"][0]["architecture"], table["results"][1]["architecture"]);
  for (const auto& row : table["results"]) {
    EXPECT_EQ(row["steps"], 10);  // an equal share of the 20 steps
    const auto a = nas::Architecture::fromJson(row["architecture"]);
    EXPECT_EQ(row["params"], lm::createModel(space.modelConfig(a))->numParameters());
  }

  // arch.json's lm_train_params are what lm.train takes.
  std::string args;
  for (const auto& [k, v] : arch["lm_train_params"].items())
    args += " --param " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  const auto trainRoot = root.path() / "train";
  r = test::cli("--project " + trainRoot.string() + " run lm.train --device cpu --param data=" + kSample5 +
                " --param tokenizer=" + kTok512 + " --param steps=2 --param batch_size=2 --param export=false" + args);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto trained = RunDir::open(test::onlyRun(trainRoot));
  EXPECT_EQ(trained.record()["summary"]["params"], arch["params"]);
}
