#include "atomscope/forcefield/resident_frames.h"

#include <string>

#include "atomscope/forcefield/error.h"

namespace atomscope::forcefield {

std::pair<std::array<double, 9>, bool> stressLabel(const chem::Structure& s) {
  std::array<double, 9> v{};
  const auto it = s.info.find("stress");
  if (it == s.info.end() || !it->is_array() || it->size() != 9) return {v, false};
  for (std::size_t k = 0; k < 9; ++k) v[k] = (*it)[k].get<double>();
  return {v, true};
}

void rotateBatch(LabelledBatch& b, const torch::Tensor& R) {
  auto& g = b.graph;
  const auto perAtom = R.index_select(0, g.batch);
  g.positions = torch::einsum("nkj,nj->nk", {perAtom, g.positions});
  b.forces = torch::einsum("nkj,nj->nk", {perAtom, b.forces});
  g.cell = torch::einsum("bkj,bij->bik", {R, g.cell});  // lattice rows turn as positions do
  if (b.stress.defined()) b.stress = torch::matmul(torch::matmul(R, b.stress), R.transpose(1, 2));
}

bool ResidentFrames::canHold(const std::vector<chem::Structure>& frames) {
  if (frames.empty() || frames.front().size() < 2) return false;
  for (const auto& s : frames)
    if (s.size() != frames.front().size()) return false;
  return true;
}

ResidentFrames::ResidentFrames(const std::vector<chem::Structure>& frames, const PonitaImpl& model,
                               const torch::Device& device, torch::Dtype dtype, std::size_t maxBytes) {
  if (!canHold(frames))
    throw ForceFieldError("resident frames need one or more frames, all with the same number of atoms (two or more)");
  const auto F = static_cast<std::int64_t>(frames.size());
  const auto n = static_cast<std::int64_t>(frames.front().size());
  const double cutoff = model.config.cutoff;
  std::vector<GraphBatch> graphs;
  graphs.reserve(frames.size());
  std::int64_t eMax = 0;
  for (std::size_t f = 0; f < frames.size(); ++f) {
    try {
      graphs.push_back(makeGraphBatch(frames[f], cutoff, torch::kFloat64));
    } catch (const std::exception& e) {
      throw ForceFieldError("frame " + std::to_string(f + 1) + ": " + e.what());
    }
    eMax = std::max(eMax, graphs.back().numEdges());
  }
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto positions = torch::empty({F, n, 3}, f64), forces = torch::empty({F, n, 3}, f64);
  auto energies = torch::empty({F}, f64), cells = torch::empty({F, 3, 3}, f64);
  auto stress = torch::zeros({F, 3, 3}, f64), stressMask = torch::zeros({F}, f64);
  auto numbers = torch::empty({F, n}, i64), periodic = torch::empty({F}, torch::kBool);
  // Padding: edge 0 -> 1 with weight 0 (any two distinct atoms: a zero-length edge would put
  // sqrt's infinite slope into the force gradient).
  auto edges = torch::zeros({F, eMax, 2}, i64);
  edges.select(2, 1).fill_(1);
  auto weights = torch::zeros({F, eMax}, f64), shifts = torch::zeros({F, eMax, 3}, f64);
  for (std::int64_t f = 0; f < F; ++f) {
    const auto& s = frames[static_cast<std::size_t>(f)];
    const auto& g = graphs[static_cast<std::size_t>(f)];
    const auto where = "frame " + std::to_string(f + 1);
    const auto* fp = s.atomProperty("forces");
    if (!fp || fp->columns != 3 || fp->atomCount() != s.size()) throw ForceFieldError(where + ": no per-atom forces");
    if (!s.info.contains("energy")) throw ForceFieldError(where + ": no energy");
    positions[f].copy_(g.positions);
    forces[f].copy_(torch::tensor(fp->values, f64).view({n, 3}));
    energies[f] = s.info.at("energy").get<double>();
    if (const auto [st, labelled] = stressLabel(s); labelled) {
      stress[f].copy_(torch::tensor(std::vector<double>(st.begin(), st.end()), f64).view({3, 3}));
      stressMask[f] = 1.0;
    }
    cells[f].copy_(g.cell[0]);
    periodic[f] = g.periodic[0];
    numbers[f].copy_(g.numbers);
    const auto E = g.numEdges();
    if (E > 0) {
      edges[f].slice(0, 0, E).copy_(g.edgeIndex.t());
      weights[f].slice(0, 0, E).fill_(1.0);
      shifts[f].slice(0, 0, E).copy_(g.unitShifts);
    }
  }
  auto species = model.speciesIndex(numbers.view({-1})).view({F, n});  // throws for an unknown element, once
  // Device bytes: float tensors in dtype, the rest as they are.
  const auto fsize = static_cast<std::size_t>(torch::elementSize(dtype));
  bytes_ = 0;
  for (const auto* t : {&positions, &forces, &stress, &stressMask, &weights, &shifts, &cells})
    bytes_ += static_cast<std::size_t>(t->numel()) * fsize;
  for (const auto* t : {&energies, &numbers, &species, &edges, &periodic}) bytes_ += static_cast<std::size_t>(t->nbytes());
  if (maxBytes > 0 && bytes_ > maxBytes)
    throw TooLarge(std::to_string(F) + " frames with up to " + std::to_string(eMax) + " edges each would take " +
                   std::to_string(bytes_ >> 20) + " MiB of device memory, more than the " + std::to_string(maxBytes >> 20) + " MiB allowed");
  positions_ = positions.to(device, dtype);
  forces_ = forces.to(device, dtype);
  energies_ = energies.to(device);
  stress_ = stress.to(device, dtype);
  stressMask_ = stressMask.to(device, dtype);
  numbers_ = numbers.to(device);
  species_ = species.to(device);
  edges_ = edges.to(device);
  weights_ = weights.to(device, dtype);
  shifts_ = shifts.to(device, dtype);
  cells_ = cells.to(device, dtype);
  periodic_ = periodic.to(device);
}

LabelledBatch ResidentFrames::batch(const torch::Tensor& idx, const torch::Tensor& rotations) const {
  const auto B = idx.size(0), n = atomsPerFrame(), e = edgesPerFrame();
  const auto ids = torch::arange(B, idx.options());
  LabelledBatch out;
  auto& g = out.graph;
  g.positions = positions_.index_select(0, idx).reshape({B * n, 3});
  g.numbers = numbers_.index_select(0, idx).reshape({B * n});
  g.speciesIndex = species_.index_select(0, idx).reshape({B * n});
  g.batch = ids.view({B, 1}).expand({B, n}).reshape({B * n});
  g.ptr = torch::arange(B + 1, idx.options()) * n;
  // Local atom numbers plus each structure's offset, as makeGraphBatch numbers them.
  g.edgeIndex = (edges_.index_select(0, idx) + (ids * n).view({B, 1, 1})).reshape({B * e, 2}).t();
  g.edgeWeight = weights_.index_select(0, idx).reshape({B * e});
  g.unitShifts = shifts_.index_select(0, idx).reshape({B * e, 3});
  g.cell = cells_.index_select(0, idx);
  g.periodic = periodic_.index_select(0, idx);
  g.numGraphs = B;
  out.energy = energies_.index_select(0, idx);
  out.forces = forces_.index_select(0, idx).reshape({B * n, 3});
  out.stress = stress_.index_select(0, idx);
  out.stressMask = stressMask_.index_select(0, idx);
  if (rotations.defined()) rotateBatch(out, rotations);
  return out;
}

}  // namespace atomscope::forcefield
