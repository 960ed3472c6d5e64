#pragma once
// VASP POSCAR / CONTCAR: our own reader and writer (no toolkit), as VASP documents the format:
//
//   comment
//   scale                 one factor; negative: the cell volume in A^3; or three factors for x, y, z
//   a1 a2 a3              lattice vectors (rows), multiplied by the scale
//   b1 b2 b3
//   c1 c2 c3
//   Si O                  species (VASP 5; absent in VASP 4 files)
//   4 8                   counts per species
//   Selective dynamics    optional (only the first letter, S, counts)
//   Direct                or Cartesian (first letter C or K); Cartesian positions are scaled too
//   x y z [T T F]         one line per atom; T/F flags with selective dynamics
//
// Selective-dynamics flags become the per-atom Bool property "move_mask" (3 columns, true = free
// to move, VASP's T), the name ASE's extended XYZ uses for the same mask.
// Anything after the atom lines (velocities of a CONTCAR) is not read.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct PoscarReadOptions {
  // Species for VASP 4 files that have no species line, one symbol per count. When empty, the
  // comment line is used if its words are exactly that many element symbols (as ASE does);
  // otherwise reading such a file is an error that says to give them.
  std::vector<std::string> species;
  std::size_t maxAtoms = 10'000'000;  // a larger total count is an error, not an allocation
  double maxAbsCoordinate = 1.0e6;    // Angstrom (or fractional units); beyond is an "absurd number"
};

// Throws ChemError("<file>:<line>: ...").
Structure readPoscar(const std::filesystem::path& path, const PoscarReadOptions& options = {});
Structure readPoscarString(std::string_view text, std::string_view sourceName = "<string>",
                           const PoscarReadOptions& options = {});

// VASP 5 text: scale 1, the lattice, species and counts for each run of equal consecutive elements
// (so atom order is kept), Selective dynamics when the structure has "move_mask", Direct coordinates
// with 16 decimals. Throws ChemError for a structure without a lattice.
std::string toPoscar(const Structure& structure);
void writePoscar(const std::filesystem::path& path, const Structure& structure);

// True for file names VASP uses: POSCAR, CONTCAR (also POSCAR_1, CONTCAR.relax, any case) and *.vasp / *.poscar.
bool looksLikePoscarName(const std::filesystem::path& path);

}  // namespace atomscope::chem
