#include "atomscope/forcefield/calculator.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "atomscope/core/code_files.h"
#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/ponita_calculator.h"
#include "atomscope/forcefield/torchscript_calculator.h"
#include "atomscope/forcefield/xtb_calculator.h"
#include "atomscope/lm/cuda_graph.h"
#include "tf32_scope.h"

namespace atomscope::forcefield {

namespace fs = std::filesystem;

PonitaCalculator::PonitaCalculator(Ponita model, std::string label, torch::Device device, torch::Dtype dtype)
    : model_(std::move(model)), label_(std::move(label)), device_(device), dtype_(dtype), pairs_(model_->config.cutoff) {
  model_->to(device_, dtype_);
  model_->eval();
  // On a GPU keep every per-edge kernel the memory allows (the fastest way; an out-of-memory in compute()
  // keeps less from then on); on the host the model's fixed limit keeps a large system out of swap.
  // Chunks of 2^29 elements (2 GiB in float32): few enough launches at 100,000 atoms, small beside the kept kernels.
  if (device_.is_cuda()) {
    model_->keepEdgeElements = std::numeric_limits<std::int64_t>::max();
    model_->chunkElements = std::int64_t{1} << 29;
  }
}

PonitaCalculator::~PonitaCalculator() = default;

std::int64_t PonitaCalculator::graphCapacityFor(std::int64_t edges) const {
  return edges + static_cast<std::int64_t>(std::ceil(graphEdgeHeadroom * static_cast<double>(edges))) + 16;
}

CalcResult PonitaCalculator::fromTensors(const chem::Structure& s, const torch::Tensor& energy, const torch::Tensor& forces) const {
  CalcResult r;
  r.energy = energy.item<double>();
  const auto f = forces.to(torch::kCPU, torch::kFloat64).contiguous();
  auto fa = f.accessor<double, 2>();
  r.forces.resize(s.size());
  for (std::size_t a = 0; a < s.size(); ++a) r.forces[a] = {fa[a][0], fa[a][1], fa[a][2]};
  return r;
}

CalcResult PonitaCalculator::compute(const chem::Structure& s, bool stress) {
  const Tf32Scope precision(tf32 && device_.is_cuda());
  if (pairs_.skin() != neighborSkin) pairs_.setSkin(neighborSkin);
  const bool wantStress = stress && s.isPeriodic();
  const bool graphable = cudaGraph && !wantStress && device_.is_cuda() && lm::GraphedCall::available(device_);
  GraphBatch g;
  try {
    g = graphable ? pairs_.candidates(s, device_, dtype_) : pairs_.graph(s, device_, dtype_);
  } catch (const std::exception& e) {
    throw ForceFieldError(name() + " on " + s.formula() + ": " + e.what());
  }
  // The atoms' species indices, checked once per list of elements (the check reads the device).
  if (s.numbers != speciesOf_) {
    species_ = model_->speciesIndex(g.numbers);
    speciesOf_ = s.numbers;
  }
  g.speciesIndex = species_;
  const auto perEdge = model_->config.numOrientations() * std::max(model_->config.basis, model_->config.hidden);
  // A list's first call runs eagerly when no captured graph can take it: only a list used again (MD,
  // optimisation) is worth a capture, not the one-off frames of an evaluation. A new list of the same atoms
  // within the captured graph's capacity is copied into its padded edges and replayed at once.
  if (pairs_.lists() != listSeen_) {
    listSeen_ = pairs_.lists();
    callsOnList_ = 0;
  }
  ++callsOnList_;
  const bool fitsGraph = graphed_ && s.numbers == graphNumbers_ && g.numEdges() <= graphInput_.numEdges();
  const auto capacity = fitsGraph ? graphInput_.numEdges() : graphCapacityFor(g.numEdges());
  lastGraphed_ = graphable && s.size() >= 2 && (fitsGraph || callsOnList_ >= 2) && capacity * perEdge <= graphMaxElements;
  if (lastGraphed_) {
    if (!fitsGraph) {  // the first capture, other atoms, or more edges than the padding holds: a new capture
      graphed_.reset();
      graphOutput_ = torch::Tensor();
      graphInput_ = padEdges(g, capacity);
      graphInput_.positions = g.positions.clone();
      try {
        graphed_ = std::make_unique<lm::GraphedCall>(device_);
        graphOutput_ = graphed_->capture([this] {
          const auto o = model_->compute(graphInput_, true, false);
          return torch::cat({o.energy.to(torch::kFloat64), o.forces.to(torch::kFloat64).flatten()});
        });
        graphList_ = pairs_.lists();
        graphNumbers_ = s.numbers;
        ++graphCaptures_;
      } catch (const std::exception& e) {
        // A capture this LibTorch or driver refuses: the eager calls from now on, which give the same numbers.
        captureError_ = e.what();
        graphed_.reset();
        cudaGraph = lastGraphed_ = false;
      }
    } else if (graphList_ != pairs_.lists()) {
      copyEdgesPadded(graphInput_, g);
      graphInput_.cell.copy_(g.cell);  // a remade list may come with a changed cell
      graphList_ = pairs_.lists();
    }
    if (lastGraphed_) {
      graphInput_.positions.copy_(g.positions);
      graphed_->replay();
      ++graphedCalls_;
      const auto out = graphOutput_.to(torch::kCPU);
      return fromTensors(s, out[0], out.slice(0, 1).view({-1, 3}));
    }
  }
  if (graphable) {  // too large for a graph: the pairs within the cutoff only
    g = pairs_.graph(s, device_, dtype_);
    g.speciesIndex = species_;
  }
  EnergyOutput out;
  for (;;) {
    try {
      out = model_->compute(g, true, wantStress);
      break;
    } catch (const c10::OutOfMemoryError&) {
      // The kept per-edge tensors did not fit: keep less (then remake more per chunk) from this size on.
      if (!model_->lowerEdgeMemory(g.numEdges())) throw;
    }
  }
  auto r = fromTensors(s, out.energy[0], out.forces);
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
