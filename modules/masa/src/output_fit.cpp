#include "atomscope/masa/output_fit.h"

#include <string>

#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::masa {

namespace {

torch::Tensor f64(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64); }

void check(const MatrixDictionary& d, const OutputFitProblem& p) {
  const auto n = static_cast<std::size_t>(d.coefficients.size(0));
  if (p.targets.size() != n || p.factors.size() != n || p.weights.size() != n)
    throw lm::LmError("output fit of '" + d.role + "': one target, factor and weight per served layer (" +
                      std::to_string(n) + ")");
  for (std::size_t i = 0; i < n; ++i) {
    if (p.targets[i].sizes() != d.atoms.sizes().slice(1))
      throw lm::LmError("output fit of '" + d.role + "': target " + std::to_string(i) + " has the wrong shape");
    if (p.factors[i].dim() != 2 || p.factors[i].size(0) != d.atoms.size(2) || p.factors[i].size(1) != d.atoms.size(2))
      throw lm::LmError("output fit of '" + d.role + "': whitening factor " + std::to_string(i) + " must be [in, in]");
  }
}

// Per layer: min_c ||(T - sum_s c_s D_s) R||_F, an S x S system with a tiny ridge (zero atoms stay harmless).
torch::Tensor fitCoefficients(const torch::Tensor& D, const OutputFitProblem& p) {
  const auto S = D.size(0);
  std::vector<torch::Tensor> rows;
  for (std::size_t i = 0; i < p.targets.size(); ++i) {
    auto A = torch::matmul(D, p.factors[i]).reshape({S, -1});  // [S, out in]
    auto G = torch::matmul(A, A.t());
    G = G + 1e-12 * G.diagonal().mean().clamp_min(1e-300) * torch::eye(S, G.options());
    auto b = torch::matmul(A, torch::matmul(p.targets[i], p.factors[i]).reshape({-1}));
    rows.push_back(torch::linalg_solve(G, b.unsqueeze(1), true).squeeze(1));
  }
  return torch::stack(rows);
}

// Exact atom step: X M = B with X = [D_1 | ... | D_S] (out x S in), M_st = sum_l w_l c_ls c_lt A_l.
torch::Tensor fitAtomsExact(const torch::Tensor& C, const std::vector<torch::Tensor>& A, const OutputFitProblem& p,
                            std::int64_t out, std::int64_t in) {
  const auto S = C.size(1);
  auto M = torch::zeros({S, in, S, in}, C.options());
  auto B = torch::zeros({out, S, in}, C.options());
  for (std::size_t l = 0; l < A.size(); ++l) {
    auto c = C[static_cast<std::int64_t>(l)] * p.weights[l];            // w_l c_l [S]
    auto cc = torch::outer(c, C[static_cast<std::int64_t>(l)]);          // w_l c_l c_l^T [S, S]
    M += cc.unsqueeze(1).unsqueeze(3) * A[l].unsqueeze(0).unsqueeze(2);  // [S,1,S,1] * [1,in,1,in]
    B += torch::matmul(p.targets[l], A[l]).unsqueeze(1) * c.view({1, S, 1});
  }
  auto Mf = M.reshape({S * in, S * in});
  Mf = 0.5 * (Mf + Mf.t());
  Mf = Mf + 1e-12 * Mf.diagonal().mean().clamp_min(1e-300) * torch::eye(S * in, Mf.options());
  auto X = torch::linalg_solve(Mf, B.reshape({out, S * in}).t(), true).t();  // M symmetric: X^T = M^-1 B^T
  return X.reshape({out, S, in}).permute({1, 0, 2}).contiguous();
}

// Block Gauss-Seidel over the atoms (large in or S): D_s += G_s H_s^-1 with the current residuals.
torch::Tensor fitAtomsBlockwise(torch::Tensor D, const torch::Tensor& C, const std::vector<torch::Tensor>& A,
                                const OutputFitProblem& p) {
  const auto S = D.size(0);
  std::vector<torch::Tensor> residual;
  for (std::size_t l = 0; l < A.size(); ++l)
    residual.push_back(p.targets[l] - torch::tensordot(C[static_cast<std::int64_t>(l)], D, {0}, {0}));
  for (std::int64_t s = 0; s < S; ++s) {
    auto G = torch::zeros_like(D[s]);
    auto H = torch::zeros_like(A.front());
    for (std::size_t l = 0; l < A.size(); ++l) {
      const double c = C[static_cast<std::int64_t>(l)][s].item<double>();
      if (c == 0.0) continue;
      G += (p.weights[l] * c) * torch::matmul(residual[l], A[l]);
      H += (p.weights[l] * c * c) * A[l];
    }
    if (H.abs().max().item<double>() == 0.0) continue;  // an atom no layer uses
    H = H + 1e-12 * H.diagonal().mean().clamp_min(1e-300) * torch::eye(H.size(0), H.options());
    auto delta = torch::linalg_solve(H, G.t(), true).t();
    D[s] += delta;
    for (std::size_t l = 0; l < A.size(); ++l) residual[l] -= C[static_cast<std::int64_t>(l)][s].item<double>() * delta;
  }
  return D;
}

}  // namespace

double outputError(const MatrixDictionary& d, const OutputFitProblem& p) {
  check(d, p);
  auto D = f64(d.atoms);
  auto C = f64(d.coefficients);
  double e = 0;
  for (std::size_t i = 0; i < p.targets.size(); ++i) {
    auto W = torch::tensordot(C[static_cast<std::int64_t>(i)], D, {0}, {0});
    e += p.weights[i] * torch::matmul(p.targets[i] - W, p.factors[i]).pow(2).sum().item<double>();
  }
  return e;
}

void fitAtomsToOutputs(MatrixDictionary& d, const OutputFitProblem& p, int rounds, std::int64_t exactLimit) {
  check(d, p);
  if (rounds <= 0) return;
  torch::NoGradGuard g;
  const auto atomsType = d.atoms.scalar_type(), coefType = d.coefficients.scalar_type();
  auto D = f64(d.atoms).clone();
  const auto S = D.size(0), out = D.size(1), in = D.size(2);
  std::vector<torch::Tensor> A;
  for (const auto& R : p.factors) A.push_back(torch::matmul(f64(R), f64(R).t()));
  auto C = fitCoefficients(D, p);
  for (int r = 0; r < rounds; ++r) {
    D = S * in <= exactLimit ? fitAtomsExact(C, A, p, out, in) : fitAtomsBlockwise(D, C, A, p);
    C = fitCoefficients(D, p);
  }
  d.atoms = D.to(atomsType);
  d.coefficients = C.to(coefType);
}

}  // namespace atomscope::masa
