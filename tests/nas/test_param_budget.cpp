// Parameter counts over a search space (param_budget.h): every architecture's count equals the count
// of the standalone model lm (or masa) builds for it, and the expected count under architecture
// weights is exact at one-hot weights, the mean at uniform ones, and has a gradient.
#include <gtest/gtest.h>

#include "atomscope/nas/param_budget.h"
#include "atomscope/nas/supernet.h"

using namespace atomscope;
using namespace atomscope::nas;

namespace {

SearchSpace smallSpace(lm::ModelFamily family, std::vector<std::int64_t> atoms = {}) {
  SearchSpace s;
  s.family = family;
  s.vocabSize = 61;
  s.context = 16;
  s.choices[0] = {2, 3, 5};  // depths 2 and 3 are built; 5 is extrapolated
  s.choices[1] = {2, 4};
  s.choices[2] = {8, 16};
  s.choices[3] = {2, 3};
  s.atoms = std::move(atoms);
  s.validate();
  return s;
}

void expectCountsMatchBuiltModels(const SearchSpace& space) {
  const auto counts = architectureParameterCounts(space);
  ASSERT_EQ(static_cast<std::int64_t>(counts.size()), space.numArchitectures());
  for (std::int64_t i = 0; i < space.numArchitectures(); ++i) {
    const auto a = space.at(i);
    EXPECT_EQ(counts[static_cast<std::size_t>(i)], createArchitectureModel(space, a)->numParameters()) << a.toString();
  }
}

}  // namespace

TEST(ParamBudget, CountsEqualTheBuiltModelsLlamaGpt2AndMasa) {
  expectCountsMatchBuiltModels(smallSpace(lm::ModelFamily::Llama));
  expectCountsMatchBuiltModels(smallSpace(lm::ModelFamily::Gpt2));
  expectCountsMatchBuiltModels(smallSpace(lm::ModelFamily::Llama, {1, 2}));
}

TEST(ParamBudget, ExpectedCountIsExactAtOneHotAndTheMeanAtUniformWeights) {
  const auto space = smallSpace(lm::ModelFamily::Llama, {1, 2});
  const auto counts = architectureParameterCounts(space);
  for (const auto i : {0L, 7L, space.numArchitectures() - 1}) {
    const auto a = space.at(i);
    EXPECT_DOUBLE_EQ(expectedParameters(space, counts, oneHotWeights(space, a)).item<double>(),
                     static_cast<double>(counts[static_cast<std::size_t>(i)]));
  }
  ArchWeights uniform;
  std::vector<torch::Tensor> leaves;
  for (int d = 0; d < kNumDims; ++d) {
    const auto k = static_cast<std::int64_t>(space.choices[d].size());
    uniform[d] = torch::full({k}, 1.0 / static_cast<double>(k)).requires_grad_(true);
    leaves.push_back(uniform[d]);
  }
  uniform.atoms = torch::full({2}, 0.5).requires_grad_(true);
  double mean = 0;
  for (const auto c : counts) mean += static_cast<double>(c);
  mean /= static_cast<double>(counts.size());
  const auto e = expectedParameters(space, counts, uniform);
  EXPECT_NEAR(e.item<double>(), mean, 1e-6 * mean);
  e.backward();
  // More weight on the wider embedding means more parameters.
  const auto g = uniform[static_cast<int>(Dim::Embed)].grad();
  ASSERT_TRUE(g.defined());
  EXPECT_GT(g[1].item<double>(), g[0].item<double>());
  // Fewer counts than architectures is refused.
  EXPECT_THROW(expectedParameters(space, std::vector<std::int64_t>(3, 1), uniform), NasError);
}

// Step times: one entry per architecture in SearchSpace::at order, all positive, linear in depth with a
// slope >= 0 (depth 5 extrapolated from the built depths 2 and 3), and their expectation exact at a
// one-hot choice (what the time penalty of nas.search differentiates).
TEST(ParamBudget, StepTimesCoverEveryArchitectureAndAreLinearInDepth) {
  const auto space = smallSpace(lm::ModelFamily::Llama);
  const auto t = architectureStepSeconds(space, torch::kCPU, 2, 8, false, 1);
  ASSERT_EQ(static_cast<std::int64_t>(t.size()), space.numArchitectures());
  const auto perDepth = space.numArchitectures() / 3;  // layers vary slowest
  for (std::int64_t i = 0; i < perDepth; ++i) {
    const double t2 = t[static_cast<std::size_t>(i)], t3 = t[static_cast<std::size_t>(i + perDepth)],
                 t5 = t[static_cast<std::size_t>(i + 2 * perDepth)];
    EXPECT_GT(t2, 0.0);
    EXPECT_GE(t3, t2);
    EXPECT_NEAR(t5, t3 + 2 * (t3 - t2), 1e-12);
    EXPECT_EQ(space.at(i).heads, space.at(i + perDepth).heads);
  }
  const auto a = space.at(5);
  EXPECT_NEAR(expectedValue(space, t, oneHotWeights(space, a)).item<double>(), t[5], 1e-6 * t[5]);
  EXPECT_THROW(expectedValue(space, std::vector<double>(3, 1.0), oneHotWeights(space, a)), NasError);
  EXPECT_THROW(architectureStepSeconds(space, torch::kCPU, 2, 8, false, 0), NasError);
}
