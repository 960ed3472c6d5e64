// The supernet over modules/lm's Llama family: every one-hot architecture reproduces the standalone
// lm model built from its extracted config and weights; its size and memory stay those of the
// largest sub-network.
#include <gtest/gtest.h>

#include <cstdio>

#include "atomscope/lm/model.h"
#include "atomscope/nas/supernet.h"
#include "supernet_checks.h"

using namespace atomscope;
using namespace atomscope::nas;

namespace {

SearchSpace smallSpace() {
  SearchSpace s;
  s.vocabSize = 512;  // tok512's vocabulary
  s.context = 32;
  s.choices[0] = {1, 2, 3};    // layers
  s.choices[1] = {2, 4};       // heads
  s.choices[2] = {32, 48, 64}; // embed
  s.choices[3] = {2, 3};       // mlp ratio
  s.validate();
  return s;
}

}  // namespace

TEST(NasSupernet, OneHotSupernetReproducesTheExtractedLmModel) {
  torch::manual_seed(11);
  const auto space = smallSpace();
  Supernet net(space);
  net->eval();
  const auto ids = torch::randint(0, 512, {2, 20}, torch::kLong);
  // Every architecture of the space (36), against lm's own Llama.
  test_checks::expectEveryOneHotArchitectureMatchesExtracted(net, space, ids);
}

TEST(NasSupernet, SoftWeightsMixEveryChoiceAndReachEveryAlpha) {
  torch::manual_seed(12);
  const auto space = smallSpace();
  Supernet net(space);
  const auto ids = torch::randint(0, 512, {2, 16}, torch::kLong);
  {
    torch::NoGradGuard g;
    for (auto& a : net->arch->alpha) a.normal_(0.0, 1.0);
  }
  const auto loss = net->loss(ids, net->arch->sample(Method::Darts));
  loss.backward();
  for (int d = 0; d < kNumDims; ++d) {
    ASSERT_TRUE(net->arch->alpha[d].grad().defined()) << d;
    // Softmax gradients sum to zero per dimension but are not all zero.
    EXPECT_GT(net->arch->alpha[d].grad().abs().sum().item<float>(), 0.0f) << dimName(static_cast<Dim>(d));
  }
  // A mixture is not any single architecture's output.
  torch::NoGradGuard g;
  const auto soft = net->forward(ids, net->arch->expected(Method::Darts));
  const auto largest = net->forward(ids, oneHotWeights(space, space.largest()));
  EXPECT_GT((soft - largest).abs().max().item<float>(), 1e-4f);
}

TEST(NasSupernet, SizeIsTheLargestSubnetworkPlusTheAlphasAndMemoryStaysClose) {
  torch::manual_seed(13);
  test_checks::expectSizeAndMemoryCloseToLargest(smallSpace(), 33, "llama");
}
