#pragma once
// Per-matrix low-rank baselines of MASA compression, and the whitening they and the MASA
// refinement share:
//  - truncated SVD of W (best rank-r approximation in the Frobenius norm);
//  - SVD-LLM (Wang et al. 2024): with the Cholesky factor R of the calibration inputs'
//    autocorrelation X^T X = R R^T, the output error ||X (W - W')^T||_F equals ||(W - W') R||_F,
//    so truncating the SVD of W R and multiplying back by R^-1 minimises the output error.
#include <torch/torch.h>

#include <cstdint>

namespace atomscope::masa {

// W ~ U V with U [out, r], V [r, in] (float32).
struct LowRankFactors {
  torch::Tensor U, V;
  std::int64_t rank() const { return U.defined() ? U.size(1) : 0; }
  std::int64_t parameterCount() const { return U.defined() ? U.numel() + V.numel() : 0; }
  torch::Tensor product() const { return torch::matmul(U, V); }
};

LowRankFactors truncatedSvd(const torch::Tensor& W, std::int64_t rank);

// Lower-triangular R with R R^T = A + ridge I (float64). A non-positive-definite A (fewer
// calibration tokens than input features, dead features) gets the smallest ridge of
// 1e-8, 1e-7, ... times its mean diagonal that makes the factorisation succeed; `ridge` says which.
struct Whitening {
  torch::Tensor factor;  // [in, in] float64, lower triangular
  double ridge = 0.0;    // absolute value added to the diagonal (0: none needed)
};
Whitening choleskyWhitening(const torch::Tensor& autocorrelation);

// SVD-LLM: the rank-r W' minimising ||(W - W') R||_F, as factors (U = U_r S_r, V = V_r^T R^-1).
LowRankFactors whitenedSvd(const torch::Tensor& W, const torch::Tensor& factor, std::int64_t rank);

}  // namespace atomscope::masa
