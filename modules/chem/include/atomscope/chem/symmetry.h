#pragma once
// Crystal symmetry through spglib (C library, Debian's libsymspg 2.0.2): space group, spglib's
// standardized primitive and conventional cells, and Niggli reduction. Needs the chemistry toolkits
// (ATOMSCOPE_HAS_CHEM_TOOLKITS); every function throws ChemError for a structure without a lattice
// or when spglib finds no symmetry (its message is passed on).
//
// Tolerances: pymatgen's SpacegroupAnalyzer defaults are symprec = 0.01 A and angle_tolerance = 5
// degrees (pymatgen 2022.11, symmetry/analyzer.py), and we use the same so results equal it; the
// Materials Project and CDVAE's "spacegroup.number" column were computed with symprec = 0.1, so
// pass 0.1 to compare with those.
#include <string>
#include <vector>

#include "atomscope/chem/lattice.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct SymmetryOptions {
  double symprec = 0.01;        // Angstrom (pymatgen SpacegroupAnalyzer default)
  double angleTolerance = 5.0;  // degrees (pymatgen SpacegroupAnalyzer default); < 0: spglib's own
};

struct SpaceGroupInfo {
  int number = 0;                     // 1..230
  std::string international;          // short Hermann-Mauguin symbol, "Fm-3m"
  std::string hallSymbol;             // "-F 4 2 3"
  int hallNumber = 0;
  std::string pointGroup;             // "m-3m"
  std::string crystalSystem;          // triclinic ... cubic, from the number
  std::vector<int> equivalentAtoms;   // per atom: the first atom of its orbit
  std::vector<char> wyckoffLetters;   // per atom: 'a', 'b', ...
  int operationCount = 0;
};

SpaceGroupInfo spaceGroup(const Structure& structure, const SymmetryOptions& options = {});

// spglib's standardize_cell with to_primitive = 1 / 0 (idealized, rotated to spglib's standard
// orientation). Per-atom arrays and info are not carried (the atoms are new); pbc becomes T T T.
Structure primitiveCell(const Structure& structure, const SymmetryOptions& options = {});
Structure conventionalCell(const Structure& structure, const SymmetryOptions& options = {});

// Niggli-reduced lattice (rows a, b, c) by spglib's niggli_reduce with tolerance eps (spglib's
// Python default 1e-5). Throws ChemError when it fails.
Mat3 niggliReduceLattice(const Mat3& lattice, double eps = 1e-5);
// The same structure on its Niggli-reduced lattice, atoms wrapped into the new cell [0, 1).
// Per-atom arrays and info are kept (same atoms, same order).
Structure niggliReduced(const Structure& structure, double eps = 1e-5);

}  // namespace atomscope::chem
