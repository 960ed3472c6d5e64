// Entangled mixed operations and architecture-weight samplers (TangleNAS): the identities they rest on,
// checked against explicit per-choice computation on the sliced weights.
#include <gtest/gtest.h>

#include <cmath>

#include "atomscope/nas/arch_weights.h"
#include "atomscope/nas/entangled.h"

using namespace atomscope::nas;

namespace {

torch::Tensor padTo(const torch::Tensor& t, std::int64_t n) {
  return torch::nn::functional::pad(t, torch::nn::functional::PadFuncOptions({0, n - t.size(-1)}));
}

// Small integers: every product and sum below is exact in float32, so "equal" means bitwise equal.
torch::Tensor smallInts(std::vector<std::int64_t> shape) { return torch::randint(-3, 4, shape).to(torch::kFloat32); }

}  // namespace

TEST(NasEntangled, OneHotLinearEqualsTheSlicedLinearExactly) {
  torch::manual_seed(1);
  const std::vector<std::int64_t> ins{4, 6, 8}, outs{3, 5, 7};
  EntangledLinear lin(8, 7, true);
  {
    torch::NoGradGuard g;
    lin->weight.copy_(smallInts({7, 8}));
    lin->bias.copy_(smallInts({7}));
  }
  const auto x = smallInts({2, 5, 8});  // entries past the chosen input width are not zero: they must be ignored
  const auto Mi = sizeMasks(ins, 8), Mo = sizeMasks(outs, 7);
  for (std::size_t i = 0; i < ins.size(); ++i)
    for (std::size_t o = 0; o < outs.size(); ++o) {
      auto wi = torch::zeros({3}), wo = torch::zeros({3});
      wi[static_cast<std::int64_t>(i)] = 1.0;
      wo[static_cast<std::int64_t>(o)] = 1.0;
      const auto outMask = torch::matmul(wo, Mo), inMask = torch::matmul(wi, Mi);
      const auto mixed = lin->forward(x, torch::outer(outMask, inMask), outMask);
      const auto ref = torch::nn::functional::linear(x.narrow(-1, 0, ins[i]),
                                                     lin->weight.narrow(0, 0, outs[o]).narrow(1, 0, ins[i]),
                                                     lin->bias.narrow(0, 0, outs[o]));
      EXPECT_TRUE(torch::equal(mixed.narrow(-1, 0, outs[o]), ref)) << "in " << ins[i] << " out " << outs[o];
      if (outs[o] < 7) EXPECT_EQ(mixed.narrow(-1, outs[o], 7 - outs[o]).abs().max().item<float>(), 0.0f);
    }
}

TEST(NasEntangled, MixedLinearIsTheWeightedSumOfTheChoices) {
  torch::manual_seed(2);
  const std::vector<std::int64_t> ins{4, 6, 8}, outs{3, 5, 7};
  EntangledLinear lin(8, 7, true);
  const auto x = torch::randn({2, 5, 8});
  const auto wi = torch::softmax(torch::randn({3}), 0), wo = torch::softmax(torch::randn({3}), 0);
  // Independent choices: W_mix = sum_{i,o} wi wo pad(W[:o, :i]) is W * outer(wo Mo, wi Mi).
  const auto outMask = torch::matmul(wo, sizeMasks(outs, 7)), inMask = torch::matmul(wi, sizeMasks(ins, 8));
  const auto mixed = lin->forward(x, torch::outer(outMask, inMask), outMask);
  auto ref = torch::zeros_like(mixed);
  for (std::size_t i = 0; i < ins.size(); ++i)
    for (std::size_t o = 0; o < outs.size(); ++o) {
      const auto y = torch::nn::functional::linear(x.narrow(-1, 0, ins[i]),
                                                   lin->weight.narrow(0, 0, outs[o]).narrow(1, 0, ins[i]),
                                                   lin->bias.narrow(0, 0, outs[o]));
      ref += wi[static_cast<std::int64_t>(i)] * wo[static_cast<std::int64_t>(o)] * padTo(y, 7);
    }
  EXPECT_TRUE(torch::allclose(mixed, ref, 1e-5, 1e-6)) << (mixed - ref).abs().max().item<float>();

  // Coupled choice (q projection: width e in and out): entangledMask(w, M, M) = sum_e w_e outer(m_e, m_e).
  EntangledLinear q(8, 8);
  const auto M = sizeMasks(ins, 8);
  const auto mixedQ = q->forward(x, entangledMask(wi, M, M));
  auto refQ = torch::zeros_like(mixedQ);
  for (std::size_t i = 0; i < ins.size(); ++i)
    refQ += wi[static_cast<std::int64_t>(i)] *
            padTo(torch::nn::functional::linear(x.narrow(-1, 0, ins[i]), q->weight.narrow(0, 0, ins[i]).narrow(1, 0, ins[i])), 8);
  EXPECT_TRUE(torch::allclose(mixedQ, refQ, 1e-5, 1e-6));
}

TEST(NasEntangled, MixedEmbeddingIsTheWeightedSumOfTheSlices) {
  torch::manual_seed(3);
  const std::vector<std::int64_t> dims{4, 6, 8};
  EntangledEmbedding emb(20, 8);
  const auto ids = torch::randint(0, 20, {3, 5}, torch::kLong);
  const auto w = torch::softmax(torch::randn({3}), 0);
  const auto mixed = emb->forward(ids, torch::matmul(w, sizeMasks(dims, 8)));
  auto ref = torch::zeros_like(mixed);
  for (std::size_t k = 0; k < dims.size(); ++k)
    ref += w[static_cast<std::int64_t>(k)] * padTo(torch::nn::functional::embedding(ids, emb->weight.narrow(1, 0, dims[k])), 8);
  EXPECT_TRUE(torch::allclose(mixed, ref, 1e-6, 1e-7));
}

TEST(NasEntangled, MixedNormsAreTheWeightedSumOfNormsOverEachWidth) {
  torch::manual_seed(4);
  const std::vector<std::int64_t> dims{4, 6, 8};
  const double eps = 1e-5;
  EntangledRMSNorm rms(8, eps);
  EntangledLayerNorm ln(8, eps);
  {
    torch::NoGradGuard g;
    rms->weight.copy_(torch::randn({8}));
    ln->weight.copy_(torch::randn({8}));
    ln->bias.copy_(torch::randn({8}));
  }
  const auto x = 3.0 * torch::randn({2, 5, 8}) + 0.5;
  const auto w = torch::softmax(torch::randn({3}), 0);
  auto refR = torch::zeros_like(x), refL = torch::zeros_like(x);
  for (std::size_t k = 0; k < dims.size(); ++k) {
    const auto e = dims[k];
    const auto xs = x.narrow(-1, 0, e);
    // RMSNorm as transformers' LlamaRMSNorm; LayerNorm as torch's.
    const auto r = rms->weight.narrow(0, 0, e) * (xs * torch::rsqrt(xs.pow(2).mean(-1, true) + eps));
    const auto l = torch::layer_norm(xs, {e}, ln->weight.narrow(0, 0, e), ln->bias.narrow(0, 0, e), eps);
    auto oneHot = torch::zeros({3});
    oneHot[static_cast<std::int64_t>(k)] = 1.0;
    EXPECT_TRUE(torch::allclose(rms->forward(x, dims, oneHot), padTo(r, 8), 1e-5, 1e-5)) << e;
    EXPECT_TRUE(torch::allclose(ln->forward(x, dims, oneHot), padTo(l, 8), 1e-5, 1e-5)) << e;
    refR += w[static_cast<std::int64_t>(k)] * padTo(r, 8);
    refL += w[static_cast<std::int64_t>(k)] * padTo(l, 8);
  }
  EXPECT_TRUE(torch::allclose(rms->forward(x, dims, w), refR, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(ln->forward(x, dims, w), refL, 1e-5, 1e-5));
}

TEST(NasArchWeights, GdasSamplesAreOneHotWithGumbelMaxFrequencies) {
  torch::manual_seed(5);
  const auto alpha = torch::tensor({0.5f, -0.3f, 1.0f}).requires_grad_(true);
  const auto p = torch::softmax(alpha.detach(), 0);
  const int N = 6000;
  std::vector<int> counts(3, 0);
  for (int i = 0; i < N; ++i) {
    const auto w = gumbelSoftmaxHard(alpha, 2.0);
    ASSERT_EQ(w.sum().item<float>(), 1.0f);
    ASSERT_EQ(((w == 0) | (w == 1)).all().item<bool>(), true);
    counts[static_cast<std::size_t>(w.argmax().item<std::int64_t>())]++;
  }
  // Gumbel-max trick: argmax(alpha + g) is distributed as softmax(alpha), whatever the temperature.
  for (int k = 0; k < 3; ++k) {
    const double pk = p[k].item<double>(), f = counts[static_cast<std::size_t>(k)] / static_cast<double>(N);
    EXPECT_NEAR(f, pk, 4.0 * std::sqrt(pk * (1 - pk) / N)) << k;
  }
  // Straight-through: the alphas get a gradient.
  auto w = gumbelSoftmaxHard(alpha, 1.0);
  (w * torch::tensor({1.0f, 2.0f, 3.0f})).sum().backward();
  EXPECT_GT(alpha.grad().abs().sum().item<float>(), 0.0f);
}

TEST(NasArchWeights, DrnasSamplesAreDirichletWithTheRightMeanAndGradient) {
  torch::manual_seed(6);
  const auto c = torch::tensor({0.7, 2.0, 3.5}, torch::kDouble).requires_grad_(true);
  const int N = 20000;
  const auto batch = c.unsqueeze(0).expand({N, 3});
  const auto x = dirichletSample(batch);
  EXPECT_TRUE(torch::allclose(x.sum(1), torch::ones({N}, torch::kDouble), 1e-9, 1e-12));
  EXPECT_TRUE((x >= 0).all().item<bool>());
  // Dirichlet mean c_k / sum(c); the variance of a mean of N samples is c_k (S - c_k) / (S^2 (S + 1) N).
  const double S = 6.2;
  const auto mean = x.mean(0);
  for (int k = 0; k < 3; ++k) {
    const double ck = c[k].item<double>();
    const double sd = std::sqrt(ck * (S - ck) / (S * S * (S + 1) * N));
    EXPECT_NEAR(mean[k].item<double>(), ck / S, 4 * sd) << k;
  }
  // Implicit reparameterisation: d E[x_0] / d c_j = (delta_0j S - c_0) / S^2.
  mean[0].backward();
  const auto g = c.grad();
  const double expect[3] = {(S - 0.7) / (S * S), -0.7 / (S * S), -0.7 / (S * S)};
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(g[j].item<double>(), expect[j], 0.1 * std::abs(expect[j]) + 2e-3) << j;
}
