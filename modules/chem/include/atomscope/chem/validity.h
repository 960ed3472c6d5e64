#pragma once
// Validity, uniqueness and novelty of generated structures as ADiT reports them
// (facebookresearch/all-atom-diffusion-transformer, src/eval/crystal.py, crystal_generation.py and
// molecule_generation.py; the crystal checks are CDVAE's).
//
// Crystals (toolkit-free):
//  - composition valid (ADiT's smact_validity): a single element, or only metals (smact.metals), is
//    valid; otherwise some choice of one oxidation state per element (SMACT v2.6's default table)
//    must make the formula, reduced by the gcd of its counts, charge-neutral AND pass the Pauling
//    test: every cation less electronegative than every anion (an element without a Pauling value
//    fails it). More than 1e7 oxidation-state combinations counts as invalid, as in ADiT.
//  - structure valid (structure_validity): every distance between two different atoms, over
//    periodic images, is at least 0.5 A, and the cell volume at least 0.1 A^3.
//  - valid = both. Data: tests/chem/make_smact_tables.py (SMACT v2.6, which ADiT pins).
//  - uniqueness: unique groups of the valid crystals under the structure matcher / valid count;
//    novelty: share of those groups whose first member matches no reference crystal.
// Molecules (molecule_perception.h, toolkits): valid when RDKit builds and sanitises it from the
// coordinates; uniqueness by canonical SMILES of the largest fragment over the valid ones; novelty
// as ADiT: |unique SMILES not in the reference| / valid count.
#include <set>
#include <string>
#include <vector>

#include "atomscope/chem/structure.h"
#include "atomscope/chem/structure_matcher.h"

namespace atomscope::chem {

// ADiT's smact_validity on a composition: atomic numbers and their counts (any order).
bool smactValidity(const std::vector<int>& atomicNumbers, const std::vector<int>& counts);
// The same on a structure's composition.
bool compositionValid(const Structure& structure);

// The shortest distance between two different atoms, over periodic images along periodic axes
// (plain distances for a molecule); +infinity with fewer than two atoms. Distances at or above
// `searchRadius` are not searched for and come back as +infinity.
double minimumInteratomicDistance(const Structure& structure, double searchRadius = 10.0);

struct CrystalValidityOptions {
  double minDistance = 0.5;  // A (CDVAE / ADiT structure_validity cutoff)
  double minVolume = 0.1;    // A^3
  // ADiT's array_dict_to_crystal treats a generated lattice with an angle outside (50, 130)
  // degrees as invalid. It applies to the lattice parameters a model generates, not to a cell
  // read from a file (whose angles depend on the cell chosen), so it is off by default.
  bool angleFilter = false;
  // The checks for a model's generated crystals, as ADiT counts them (the angle filter on): what
  // adit.evaluate and the Generate gallery both use, so their valid counts agree.
  static CrystalValidityOptions generated() {
    CrystalValidityOptions o;
    o.angleFilter = true;
    return o;
  }
};

struct CrystalValidity {
  bool lattice = false;      // a lattice and atoms, angles (when filtered) and volume pass: the rest was checked
  bool composition = false;
  bool structure = false;
  bool valid = false;
  double minDistance = 0.0;  // A, as measured
  std::string reason;        // empty when valid: "no lattice", "distance 0.31 A < 0.5 A", ...
};

CrystalValidity crystalValidity(const Structure& structure, const CrystalValidityOptions& options = {});

struct SetMetrics {
  std::size_t total = 0, valid = 0, unique = 0, novel = 0;
  double validRate = 0, uniqueRate = 0, novelRate = -1;  // novelRate -1: no reference given
};

// ADiT's crystal set metrics: validity of each, uniqueness by StructureMatcher.group_structures
// over the valid ones, novelty of each group's first member against `reference` (none: -1).
// `validity` may be given (one per structure) to skip recomputing it.
SetMetrics crystalSetMetrics(const Trajectory& structures, const Trajectory* reference,
                             const StructureMatcherOptions& matcher = {},
                             const CrystalValidityOptions& options = {},
                             std::vector<CrystalValidity>* validity = nullptr,
                             std::vector<int>* groupOf = nullptr);

// ADiT's molecule set metrics from per-molecule results: `smiles[i]` is the canonical SMILES of the
// largest fragment of a valid molecule, empty for an invalid one.
SetMetrics moleculeSetMetrics(const std::vector<std::string>& smiles, const std::set<std::string>* reference);

}  // namespace atomscope::chem
