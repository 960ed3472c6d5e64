#include "atomscope/forcefield/calculator.h"

#include <fstream>
#include <iterator>

#include "atomscope/core/code_files.h"
#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/ponita_calculator.h"
#include "atomscope/forcefield/torchscript_calculator.h"
#include "atomscope/forcefield/xtb_calculator.h"

namespace atomscope::forcefield {

namespace fs = std::filesystem;

PonitaCalculator::PonitaCalculator(Ponita model, std::string label, torch::Device device, torch::Dtype dtype)
    : model_(std::move(model)), label_(std::move(label)), device_(device), dtype_(dtype), pairs_(model_->config.cutoff) {
  model_->to(device_, dtype_);
  model_->eval();
}

CalcResult PonitaCalculator::compute(const chem::Structure& s, bool stress) {
  GraphBatch g;
  try {
    g = pairs_.graph(s, device_, dtype_);
  } catch (const std::exception& e) {
    throw ForceFieldError(name() + " on " + s.formula() + ": " + e.what());
  }
  const bool wantStress = stress && s.isPeriodic();
  auto out = model_->compute(g, true, wantStress);
  CalcResult r;
  r.energy = out.energy[0].item<double>();
  const auto f = out.forces.to(torch::kCPU, torch::kFloat64).contiguous();
  auto fa = f.accessor<double, 2>();
  r.forces.resize(s.size());
  for (std::size_t a = 0; a < s.size(); ++a) r.forces[a] = {fa[a][0], fa[a][1], fa[a][2]};
  if (wantStress) {
    const auto st = out.stress.to(torch::kCPU, torch::kFloat64)[0];
    chem::Mat3 m{};
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) m[a][b] = st[a][b].item<double>();
    r.stress = m;
  }
  return r;
}

namespace {
bool isZip(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  return magic[0] == 'P' && magic[1] == 'K';
}
}  // namespace

std::unique_ptr<Calculator> makeCalculator(const std::string& spec, const std::string& device, bool trusted) {
  if (spec == "xtb" || spec.rfind("xtb:", 0) == 0) {
    XtbOptions o;
    if (spec.size() > 4) o.executable = spec.substr(4);
    return std::make_unique<XtbCalculator>(o);
  }
  std::string kind, path = spec;
  if (const auto c = spec.find(':'); c != std::string::npos && (spec.substr(0, c) == "ponita" || spec.substr(0, c) == "torchscript")) {
    kind = spec.substr(0, c);
    path = spec.substr(c + 1);
  }
  if (path.empty()) throw ForceFieldError("calculator '" + spec + "': no model file given");
  if (!fs::exists(path)) throw ForceFieldError("model file '" + path + "' does not exist");
  core::refusePickle(path, "force-field model");
  if (!isZip(path)) throw ForceFieldError("model file '" + path + "' is neither a PONITA model nor TorchScript (not a zip archive)");
  if (kind.empty()) {
    // PONITA archives name a ponita_config entry in their pickle; anything else is taken for
    // TorchScript. A byte search, so sniffing runs none of the file's code.
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    kind = bytes.find("ponita_config") != std::string::npos ? "ponita" : "torchscript";
  }
  const torch::Device d(device);
  if (kind == "ponita") {
    auto m = loadPonita(path, d, torch::kFloat32);
    return std::make_unique<PonitaCalculator>(m, fs::path(path).filename().string(), d, torch::kFloat32);
  }
  return std::make_unique<TorchScriptCalculator>(path, device, trusted);
}

}  // namespace atomscope::forcefield
