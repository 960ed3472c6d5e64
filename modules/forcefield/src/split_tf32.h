#pragma once
// Float32 matrix products on TF32 tensor cores to float32 accuracy ("3xTF32"; the arithmetic and why it holds are in
// ponita_edge_kernels.h, tf32Split). PONITA's inference spends ~60% of a force call at 3,000-10,000 atoms in
// float32 products of [edges x orientations] rows; the H200 runs them at ~45 TFLOP/s as SGEMM and at several times
// that as TF32, so the three TF32 products of the split cost less than the one SGEMM.
#include <torch/torch.h>

namespace atomscope::forcefield {

// a [R, K] float32 as [R, 3K]: [hi | lo | hi] per row (edgecuda::splitTf32Rows on CUDA where this build has it,
// else ATen's ops, the same numbers).
torch::Tensor splitTf32Rows(const torch::Tensor& a);
// b float32 as its TF32 parts (hi, lo): b = hi + lo to 2^-22 relative (ATen's ops; for weights, small).
std::pair<torch::Tensor, torch::Tensor> tf32Parts(const torch::Tensor& b);
// b [K, N] float32 as [3K, N]: the row blocks hi; hi; lo, so that splitTf32Rows(a) . splitTf32Weights(b) is the
// 3xTF32 product of a and b.
torch::Tensor splitTf32Weights(const torch::Tensor& b);

// Whether a product with left factor a runs faster split: a float32 CUDA tensor, on a GPU with TF32 tensor cores
// (compute capability 8.0 and up), in a build with the split kernel, while plain TF32 is off (with it on, the
// caller asked for TF32's precision, and one plain product is faster).
bool splitTf32Pays(const torch::Tensor& a);

// out [R, N] = a [R, K] b [K, N] (+ bias [N] when defined) as the 3xTF32 product, b3 = splitTf32Weights(b); a block
// of rows at a time, so the split copy of a stays bounded (2^27 floats). out: contiguous rows.
void mmSplitTf32Out(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b3, const torch::Tensor& bias = {});

}  // namespace atomscope::forcefield
