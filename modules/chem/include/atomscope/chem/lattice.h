#pragma once
// Small 3x3 matrix helpers for lattices (rows are lattice vectors), toolkit-free. Cell parameters
// (lengths and angles) are in cell_parameters.h.
#include <array>

#include "atomscope/chem/structure.h"

namespace atomscope::chem {

double determinant(const Mat3& m);
Mat3 inverse(const Mat3& m);  // throws ChemError when singular
Mat3 transpose(const Mat3& m);
Mat3 multiply(const Mat3& a, const Mat3& b);
Vec3 rowTimes(const Vec3& v, const Mat3& m);  // v . m (fractional -> Cartesian with m = lattice)


}  // namespace atomscope::chem
