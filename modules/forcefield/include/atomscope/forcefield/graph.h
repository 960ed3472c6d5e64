#pragma once
// Batched atomic graphs for message-passing potentials. Several structures are concatenated: atom
// k of the batch belongs to structure batch[k]. Edges come from chem::neighborList (ASE's i, j, S
// convention): edge e joins centre i = edgeIndex[0][e] to neighbour j = edgeIndex[1][e], whose copy
// sits at x_j + S_e . cell. Edge vectors are recomputed from the position and cell tensors, so they
// are differentiable with respect to both (forces by autograd, stress through a strain).
#include <torch/torch.h>

#include <array>
#include <optional>
#include <vector>

#include "atomscope/chem/structure.h"

namespace atomscope::forcefield {

struct GraphBatch {
  torch::Tensor positions;  // [N, 3] Angstrom (dtype of the model)
  torch::Tensor numbers;    // [N] int64 atomic numbers
  torch::Tensor batch;      // [N] int64 structure index
  torch::Tensor ptr;        // [B + 1] int64 first atom of each structure
  torch::Tensor edgeIndex;  // [2, E] int64: row 0 centre i, row 1 neighbour j
  torch::Tensor unitShifts; // [E, 3] integer image S (stored in the float dtype)
  torch::Tensor cell;       // [B, 3, 3] rows a, b, c (zeros for a molecule)
  torch::Tensor periodic;   // [B] bool: has a lattice and some periodic axis
  std::int64_t numGraphs = 0;
  // Optional. edgeWeight [E] (the float dtype) multiplies each edge's kernel: 0 marks the padding edges
  // of fixed-size batches (resident_frames.h). speciesIndex [N] int64: each atom's index in the model's
  // species list, already checked, so the model skips its per-call check (a host synchronisation).
  torch::Tensor edgeWeight;
  torch::Tensor speciesIndex;

  std::int64_t numAtoms() const { return positions.size(0); }
  std::int64_t numEdges() const { return edgeIndex.size(1); }
  GraphBatch to(const torch::Device& device, torch::Dtype dtype) const;
};

// Builds the batch with edges closer than cutoff. Throws ForceFieldError naming the structure
// (its index in `structures`) when it is empty or invalid.
GraphBatch makeGraphBatch(const std::vector<const chem::Structure*>& structures, double cutoff,
                          torch::Dtype dtype = torch::kFloat64);
GraphBatch makeGraphBatch(const chem::Structure& structure, double cutoff, torch::Dtype dtype = torch::kFloat64);

// g with its edges padded to `capacity`: extra edge k goes from atom k to atom k + 1 of the first structure (mod its
// size) with weight 0 (the model multiplies each edge's kernel by its weight, so they add nothing, and two distinct
// atoms give a nonzero edge vector, so a finite gradient), the real ones keep their weights (1 when g has none). Fixed shapes for a captured computation while the neighbour list
// changes under it. Throws ForceFieldError for fewer than 2 atoms in the first structure or capacity < g's edges.
GraphBatch padEdges(const GraphBatch& g, std::int64_t capacity);
// Writes g's edges into padded's edge tensors in place (padEdges' layout; the same atoms, at most its capacity).
void copyEdgesPadded(GraphBatch& padded, const GraphBatch& g);

// Neighbour lists reused from call to call, as molecular dynamics and optimisers need them: pairs
// closer than cutoff + skin are listed once (chem::neighborList, on the host) and kept on the device;
// each call keeps those now closer than the cutoff, on the device. The list is made again only when
// an atom has moved more than skin / 2 since it was made (no pair can then have come from beyond
// cutoff + skin), or the atoms, elements, cell or periodic axes changed. graph(s) is
// makeGraphBatch(s, cutoff).to(device, dtype): the same edges in the same order.
class NeighborCache {
 public:
  explicit NeighborCache(double cutoff, double skin = 1.0);
  GraphBatch graph(const chem::Structure& s, const torch::Device& device, torch::Dtype dtype);
  // Every listed pair, those beyond the cutoff included: a graph whose shape changes only when the list
  // is remade (lists() counts up), for captured computations. A model whose kernels vanish beyond the
  // cutoff (PONITA's smooth cutoff is exactly zero there, with zero slope) gives graph()'s results.
  GraphBatch candidates(const chem::Structure& s, const torch::Device& device, torch::Dtype dtype);
  std::size_t lists() const { return lists_; }  // neighbour lists made so far
  double cutoff() const { return cutoff_; }
  double skin() const { return skin_; }
  void setSkin(double skin);  // the next call makes a new list

 private:
  bool stillValid(const chem::Structure& s, const torch::Device& device) const;
  torch::Tensor refresh(const chem::Structure& s, const torch::Device& device);  // positions [N, 3] float64
  double cutoff_, skin_;
  std::size_t lists_ = 0;
  bool stale_ = true;
  // What the list was made for, and the candidates on the device (float64 positions, cells, shifts).
  torch::Device device_ = torch::kCPU;
  std::vector<int> numbers_;
  std::vector<chem::Vec3> made_;
  std::optional<chem::Mat3> lattice_;
  std::array<bool, 3> pbc_{false, false, false};
  GraphBatch candidates_;
  torch::Tensor imageOffsets_;  // [E, 3] S . cell of each candidate (periodic structures)
};

// Displaced geometry for stress: positions (I + eps) and cells (I + eps) with eps symmetrised per
// structure ([B, 3, 3], usually zeros that require grad; dE/deps / V is the stress).
struct StrainedGeometry {
  torch::Tensor positions;  // [N, 3]
  torch::Tensor cell;       // [B, 3, 3]
};
StrainedGeometry applyStrain(const GraphBatch& g, const torch::Tensor& positions, const torch::Tensor& strain);

// x_j - x_i + S . cell[batch of i] for every edge: [E, 3].
torch::Tensor edgeVectors(const GraphBatch& g, const torch::Tensor& positions, const torch::Tensor& cell);

// Cell volumes [B] (|det|; 0 for molecules).
torch::Tensor cellVolumes(const torch::Tensor& cell);

}  // namespace atomscope::forcefield
