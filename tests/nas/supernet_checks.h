#pragma once
// Checks every supernet family shares (tests/nas): weight entanglement keeps one weight of the largest
// size per operation, and a forward/backward's memory stays close to the largest sub-network's.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "atomscope/lm/model.h"
#include "atomscope/nas/supernet.h"
#include "cpu_memory_probe.h"

namespace atomscope::nas::test_checks {

inline std::int64_t alphaCount(const SearchSpace& s) {
  std::int64_t n = 0;
  for (const auto& c : s.choices) n += static_cast<std::int64_t>(c.size());
  return n;
}

// With one-hot architecture weights, the supernet's logits on `ids` equal those of the model extract()
// gives (lm's own model of the family, built from the sliced weights), for every architecture of the
// space: this checks the supernet's slicing, mixing and attention against lm's.
inline void expectEveryOneHotArchitectureMatchesExtracted(Supernet& net, const SearchSpace& space, const torch::Tensor& ids) {
  torch::NoGradGuard g;
  for (std::int64_t i = 0; i < space.numArchitectures(); ++i) {
    const auto a = space.at(i);
    const auto sub = net->extract(a);
    EXPECT_EQ(sub->config().family, space.family);
    EXPECT_EQ(sub->config().dim, a.embed);
    EXPECT_EQ(sub->config().nLayers, a.layers);
    EXPECT_EQ(sub->config().nHeads, a.heads);
    EXPECT_EQ(sub->config().hiddenDim, a.mlpRatio * a.embed);
    const auto ref = sub->forward(ids);
    const auto got = net->forward(ids, oneHotWeights(space, a));
    ASSERT_EQ(got.sizes(), ref.sizes());
    EXPECT_TRUE(torch::allclose(got, ref, 1e-5, 1e-5)) << a.toString() << ": max diff " << (got - ref).abs().max().item<float>();
  }
}

// Parameters: the largest sub-network's plus one alpha per choice. Peak CPU memory of a forward/backward
// on a [4, tokens] batch (grads included): one-hot, the supernet adds one masked copy of each weight
// matrix (kept for backward) to the largest model's activations; mixed (DARTS), also the attention of
// each (width, heads) pair and the norms' per-width statistics. "Close to the largest sub-network" as
// bounds: 1.25x and 2x of its parameters plus activations.
inline void expectSizeAndMemoryCloseToLargest(const SearchSpace& space, std::int64_t tokens, const char* label) {
  Supernet net(space);
  const auto largest = lm::createModel(space.modelConfig(space.largest()));
  std::int64_t superParams = 0;
  for (const auto& p : net->parameters()) superParams += p.numel();
  EXPECT_EQ(superParams, largest->numParameters() + alphaCount(space));
  EXPECT_EQ(static_cast<std::int64_t>(net->weightParameters().size()), static_cast<std::int64_t>(largest->parameters().size()));

  const auto ids = torch::randint(0, space.vocabSize, {4, tokens}, torch::kLong);
  auto measure = [&](const std::function<torch::Tensor()>& lossFn, torch::nn::Module& m) {
    m.zero_grad();
    for (auto& p : m.parameters()) p.mutable_grad() = torch::Tensor();
    test::CpuMemoryProbe probe;
    auto loss = lossFn();
    loss.backward();
    return probe.peakAboveStart();
  };
  const auto superPeak = measure([&] { return net->loss(ids, net->arch->sample(Method::Darts)); }, *net);
  const auto oneHotPeak = measure([&] { return net->loss(ids, oneHotWeights(space, space.largest())); }, *net);
  const auto largestPeak = measure([&] { return lm::languageModelLoss(*largest, ids); }, *largest);
  const auto paramBytes = largest->numParameters() * 4;
  std::printf("%s peak forward/backward bytes (grads included): largest %lld, supernet one-hot %lld, DARTS %lld; "
              "parameter bytes %lld\n",
              label, static_cast<long long>(largestPeak), static_cast<long long>(oneHotPeak),
              static_cast<long long>(superPeak), static_cast<long long>(paramBytes));
  const double reference = static_cast<double>(largestPeak + paramBytes);
  EXPECT_LT(static_cast<double>(oneHotPeak), 1.25 * reference);
  EXPECT_LT(static_cast<double>(superPeak), 2.0 * reference);
}

}  // namespace atomscope::nas::test_checks
