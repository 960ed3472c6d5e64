#pragma once
// Matrix atoms fitted to the calibration outputs rather than to the weights (beyond the MASA paper).
//
// Matrix PCA picks atoms that minimise the weight error sum_l ||W_l - W^_l||_F^2. What a model
// feels is the output error on its inputs, ||X_l (W_l - W^_l)^T||_F^2 = ||(W_l - W^_l) R_l||_F^2
// with R_l R_l^T = X_l^T X_l (SVD-LLM's identity). With a different R_l per layer, no PCA solves
//   min over D, C of  sum_l w_l ||(T_l - sum_s C[l, s] D_s) R_l||_F^2,
// but alternating exact solves does, and lowers the objective at every step:
//   coefficients: per layer, an S x S least-squares system;
//   atoms: with A_l = R_l R_l^T, the normal equations sum_t D_t (sum_l w_l c_ls c_lt A_l) = sum_l w_l c_ls T_l A_l
//     share one (S in) x (S in) matrix for every output row, so one Cholesky solves all rows at once;
//     above kExactAtomSolve unknowns per row, block Gauss-Seidel over the atoms (one in x in solve each).
// The result keeps the MASA form: the same atoms for every layer, one coefficient row per layer.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "atomscope/masa/dictionary.h"

namespace atomscope::masa {

// One dictionary's fitting problem, in float64 on the CPU. Row i belongs to the dictionary's i-th layer.
struct OutputFitProblem {
  std::vector<torch::Tensor> targets;  // T_i [out, in]: the weight the atoms should reproduce (minus any residual)
  std::vector<torch::Tensor> factors;  // R_i [in, in]: whitening factor of layer i's calibration inputs
  std::vector<double> weights;         // w_i > 0: e.g. 1 / ||W_i R_i||^2, every layer's relative output error alike
};

inline constexpr std::int64_t kExactAtomSolve = 4096;

// sum_i w_i ||(T_i - sum_s C[i, s] D_s) R_i||_F^2 for the dictionary's atoms and coefficients
// (its residual factors are not part of it: put them into the targets).
double outputError(const MatrixDictionary& dictionary, const OutputFitProblem& problem);

// `rounds` of (atoms, coefficients) after a first coefficient fit, from the dictionary's current atoms;
// atoms and coefficients are written back in their dtype. Never raises the objective. The atom step is
// exact while S in <= exactLimit, block Gauss-Seidel above. Throws LmError on shapes that disagree.
void fitAtomsToOutputs(MatrixDictionary& dictionary, const OutputFitProblem& problem, int rounds,
                       std::int64_t exactLimit = kExactAtomSolve);

}  // namespace atomscope::masa
