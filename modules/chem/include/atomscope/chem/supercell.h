#pragma once
// Supercells: the structure tiled along its lattice vectors, as ASE's Atoms.repeat does it.
#include <array>

#include "atomscope/chem/structure.h"

namespace atomscope::chem {

// The structure repeated repeats[k] times along lattice vector k. Atom order as ASE's Atoms.repeat:
// the whole original block once per image, images in the order (0,0,0), (0,0,1), ..., i.e. the
// last axis varies fastest; image (m0,m1,m2) shifts the block by m0*a + m1*b + m2*c. Every
// per-atom array is tiled the same way; info is copied unchanged (ASE does not scale energies);
// the new lattice rows are repeats[k] * row k, pbc kept.
// Throws ChemError when the structure has no lattice or a repeat is below 1.
Structure makeSupercell(const Structure& structure, const std::array<int, 3>& repeats);

}  // namespace atomscope::chem
