#pragma once
// Matrix PCA (MASA, training-free): the S matrix atoms that best represent a set of same-shaped
// weight matrices W_1..W_L in the Frobenius norm are the top-S principal directions of the
// stacked, flattened weights. They are found through the L x L Gram matrix G_ij = <W_i, W_j>:
// with G = V diag(lambda) V^T, atom D_s = sum_l V_ls W_l / sqrt(lambda_s) (orthonormal) and
// coefficient c_ls = <D_s, W_l> = sqrt(lambda_s) V_ls. Cost O(L^2 out in), no out*in x out*in matrix.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "atomscope/masa/dictionary.h"

namespace atomscope::masa {

struct MatrixPcaResult {
  MatrixDictionary dictionary;
  // lambda_s / sum of all L eigenvalues, for every direction (descending; the first S are kept).
  std::vector<double> energy;
  // ||W_l - W^_l||_F / ||W_l||_F per served layer.
  std::vector<double> relativeError;
  double energyKept() const;  // sum of the first S energies
};

// weights: L tensors [out, in] of one projection type (any float dtype; computed in float64,
// atoms returned in float32). layers: the model layers they come from (same length).
// atoms: S, 1 <= S <= L. Directions with a (numerically) zero eigenvalue give zero atoms and zero
// coefficients, so a set of rank r <= S is still reproduced exactly. Throws LmError on bad input.
MatrixPcaResult matrixPca(const std::vector<torch::Tensor>& weights, const std::vector<std::int64_t>& layers,
                          std::int64_t atoms, const std::string& role);

// Same, after a right metric: atoms are fitted to minimise sum_l ||(W_l - W^_l) R||_F^2 where R
// (in x in, invertible, e.g. the Cholesky factor of a shared input autocorrelation) is the same
// for every layer, so the result keeps the MASA form (atoms are un-whitened with R^-1).
MatrixPcaResult matrixPcaWithMetric(const std::vector<torch::Tensor>& weights, const std::vector<std::int64_t>& layers,
                                    std::int64_t atoms, const std::string& role, const torch::Tensor& metricFactor);

// Relative errors ||W_l - D.weight(l)||_F / ||W_l||_F of a dictionary against the weights it approximates.
std::vector<double> relativeErrors(const MatrixDictionary& dict, const std::vector<torch::Tensor>& weights);

// Splits L consecutive layers into `groups` runs, cutting at the groups - 1 largest values of
// distance[i] (the dissimilarity between layer i and layer i + 1, length L - 1). Returns runs of
// layer positions 0..L-1 in order. groups is clamped to [1, L].
std::vector<std::vector<std::int64_t>> groupConsecutive(const std::vector<double>& distance, std::int64_t groups);

}  // namespace atomscope::masa
