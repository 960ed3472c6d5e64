#include "atomscope/forcefield/graph.h"

#include <cmath>
#include <string>

#include "atomscope/chem/neighbors.h"
#include "atomscope/forcefield/error.h"

namespace atomscope::forcefield {

GraphBatch GraphBatch::to(const torch::Device& device, torch::Dtype dtype) const {
  GraphBatch g = *this;
  g.positions = positions.to(device, dtype);
  g.numbers = numbers.to(device);
  g.batch = batch.to(device);
  g.ptr = ptr.to(device);
  g.edgeIndex = edgeIndex.to(device);
  g.unitShifts = unitShifts.to(device, dtype);
  g.cell = cell.to(device, dtype);
  g.periodic = periodic.to(device);
  if (edgeWeight.defined()) g.edgeWeight = edgeWeight.to(device, dtype);
  if (speciesIndex.defined()) g.speciesIndex = speciesIndex.to(device);
  return g;
}

GraphBatch makeGraphBatch(const std::vector<const chem::Structure*>& structures, double cutoff, torch::Dtype dtype) {
  if (structures.empty()) throw ForceFieldError("makeGraphBatch: no structures");
  std::vector<double> pos, cells, shifts;
  std::vector<std::int64_t> z, batch, ptr{0}, ei, ej;
  std::vector<bool> periodic;
  std::int64_t offset = 0;
  for (std::size_t b = 0; b < structures.size(); ++b) {
    const auto& s = *structures[b];
    if (s.empty()) throw ForceFieldError("structure " + std::to_string(b) + " has no atoms");
    try {
      s.validate();
    } catch (const std::exception& e) {
      throw ForceFieldError("structure " + std::to_string(b) + ": " + e.what());
    }
    const auto nl = chem::neighborList(s, cutoff);
    for (std::size_t a = 0; a < s.size(); ++a) {
      z.push_back(s.numbers[a]);
      batch.push_back(static_cast<std::int64_t>(b));
      for (int k = 0; k < 3; ++k) pos.push_back(s.positions[a][k]);
    }
    for (std::size_t e = 0; e < nl.size(); ++e) {
      ei.push_back(offset + nl.i[e]);
      ej.push_back(offset + nl.j[e]);
      for (int k = 0; k < 3; ++k) shifts.push_back(nl.image[e][k]);
    }
    const bool per = s.isPeriodic();
    periodic.push_back(per);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) cells.push_back(s.lattice ? (*s.lattice)[r][c] : 0.0);
    offset += static_cast<std::int64_t>(s.size());
    ptr.push_back(offset);
  }
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto B = static_cast<std::int64_t>(structures.size());
  const auto E = static_cast<std::int64_t>(ei.size());
  GraphBatch g;
  g.positions = torch::from_blob(pos.data(), {offset, 3}, f64).to(dtype).clone();
  g.numbers = torch::from_blob(z.data(), {offset}, i64).clone();
  g.batch = torch::from_blob(batch.data(), {offset}, i64).clone();
  g.ptr = torch::from_blob(ptr.data(), {B + 1}, i64).clone();
  auto eiT = torch::from_blob(ei.data(), {E}, i64);
  auto ejT = torch::from_blob(ej.data(), {E}, i64);
  g.edgeIndex = torch::stack({eiT, ejT}).clone();
  g.unitShifts = E > 0 ? torch::from_blob(shifts.data(), {E, 3}, f64).to(dtype).clone() : torch::zeros({0, 3}, f64.dtype(dtype));
  g.cell = torch::from_blob(cells.data(), {B, 3, 3}, f64).to(dtype).clone();
  g.periodic = torch::zeros({B}, torch::kBool);
  for (std::int64_t b = 0; b < B; ++b) g.periodic[b] = static_cast<bool>(periodic[static_cast<std::size_t>(b)]);
  g.numGraphs = B;
  return g;
}

GraphBatch makeGraphBatch(const chem::Structure& structure, double cutoff, torch::Dtype dtype) {
  return makeGraphBatch(std::vector<const chem::Structure*>{&structure}, cutoff, dtype);
}

NeighborCache::NeighborCache(double cutoff, double skin) : cutoff_(cutoff), skin_(skin) {
  if (!(cutoff > 0) || !std::isfinite(cutoff)) throw ForceFieldError("neighbour cache: the cutoff must be positive");
  if (!(skin >= 0) || !std::isfinite(skin)) throw ForceFieldError("neighbour cache: the skin must be 0 or positive");
}

void NeighborCache::setSkin(double skin) {
  if (!(skin >= 0) || !std::isfinite(skin)) throw ForceFieldError("neighbour cache: the skin must be 0 or positive");
  skin_ = skin;
  stale_ = true;
}

bool NeighborCache::stillValid(const chem::Structure& s, const torch::Device& device) const {
  // The device as asked for, not the tensors' own: "cuda" and "cuda:0" differ as Devices, and a list must
  // not be remade on every call for that.
  if (stale_ || device_ != device || s.numbers != numbers_ || s.pbc != pbc_ ||
      s.lattice != lattice_)
    return false;
  const double limit = 0.25 * skin_ * skin_;  // (skin / 2)^2
  for (std::size_t a = 0; a < s.size(); ++a) {
    const double dx = s.positions[a][0] - made_[a][0], dy = s.positions[a][1] - made_[a][1],
                 dz = s.positions[a][2] - made_[a][2];
    if (!(dx * dx + dy * dy + dz * dz <= limit)) return false;  // also NaN: remade, and rejected there
  }
  return true;
}

torch::Tensor NeighborCache::refresh(const chem::Structure& s, const torch::Device& device) {
  if (!stillValid(s, device)) {
    candidates_ = makeGraphBatch(s, cutoff_ + skin_, torch::kFloat64).to(device, torch::kFloat64);
    // Each candidate's image offset S . cell, fixed while the list is (the cell is).
    imageOffsets_ = s.isPeriodic() && candidates_.numEdges() > 0
                        ? torch::matmul(candidates_.unitShifts, candidates_.cell[0])
                        : torch::Tensor();
    device_ = device;
    numbers_ = s.numbers;
    made_ = s.positions;
    lattice_ = s.lattice;
    pbc_ = s.pbc;
    ++lists_;
    stale_ = false;
  }
  std::vector<double> flat;
  flat.reserve(3 * s.size());
  for (const auto& p : s.positions) flat.insert(flat.end(), p.begin(), p.end());
  return torch::from_blob(flat.data(), {static_cast<std::int64_t>(s.size()), 3}, torch::kFloat64)
      .to(device, torch::kFloat64, false, /*copy=*/true);  // never a view of flat
}

GraphBatch NeighborCache::graph(const chem::Structure& s, const torch::Device& device, torch::Dtype dtype) {
  const auto pos = refresh(s, device);
  // The candidates now closer than the cutoff (and apart: neighborList lists no zero-length pair).
  const auto& e = candidates_.edgeIndex;
  auto r = pos.index_select(0, e[1]) - pos.index_select(0, e[0]);
  if (imageOffsets_.defined()) r = r + imageOffsets_;
  const auto d2 = r.pow(2).sum(1);
  const auto keep = torch::nonzero((d2 < cutoff_ * cutoff_).logical_and(d2 > 0)).squeeze(1);
  GraphBatch g = candidates_;
  g.positions = pos.to(dtype);
  g.edgeIndex = candidates_.edgeIndex.index_select(1, keep);
  g.unitShifts = candidates_.unitShifts.index_select(0, keep).to(dtype);
  g.cell = candidates_.cell.to(dtype);
  return g;
}

GraphBatch NeighborCache::candidates(const chem::Structure& s, const torch::Device& device, torch::Dtype dtype) {
  const auto pos = refresh(s, device);
  GraphBatch g = candidates_;
  g.positions = pos.to(dtype);
  g.unitShifts = candidates_.unitShifts.to(dtype);
  g.cell = candidates_.cell.to(dtype);
  return g;
}

StrainedGeometry applyStrain(const GraphBatch& g, const torch::Tensor& positions, const torch::Tensor& strain) {
  const auto sym = 0.5 * (strain + strain.transpose(1, 2));
  StrainedGeometry out;
  // Row vectors: x' = x (I + eps), cell' = cell (I + eps).
  out.positions = positions + torch::bmm(positions.unsqueeze(1), sym.index_select(0, g.batch)).squeeze(1);
  out.cell = g.cell + torch::bmm(g.cell, sym);
  return out;
}

torch::Tensor edgeVectors(const GraphBatch& g, const torch::Tensor& positions, const torch::Tensor& cell) {
  const auto i = g.edgeIndex[0], j = g.edgeIndex[1];
  auto v = positions.index_select(0, j) - positions.index_select(0, i);
  if (g.numEdges() > 0) {
    const auto edgeCell = cell.index_select(0, g.batch.index_select(0, i));  // [E, 3, 3]
    v = v + torch::bmm(g.unitShifts.unsqueeze(1), edgeCell).squeeze(1);
  }
  return v;
}

GraphBatch padEdges(const GraphBatch& g, std::int64_t capacity) {
  if (capacity < g.numEdges())
    throw ForceFieldError("padEdges: capacity " + std::to_string(capacity) + " below " + std::to_string(g.numEdges()) + " edges");
  const auto ptr = g.ptr.defined() ? g.ptr.to(torch::kCPU) : torch::Tensor();
  if (g.numAtoms() < 2 || (ptr.defined() && ptr.numel() > 1 && ptr[1].item<std::int64_t>() < 2))
    throw ForceFieldError("padEdges: the first structure needs two atoms at least for the padding edges");
  GraphBatch p = g;
  p.edgeIndex = torch::empty({2, capacity}, g.edgeIndex.options());
  p.unitShifts = torch::empty({capacity, 3}, g.unitShifts.options());
  p.edgeWeight = torch::empty({capacity}, g.positions.options());
  copyEdgesPadded(p, g);
  return p;
}

void copyEdgesPadded(GraphBatch& padded, const GraphBatch& g) {
  const auto E = g.numEdges(), capacity = padded.numEdges();
  if (E > capacity || !padded.edgeWeight.defined())
    throw ForceFieldError("copyEdgesPadded: " + std::to_string(E) + " edges do not fit a padded graph of " + std::to_string(capacity));
  padded.edgeIndex.narrow(1, 0, E).copy_(g.edgeIndex);
  // Padding edge k: atom k -> atom k + 1 (mod the first structure's atoms), spread over the atoms: piled on one atom,
  // they made its row of the fused edge sums hundreds of edges long, and every sum waited for it (session 25: 108 and
  // 297 atoms at a third of their speed). On the device: the first structure's size is not read back.
  const auto first = padded.ptr.defined() && padded.ptr.numel() > 1
                         ? padded.ptr.narrow(0, 1, 1)
                         : torch::full({1}, padded.numAtoms(), padded.edgeIndex.options());
  const auto k = torch::arange(capacity - E, padded.edgeIndex.options());
  padded.edgeIndex[0].narrow(0, E, capacity - E).copy_(torch::remainder(k, first));
  padded.edgeIndex[1].narrow(0, E, capacity - E).copy_(torch::remainder(k + 1, first));
  padded.unitShifts.narrow(0, 0, E).copy_(g.unitShifts);
  padded.unitShifts.narrow(0, E, capacity - E).zero_();
  if (g.edgeWeight.defined()) padded.edgeWeight.narrow(0, 0, E).copy_(g.edgeWeight);
  else padded.edgeWeight.narrow(0, 0, E).fill_(1.0);
  padded.edgeWeight.narrow(0, E, capacity - E).zero_();
}

torch::Tensor cellVolumes(const torch::Tensor& cell) { return torch::linalg_det(cell).abs(); }

}  // namespace atomscope::forcefield
