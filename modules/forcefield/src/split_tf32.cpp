#include "split_tf32.h"

#include <algorithm>

#include "atomscope/forcefield/error.h"
#include "tf32_scope.h"
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ponita_edge_kernels.h"
#endif

namespace atomscope::forcefield {

namespace {
// x rounded to TF32 by its bits (edgecuda::tf32Round's arithmetic in ATen's ops): the 13 low mantissa bits cleared
// after adding half of their range, on the float's bit pattern as an int32.
torch::Tensor tf32RoundAten(const torch::Tensor& x) {
  const auto bits = x.contiguous().view(torch::kInt32);
  return bits.add(0x1000).bitwise_and(static_cast<std::int64_t>(static_cast<std::int32_t>(0xFFFFE000u))).view(torch::kFloat32);
}

void checkFloat32Matrix(const torch::Tensor& t, const char* what) {
  if (t.scalar_type() != torch::kFloat32 || t.dim() != 2)
    throw ForceFieldError(std::string("3xTF32 product: ") + what + " must be a float32 matrix");
}
}  // namespace

torch::Tensor splitTf32Rows(const torch::Tensor& a) {
  checkFloat32Matrix(a, "the left factor");
  const auto R = a.size(0), K = a.size(1);
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (a.is_cuda() && (a.stride(1) == 1 || K <= 1)) {
    auto out = torch::empty({R, 3 * K}, a.options());
    edgecuda::splitTf32Rows(a.data_ptr<float>(), R, K, R > 0 ? a.stride(0) : K, out.data_ptr<float>(),
                            at::cuda::getCurrentCUDAStream().stream());
    return out;
  }
#endif
  const auto hi = tf32RoundAten(a);
  const auto lo = tf32RoundAten(a - hi);
  return torch::cat({hi, lo, hi}, 1);
}

std::pair<torch::Tensor, torch::Tensor> tf32Parts(const torch::Tensor& b) {
  if (b.scalar_type() != torch::kFloat32) throw ForceFieldError("3xTF32 product: the factor must be float32");
  auto hi = tf32RoundAten(b);
  auto lo = tf32RoundAten(b - hi);
  return {hi, lo};
}

torch::Tensor splitTf32Weights(const torch::Tensor& b) {
  checkFloat32Matrix(b, "the right factor");
  const auto [hi, lo] = tf32Parts(b);
  return torch::cat({hi, hi, lo}, 0);
}

bool splitTf32Pays(const torch::Tensor& a) {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (!a.defined() || !a.is_cuda() || a.scalar_type() != torch::kFloat32) return false;
  if (at::globalContext().allowTF32CuBLAS()) return false;
  return at::cuda::getDeviceProperties(a.device().index())->major >= 8;
#else
  (void)a;
  return false;
#endif
}

void mmSplitTf32Out(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b3, const torch::Tensor& bias) {
  checkFloat32Matrix(a, "the left factor");
  if (b3.size(0) != 3 * a.size(1)) throw ForceFieldError("3xTF32 product: the split right factor does not match");
  const Tf32Scope tensorCores(a.is_cuda());
  const auto R = a.size(0);
  const std::int64_t block = std::max<std::int64_t>(1, (std::int64_t{1} << 27) / std::max<std::int64_t>(1, 3 * a.size(1)));
  for (std::int64_t r = 0; r < R; r += block) {
    const auto n = std::min(block, R - r);
    auto rows = out.narrow(0, r, n);
    const auto a3 = splitTf32Rows(a.narrow(0, r, n));
    if (bias.defined()) torch::addmm_out(rows, bias, a3, b3);
    else torch::mm_out(rows, a3, b3);
  }
}

}  // namespace atomscope::forcefield
