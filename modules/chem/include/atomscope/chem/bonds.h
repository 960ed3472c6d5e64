#pragma once
// Bonds from covalent radii. Default rule as Open Babel's OBMol::ConnectTheDots: atoms i and j are
// bonded when  minDistance < d  and  d < scale * (r_i + r_j) + tolerance,  with r the covalent radii
// (Cordero 2008), tolerance 0.45 Angstrom and minDistance 0.4 Angstrom (Open Babel 3, mol.cpp).
// With a lattice, periodic images along the periodic axes are searched too. A cell list keeps it
// O(N) for dense systems (100k atoms in well under a second).
#include <array>
#include <vector>

#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct Bond {
  int i = 0;
  int j = 0;
  // Atom j's partner is at positions[j] + image . lattice (image (0,0,0) without a lattice).
  std::array<int, 3> image{0, 0, 0};
  bool operator==(const Bond&) const = default;
};

struct BondOptions {
  double scale = 1.0;         // multiplies r_i + r_j (e.g. 1.15 with tolerance 0)
  double tolerance = 0.45;    // Angstrom added to the scaled sum (Open Babel)
  double minDistance = 0.4;   // Angstrom; closer pairs are overlaps, not bonds (Open Babel)
};

// Bonds with i < j, or i == j across an image (tiny cells); each bond once. Sorted by (i, j, image).
std::vector<Bond> findBonds(const Structure& structure, const BondOptions& options = {});

// The cutoff the rule gives for two elements.
double bondCutoff(int zi, int zj, const BondOptions& options = {});

}  // namespace atomscope::chem
