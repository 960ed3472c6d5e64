#pragma once
// One interface for everything that turns a structure into energy, forces and stress: PONITA,
// TorchScript MLIPs (MACE) and xtb. Optimisers, MD and evaluation take any of them.
#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/chem/structure.h"

namespace atomscope::forcefield {

struct CalcResult {
  double energy = 0.0;                  // eV
  std::vector<chem::Vec3> forces;       // eV / A, one per atom
  std::optional<chem::Mat3> stress;     // eV / A^3 (ASE sign), periodic structures only when asked
};

class Calculator {
 public:
  virtual ~Calculator() = default;
  virtual std::string name() const = 0;
  // Throws ForceFieldError (naming the structure's formula and the calculator) on failure.
  virtual CalcResult compute(const chem::Structure& structure, bool stress = false) = 0;
  // Neural calculators on CUDA: matrix products in TF32 (tensor cores, 10-bit mantissa) during compute().
  // Several times the FP32 speed of large systems' products; results move by about 1e-3 relative.
  bool tf32 = false;
  // Neural calculators: pairs within cutoff + skin are listed once and reused until an atom has moved
  // skin / 2 (NeighborCache); 0 makes a list at every call. 0.5: a CUDA-graphed small system computes every
  // listed pair, so a thinner skin is less work, and a remade list costs little since the graph takes it without a
  // new capture (H200, session 25: 297 atoms 43,413 / 47,059 / 48,632 atom-steps/s at skins 1.0 / 0.5 / 0.3; 999
  // atoms, not graphed, 79,140 / 78,383 / 77,174).
  double neighborSkin = 0.5;
};

// "ponita:<file>", "torchscript:<file>" (MACE, NequIP-style), "xtb" (GFN2); a bare path is guessed
// from its content (PONITA archive or TorchScript). device: "cpu" or "cuda:N". TorchScript files
// are code: loading one needs trusted = true (issue 11 decides who may set it).
std::unique_ptr<Calculator> makeCalculator(const std::string& spec, const std::string& device = "cpu",
                                           bool trusted = true);

}  // namespace atomscope::forcefield
