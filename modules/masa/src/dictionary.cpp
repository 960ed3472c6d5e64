#include "atomscope/masa/dictionary.h"

#include "atomscope/lm/tokenizer.h"  // LmError

namespace atomscope::masa {

torch::Tensor MatrixDictionary::weight(std::size_t i) const {
  auto w = torch::tensordot(coefficients[static_cast<std::int64_t>(i)].to(atoms.scalar_type()), atoms, {0}, {0});
  if (i < residualU.size() && residualU[i].defined()) w = w + torch::matmul(residualU[i], residualV[i]).to(w.scalar_type());
  return w;
}

std::int64_t MatrixDictionary::parameterCount() const {
  std::int64_t n = atoms.numel() + coefficients.numel();
  for (std::size_t i = 0; i < residualU.size(); ++i)
    if (residualU[i].defined()) n += residualU[i].numel() + residualV[i].numel();
  return n;
}

void MatrixDictionary::validate() const {
  const std::string what = "MASA dictionary '" + role + "'";
  if (!atoms.defined() || atoms.dim() != 3) throw lm::LmError(what + ": atoms must be [S, out, in]");
  if (!coefficients.defined() || coefficients.dim() != 2 || coefficients.size(0) != static_cast<std::int64_t>(layers.size()) ||
      coefficients.size(1) != atoms.size(0))
    throw lm::LmError(what + ": coefficients must be [" + std::to_string(layers.size()) + " layers, " +
                      std::to_string(atoms.size(0)) + " atoms]");
  if (residualU.size() != residualV.size() || (!residualU.empty() && residualU.size() != layers.size()))
    throw lm::LmError(what + ": one residual pair per served layer, or none");
  for (std::size_t i = 0; i < residualU.size(); ++i) {
    if (residualU[i].defined() != residualV[i].defined()) throw lm::LmError(what + ": residual of layer " + std::to_string(layers[i]) + " is half-defined");
    if (residualU[i].defined() && (residualU[i].size(0) != atoms.size(1) || residualV[i].size(1) != atoms.size(2) ||
                                   residualU[i].size(1) != residualV[i].size(0)))
      throw lm::LmError(what + ": residual of layer " + std::to_string(layers[i]) + " has the wrong shape");
  }
}

}  // namespace atomscope::masa
