// Matrix PCA (MASA's training-free dictionary): synthetic sets of known structure and the real
// stories260K attention weights, against numpy's SVD of the stacked matrices.
#include <gtest/gtest.h>

#include <cmath>

#include "atomscope/masa/matrix_pca.h"
#include "masa_test_util.h"

using namespace atomscope;
using namespace atomscope::masa;
namespace fs = std::filesystem;

namespace {

// L matrices [out, in] spanned by `rank` random base matrices with random coefficients.
std::vector<torch::Tensor> lowRankSet(std::int64_t L, std::int64_t rank, std::int64_t out, std::int64_t in) {
  torch::manual_seed(7);
  auto base = torch::randn({rank, out, in}, torch::kFloat64);
  auto coef = torch::randn({L, rank}, torch::kFloat64);
  std::vector<torch::Tensor> ws;
  for (std::int64_t l = 0; l < L; ++l) ws.push_back(torch::tensordot(coef[l], base, {0}, {0}).to(torch::kFloat32));
  return ws;
}

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

std::vector<torch::Tensor> storiesWeights(const std::string& role) {
  auto loaded = lm::loadModel(masa_test::storiesModel());
  std::vector<torch::Tensor> ws;
  for (const auto& [name, p] : lm::attentionProjections(*loaded.model))
    if (name.find("." + role + "_proj") != std::string::npos)
      ws.push_back(std::dynamic_pointer_cast<lm::LinearProjectionImpl>(p)->weight.detach().clone());
  return ws;
}

}  // namespace

// Source: a set spanned by r <= S matrices lies in an S-dimensional subspace, so the top-S
// principal directions reproduce it exactly (up to float32 rounding of atoms and coefficients).
TEST(MatrixPca, RecoversASetOfRankAtMostS) {
  for (std::int64_t rank : {1, 3}) {
    auto ws = lowRankSet(8, rank, 24, 16);
    auto r = matrixPca(ws, iota(8), 3, "q");
    ASSERT_EQ(r.dictionary.numAtoms(), 3);
    for (double e : r.relativeError) EXPECT_LT(e, 1e-5) << "rank " << rank;
    EXPECT_NEAR(r.energyKept(), 1.0, 1e-9);
    // rank < S: the surplus directions carry no energy.
    for (std::size_t s = static_cast<std::size_t>(rank); s < r.energy.size(); ++s) EXPECT_LT(r.energy[s], 1e-12);
  }
  // Rank 4 > S = 3: the error must be real (the test can fail the other way too).
  auto r = matrixPca(lowRankSet(8, 4, 24, 16), iota(8), 3, "q");
  double worst = 0;
  for (double e : r.relativeError) worst = std::max(worst, e);
  EXPECT_GT(worst, 1e-3);
}

// Source: the atoms are defined orthonormal in the Frobenius inner product (D_s = sum_l v_ls W_l / sqrt(lambda_s)).
TEST(MatrixPca, AtomsAreOrthonormalOnStories260K) {
  for (const std::string role : {"q", "k", "v", "o"}) {
    auto ws = storiesWeights(role);
    ASSERT_EQ(ws.size(), 5u);  // stories260K: 5 layers (llama2.c header)
    auto r = matrixPca(ws, iota(5), 4, role);
    auto A = r.dictionary.atoms.reshape({4, -1}).to(torch::kFloat64);
    auto G = torch::matmul(A, A.t());
    EXPECT_LT((G - torch::eye(4, G.options())).abs().max().item<double>(), 1e-5) << role;
  }
}

// Sources: numpy.linalg.svd of the stacked, flattened weights (tools/numpy_reference.py): the
// energies are its squared singular values normalised; with S = L they sum to 1; and by
// Eckart-Young the weight error left equals the discarded energy:
// sum_l ||W_l - W^_l||^2 / sum_l ||W_l||^2 = 1 - energy kept.
TEST(MatrixPca, EnergiesMatchNumpyOnStories260K) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("numpy");
  atomscope::test::ScopedTempDir dir("masa_pca");
  auto ws = storiesWeights("q");
  core::saveNpy(dir / "w.npy", torch::stack(ws));
  ASSERT_TRUE(masa_test::numpyReference("stacked_svd " + (dir / "w.npy").string() + " " + (dir / "s2.npy").string()));
  auto s2 = core::loadNpy(dir / "s2.npy").to(torch::kFloat64);
  const double total = s2.sum().item<double>();
  auto full = matrixPca(ws, iota(5), 5, "q");
  double sum = 0;
  for (std::size_t s = 0; s < 5; ++s) {
    EXPECT_NEAR(full.energy[s], s2[static_cast<std::int64_t>(s)].item<double>() / total, 1e-9) << "direction " << s;
    sum += full.energy[s];
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
  for (double e : full.relativeError) EXPECT_LT(e, 1e-5);
  for (std::int64_t S : {1, 2, 3}) {
    auto r = matrixPca(ws, iota(5), S, "q");
    double err2 = 0, norm2 = 0;
    for (std::size_t l = 0; l < 5; ++l) {
      const double n = ws[l].to(torch::kFloat64).norm().item<double>();
      err2 += std::pow(r.relativeError[l] * n, 2);
      norm2 += n * n;
    }
    EXPECT_NEAR(err2 / norm2, 1.0 - r.energyKept(), 1e-6) << "S = " << S;
  }
}

// Source: the definition of the metric variant; with R = identity it must equal plain matrix PCA,
// and with a general R its weighted error must not exceed plain PCA's weighted error.
TEST(MatrixPca, MetricVariantMinimisesTheWeightedError) {
  auto ws = storiesWeights("k");
  auto plain = matrixPca(ws, iota(5), 2, "k");
  auto same = matrixPcaWithMetric(ws, iota(5), 2, "k", torch::eye(64, torch::kFloat64));
  for (std::size_t l = 0; l < 5; ++l) EXPECT_NEAR(same.relativeError[l], plain.relativeError[l], 1e-5);
  torch::manual_seed(3);
  auto R = torch::eye(64, torch::kFloat64) + 0.3 * torch::randn({64, 64}, torch::kFloat64).tril();
  auto metric = matrixPcaWithMetric(ws, iota(5), 2, "k", R);
  auto weighted = [&](const MatrixDictionary& d) {
    double e = 0;
    for (std::size_t l = 0; l < 5; ++l)
      e += torch::matmul(ws[l].to(torch::kFloat64) - d.weight(l).to(torch::kFloat64), R).pow(2).sum().item<double>();
    return e;
  };
  EXPECT_LE(weighted(metric.dictionary), weighted(plain.dictionary) * (1 + 1e-6));
}

// Source: hand-worked cuts: distances [0.1, 5, 0.2, 3] with 3 groups cut after positions 1 and 3.
TEST(MatrixPca, GroupsCutAtTheLargestDistances) {
  auto g = groupConsecutive({0.1, 5.0, 0.2, 3.0}, 3);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0], (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(g[1], (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(g[2], (std::vector<std::int64_t>{4}));
  EXPECT_EQ(groupConsecutive({1.0, 2.0}, 1).size(), 1u);
  EXPECT_EQ(groupConsecutive({1.0, 2.0}, 9).size(), 3u);
}

TEST(MatrixPca, BadInputsThrowNamingTheProblem) {
  auto ws = lowRankSet(4, 2, 6, 5);
  auto expectError = [](auto f, const std::string& part) {
    try {
      f();
      FAIL() << "no error; expected one mentioning '" << part << "'";
    } catch (const lm::LmError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expectError([&] { matrixPca(ws, iota(4), 0, "q"); }, "atoms must be between 1 and the 4 layers");
  expectError([&] { matrixPca(ws, iota(4), 5, "q"); }, "atoms must be between 1 and the 4 layers");
  expectError([&] { matrixPca(ws, iota(3), 2, "q"); }, "3 layer indices");
  auto bad = ws;
  bad[2] = torch::zeros({6, 4});
  expectError([&] { matrixPca(bad, iota(4), 2, "v"); }, "layer 2");
  expectError([&] { matrixPcaWithMetric(ws, iota(4), 2, "q", torch::eye(3)); }, "metric factor must be [5, 5]");
}
