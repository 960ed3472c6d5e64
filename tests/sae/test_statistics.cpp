// Whitening, the atomic inner product, coherence, active-set coherence, RIP and q* against numpy
// (tests/sae/tools/sae_reference.py) on small fixed matrices.
#include <gtest/gtest.h>

#include "atomscope/core/tensor_io.h"
#include "atomscope/sae/analysis.h"
#include "atomscope/sae/statistics.h"
#include "sae_test_util.h"

namespace atomscope::sae_test {

namespace {

torch::Tensor fromJson(const Json& j) {
  std::vector<double> flat;
  std::int64_t rows = j.size(), cols = j[0].is_array() ? j[0].size() : 1;
  for (const auto& r : j)
    if (r.is_array())
      for (const auto& v : r) flat.push_back(v.get<double>());
    else
      flat.push_back(r.get<double>());
  return torch::tensor(flat, torch::kFloat64).reshape(j[0].is_array() ? std::vector<std::int64_t>{rows, cols}
                                                                       : std::vector<std::int64_t>{rows});
}

// Correlated activations (a random mixing of independent scales), atoms, and sparse active sets
// with 0 to 6 atoms per row.
struct Fixture {
  torch::Tensor X, D, active;
};
Fixture makeFixture() {
  torch::manual_seed(7);
  const std::int64_t N = 400, d = 6, n = 14;
  Fixture f;
  auto mix = torch::randn({d, d}, torch::kFloat64) + 2 * torch::eye(d, torch::kFloat64);
  f.X = torch::matmul(torch::randn({N, d}, torch::kFloat64) * torch::linspace(0.3, 3.0, d, torch::kFloat64), mix) + 0.5;
  f.D = torch::randn({n, d}, torch::kFloat64);
  auto K = torch::randint(0, 7, {N}, torch::kLong);
  f.active = torch::zeros({N, n}, torch::kBool);
  for (std::int64_t i = 0; i < N; ++i) {
    auto perm = torch::randperm(n, torch::kLong).narrow(0, 0, K[i].item<std::int64_t>());
    f.active[i].index_fill_(0, perm, true);
  }
  return f;
}

}  // namespace

TEST(SaeStatistics, GeometryMatchesNumpy) {
  test::ScopedTempDir dir("sae_geom");
  const auto f = makeFixture();
  core::saveNpy(dir / "X.npy", f.X);
  core::saveNpy(dir / "D.npy", f.D);
  core::saveNpy(dir / "active.npy", f.active.to(torch::kUInt8));
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("numpy");
  ASSERT_TRUE(numpyReference("geometry " + dir.path().string()));
  const auto ref = readJson(dir / "ref.json");

  // Whitening and S: numpy's eigh on E[x x^T] (reference), ours through torch.
  const auto m = momentsOf(f.X);
  EXPECT_TRUE(torch::allclose(m.secondMoment, fromJson(ref["C"]), 1e-10, 1e-12));
  const auto w = whiteningFromSecondMoment(m.secondMoment);
  EXPECT_TRUE(torch::allclose(w.S, fromJson(ref["S"]), 1e-8, 1e-10));
  EXPECT_TRUE(torch::allclose(w.W, fromJson(ref["W"]), 1e-8, 1e-10));
  // Whitened activations have identity second moment (definition of the whitening).
  auto xw = torch::matmul(f.X, w.W);
  EXPECT_TRUE(torch::allclose(torch::matmul(xw.t(), xw) / f.X.size(0), torch::eye(6, torch::kFloat64), 1e-8, 1e-9));
  EXPECT_TRUE(torch::allclose(torch::matmul(w.W, w.Winv), torch::eye(6, torch::kFloat64), 1e-8, 1e-9));

  for (const char* geom : {"aip", "euclidean"}) {
    SCOPED_TRACE(geom);
    const bool aip = std::string(geom) == "aip";
    const auto G = cosineGram(f.D, aip ? w.S : torch::Tensor());
    const auto& r = ref[geom];
    EXPECT_TRUE(torch::allclose(G, fromJson(r["gram"]), 1e-8, 1e-10));
    EXPECT_NEAR(coherence(G), r["coherence"].get<double>(), 1e-9);
    const auto st = activeSetStats(f.active, G.abs());
    EXPECT_TRUE(torch::equal(st.K, fromJson(r["K"]).to(torch::kLong)));
    EXPECT_TRUE(torch::allclose(st.muActive, fromJson(r["mu_active"]), 1e-9, 1e-12));
    RecoveryStats rs(coherence(G));
    rs.add(st);
    const auto j = rs.toJson();
    EXPECT_DOUBLE_EQ(j["q_star"].get<double>(), r["q_star"].get<double>());
    EXPECT_DOUBLE_EQ(j["rip_fraction"].get<double>(), r["rip_fraction"].get<double>());
    // The breakdown by K adds up to the total.
    std::int64_t count = 0;
    double unique = 0;
    for (const auto& b : j["by_k"]) {
      count += b["count"].get<std::int64_t>();
      unique += b["q_star"].get<double>() * b["count"].get<double>();
    }
    EXPECT_EQ(count, f.X.size(0));
    EXPECT_NEAR(unique / static_cast<double>(count), r["q_star"].get<double>(), 1e-12);
  }
}

// AIP of two vectors equals the cosine of their whitened images (the paper's equivalence).
TEST(SaeStatistics, AipIsEuclideanAfterWhitening) {
  const auto f = makeFixture();
  const auto w = whiteningFromSecondMoment(momentsOf(f.X).secondMoment);
  const auto G = cosineGram(f.D, w.S);
  const auto Gw = cosineGram(torch::matmul(f.D, w.Winv));  // atoms d map to d W^-1 ... rows: u^T S v = (u W)(v W)^T
  const auto Gw2 = cosineGram(torch::matmul(f.D, w.W));
  EXPECT_TRUE(torch::allclose(G, Gw2, 1e-9, 1e-10));
  EXPECT_FALSE(torch::allclose(G, Gw, 1e-3, 1e-3));  // the wrong map gives another geometry
}

TEST(SaeStatistics, NeuronsMatchNumpy) {
  test::ScopedTempDir dir("sae_neurons");
  const auto f = makeFixture();
  core::saveNpy(dir / "X.npy", f.X);
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("numpy");
  ASSERT_TRUE(numpyReference("neurons " + dir.path().string() + " 2"));
  const auto ref = readJson(dir / "neurons.json");
  const auto S = whiteningFromSecondMoment(momentsOf(f.X).secondMoment).S;
  const auto r = analyzeNeuronsOnTensor(f.X, 2, S);
  EXPECT_NEAR(r["r2"].get<double>(), ref["r2"].get<double>(), 1e-5);  // float32 reconstruction
  EXPECT_DOUBLE_EQ(r["aip"]["q_star"].get<double>(), ref["q_star_aip"].get<double>());
  EXPECT_DOUBLE_EQ(r["aip"]["rip_fraction"].get<double>(), ref["rip_aip"].get<double>());
  // Neurons are orthonormal in the Euclidean geometry: coherence 0, every code unique.
  EXPECT_EQ(r["euclidean"]["coherence"].get<double>(), 0.0);
  EXPECT_EQ(r["euclidean"]["q_star"].get<double>(), 1.0);
}

// Hand-checkable: three atoms with pairwise |cos| 0, 0.2, 0.5 (Euclidean).
TEST(SaeStatistics, QStarByHand) {
  auto D = torch::tensor({1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.2, std::sqrt(1 - 0.25 - 0.04)}, torch::kFloat64).view({3, 3});
  auto G = cosineGram(D);
  EXPECT_NEAR(coherence(G), 0.5, 1e-12);
  // Rows: {0,1} mu 0 -> unique; {0,2} mu 0.5 -> 0.5 < 1/3 false; {1,2} mu 0.2 -> 0.2 < 1/3 true;
  // {0,1,2} mu 0.5, K 3 -> 0.5 < 1/5 false, RIP 2*0.5 < 1 false; {} and {2} trivially unique.
  auto active = torch::tensor({1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1}, torch::kBool).view({6, 3});
  RecoveryStats rs(coherence(G));
  rs.add(activeSetStats(active, G.abs()));
  const auto j = rs.toJson();
  EXPECT_NEAR(j["q_star"].get<double>(), 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(j["rip_fraction"].get<double>(), 5.0 / 6.0, 1e-12);  // (K-1) mu < 1 fails only for {0,1,2}
  EXPECT_NEAR(j["mean_l0"].get<double>(), 10.0 / 6.0, 1e-12);
}

}  // namespace atomscope::sae_test
