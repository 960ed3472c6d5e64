#pragma once
// A molecule or a crystal: atomic numbers and Cartesian positions (Angstrom), an optional 3x3
// lattice (rows are the lattice vectors a, b, c) with periodic flags, named per-atom arrays
// (forces N x 3, charges N, ...) and free-form per-structure values (energy, stress, QM9 labels).
#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atomscope/core/json.h"

namespace atomscope::chem {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<Vec3, 3>;  // rows: lattice vectors a, b, c (Angstrom)

// A named per-atom array of `columns` values per atom, row-major (atom i at [i*columns, (i+1)*columns)).
// `type` keeps the extended-XYZ column type so a file reads back as it was written:
// Real, Int and Bool live in `values`; String columns live in `strings`.
struct AtomProperty {
  enum class Type { Real, Int, Bool, String };
  Type type = Type::Real;
  int columns = 1;
  std::vector<double> values;
  std::vector<std::string> strings;

  std::size_t atomCount() const {
    const std::size_t n = type == Type::String ? strings.size() : values.size();
    return columns > 0 ? n / static_cast<std::size_t>(columns) : 0;
  }
  double at(std::size_t atom, int column = 0) const { return values[atom * columns + column]; }
};

struct Structure {
  std::vector<int> numbers;     // atomic numbers Z (1..118)
  std::vector<Vec3> positions;  // Cartesian, Angstrom
  std::optional<Mat3> lattice;  // absent for a molecule
  std::array<bool, 3> pbc{false, false, false};
  std::map<std::string, AtomProperty> atomProperties;  // "forces" (N x 3), "charges" (N), ...
  // Per-structure values in file order: numbers, strings, booleans, arrays ("energy", "stress", "U0").
  Json info = Json::object();

  std::size_t size() const { return numbers.size(); }
  bool empty() const { return numbers.empty(); }
  bool isPeriodic() const { return lattice.has_value() && (pbc[0] || pbc[1] || pbc[2]); }

  void addAtom(int z, const Vec3& position);
  // Removes atom i with its rows of every per-atom array; throws ChemError when i is out of range.
  void removeAtom(std::size_t i);

  // Hill formula as ASE's Atoms.get_chemical_formula('hill'): C, then H, then the rest
  // alphabetically; without carbon everything alphabetically. "C2H6O", "H2O", "C2H4O2Zr".
  std::string formula() const;
  std::vector<std::string> symbols() const;

  // The first of `keys` present in info as a number.
  std::optional<double> infoNumber(std::initializer_list<std::string_view> keys) const;
  // Energy under the names MLIP data sets use: energy, free_energy, dft_energy, REF_energy, ...
  std::optional<double> energy() const;
  std::optional<std::string> energyKey() const;
  // The first per-atom Real array with 3 columns among forces, force, dft_forces, REF_forces, ...
  const AtomProperty* forces() const;
  const AtomProperty* atomProperty(std::string_view name) const;

  double cellVolume() const;  // 0 without a lattice
  // Fractional coordinates (rows of positions times the inverse lattice); throws without a lattice.
  std::vector<Vec3> fractionalPositions() const;
  // Bounding box of the positions: {min, max}; zero box when empty.
  std::array<Vec3, 2> bounds() const;
  Vec3 centroid() const;

  // Checks the invariants a reader guarantees (sizes, Z range, finite coordinates, per-atom
  // arrays sized to the atom count); throws ChemError naming the first problem.
  void validate() const;
};

// A trajectory or a multi-structure file: frames in order.
using Trajectory = std::vector<Structure>;

}  // namespace atomscope::chem
