// Token embedding and masks, the flow-matching loss on a hand-checkable case, the sampler on known
// predictors, DiT adaLN-Zero start.
#include <gtest/gtest.h>

#include "adit_test_util.h"
#include "atomscope/adit/dataset.h"
#include "atomscope/adit/model.h"

namespace atomscope::adit_test {

using namespace atomscope::adit;

namespace {
Records qm9Records(std::size_t n) {
  static const auto dir = [] {
    const auto d = test::freshTempDir("adit-model-data");
    PrepareOptions o;
    o.limit = 20;
    prepareDataset({{qm9Xyz().string(), "molecule"}}, d, o);
    return d;
  }();
  auto r = loadDataset(dir);
  (void)n;
  return r;
}
}  // namespace

TEST(AditModel, PaddingDoesNotChangeRealAtoms) {
  torch::manual_seed(3);
  const auto r = qm9Records(20);
  // Record 1 alone and in a batch with a larger record: its latent means must agree (mask works).
  std::int64_t big = 0;
  for (std::int64_t i = 0; i < r.size(); ++i)
    if (r.atomsOf(i) > r.atomsOf(big)) big = i;
  std::int64_t small = big == 0 ? 1 : 0;
  for (std::int64_t i = 0; i < r.size(); ++i)
    if (r.atomsOf(i) < r.atomsOf(small)) small = i;
  ASSERT_LT(r.atomsOf(small), r.atomsOf(big));
  Vae vae(VaeConfig::preset("tiny"));
  vae->eval();
  torch::NoGradGuard g;
  auto alone = vae->encode(makeBatch(r, {small})).first[0];
  auto padded = vae->encode(makeBatch(r, {small, big})).first[0];
  const auto n = r.atomsOf(small);
  EXPECT_TRUE(torch::allclose(alone, padded.slice(0, 0, n), 1e-5, 1e-5));
  EXPECT_EQ(padded.slice(0, n).abs().sum().item<float>(), 0.f);  // padding latents are zero
  // Token embedding: the same atom at a different index differs only by the index embedding.
  TokenEmbedding emb(16);
  auto b = makeBatch(r, {small});
  auto t = emb->forward(b);
  auto expected = emb->atom->forward(b.numbers) + emb->posMlp->forward(b.positions) +
                  emb->fracMlp->forward(b.fractional) + sinusoidal(torch::arange(n), 16).unsqueeze(0);
  EXPECT_TRUE(torch::allclose(t, expected, 1e-6, 1e-6));
}

TEST(AditModel, SinusoidalFeatures) {
  // index 0 -> cos 0 = 1 on the first half, sin 0 = 0 on the second (the transformer convention)
  auto s = sinusoidal(torch::tensor({0.0f, 1.0f}), 4);
  EXPECT_FLOAT_EQ(s[0][0].item<float>(), 1.f);
  EXPECT_FLOAT_EQ(s[0][2].item<float>(), 0.f);
  // frequencies exp(-ln(1e4) k / 2) = 1, 0.01 at position 1: cos 1, cos 0.01, sin 1, sin 0.01
  EXPECT_NEAR(s[1][0].item<float>(), std::cos(1.0), 1e-6);
  EXPECT_NEAR(s[1][1].item<float>(), std::cos(0.01), 1e-6);
  EXPECT_NEAR(s[1][3].item<float>(), std::sin(0.01), 1e-6);
}

TEST(AditModel, FlowMatchingLossByHand) {
  // Two structures, latent 2. Structure 0: 1 real atom of 2, error (1, 1) -> MSE 1, t = 0.5, weight
  // 1 / 0.5^2 = 4 -> 4. Structure 1: 2 atoms, errors (2, 0) and (0, 0) -> MSE 4/4 = 1; t = 0.95,
  // clamped to 0.9, weight 1/0.01 = 100 -> 100. Mean = 52.
  auto x1 = torch::zeros({2, 2, 2});
  auto pred = torch::zeros({2, 2, 2});
  pred[0][0] = torch::tensor({1.f, 1.f});
  pred[0][1] = torch::tensor({9.f, 9.f});  // padding: ignored
  pred[1][0] = torch::tensor({2.f, 0.f});
  auto mask = torch::tensor({1, 0, 1, 1}, torch::kBool).view({2, 2});
  auto loss = flowMatchingLoss(pred, x1, torch::tensor({0.5f, 0.95f}), mask);
  EXPECT_NEAR(loss.item<float>(), 52.f, 1e-3);
}

TEST(AditModel, EulerAndHeunReachAFixedTarget) {
  // A predictor that always returns x1: dx/dt = (x1 - x) / (1 - t) has the straight line as its
  // solution, and the last Euler step (dt = 1 - t) lands on x1 exactly.
  auto mask = torch::tensor({1, 1, 0}, torch::kBool).view({1, 3});
  auto target = torch::tensor({1.f, -2.f, 3.f, 0.5f, 0.f, 7.f}).view({1, 3, 2}) * mask.unsqueeze(-1);
  auto x0 = torch::randn({1, 3, 2}) * mask.unsqueeze(-1);
  int calls = 0;
  X1Predictor fixed = [&](const torch::Tensor&, double, const torch::Tensor&) {
    ++calls;
    return target;
  };
  for (bool heun : {false, true}) {
    calls = 0;
    auto x = sampleFlow(fixed, x0, {7, heun}, mask);
    EXPECT_TRUE(torch::allclose(x, target, 1e-5, 1e-5)) << (heun ? "heun" : "euler");
    EXPECT_EQ(calls, heun ? 13 : 7);  // Heun: two calls per step but the last
  }
  // With the fixed predictor every step stays on the straight path x(t) = (1 - t) x0 + t x1.
  std::vector<double> seen;
  X1Predictor record = [&](const torch::Tensor& x, double t, const torch::Tensor&) {
    seen.push_back(t);
    EXPECT_TRUE(torch::allclose(x, (1 - t) * x0 + t * target, 1e-5, 1e-5)) << "t = " << t;
    return target;
  };
  sampleFlow(record, x0, {4, false}, mask);
  EXPECT_EQ(seen, (std::vector<double>{0.0, 0.25, 0.5, 0.75}));
}

TEST(AditModel, DitStartsAtZeroAndCentredNoiseIsCentred) {
  torch::manual_seed(1);
  Dit dit(DitConfig::preset("tiny"));
  auto mask = torch::tensor({1, 1, 1, 0}, torch::kBool).view({1, 4});
  auto gen = at::detail::createCPUGenerator(5);
  auto x = centredNoise({1, 4, 8}, mask, &gen);
  EXPECT_NEAR(x[0].slice(0, 0, 3).sum(0).abs().max().item<float>(), 0.f, 1e-5);
  EXPECT_EQ(x[0][3].abs().sum().item<float>(), 0.f);
  DitCondition c{torch::tensor({0}, torch::kInt64), torch::tensor({0}, torch::kInt64), torch::tensor({3}, torch::kInt64)};
  // adaLN-Zero and a zero output layer: the untrained DiT predicts zeros.
  auto y = dit->forward(x, torch::tensor({0.3f}), c, mask, torch::zeros_like(x));
  EXPECT_EQ(y.abs().sum().item<float>(), 0.f);
}

// Composition conditioning: element counts (new DiTs) or fractions (files before composition_input) of the real
// atoms; a zero-initialised projection, so a new conditioned DiT predicts what it would without a composition until
// training moves it; the config keeps the switch and files without the key read as unconditioned.
TEST(AditModel, CompositionCountsFractionsAndAZeroStart) {
  const auto numbers = torch::tensor({6, 1, 1, 0, 8, 8, 0, 0}, torch::kInt64).view({2, 4});
  const auto mask = numbers > 0;
  const auto n = compositionCounts(numbers, mask);  // the counts a new DiT reads: one atom is a step of 1
  auto cfg = DitConfig::preset("tiny");
  cfg.compositionCondition = true;
  auto fractionsCfg = cfg;
  fractionsCfg.compositionInput = "fractions";
  const auto f = compositionVector(fractionsCfg, n, mask.sum(1));
  ASSERT_EQ(f.sizes(), (std::vector<std::int64_t>{2, kCompositionElements}));
  EXPECT_NEAR(f[0][5].item<float>(), 1.0f / 3, 1e-6);  // C
  EXPECT_NEAR(f[0][0].item<float>(), 2.0f / 3, 1e-6);  // H
  EXPECT_NEAR(f[1][7].item<float>(), 1.0f, 1e-6);      // O
  EXPECT_NEAR(f.sum().item<float>(), 2.0f, 1e-6);
  EXPECT_EQ(n[0][5].item<float>(), 1.0f);
  EXPECT_EQ(n[0][0].item<float>(), 2.0f);
  EXPECT_EQ(n[1][7].item<float>(), 2.0f);
  EXPECT_EQ(n.sum().item<float>(), 5.0f);

  torch::manual_seed(2);
  EXPECT_TRUE(DitConfig::fromJson(cfg.toJson()).compositionCondition);
  EXPECT_EQ(cfg.compositionInput, "counts");
  EXPECT_TRUE(torch::equal(compositionVector(cfg, n, mask.sum(1)), n));
  auto j = cfg.toJson();
  EXPECT_EQ(DitConfig::fromJson(j).compositionInput, "counts");
  j.erase("composition_input");  // a file from before the key: fractions, as it was trained
  EXPECT_EQ(DitConfig::fromJson(j).compositionInput, "fractions");
  EXPECT_TRUE(torch::equal(compositionVector(DitConfig::fromJson(j), n, mask.sum(1)), f));
  j["composition_input"] = "percent";
  EXPECT_THROW(DitConfig::fromJson(j), AditError);
  j.erase("composition_condition");
  j.erase("composition_input");
  EXPECT_FALSE(DitConfig::fromJson(j).compositionCondition);
  Dit dit(cfg);
  {
    torch::NoGradGuard g;
    dit->out->weight.normal_(0, 0.1);                // a non-zero prediction to compare,
    dit->finalModulation->weight.normal_(0, 0.1);    // and one the conditioning reaches (adaLN-Zero starts at zero)
  }
  auto gen = at::detail::createCPUGenerator(3);
  const auto x = centredNoise({2, 4, cfg.latent}, mask, &gen);
  DitCondition plain{torch::tensor({0, 0}, torch::kInt64), torch::tensor({0, 0}, torch::kInt64),
                     torch::tensor({3, 2}, torch::kInt64)};
  auto withComposition = plain;
  withComposition.composition = f;
  const auto t = torch::tensor({0.4f, 0.6f});
  const auto a = dit->forward(x, t, plain, mask, torch::zeros_like(x));
  const auto b = dit->forward(x, t, withComposition, mask, torch::zeros_like(x));
  EXPECT_GT(a.abs().sum().item<float>(), 0.f);
  EXPECT_TRUE(torch::equal(a, b));
  {
    torch::NoGradGuard g;
    dit->compositionProj->weight.normal_(0, 0.1);
  }
  const auto c = dit->forward(x, t, withComposition, mask, torch::zeros_like(x));
  EXPECT_GT((c - a).abs().max().item<float>(), 1e-4);
}

// Composition-constrained decoding (adit.sample's enforce_composition), by hand: two molecules of three atoms whose
// argmax types are C, C, C. Asked for C2O, the atom with the largest O-over-C log-odds becomes O (here atom 1, not
// atom 0, whose O probability is higher in absolute terms but whose C probability is higher still); asked for CH2
// with H unlikely everywhere, two atoms still become H: the composition is exact. A composition of the wrong size,
// or none, leaves the argmax types.
TEST(AditModel, DecodingToAnAskedCompositionIsTheLikeliestAssignment) {
  VaeOutput out;
  auto logits = torch::full({3, 3, kMaxZ + 1}, -20.0, torch::kFloat32);
  auto set = [&](int b, int a, int z, float v) { logits[b][a][z] = v; };
  for (int b = 0; b < 3; ++b)
    for (int a = 0; a < 3; ++a) set(b, a, 6, 5.0f);  // carbon likeliest everywhere
  set(0, 0, 6, 9.0f);
  set(0, 0, 8, 4.0f);  // atom 0: log-odds O - C = -5
  set(0, 1, 8, 3.0f);  // atom 1: -2, the best place for the O
  set(0, 2, 8, 1.0f);  // atom 2: -4
  out.atomLogits = logits;
  out.positions = torch::randn({3, 3, 3});
  out.fractional = torch::zeros({3, 3, 3});
  out.lattice = torch::zeros({3, 6});
  const auto mask = torch::ones({3, 3}, torch::kBool);
  const auto kind = torch::zeros({3}, torch::kInt64);
  const std::vector<std::map<int, int>> asked{{{6, 2}, {8, 1}}, {{6, 1}, {1, 2}}, {{6, 4}}};
  const auto free = decodeToStructures(out, mask, kind);
  const auto fixed = decodeToStructures(out, mask, kind, &asked);
  ASSERT_EQ(fixed.size(), 3u);
  for (const auto& s : free) EXPECT_EQ(s.numbers, (std::vector<int>{6, 6, 6}));
  EXPECT_EQ(fixed[0].numbers, (std::vector<int>{6, 8, 6}));
  EXPECT_EQ(fixed[0].info.value("retyped_atoms", -1), 1);
  EXPECT_EQ(fixed[1].formula(), "CH2");
  EXPECT_EQ(fixed[1].info.value("retyped_atoms", -1), 2);
  EXPECT_EQ(fixed[2].numbers, (std::vector<int>{6, 6, 6}));  // C4 for three atoms: not applied
  EXPECT_FALSE(fixed[2].info.contains("retyped_atoms"));
  for (int b = 0; b < 3; ++b) EXPECT_EQ(fixed[b].positions, free[b].positions);
}

TEST(AditModel, ConfigsAndBadSizes) {
  const auto s = DitConfig::preset("S");
  EXPECT_EQ(s.width, 384);  // the paper's DiT-S: width 384, 12 blocks, 6 heads (issue 7)
  EXPECT_EQ(s.layers, 12);
  EXPECT_EQ(s.heads, 6);
  EXPECT_EQ(DitConfig::preset("L").layers, 24);
  EXPECT_THROW(VaeConfig::preset("XL"), AditError);
  EXPECT_THROW(VaeConfig::fromJson(Json{{"width", 30}, {"heads", 4}}), AditError);
  EXPECT_EQ(VaeConfig::fromJson(VaeConfig::preset("tiny").toJson()).width, 64);
}

}  // namespace atomscope::adit_test
