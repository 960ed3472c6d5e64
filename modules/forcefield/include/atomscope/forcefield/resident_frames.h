#pragma once
// Training frames kept on the training device as fixed-size tensors, so that a batch is a few
// gathers: no neighbour lists, host-to-device copies or host synchronisations per step, and every
// batch has the same shapes, which a captured CUDA graph needs (ff.train's cuda_graph).
// For data sets whose frames all have the same number of atoms (one molecule's trajectory: MD17,
// 3BPA, an MD run of a fixed box). Each frame's neighbour list is made once (rotations leave it
// unchanged) and padded to the longest one with edges of weight 0, which add exact zeros.
#include <torch/torch.h>

#include <array>
#include <utility>
#include <vector>

#include "atomscope/chem/structure.h"
#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/graph.h"
#include "atomscope/forcefield/ponita.h"

namespace atomscope::forcefield {

// A training batch: the graph and its labels, energies [B] (float64, eV), forces [N, 3] (eV/A), and
// stresses [B, 3, 3] (eV/A^3) with stressMask [B] (1 where the structure has a stress label, else 0).
struct LabelledBatch {
  GraphBatch graph;
  torch::Tensor energy;
  torch::Tensor forces;
  torch::Tensor stress;
  torch::Tensor stressMask;
};

// A frame's stress label (info "stress", 9 values, as loadLabelled stores it) and whether it has one.
std::pair<std::array<double, 9>, bool> stressLabel(const chem::Structure& s);

// Turns structure b of the batch by rotations[b] ([B, 3, 3], rows act on column vectors): positions,
// cell, forces and stress (R s R^T). Neighbour lists stay valid (distances and integer images do not change).
void rotateBatch(LabelledBatch& batch, const torch::Tensor& rotations);

class ResidentFrames {
 public:
  // Frames with "energy" in info and "forces" per atom (loadLabelled's form), all with the same
  // number of atoms (canHold). Species are checked against the model's here, once. Throws
  // ForceFieldError naming the frame otherwise, and TooLarge when the tensors would take more than
  // maxBytes of device memory (0: no limit), before anything is copied to the device.
  ResidentFrames(const std::vector<chem::Structure>& frames, const PonitaImpl& model, const torch::Device& device,
                 torch::Dtype dtype, std::size_t maxBytes = 0);
  struct TooLarge : ForceFieldError {
    using ForceFieldError::ForceFieldError;
  };
  // Whether the frames qualify: at least one, all with the same number of atoms (two or more).
  static bool canHold(const std::vector<chem::Structure>& frames);
  std::size_t bytes() const { return bytes_; }  // device memory taken

  // The frames idx ([B] int64 on the device), each turned by rotations[b] when rotations ([B, 3, 3])
  // is defined. Only device operations: can be captured.
  LabelledBatch batch(const torch::Tensor& idx, const torch::Tensor& rotations = {}) const;

  std::int64_t frames() const { return positions_.size(0); }
  std::int64_t atomsPerFrame() const { return positions_.size(1); }
  std::int64_t edgesPerFrame() const { return edges_.size(1); }  // after padding

 private:
  torch::Tensor positions_, forces_, energies_;  // [F, n, 3], [F, n, 3], [F] float64
  torch::Tensor stress_, stressMask_;            // [F, 3, 3], [F]
  torch::Tensor numbers_, species_;              // [F, n] int64
  torch::Tensor edges_, weights_, shifts_;       // [F, e, 2] int64 (i, j), [F, e], [F, e, 3]
  torch::Tensor cells_, periodic_;               // [F, 3, 3], [F] bool
  std::size_t bytes_ = 0;
};

}  // namespace atomscope::forcefield
