// Atoms fitted to calibration outputs (output_fit.h): the optimum it must reach where one is known in
// closed form, monotone descent on the real stories260K weights and calibration, and agreement of the
// exact and blockwise atom steps.
#include <gtest/gtest.h>

#include <cstdio>

#include "atomscope/masa/matrix_pca.h"
#include "atomscope/masa/output_fit.h"
#include "atomscope/masa/svd_baselines.h"
#include "masa_test_util.h"

using namespace atomscope;
using namespace atomscope::masa;

namespace {

struct RoleSet {
  std::vector<torch::Tensor> weights;  // float64
  std::vector<std::int64_t> layers;
  std::vector<torch::Tensor> factors;  // per-layer whitening factors from the calibration
};

RoleSet storiesRole(const std::string& role) {
  static auto cm = masa_test::calibratedStories(4096);
  RoleSet s;
  for (const auto& [name, p] : lm::attentionProjections(*cm.loaded.model))
    if (name.find("." + role + "_proj") != std::string::npos)
      s.weights.push_back(std::dynamic_pointer_cast<lm::LinearProjectionImpl>(p)->weight.detach().to(torch::kFloat64).clone());
  for (std::int64_t l = 0; l < static_cast<std::int64_t>(s.weights.size()); ++l) {
    s.layers.push_back(l);
    const auto& st = cm.recorder->get(l, role);
    s.factors.push_back(choleskyWhitening(st.autocorrelation / static_cast<double>(st.tokens)).factor);
  }
  return s;
}

OutputFitProblem problemOf(const RoleSet& s, const std::vector<torch::Tensor>& factors) {
  OutputFitProblem p;
  for (std::size_t i = 0; i < s.weights.size(); ++i) {
    p.targets.push_back(s.weights[i]);
    p.factors.push_back(factors[i]);
    p.weights.push_back(1.0);
  }
  return p;
}

}  // namespace

// Source: with one metric R for every layer and equal weights, the objective is plain matrix PCA in
// the whitened space, whose top-S principal directions are the global optimum (Eckart-Young on the
// stacked matrices); matrixPcaWithMetric computes exactly that. The fit, started from the atoms of
// the unweighted PCA, must come down to it and cannot go below it.
TEST(OutputFit, SharedMetricReachesTheWhitenedPcaOptimum) {
  auto s = storiesRole("q");
  const auto R = s.factors[2];
  std::vector<torch::Tensor> shared(s.weights.size(), R);
  const auto p = problemOf(s, shared);
  const auto optimum = matrixPcaWithMetric(s.weights, s.layers, 2, "q", R);
  auto fitted = matrixPca(s.weights, s.layers, 2, "q").dictionary;
  fitted.atoms = fitted.atoms.to(torch::kFloat64);
  fitted.coefficients = fitted.coefficients.to(torch::kFloat64);
  const double start = outputError(fitted, p);
  fitAtomsToOutputs(fitted, p, 30);
  const double best = outputError(optimum.dictionary, p);
  EXPECT_LT(best, start * 0.99);  // the start is not already optimal, so the test can fail
  EXPECT_GE(outputError(fitted, p), best * (1 - 1e-6));
  EXPECT_LE(outputError(fitted, p), best * (1 + 1e-3));
}

// Source: each half-step is an exact minimiser (alternating least squares), so the objective cannot
// rise from one round to the next; with each layer's own calibration metric the fit must end well
// below the weight-error PCA it starts from.
TEST(OutputFit, PerLayerMetricsLowerTheErrorEveryRound) {
  for (const char* role : {"q", "v"}) {
    auto s = storiesRole(role);
    const auto p = problemOf(s, s.factors);
    auto d = matrixPca(s.weights, s.layers, 2, role).dictionary;
    d.atoms = d.atoms.to(torch::kFloat64);
    d.coefficients = d.coefficients.to(torch::kFloat64);
    double previous = outputError(d, p);
    const double start = previous;
    for (int round = 0; round < 6; ++round) {
      fitAtomsToOutputs(d, p, 1);
      const double e = outputError(d, p);
      EXPECT_LE(e, previous * (1 + 1e-9)) << role << " round " << round;
      previous = e;
    }
    std::printf("%s: output error %.4f -> %.4f\n", role, start, previous);
    EXPECT_LT(previous, 0.995 * start) << role;
    EXPECT_EQ(d.atoms.sizes(), (std::vector<std::int64_t>{2, s.weights[0].size(0), s.weights[0].size(1)}));
    EXPECT_EQ(d.coefficients.sizes(), (std::vector<std::int64_t>{5, 2}));
  }
}

// Source: the blockwise atom step (used when the exact system is too large) minimises the same
// objective one atom at a time; it must also descend monotonically and approach the exact steps' value.
TEST(OutputFit, BlockwiseAtomStepAgreesWithTheExactOne) {
  auto s = storiesRole("k");
  const auto p = problemOf(s, s.factors);
  auto start = matrixPca(s.weights, s.layers, 3, "k").dictionary;
  auto exact = start, blockwise = start;
  fitAtomsToOutputs(exact, p, 20);
  double previous = outputError(blockwise, p);
  for (int round = 0; round < 60; ++round) {
    fitAtomsToOutputs(blockwise, p, 1, /*exactLimit=*/0);
    const double e = outputError(blockwise, p);
    EXPECT_LE(e, previous * (1 + 1e-6)) << round;
    previous = e;
  }
  EXPECT_LE(previous, outputError(exact, p) * 1.02);
  EXPECT_EQ(blockwise.atoms.scalar_type(), start.atoms.scalar_type());  // written back in the atoms' dtype
}

TEST(OutputFit, MismatchedProblemsAreRefused) {
  auto s = storiesRole("k");
  auto d = matrixPca(s.weights, s.layers, 2, "k").dictionary;
  auto p = problemOf(s, s.factors);
  p.weights.pop_back();
  EXPECT_THROW(fitAtomsToOutputs(d, p, 1), lm::LmError);
  p = problemOf(s, s.factors);
  p.factors[1] = torch::eye(3, torch::kFloat64);
  EXPECT_THROW(outputError(d, p), lm::LmError);
}
