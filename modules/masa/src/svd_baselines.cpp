#include "atomscope/masa/svd_baselines.h"

#include <algorithm>
#include <string>

#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::masa {

namespace {

void checkRank(const torch::Tensor& W, std::int64_t rank) {
  if (!W.defined() || W.dim() != 2) throw lm::LmError("low-rank approximation: the weight must be a 2-D matrix");
  if (rank < 0 || rank > std::min(W.size(0), W.size(1)))
    throw lm::LmError("low-rank approximation: rank " + std::to_string(rank) + " outside 0.." +
                      std::to_string(std::min(W.size(0), W.size(1))) + " for a " + std::to_string(W.size(0)) + " x " +
                      std::to_string(W.size(1)) + " matrix");
}

LowRankFactors truncate(const torch::Tensor& A, std::int64_t rank) {
  auto [U, S, Vh] = torch::linalg_svd(A, false);
  LowRankFactors f;
  f.U = (U.narrow(1, 0, rank) * S.narrow(0, 0, rank).unsqueeze(0));
  f.V = Vh.narrow(0, 0, rank);
  return f;
}

}  // namespace

LowRankFactors truncatedSvd(const torch::Tensor& W, std::int64_t rank) {
  checkRank(W, rank);
  auto f = truncate(W.detach().to(torch::kCPU, torch::kFloat64), rank);
  return {f.U.to(torch::kFloat32).contiguous(), f.V.to(torch::kFloat32).contiguous()};
}

Whitening choleskyWhitening(const torch::Tensor& autocorrelation) {
  auto A = autocorrelation.detach().to(torch::kCPU, torch::kFloat64);
  if (A.dim() != 2 || A.size(0) != A.size(1)) throw lm::LmError("whitening: the autocorrelation must be a square matrix");
  A = 0.5 * (A + A.t());
  const auto n = A.size(0);
  const double scale = std::max(1e-30, A.diagonal().mean().item<double>());
  auto eye = torch::eye(n, A.options());
  for (int k = -1; k <= 6; ++k) {
    const double ridge = k < 0 ? 0.0 : scale * std::pow(10.0, -8 + k);
    auto [L, info] = torch::linalg_cholesky_ex(ridge > 0 ? A + ridge * eye : A);
    if (info.item<int>() == 0) return {L, ridge};
  }
  throw lm::LmError("whitening: the calibration autocorrelation is not positive definite even with a ridge of 1e-2 "
                    "times its mean diagonal (too few or degenerate calibration tokens)");
}

LowRankFactors whitenedSvd(const torch::Tensor& W, const torch::Tensor& factor, std::int64_t rank) {
  checkRank(W, rank);
  auto w = W.detach().to(torch::kCPU, torch::kFloat64);
  auto R = factor.to(torch::kCPU, torch::kFloat64);
  if (R.dim() != 2 || R.size(0) != w.size(1) || R.size(1) != w.size(1))
    throw lm::LmError("SVD-LLM: the whitening factor must be [" + std::to_string(w.size(1)) + ", " +
                      std::to_string(w.size(1)) + "]");
  auto f = truncate(torch::matmul(w, R), rank);
  // V R^-1: solve X R = V for X (R lower triangular).
  auto V = torch::linalg_solve_triangular(R, f.V, /*upper=*/false, /*left=*/false);
  return {f.U.to(torch::kFloat32).contiguous(), V.to(torch::kFloat32).contiguous()};
}

}  // namespace atomscope::masa
