#pragma once
// The matrix-atom form of one attention projection type across layers (MASA): layer l's weight is
//   W_l = sum_s C[l, s] * D_s  (+ U_l V_l, an optional low-rank residual of that layer)
// with S atoms D_s of the projection's shape [out, in] shared by the layers the dictionary serves
// (all layers, or one group of consecutive layers). Both the trained-from-scratch MASA attention
// and masa.compress produce this form; the compact MASA export stores it.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace atomscope::masa {

struct MatrixDictionary {
  std::string role;                   // "q", "k", "v" or "o"
  std::vector<std::int64_t> layers;   // the model layers served, in order; row i of coefficients is layers[i]
  torch::Tensor atoms;                // [S, out, in]
  torch::Tensor coefficients;         // [layers.size(), S]
  std::vector<torch::Tensor> residualU;  // per served layer: [out, r] or undefined (no residual)
  std::vector<torch::Tensor> residualV;  // per served layer: [r, in] or undefined

  std::int64_t numAtoms() const { return atoms.defined() ? atoms.size(0) : 0; }
  // W of the i-th served layer (not the model layer index): [out, in], in the atoms' dtype.
  torch::Tensor weight(std::size_t i) const;
  // Stored numbers: atoms + coefficients + residual factors.
  std::int64_t parameterCount() const;
  // Throws LmError naming the problem when shapes disagree.
  void validate() const;
};

}  // namespace atomscope::masa
