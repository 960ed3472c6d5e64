#include "atomscope/forcefield/torchscript_calculator.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>

#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/graph.h"
#include "tf32_scope.h"

namespace atomscope::forcefield {

namespace fs = std::filesystem;

namespace {
torch::Device parseDevice(const std::string& d) {
  try {
    return torch::Device(d);
  } catch (const std::exception&) {
    throw ForceFieldError("unknown device '" + d + "' (cpu or cuda:N)");
  }
}
}  // namespace

TorchScriptCalculator::TorchScriptCalculator(const fs::path& file, const std::string& device, bool trusted,
                                             const std::string& dtype)
    : file_(file), device_(parseDevice(device)) {
  if (!trusted)
    throw ForceFieldError("'" + file.string() + "': TorchScript models are code; load them only from a trusted source (trusted = true)");
  if (!fs::exists(file)) throw ForceFieldError("TorchScript model '" + file.string() + "' does not exist");
  try {
    module_ = torch::jit::load(file.string(), device_);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw ForceFieldError("'" + file.string() + "' is not a TorchScript model: " + what);
  }
  module_.eval();
  torch::jit::setGraphExecutorOptimize(false);
  if (dtype == "float64") module_.to(torch::kFloat64);
  else if (dtype == "float32") module_.to(torch::kFloat32);
  else if (dtype != "model") throw ForceFieldError("TorchScript dtype must be model, float32 or float64, not '" + dtype + "'");
  auto attr = [&](const char* name) {
    if (!module_.hasattr(name) || !module_.attr(name).isTensor())
      throw ForceFieldError("'" + file.string() + "' has no '" + name + "' buffer: not a MACE-style TorchScript model");
    return module_.attr(name).toTensor().to(torch::kCPU);
  };
  const auto z = attr("atomic_numbers").to(torch::kInt64);
  for (std::int64_t k = 0; k < z.numel(); ++k) z_.push_back(static_cast<int>(z[k].item<std::int64_t>()));
  rMax_ = attr("r_max").to(torch::kFloat64).item<double>();
  if (!(rMax_ > 0)) throw ForceFieldError("'" + file.string() + "': r_max is not positive");
  for (const auto& p : module_.parameters()) {
    if (p.is_floating_point()) {
      dtype_ = p.scalar_type();
      break;
    }
  }
  if (!module_.find_method("forward")) throw ForceFieldError("'" + file.string() + "' has no forward method");
  for (const auto& a : module_.get_method("forward").function().getSchema().arguments()) forwardArgs_.push_back(a.name());
  if (forwardArgs_.size() < 2) throw ForceFieldError("'" + file.string() + "': forward takes no input dictionary");
}

CalcResult TorchScriptCalculator::compute(const chem::Structure& s, bool stress) {
  const Tf32Scope precision(tf32 && device_.is_cuda());
  if (!pairs_) pairs_.emplace(rMax_, neighborSkin);
  if (pairs_->skin() != neighborSkin) pairs_->setSkin(neighborSkin);
  GraphBatch g;
  try {
    g = pairs_->graph(s, device_, dtype_);
  } catch (const std::exception& e) {
    throw ForceFieldError(name() + " on " + s.formula() + ": " + e.what());
  }
  const auto N = g.numAtoms();
  // One-hot over the model's element table, in its order.
  auto lookup = torch::full({119}, -1, torch::kInt64);
  for (std::size_t k = 0; k < z_.size(); ++k) lookup[z_[k]] = static_cast<std::int64_t>(k);
  for (int z : s.numbers)
    if (lookup[z].item<std::int64_t>() < 0)
      throw ForceFieldError(name() + ": the model does not know element Z=" + std::to_string(z) + " (structure " + s.formula() + ")");
  const auto idx = lookup.index_select(0, g.numbers.to(torch::kCPU)).to(device_);
  const auto opts = torch::TensorOptions().dtype(dtype_).device(device_);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device_);
  const bool periodic = s.isPeriodic();
  const bool wantStress = stress && periodic;

  c10::Dict<std::string, torch::Tensor> data;
  data.insert("positions", g.positions);
  data.insert("node_attrs", torch::one_hot(idx, static_cast<std::int64_t>(z_.size())).to(dtype_));
  data.insert("edge_index", g.edgeIndex);
  const auto shifts = g.numEdges() > 0 ? torch::matmul(g.unitShifts, g.cell[0]) : torch::zeros({0, 3}, opts);
  data.insert("shifts", shifts);
  data.insert("unit_shifts", g.unitShifts);
  data.insert("cell", g.cell.reshape({-1, 3}));
  data.insert("batch", g.batch);
  data.insert("ptr", g.ptr);
  data.insert("weight", torch::ones({1}, opts));
  data.insert("energy_weight", torch::ones({1}, opts));
  data.insert("forces_weight", torch::ones({1}, opts));
  data.insert("stress_weight", torch::ones({1}, opts));
  data.insert("virials_weight", torch::ones({1}, opts));
  data.insert("head", torch::zeros({1}, i64));
  data.insert("charges", torch::zeros({N}, opts));

  std::unordered_map<std::string, c10::IValue> kwargs;
  auto setIf = [&](const char* k, bool v) {
    if (std::find(forwardArgs_.begin(), forwardArgs_.end(), k) != forwardArgs_.end()) kwargs[k] = v;
  };
  setIf("training", false);
  setIf("compute_force", true);
  setIf("compute_stress", wantStress);
  setIf("compute_virials", false);
  c10::IValue out;
  try {
    out = module_.get_method("forward")({c10::IValue(data)}, kwargs);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, std::min<std::size_t>(what.size(), 600));
    throw ForceFieldError(name() + " failed on " + s.formula() + ": " + what);
  }
  if (!out.isGenericDict()) throw ForceFieldError(name() + ": forward did not return a dictionary");
  auto dict = out.toGenericDict();
  auto get = [&](const char* key) -> torch::Tensor {
    if (!dict.contains(key)) return {};
    auto v = dict.at(key);
    return v.isTensor() ? v.toTensor().detach().to(torch::kCPU, torch::kFloat64) : torch::Tensor();
  };
  const auto e = get("energy"), f = get("forces");
  if (!e.defined() || !f.defined()) throw ForceFieldError(name() + ": the model returned no energy or no forces");
  CalcResult r;
  r.energy = e.reshape({-1})[0].item<double>();
  auto fa = f.accessor<double, 2>();
  r.forces.resize(static_cast<std::size_t>(N));
  for (std::int64_t a = 0; a < N; ++a) r.forces[a] = {fa[a][0], fa[a][1], fa[a][2]};
  if (wantStress) {
    const auto st = get("stress");
    if (!st.defined()) throw ForceFieldError(name() + ": the model returned no stress");
    const auto st3 = st.reshape({3, 3});
    chem::Mat3 m{};
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) m[a][b] = st3[a][b].item<double>();
    r.stress = m;
  }
  return r;
}

}  // namespace atomscope::forcefield
