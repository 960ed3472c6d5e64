// Per-matrix baselines (truncated SVD, SVD-LLM) and the Cholesky whitening they share with the
// MASA refinement, on stories260K's real attention layers and calibration inputs.
#include <gtest/gtest.h>

#include "atomscope/masa/compress.h"
#include "atomscope/masa/svd_baselines.h"
#include "masa_test_util.h"

using namespace atomscope;
using namespace atomscope::masa;
namespace fs = std::filesystem;

namespace {

torch::Tensor layerWeight(lm::CausalLMImpl& m, const std::string& name) {
  for (const auto& [n, p] : lm::attentionProjections(m))
    if (n == name) return std::dynamic_pointer_cast<lm::LinearProjectionImpl>(p)->weight.detach().clone();
  ADD_FAILURE() << "no projection " << name;
  return {};
}

}  // namespace

// Source: numpy.linalg.svd truncated to rank r (tools/numpy_reference.py), Eckart-Young.
TEST(SvdBaselines, TruncatedSvdMatchesNumpy) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("numpy");
  atomscope::test::ScopedTempDir dir("masa_svd");
  auto loaded = lm::loadModel(masa_test::storiesModel());
  auto W = layerWeight(*loaded.model, "layers.2.self_attn.o_proj");
  core::saveNpy(dir / "w.npy", W);
  ASSERT_TRUE(masa_test::numpyReference("truncated " + (dir / "w.npy").string() + " 20 " + (dir / "ref.npy").string()));
  auto ref = core::loadNpy(dir / "ref.npy").to(torch::kFloat64);
  auto f = truncatedSvd(W, 20);
  EXPECT_EQ(f.rank(), 20);
  EXPECT_EQ(f.parameterCount(), 20 * (64 + 64));
  EXPECT_LT((f.product().to(torch::kFloat64) - ref).abs().max().item<double>(), 1e-5);
}

// Sources: the whitening identity R R^T = X^T X (Cholesky), and SVD-LLM's point: with it the
// output error over the calibration inputs, tr((W - W') X^T X (W - W')^T), equals ||(W - W') R||_F^2;
// numpy's SVD-LLM on the same X^T X (tools/numpy_reference.py); and SVD-LLM's output error is at
// most plain truncated SVD's (it minimises exactly that).
TEST(SvdBaselines, SvdLlmWhiteningIdentityOnARealLayer) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("numpy");
  atomscope::test::ScopedTempDir dir("masa_svdllm");
  auto cm = masa_test::calibratedStories(4096);
  const auto& st = cm.recorder->get(3, "q");
  EXPECT_EQ(st.tokens, 4096);  // every calibration token passes every projection once
  auto xtx = st.autocorrelation;
  auto wh = choleskyWhitening(xtx);
  EXPECT_EQ(wh.ridge, 0.0);  // 4096 tokens in 64 dimensions: positive definite
  auto R = wh.factor;
  EXPECT_LT((torch::matmul(R, R.t()) - xtx).abs().max().item<double>() / xtx.abs().max().item<double>(), 1e-10);
  auto W = layerWeight(*cm.loaded.model, "layers.3.self_attn.q_proj").to(torch::kFloat64);
  auto llm = whitenedSvd(W, R, 12);
  auto plain = truncatedSvd(W, 12);
  auto outErr = [&](const torch::Tensor& Wp) {
    auto E = W - Wp.to(torch::kFloat64);
    return torch::trace(torch::matmul(torch::matmul(E, xtx), E.t())).item<double>();
  };
  auto E = W - llm.product().to(torch::kFloat64);
  EXPECT_NEAR(outErr(llm.product()), torch::matmul(E, R).pow(2).sum().item<double>(), 1e-6 * outErr(llm.product()));
  EXPECT_LT(outErr(llm.product()), outErr(plain.product()));
  core::saveNpy(dir / "w.npy", W);
  core::saveNpy(dir / "xtx.npy", xtx);
  ASSERT_TRUE(masa_test::numpyReference("whitened " + (dir / "w.npy").string() + " " + (dir / "xtx.npy").string() + " 12 " +
                                   (dir / "ref.npy").string()));
  auto ref = core::loadNpy(dir / "ref.npy").to(torch::kFloat64);
  EXPECT_LT((llm.product().to(torch::kFloat64) - ref).abs().max().item<double>() / ref.abs().max().item<double>(), 1e-4);
}

// Source: a rank-3 autocorrelation in 8 dimensions is singular, so plain Cholesky must fail and a
// ridge is needed; the factor then reproduces A + ridge I.
TEST(SvdBaselines, SingularAutocorrelationGetsARidge) {
  torch::manual_seed(1);
  auto X = torch::randn({3, 8}, torch::kFloat64);
  auto A = torch::matmul(X.t(), X);
  auto wh = choleskyWhitening(A);
  EXPECT_GT(wh.ridge, 0.0);
  EXPECT_LT((torch::matmul(wh.factor, wh.factor.t()) - A - wh.ridge * torch::eye(8, A.options())).abs().max().item<double>(), 1e-9);
}

TEST(SvdBaselines, BadRanksThrow) {
  auto W = torch::randn({6, 4});
  EXPECT_THROW(truncatedSvd(W, 5), lm::LmError);
  EXPECT_THROW(truncatedSvd(W, -1), lm::LmError);
  EXPECT_THROW(whitenedSvd(W, torch::eye(3), 2), lm::LmError);
}
