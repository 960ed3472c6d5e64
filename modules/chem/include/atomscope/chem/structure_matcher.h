#pragma once
// Crystal structure matching in the manner of pymatgen's StructureMatcher (pymatgen 2022.11,
// analysis/structure_matcher.py), with ADiT's settings as defaults: ltol 0.3, stol 0.5,
// angle_tol 10, primitive_cell, scale, no supercells, species compared by element. Toolkit-free.
//
// fit(a, b): same reduced composition; both reduced (Niggli, then primitive cell found from pure
// translations that map the crystal onto itself within 0.25 A, then Niggli again); volumes scaled
// to each other; then for every lattice of b's points whose lengths are within ltol (relative) and
// angles within angle_tol of a's lattice, and every translation putting b's rarest-species site on
// an a site of that species, sites are paired by linear assignment (Hungarian) on squared periodic
// distances in the averaged lattice; distances minus the mean shift, divided by (V/N)^(1/3), must
// all stay below stol.
#include <optional>
#include <vector>

#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct StructureMatcherOptions {
  double ltol = 0.3;       // fractional length tolerance
  double stol = 0.5;       // site tolerance, in units of (V / N)^(1/3)
  double angleTol = 10.0;  // degrees
  bool primitiveCell = true;
  bool scale = true;
  double primitiveTolerance = 0.25;  // A, pymatgen's get_primitive_structure default
};

struct MatchResult {
  double rms = 0;      // root mean square of the normalised site distances
  double maxDist = 0;  // largest normalised site distance
};

class StructureMatcher {
 public:
  explicit StructureMatcher(StructureMatcherOptions options = {}) : options_(options) {}

  // True when the two crystals match (pymatgen's fit). skipReduction: compare the cells as given
  // (ADiT's novelty check uses pymatgen's skip_structure_reduction=True after its own reduction).
  bool fit(const Structure& a, const Structure& b, bool skipReduction = false) const;
  // The smallest RMS over all matching mappings, with its max distance (pymatgen's get_rms_dist);
  // nullopt when they do not match.
  std::optional<MatchResult> rmsDistance(const Structure& a, const Structure& b) const;
  // Groups as pymatgen's group_structures: structures with the same reduced composition are
  // compared in input order, each unmatched one starting a group. Returns the group of each input.
  std::vector<int> groupStructures(const Trajectory& structures) const;

  // The reduced structure fit() compares (Niggli, primitive, Niggli).
  Structure reduce(const Structure& s) const;
  const StructureMatcherOptions& options() const { return options_; }

 private:
  std::optional<MatchResult> match(const Structure& a, const Structure& b, bool skipReduction,
                                   bool breakOnMatch) const;
  StructureMatcherOptions options_;
};

// Toolkit-free Niggli reduction (Grosse-Kunstleve, Sauter & Adams 2004, Acta Cryst. A60, 1-6,
// with pymatgen's tolerance e = tol * V^(1/3)). Returns the reduced basis (rows), right-handed.
Mat3 niggliBasis(const Mat3& lattice, double tol = 1e-5);
// The structure on its Niggli basis, atoms wrapped into [0, 1).
Structure niggliReduce(const Structure& s, double tol = 1e-5);
// The primitive cell from pure translations (see above); the structure itself when none.
Structure findPrimitive(const Structure& s, double tolerance = 0.25);
// The reduced formula key pymatgen groups by: "Z:count,Z:count" divided by the gcd.
std::string reducedCompositionKey(const Structure& s);

}  // namespace atomscope::chem
