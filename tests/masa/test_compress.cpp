// masa.compress: budgets equal across methods (exact counts), the job through the registry on
// stories260K (reports, artifacts, perplexity through lm.eval), bad inputs.
#include <gtest/gtest.h>

#include <fstream>

#include "atomscope/masa/compress.h"
#include "masa_jobs_util.h"

using namespace atomscope;
using namespace atomscope::masa;
namespace fs = std::filesystem;

namespace {

const masa_test::CalibratedModel& calibrated() {
  static auto m = masa_test::calibratedStories(4096);
  return m;
}

const TypeReport& typeOf(const CompressionResult& r, const std::string& role) {
  for (const auto& t : r.types)
    if (t.role == role) return t;
  throw std::runtime_error("no type " + role);
}

}  // namespace

// Source: the budget rules of compress.h worked by hand for stories260K (5 layers; q and o
// 64 x 64 = 4096, k and v 32 x 64 = 2048 (4 KV heads of 8 dims)). Ratio 0.4: q budget
// floor(0.6 * 20480) = 12288; matrix PCA S = floor(12288 / (4096 + 5)) = 2, storing 8202; SVD ranks
// floor(12288 / 128) = 96 over 5 layers (20, 19, 19, 19, 19), storing 12288. k: budget 6144,
// S = floor(6144 / 2053) = 2 storing 4106, SVD rank total 64 (13, 13, 13, 13, 12) storing 6144.
TEST(MasaCompress, BudgetsAreEqualAcrossMethods) {
  auto& cm = calibrated();
  core::Feedback fb;
  for (const auto& method : compressionMethods()) {
    CompressOptions o;
    o.method = method;
    o.ratio = 0.4;
    auto r = compressAttention(*cm.loaded.model, o, cm.recorder.get(), fb);
    const bool pooled = method.find("refined") != std::string::npos || method == "matrix-pca-fitted";  // residual budget pooled over the types
    for (const auto& t : r.types) {
      const auto budget = (t.role == "q" || t.role == "o") ? 12288 : 6144;
      EXPECT_EQ(t.budget, budget) << method << " " << t.role;
      if (!pooled) {
        EXPECT_LE(t.stored, t.budget) << method << " " << t.role;
      }
      EXPECT_EQ(t.full, (t.role == "q" || t.role == "o") ? 20480 : 10240);
    }
    if (method == "matrix-pca") {
      EXPECT_EQ(typeOf(r, "q").atoms, 2);
      EXPECT_EQ(typeOf(r, "q").stored, 8202);
      EXPECT_EQ(typeOf(r, "k").stored, 4106);
    }
    if (method == "svd" || method == "svd-llm") {
      EXPECT_EQ(typeOf(r, "q").stored, 12288);
      EXPECT_EQ(typeOf(r, "q").ranks, (std::vector<std::int64_t>{20, 19, 19, 19, 19}));
      EXPECT_EQ(typeOf(r, "k").stored, 6144);
      EXPECT_EQ(typeOf(r, "k").ranks, (std::vector<std::int64_t>{13, 13, 13, 13, 12}));
    }
    if (method == "matrix-pca-refined") {
      // Atoms from half the budget: floor(6144 / 4101) = 1 atom for q; the rest goes to residuals,
      // Q and O at twice K and V's rank.
      EXPECT_EQ(typeOf(r, "q").atoms, 1);
      EXPECT_GT(typeOf(r, "q").ranks.at(0), 0);
      EXPECT_GE(typeOf(r, "q").ranks.at(0), 2 * typeOf(r, "k").ranks.at(0) - 1);
    }
    EXPECT_LE(r.attentionStored(), 2 * 12288 + 2 * 6144) << method;
    // The dense W^ reproduces the stored form's error report.
    for (const auto& t : r.types) ASSERT_EQ(t.relativeError.size(), 5u) << method;
  }
  // atoms = 2: the budget is what matrix PCA with 2 atoms stores.
  CompressOptions o;
  o.method = "svd";
  o.atoms = 2;
  auto r = compressAttention(*cm.loaded.model, o, nullptr, fb);
  EXPECT_EQ(typeOf(r, "q").budget, 8202);
  EXPECT_EQ(typeOf(r, "q").stored, 64 * 128);  // floor(8202 / 128) = 64 ranks
}

// Source: whitening makes the calibration output error, not the weight error, the objective, so
// SVD-LLM's summed output error tr(E X^T X E^T) must be below plain SVD's, and the whitened MASA
// variant's below plain matrix PCA's, at the same budget.
TEST(MasaCompress, WhitenedMethodsLowerTheCalibrationOutputError) {
  auto& cm = calibrated();
  core::Feedback fb;
  auto outputError = [&](const std::string& method) {
    CompressOptions o;
    o.method = method;
    o.ratio = 0.4;
    auto r = compressAttention(*cm.loaded.model, o, cm.recorder.get(), fb);
    double e = 0;
    for (const auto& set : attentionSets(*cm.loaded.model))
      for (std::size_t i = 0; i < set.layers.size(); ++i) {
        auto E = set.weights[i].to(torch::kFloat64) - r.weights.at(set.role)[i].to(torch::kFloat64);
        e += torch::trace(torch::matmul(torch::matmul(E, cm.recorder->get(set.layers[i], set.role).autocorrelation), E.t()))
                 .item<double>();
      }
    return e;
  };
  EXPECT_LT(outputError("svd-llm"), outputError("svd"));
  EXPECT_LT(outputError("matrix-pca-whitened"), outputError("matrix-pca"));
}

// Source: matrix-pca-fitted minimises exactly the summed relative calibration output error that
// refined-greedy only approximates (its atoms minimise the weight error), at the same pooled budget,
// so its error must be lower; its search reports every candidate and keeps the best.
TEST(MasaCompress, FittedLowersTheRelativeOutputErrorBelowRefinedGreedy) {
  auto& cm = calibrated();
  core::Feedback fb;
  auto relativeOutputError = [&](const CompressionResult& r) {
    double e = 0;
    for (const auto& set : attentionSets(*cm.loaded.model))
      for (std::size_t i = 0; i < set.layers.size(); ++i) {
        const auto& A = cm.recorder->get(set.layers[i], set.role).autocorrelation;
        auto W = set.weights[i].to(torch::kFloat64);
        auto E = W - r.weights.at(set.role)[i].to(torch::kFloat64);
        e += torch::trace(torch::matmul(torch::matmul(E, A), E.t())).item<double>() /
             torch::trace(torch::matmul(torch::matmul(W, A), W.t())).item<double>();
      }
    return e;
  };
  for (double ratio : {0.2, 0.6}) {
    CompressOptions o;
    o.ratio = ratio;
    o.method = "matrix-pca-refined-greedy";
    const auto greedy = compressAttention(*cm.loaded.model, o, cm.recorder.get(), fb);
    o.method = "matrix-pca-fitted";
    const auto fitted = compressAttention(*cm.loaded.model, o, cm.recorder.get(), fb);
    EXPECT_LT(relativeOutputError(fitted), relativeOutputError(greedy)) << ratio;
    // Same budget: the types' budgets summed (the residual part is pooled across types).
    std::int64_t budget = 0;
    for (const auto& t : fitted.types) budget += t.budget;
    EXPECT_LE(fitted.attentionStored(), budget) << ratio;
    ASSERT_EQ(fitted.atomFractionSearch.size(), 8u);
    double best = 1e300;
    for (const auto& trial : fitted.atomFractionSearch) best = std::min(best, trial.outputError);
    EXPECT_NEAR(relativeOutputError(fitted), best, 1e-6 * best) << ratio;  // the kept one is the best tried
    const auto j = fitted.toJson();
    EXPECT_EQ(j["atom_fraction"].get<double>(), fitted.atomFraction);
    EXPECT_EQ(j["fit_search"].size(), 8u);
    for (const auto& t : fitted.types) EXPECT_GE(t.atoms, 1) << t.role;
  }
}

TEST(MasaCompress, GroupedSplitsTheLayersByKl) {
  auto& cm = calibrated();
  core::Feedback fb;
  CompressOptions o;
  o.method = "matrix-pca-grouped";
  o.ratio = 0.4;
  o.groups = 2;
  auto r = compressAttention(*cm.loaded.model, o, cm.recorder.get(), fb);
  ASSERT_EQ(r.layerDistance.size(), 4u);
  for (double d : r.layerDistance) EXPECT_GE(d, 0.0);  // KL divergences
  EXPECT_EQ(r.dictionaries.size(), 8u);                // 2 groups x 4 types
  EXPECT_EQ(typeOf(r, "q").groups.size(), 2u);
}

// The job through the registry: reports, artifacts, perplexity before/after via lm.eval (on the
// first 3000 tokens), and the dense export evaluated again by lm.eval directly gives the same number.
TEST(MasaCompress, JobReportsAndExports) {
  atomscope::test::ScopedTempDir dir("masa_job");
  auto o = masa_test::runJob("masa.compress",
                        {{"model", masa_test::storiesModel().string()},
                         {"tokenizer", masa_test::storiesTokenizer().string()},
                         {"method", "matrix-pca-refined"},
                         {"ratio", 0.4},
                         {"calibration_text", masa_test::trainText().string()},
                         {"calibration_tokens", 4096},
                         {"eval_text", masa_test::valText().string()},
                         {"max_tokens", 3000},
                         {"export", "both"}},
                        dir.path());
  ASSERT_EQ(o.status, core::RunStatus::Completed) << o.error;
  auto s = masa_test::summary(o);
  // stories260K has 5 x (4096 + 2048 + 2048 + 4096) = 61440 attention weights.
  EXPECT_EQ(s["attention_params_before"].get<std::int64_t>(), 61440);
  EXPECT_LE(s["attention_params_after"].get<std::int64_t>(), 36864);  // 0.6 x 61440
  EXPECT_EQ(s["params_before"].get<std::int64_t>() - s["params_after"].get<std::int64_t>(),
            61440 - s["attention_params_after"].get<std::int64_t>());
  const double before = s["perplexity_before"].get<double>(), after = s["perplexity_after"].get<double>();
  EXPECT_GT(after, before);  // removing 40% of attention costs something
  for (const char* a : {"report.json", "energy.csv", "layer_error.csv", "coefficients_q.npy", "masa_model", "hf_model"})
    EXPECT_TRUE(fs::exists(masa_test::artifact(o, a))) << a;
  auto coef = core::loadNpy(masa_test::artifact(o, "coefficients_q.npy"));
  EXPECT_EQ(coef.sizes(), (std::vector<std::int64_t>{5, 1}));
  auto e = masa_test::runJob("lm.eval",
                        {{"model", masa_test::artifact(o, "hf_model").string()},
                         {"tokenizer", masa_test::storiesTokenizer().string()},
                         {"data", masa_test::valText().string()},
                         {"max_tokens", 3000},
                         {"context", 512},
                         {"split_documents", true},
                         {"document_windows", true}},
                        dir.path());
  ASSERT_EQ(e.status, core::RunStatus::Completed) << e.error;
  EXPECT_NEAR(masa_test::summary(e)["perplexity"].get<double>(), after, 1e-9);
}

TEST(MasaCompress, BadInputsGiveClearErrors) {
  atomscope::test::ScopedTempDir dir("masa_bad");
  auto expectFailure = [&](Json params, const std::string& part) {
    if (!params.contains("model")) params["model"] = masa_test::storiesModel().string();
    try {
      auto o = masa_test::runJob("masa.compress", params, dir.path());
      EXPECT_EQ(o.status, core::RunStatus::Failed) << part;
      EXPECT_NE(o.error.find(part), std::string::npos) << o.error;
    } catch (const core::Error& e) {  // schema violations are refused before the run starts
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expectFailure({{"ratio", 0.0}}, "ratio must be strictly between 0 and 1");
  expectFailure({{"ratio", 1.0}}, "ratio must be strictly between 0 and 1");
  expectFailure({{"ratio", 1.5}}, "ratio");
  expectFailure({{"model", (dir / "nope.bin").string()}}, "does not exist");
  expectFailure({{"method", "svd-llm"}}, "needs calibration_text");
  expectFailure({{"atoms", 9}}, "atoms 9 exceeds the 5 layers");
  expectFailure({{"method", "svd"}, {"ratio", 0.999}}, "too small for rank 1");
}
