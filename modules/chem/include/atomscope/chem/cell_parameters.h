#pragma once
// Lattice vectors <-> cell parameters (a, b, c in Angstrom; alpha, beta, gamma in degrees).
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct CellParameters {
  double a = 0, b = 0, c = 0;
  double alpha = 90, beta = 90, gamma = 90;  // degrees: alpha between b and c, beta a-c, gamma a-b
};

CellParameters cellParameters(const Mat3& lattice);

// Lattice vectors (rows) in ASE's orientation (ase.geometry.cellpar_to_cell, and gemmi's): a along
// x, b in the xy-plane, c with positive z; angles within 2.8e-14 of 90 give exact zeros, as ASE.
// pymatgen's Lattice.from_parameters orients differently (c along z): same metric, rotated.
// Throws ChemError for non-positive or non-finite lengths or angles that close no cell.
Mat3 latticeFromParameters(const CellParameters& p);

// Cartesian position of fractional coordinates f in `lattice`: f[0] a + f[1] b + f[2] c.
inline Vec3 fractionalToCartesian(const Vec3& f, const Mat3& lattice) {
  Vec3 r{0, 0, 0};
  for (int k = 0; k < 3; ++k) r[k] = f[0] * lattice[0][k] + f[1] * lattice[1][k] + f[2] * lattice[2][k];
  return r;
}

}  // namespace atomscope::chem
