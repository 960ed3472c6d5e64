#pragma once
// TorchScript machine-learned potentials from C++: MACE (and models with MACE's input dictionary,
// e.g. MACE foundation models exported with torch.jit.script). The input dictionary follows MACE's
// AtomicData (mace/data/atomic_data.py): positions [N,3], node_attrs one-hot over the model's
// atomic_numbers buffer, edge_index [2,E] (row 0 sender i, row 1 receiver j, vector
// x_j - x_i + shifts), shifts = unit_shifts . cell, unit_shifts, cell [3B,3], batch, ptr, weight,
// head. Forward arguments are matched to the scripted signature by name (training, compute_force,
// compute_stress, ...), so older and newer MACE versions both work.
#include <torch/script.h>

#include <filesystem>
#include <vector>

#include "atomscope/forcefield/calculator.h"
#include "atomscope/forcefield/graph.h"

namespace atomscope::forcefield {

class TorchScriptCalculator : public Calculator {
 public:
  // Throws ForceFieldError naming the file when it is missing, not TorchScript, lacks the buffers
  // a MACE model has (atomic_numbers, r_max), or when trusted is false (TorchScript is code).
  // dtype: "model" keeps the file's precision; "float64" / "float32" convert the module (float64
  // resolves energy differences far below float32's ~1e-4 eV at -10^3 eV). The graph executor's
  // optimiser is switched off for this process: its fused kernels change results between the
  // first and later calls, and a calculator must return the same numbers for the same input.
  TorchScriptCalculator(const std::filesystem::path& file, const std::string& device = "cpu", bool trusted = false,
                        const std::string& dtype = "model");
  std::string name() const override { return "torchscript:" + file_.filename().string(); }
  CalcResult compute(const chem::Structure& structure, bool stress = false) override;

  double cutoff() const { return rMax_; }
  const std::vector<int>& atomicNumbers() const { return z_; }
  torch::Dtype dtype() const { return dtype_; }

 private:
  std::filesystem::path file_;
  torch::jit::Module module_;
  torch::Device device_{torch::kCPU};
  torch::Dtype dtype_ = torch::kFloat64;
  std::vector<int> z_;
  double rMax_ = 0.0;
  std::optional<NeighborCache> pairs_;  // made once r_max is read
  std::vector<std::string> forwardArgs_;
};

}  // namespace atomscope::forcefield
