#include "atomscope/chem/supercell.h"

#include <string>

#include "atomscope/chem/error.h"

namespace atomscope::chem {

Structure makeSupercell(const Structure& structure, const std::array<int, 3>& repeats) {
  if (!structure.lattice)
    throw ChemError("makeSupercell: the structure has no lattice (a molecule cannot be repeated)");
  for (int k = 0; k < 3; ++k)
    if (repeats[k] < 1)
      throw ChemError("makeSupercell: repeat " + std::to_string(repeats[k]) + " along axis " +
                      std::to_string(k) + " (must be at least 1)");
  const Mat3& cell = *structure.lattice;
  const std::size_t n = structure.size();
  const std::size_t images = static_cast<std::size_t>(repeats[0]) * repeats[1] * repeats[2];

  Structure out;
  out.pbc = structure.pbc;
  out.info = structure.info;
  Mat3 big;
  for (int k = 0; k < 3; ++k)
    for (int c = 0; c < 3; ++c) big[k][c] = cell[k][c] * repeats[k];
  out.lattice = big;
  out.numbers.reserve(n * images);
  out.positions.reserve(n * images);
  for (int m0 = 0; m0 < repeats[0]; ++m0)
    for (int m1 = 0; m1 < repeats[1]; ++m1)
      for (int m2 = 0; m2 < repeats[2]; ++m2) {
        Vec3 shift{};
        for (int c = 0; c < 3; ++c) shift[c] = m0 * cell[0][c] + m1 * cell[1][c] + m2 * cell[2][c];
        for (std::size_t i = 0; i < n; ++i) {
          out.numbers.push_back(structure.numbers[i]);
          const Vec3& p = structure.positions[i];
          out.positions.push_back({p[0] + shift[0], p[1] + shift[1], p[2] + shift[2]});
        }
      }
  // Per-atom arrays: np.tile along the atom axis, as ASE.
  for (const auto& [name, prop] : structure.atomProperties) {
    AtomProperty tiled = prop;
    tiled.values.clear();
    tiled.strings.clear();
    tiled.values.reserve(prop.values.size() * images);
    tiled.strings.reserve(prop.strings.size() * images);
    for (std::size_t m = 0; m < images; ++m) {
      tiled.values.insert(tiled.values.end(), prop.values.begin(), prop.values.end());
      tiled.strings.insert(tiled.strings.end(), prop.strings.begin(), prop.strings.end());
    }
    out.atomProperties.emplace(name, std::move(tiled));
  }
  return out;
}

}  // namespace atomscope::chem
