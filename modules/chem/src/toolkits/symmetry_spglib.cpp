// Space groups, standardized cells and Niggli reduction through spglib's C API.
#include <spglib.h>

#include <cmath>
#include <memory>
#include <string>

#include "atomscope/chem/error.h"
#include "atomscope/chem/lattice.h"
#include "atomscope/chem/symmetry.h"

namespace atomscope::chem {
namespace {

// spglib's cell: lattice with the vectors as COLUMNS, fractional positions, integer types (Z).
struct SpgCell {
  double lattice[3][3];
  std::vector<std::array<double, 3>> positions;
  std::vector<int> types;
};

SpgCell toSpg(const Structure& s, const char* what) {
  if (!s.lattice) throw ChemError(std::string(what) + ": the structure has no lattice");
  if (s.empty()) throw ChemError(std::string(what) + ": the structure has no atoms");
  SpgCell cell;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) cell.lattice[i][j] = (*s.lattice)[j][i];
  const auto frac = s.fractionalPositions();
  cell.positions.assign(frac.begin(), frac.end());
  cell.types = s.numbers;
  return cell;
}

std::string spgError(const char* what) {
  return std::string(what) + ": spglib: " + spg_get_error_message(spg_get_error_code());
}

std::string crystalSystemOf(int n) {
  if (n <= 2) return "triclinic";
  if (n <= 15) return "monoclinic";
  if (n <= 74) return "orthorhombic";
  if (n <= 142) return "tetragonal";
  if (n <= 167) return "trigonal";
  if (n <= 194) return "hexagonal";
  return "cubic";
}

Structure standardized(const Structure& s, const SymmetryOptions& o, int toPrimitive, const char* what) {
  SpgCell cell = toSpg(s, what);
  const int n = static_cast<int>(s.size());
  // spglib writes the result in place; a conventional cell has at most 4x the atoms (F centring).
  cell.positions.resize(4 * static_cast<std::size_t>(n));
  cell.types.resize(4 * static_cast<std::size_t>(n));
  const int count = spgat_standardize_cell(cell.lattice, reinterpret_cast<double(*)[3]>(cell.positions.data()),
                                           cell.types.data(), n, toPrimitive, /*no_idealize=*/0, o.symprec,
                                           o.angleTolerance);
  if (count <= 0) throw ChemError(spgError(what));
  Structure out;
  Mat3 lat;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) lat[i][j] = cell.lattice[j][i];
  out.lattice = lat;
  out.pbc = {true, true, true};
  for (int i = 0; i < count; ++i) out.addAtom(cell.types[i], rowTimes(cell.positions[i], lat));
  return out;
}

}  // namespace

SpaceGroupInfo spaceGroup(const Structure& s, const SymmetryOptions& o) {
  SpgCell cell = toSpg(s, "spaceGroup");
  std::unique_ptr<SpglibDataset, void (*)(SpglibDataset*)> ds(
      spgat_get_dataset(cell.lattice, reinterpret_cast<double(*)[3]>(cell.positions.data()), cell.types.data(),
                        static_cast<int>(s.size()), o.symprec, o.angleTolerance),
      spg_free_dataset);
  if (!ds || ds->spacegroup_number == 0) throw ChemError(spgError("spaceGroup"));
  SpaceGroupInfo info;
  info.number = ds->spacegroup_number;
  info.international = ds->international_symbol;
  info.hallSymbol = ds->hall_symbol;
  info.hallNumber = ds->hall_number;
  info.pointGroup = ds->pointgroup_symbol;
  info.crystalSystem = crystalSystemOf(info.number);
  info.operationCount = ds->n_operations;
  for (int i = 0; i < ds->n_atoms; ++i) {
    info.equivalentAtoms.push_back(ds->equivalent_atoms[i]);
    info.wyckoffLetters.push_back(static_cast<char>('a' + ds->wyckoffs[i]));
  }
  return info;
}

Structure primitiveCell(const Structure& s, const SymmetryOptions& o) {
  return standardized(s, o, 1, "primitiveCell");
}

Structure conventionalCell(const Structure& s, const SymmetryOptions& o) {
  return standardized(s, o, 0, "conventionalCell");
}

Mat3 niggliReduceLattice(const Mat3& lattice, double eps) {
  double l[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) l[i][j] = lattice[j][i];
  if (!spg_niggli_reduce(l, eps)) throw ChemError("niggliReduceLattice: spglib's Niggli reduction failed");
  Mat3 out;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) out[i][j] = l[j][i];
  return out;
}

Structure niggliReduced(const Structure& s, double eps) {
  if (!s.lattice) throw ChemError("niggliReduced: the structure has no lattice");
  Structure out = s;
  const Mat3 reduced = niggliReduceLattice(*s.lattice, eps);
  const Mat3 inv = inverse(reduced);
  out.lattice = reduced;
  for (auto& p : out.positions) {
    Vec3 f = rowTimes(p, inv);
    for (double& x : f) {
      x -= std::floor(x);
      if (x >= 1.0) x = 0.0;  // -1e-17 - floor gives exactly 1.0
    }
    p = rowTimes(f, reduced);
  }
  return out;
}

}  // namespace atomscope::chem
