#pragma once
// Weight-entangled mixed operations (TangleNAS): one weight of the largest size per operation;
// choice k uses its leading slice W[:out_k, :in_k], and the mixed operation is one call with
// W_mix = sum_k w_k pad(W[:out_k, :in_k]) = W * M, M = sum_k w_k outer(outMask_k, inMask_k), where a
// size mask is 1 on the first `size` entries. Choices along several dimensions combine by the
// outer product of their weights, which is again a sum of this form.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace atomscope::nas {

// [K, maxSize] float: row k is 1 on its first sizes[k] entries, 0 after.
torch::Tensor sizeMasks(const std::vector<std::int64_t>& sizes, std::int64_t maxSize,
                        const torch::TensorOptions& options = {});

// M = sum_k w_k outer(outVecs[k], inVecs[k]): w [K], outVecs [K, out], inVecs [K, in] -> [out, in].
torch::Tensor entangledMask(const torch::Tensor& w, const torch::Tensor& outVecs, const torch::Tensor& inVecs);

// y = x (W * mask)^T + b * outMask: the mixed Linear in one call (bias, outMask may be undefined).
class EntangledLinearImpl : public torch::nn::Module {
 public:
  EntangledLinearImpl(std::int64_t maxIn, std::int64_t maxOut, bool bias = false);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask, const torch::Tensor& outMask = {});
  torch::Tensor weight, bias;
};
TORCH_MODULE(EntangledLinear);

// Rows of a [vocab, maxDim] table, columns scaled by colMask [maxDim] = sum_k w_k sizeMask_k: the
// mixture of the embeddings of every width choice.
class EntangledEmbeddingImpl : public torch::nn::Module {
 public:
  EntangledEmbeddingImpl(std::int64_t vocab, std::int64_t maxDim);
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& colMask);
  torch::Tensor weight;
};
TORCH_MODULE(EntangledEmbedding);

// Normalisation over a width choice: choice k normalises x[..., :sizes[k]] with the leading slice of
// the scale (and shift), zero beyond. Mixed: sum_k w_k pad(norm_k(x)), computed for all choices at
// once from running sums (cumsum) of x and x^2, so the output is exact for every weight vector.
// The masks and gather indices of a list of widths on a device, made once (no host-to-device copy
// in every forward pass).
struct WidthTables {
  void update(const std::vector<std::int64_t>& sizes, std::int64_t maxDim, const torch::Device& device);
  std::vector<std::int64_t> sizes;
  torch::Tensor masks, last, count;  // [K, maxDim] float, [K] long (size - 1), [K] float (size)
};

class EntangledRMSNormImpl : public torch::nn::Module {
 public:
  EntangledRMSNormImpl(std::int64_t maxDim, double eps);
  torch::Tensor forward(const torch::Tensor& x, const std::vector<std::int64_t>& sizes, const torch::Tensor& w);
  torch::Tensor weight;

 private:
  double eps_;
  WidthTables tables_;
};
TORCH_MODULE(EntangledRMSNorm);

class EntangledLayerNormImpl : public torch::nn::Module {
 public:
  EntangledLayerNormImpl(std::int64_t maxDim, double eps);
  torch::Tensor forward(const torch::Tensor& x, const std::vector<std::int64_t>& sizes, const torch::Tensor& w);
  torch::Tensor weight, bias;

 private:
  double eps_;
  WidthTables tables_;
};
TORCH_MODULE(EntangledLayerNorm);

}  // namespace atomscope::nas
