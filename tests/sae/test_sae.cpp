// The threshold SAE's straight-through estimators on a hand-checkable case, SAELens files both
// ways, and clear errors for bad SAE folders.
#include <gtest/gtest.h>

#include "atomscope/core/tensor_io.h"
#include "atomscope/sae/sae.h"
#include "sae_test_util.h"

namespace atomscope::sae_test {

// Jumping Ahead (Rajamanoharan et al. 2024), eqs. 11-12 with the rectangle kernel: values worked by hand.
TEST(SaeSte, JumpReluAndStepGradientsByHand) {
  const double eps = 0.1;  // kernel is 1 where |pre - theta| < 0.05
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto pre = torch::tensor({0.5, 1.0, 0.2, 0.62, -1.0, 0.3}, opts).view({2, 3}).requires_grad_(true);
  auto theta = torch::tensor({0.6, 0.6, 0.26}, opts).requires_grad_(true);
  auto z = jumpRelu(pre, theta, eps);
  // Forward: pre where pre > theta.
  EXPECT_TRUE(torch::equal(z.detach(), torch::tensor({0.0, 1.0, 0.0, 0.62, 0.0, 0.3}, opts).view({2, 3})));
  z.sum().backward();
  // d/dpre = H(pre - theta); d/dtheta_j = sum over rows of -(theta_j / eps) K((pre - theta_j) / eps):
  // latent 0: only 0.62 lies within 0.05 of 0.6 -> -6; latent 1: none -> 0; latent 2: 0.3 within 0.05 of 0.26 -> -2.6.
  EXPECT_TRUE(torch::equal(pre.grad(), torch::tensor({0.0, 1.0, 0.0, 1.0, 0.0, 1.0}, opts).view({2, 3})));
  EXPECT_TRUE(torch::allclose(theta.grad(), torch::tensor({-6.0, 0.0, -2.6}, opts), 0, 1e-12));

  auto pre2 = pre.detach().clone().requires_grad_(true);
  auto theta2 = theta.detach().clone().requires_grad_(true);
  auto h = heavisideStep(pre2, theta2, eps);
  EXPECT_TRUE(torch::equal(h.detach(), torch::tensor({0.0, 1.0, 0.0, 1.0, 0.0, 1.0}, opts).view({2, 3})));
  (h * torch::tensor({1.0, 1.0, 1.0, 2.0, 1.0, 3.0}, opts).view({2, 3})).sum().backward();
  // d/dpre = 0; d/dtheta_j = -(1 / eps) K(...) * upstream: latent 0: -(10) * 2; latent 2: -(10) * 3.
  EXPECT_TRUE(torch::equal(pre2.grad(), torch::zeros({2, 3}, opts)));
  EXPECT_TRUE(torch::allclose(theta2.grad(), torch::tensor({-20.0, 0.0, -30.0}, opts), 0, 1e-12));
}

namespace {

Sae randomSae(SaeKind kind, std::int64_t d, std::int64_t n, bool transform) {
  torch::manual_seed(3);
  auto sae = Sae(kind, d, n);
  sae->initialise(0.05);
  torch::NoGradGuard g;
  sae->b_enc.copy_(torch::randn({n}) * 0.1);
  sae->b_dec.copy_(torch::randn({d}) * 0.3);
  if (kind == SaeKind::JumpRelu) sae->logThreshold.copy_((torch::rand({n}) * 0.3 + 0.05).log());
  if (transform) {  // a symmetric positive definite A and its inverse
    auto M = torch::randn({d, d}, torch::kFloat64);
    auto A = torch::matmul(M, M.t()) / d + torch::eye(d, torch::kFloat64);
    sae->setInputTransform(A, torch::linalg_inv(A));
    sae->setWhitened(true);
  }
  sae->info = Json{{"site", "resid_post.2"}, {"model", "stories260K"}};
  return sae;
}

// SAELens' JumpReLU / standard encoder and decoder on the raw tensors of a file
// (sae_lens/saes: hidden_pre = (x - b_dec) @ W_enc + b_enc; jumprelu: relu(pre) * (pre > threshold)).
std::pair<torch::Tensor, torch::Tensor> saelensForward(const fs::path& folder, const torch::Tensor& x) {
  auto w = core::loadSafetensors(folder / "sae_weights.safetensors");
  auto pre = torch::matmul(x - w["b_dec"], w["W_enc"]) + w["b_enc"];
  auto z = w.count("threshold") ? torch::relu(pre) * (pre > w["threshold"]).to(pre.scalar_type()) : torch::relu(pre);
  return {z, torch::matmul(z, w["W_dec"]) + w["b_dec"]};
}

}  // namespace

TEST(SaeFiles, SaelensLayoutRoundTrip) {
  for (auto kind : {SaeKind::JumpRelu, SaeKind::Relu}) {
    for (bool transform : {false, true}) {
      SCOPED_TRACE(toString(kind) + (transform ? " whitened" : ""));
      test::ScopedTempDir dir("sae_files");
      auto sae = randomSae(kind, 8, 24, transform);
      saveSae(*sae, dir.path());
      const auto cfg = readJson(dir / "cfg.json");
      EXPECT_EQ(cfg["architecture"], kind == SaeKind::JumpRelu ? "jumprelu" : "standard");
      EXPECT_EQ(cfg["d_in"], 8);
      EXPECT_EQ(cfg["d_sae"], 24);
      EXPECT_EQ(cfg["hook_name"], "blocks.2.hook_resid_post");
      auto w = core::loadSafetensors(dir / "sae_weights.safetensors");
      EXPECT_EQ(w["W_enc"].sizes(), torch::IntArrayRef({8, 24}));
      EXPECT_EQ(w["W_dec"].sizes(), torch::IntArrayRef({24, 8}));
      EXPECT_EQ(w.count("threshold"), kind == SaeKind::JumpRelu ? 1u : 0u);
      // The file, read the way SAELens reads it, computes what our SAE computes on raw activations.
      torch::manual_seed(5);
      auto x = torch::randn({64, 8}) * 2;
      torch::NoGradGuard g;
      auto z = sae->encode(x);
      auto [zRef, xhatRef] = saelensForward(dir.path(), x);
      EXPECT_GT((z > 0).sum().item<int>(), 10);  // a non-trivial code
      EXPECT_TRUE(torch::allclose(z, zRef, 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(sae->decode(z), xhatRef, 1e-4, 1e-5));
      // And loading it back gives the same function and provenance.
      auto back = loadSae(dir.path());
      EXPECT_EQ(back->kind(), kind);
      EXPECT_EQ(back->whitened(), transform);
      EXPECT_EQ(back->info.value("site", ""), "resid_post.2");
      EXPECT_TRUE(torch::allclose(back->encode(x), z, 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(back->decode(z), sae->decode(z), 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(back->W_dec.norm(2, 1), torch::ones({24}), 1e-5, 1e-5));
    }
  }
}

// A file written by SAELens without our input transform, with decoder rows of any norm and
// apply_b_dec_to_input false (as Gemma Scope's JumpReLU SAEs): loaded with the same function.
TEST(SaeFiles, ImportsForeignSaelensFile) {
  test::ScopedTempDir dir("sae_import");
  torch::manual_seed(11);
  const std::int64_t d = 6, n = 10;
  auto W_enc = torch::randn({d, n}), W_dec = torch::randn({n, d}) * 3, b_enc = torch::randn({n}) * 0.1,
       b_dec = torch::randn({d}), thr = torch::rand({n}) * 0.5 + 0.1;
  core::saveSafetensors(dir / "sae_weights.safetensors",
                        {{"W_enc", W_enc}, {"W_dec", W_dec}, {"b_enc", b_enc}, {"b_dec", b_dec}, {"threshold", thr}});
  core::writeFileAtomically(dir / "cfg.json", Json{{"architecture", "jumprelu"}, {"d_in", d}, {"d_sae", n},
                                                   {"apply_b_dec_to_input", false}}.dump());
  auto sae = loadSae(dir.path());
  auto x = torch::randn({50, d}) * 2;
  // Gemma Scope's JumpReLU: pre = x @ W_enc + b_enc; z = relu(pre) * (pre > threshold); x_hat = z @ W_dec + b_dec.
  auto pre = torch::matmul(x, W_enc) + b_enc;
  auto z = torch::relu(pre) * (pre > thr).to(pre.scalar_type());
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::allclose(sae->decode(sae->encode(x)), torch::matmul(z, W_dec) + b_dec, 1e-4, 1e-4));
  EXPECT_TRUE(torch::equal(sae->encode(x) > 0, z > 0));
}

TEST(SaeFiles, BadFoldersGiveClearErrors) {
  test::ScopedTempDir dir("sae_bad");
  auto expectError = [](const fs::path& p, const std::string& part) {
    try {
      loadSae(p);
      ADD_FAILURE() << "no error for " << p;
    } catch (const SaeError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expectError(dir / "missing", "does not exist");
  fs::create_directories(dir / "nocfg");
  expectError(dir / "nocfg", "no cfg.json");
  auto sae = randomSae(SaeKind::JumpRelu, 8, 24, false);
  saveSae(*sae, dir / "ok");
  // cfg.json says another width than the tensors.
  fs::create_directories(dir / "wrongdim");
  fs::copy(dir / "ok" / "sae_weights.safetensors", dir / "wrongdim" / "sae_weights.safetensors");
  auto cfg = readJson(dir / "ok" / "cfg.json");
  cfg["d_in"] = 16;
  core::writeFileAtomically(dir / "wrongdim" / "cfg.json", cfg.dump());
  expectError(dir / "wrongdim", "tensor 'W_enc' is [8, 24], expected [16, 24]");
  // A jumprelu file without thresholds.
  fs::create_directories(dir / "nothr");
  auto w = core::loadSafetensors(dir / "ok" / "sae_weights.safetensors");
  w.erase("threshold");
  core::saveSafetensors(dir / "nothr" / "sae_weights.safetensors", w);
  fs::copy(dir / "ok" / "cfg.json", dir / "nothr" / "cfg.json");
  expectError(dir / "nothr", "no tensor 'threshold'");
  // Unknown architecture.
  cfg["d_in"] = 8;
  cfg["architecture"] = "gated";
  core::writeFileAtomically(dir / "ok" / "cfg.json", cfg.dump());
  expectError(dir / "ok", "architecture 'gated' is not supported");
}

}  // namespace atomscope::sae_test
