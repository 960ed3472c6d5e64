#include "atomscope/masa/matrix_pca.h"

#include <algorithm>
#include <numeric>

#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::masa {

namespace {

void checkInputs(const std::vector<torch::Tensor>& weights, const std::vector<std::int64_t>& layers, std::int64_t atoms,
                 const std::string& role) {
  const std::string what = "matrix PCA of '" + role + "'";
  if (weights.empty()) throw lm::LmError(what + ": no weight matrices");
  if (layers.size() != weights.size())
    throw lm::LmError(what + ": " + std::to_string(weights.size()) + " matrices but " + std::to_string(layers.size()) +
                      " layer indices");
  const auto L = static_cast<std::int64_t>(weights.size());
  if (atoms < 1 || atoms > L)
    throw lm::LmError(what + ": atoms must be between 1 and the " + std::to_string(L) + " layers served, got " +
                      std::to_string(atoms));
  for (std::size_t i = 0; i < weights.size(); ++i)
    if (!weights[i].defined() || weights[i].dim() != 2 || weights[i].sizes() != weights[0].sizes())
      throw lm::LmError(what + ": the matrix of layer " + std::to_string(layers[i]) +
                        " is not 2-D or differs in shape from the first");
}

// PCA of flattened rows X [L, n] (float64): returns atoms [S, n], coefficients [L, S], energies.
void pcaRows(const torch::Tensor& X, std::int64_t S, torch::Tensor& atoms, torch::Tensor& coeffs,
             std::vector<double>& energy) {
  const auto L = X.size(0);
  auto G = torch::matmul(X, X.t());
  G = 0.5 * (G + G.t());
  auto [evals, evecs] = torch::linalg_eigh(G);  // ascending
  evals = evals.flip(0).clamp_min(0.0);
  evecs = evecs.flip(1);
  const double total = evals.sum().item<double>();
  energy.assign(static_cast<std::size_t>(L), 0.0);
  for (std::int64_t s = 0; s < L; ++s) energy[static_cast<std::size_t>(s)] = total > 0 ? evals[s].item<double>() / total : 0.0;
  const double tol = std::max(1e-300, evals[0].item<double>() * 1e-12 * static_cast<double>(L));
  atoms = torch::zeros({S, X.size(1)}, X.options());
  coeffs = torch::zeros({L, S}, X.options());
  for (std::int64_t s = 0; s < S; ++s) {
    const double lam = evals[s].item<double>();
    if (lam <= tol) continue;  // no direction left: a zero atom with zero coefficients
    auto v = evecs.select(1, s);
    atoms[s] = torch::matmul(v, X) / std::sqrt(lam);
  }
  coeffs = torch::matmul(X, atoms.t());  // c_ls = <D_s, W_l>
}

}  // namespace

double MatrixPcaResult::energyKept() const {
  double e = 0;
  for (std::int64_t s = 0; s < dictionary.numAtoms() && s < static_cast<std::int64_t>(energy.size()); ++s)
    e += energy[static_cast<std::size_t>(s)];
  return e;
}

std::vector<double> relativeErrors(const MatrixDictionary& dict, const std::vector<torch::Tensor>& weights) {
  std::vector<double> out;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    auto w = weights[i].to(torch::kFloat64);
    const double n = w.norm().item<double>();
    const double e = (w - dict.weight(i).to(torch::kFloat64)).norm().item<double>();
    out.push_back(n > 0 ? e / n : e);
  }
  return out;
}

MatrixPcaResult matrixPca(const std::vector<torch::Tensor>& weights, const std::vector<std::int64_t>& layers,
                          std::int64_t atoms, const std::string& role) {
  checkInputs(weights, layers, atoms, role);
  std::vector<torch::Tensor> rows;
  for (const auto& w : weights) rows.push_back(w.detach().to(torch::kCPU, torch::kFloat64).reshape({-1}));
  auto X = torch::stack(rows);
  MatrixPcaResult r;
  torch::Tensor A, C;
  pcaRows(X, atoms, A, C, r.energy);
  r.dictionary.role = role;
  r.dictionary.layers = layers;
  r.dictionary.atoms = A.reshape({atoms, weights[0].size(0), weights[0].size(1)}).to(torch::kFloat32);
  r.dictionary.coefficients = C.to(torch::kFloat32);
  r.relativeError = relativeErrors(r.dictionary, weights);
  return r;
}

MatrixPcaResult matrixPcaWithMetric(const std::vector<torch::Tensor>& weights, const std::vector<std::int64_t>& layers,
                                    std::int64_t atoms, const std::string& role, const torch::Tensor& metricFactor) {
  checkInputs(weights, layers, atoms, role);
  const auto in = weights[0].size(1);
  if (!metricFactor.defined() || metricFactor.dim() != 2 || metricFactor.size(0) != in || metricFactor.size(1) != in)
    throw lm::LmError("matrix PCA of '" + role + "': the metric factor must be [" + std::to_string(in) + ", " +
                      std::to_string(in) + "]");
  auto R = metricFactor.to(torch::kCPU, torch::kFloat64);
  std::vector<torch::Tensor> rows;
  for (const auto& w : weights) rows.push_back(torch::matmul(w.detach().to(torch::kCPU, torch::kFloat64), R).reshape({-1}));
  auto X = torch::stack(rows);
  MatrixPcaResult r;
  torch::Tensor A, C;
  pcaRows(X, atoms, A, C, r.energy);
  // Un-whiten: W^_l R = sum_s c_ls A_s  =>  W^_l = sum_s c_ls (A_s R^-1).
  auto Ainv = torch::linalg_solve(R.t(), A.reshape({atoms, -1, in}).transpose(1, 2), true).transpose(1, 2);
  r.dictionary.role = role;
  r.dictionary.layers = layers;
  r.dictionary.atoms = Ainv.contiguous().to(torch::kFloat32);
  r.dictionary.coefficients = C.to(torch::kFloat32);
  r.relativeError = relativeErrors(r.dictionary, weights);
  return r;
}

std::vector<std::vector<std::int64_t>> groupConsecutive(const std::vector<double>& distance, std::int64_t groups) {
  const auto L = static_cast<std::int64_t>(distance.size()) + 1;
  groups = std::clamp<std::int64_t>(groups, 1, L);
  std::vector<std::int64_t> order(distance.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return distance[a] > distance[b]; });
  std::vector<bool> cut(distance.size(), false);
  for (std::int64_t g = 0; g + 1 < groups; ++g) cut[static_cast<std::size_t>(order[static_cast<std::size_t>(g)])] = true;
  std::vector<std::vector<std::int64_t>> out(1);
  for (std::int64_t l = 0; l < L; ++l) {
    out.back().push_back(l);
    if (l + 1 < L && cut[static_cast<std::size_t>(l)]) out.emplace_back();
  }
  return out;
}

}  // namespace atomscope::masa
