#pragma once
// CIF. Reading goes through gemmi (toolkit builds only); writing is plain text and always there.
//
// Reader: every data block with an _atom_site_ loop becomes one frame. Sites are expanded with the
// block's symmetry operations (_space_group_symop_operation_xyz or _symmetry_equiv_pos_as_xyz;
// else the operations of the H-M symbol, Hall symbol or IT number through gemmi) to the full
// P1 cell: images wrapped into [0, 1) and, per site, images closer than `siteTolerance` in every
// fractional coordinate merged (ASE's rule, symprec 1e-3). The lattice follows ASE (cellpar_to_cell:
// a along x, b in the xy-plane). Sites with occupancy below 1 are kept; then the frame gets the
// per-atom Real property "occupancy", info["partial_occupancy"] = true and a text in info["warnings"].
// info also gets "name" (the block name) and "spacegroup" (H-M symbol) when given.
//
// Writer: one P1 data block per frame (cell parameters, the identity operation, fractional
// coordinates, occupancies from "occupancy" when present), in the form pymatgen's CifWriter uses,
// which ASE and pymatgen read back.
#include <filesystem>
#include <string>
#include <string_view>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct CifReadOptions {
  double siteTolerance = 1e-3;        // fractional, per coordinate; images of one site this close are one atom
  std::size_t maxAtoms = 10'000'000;  // after expansion; more is an error
};

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
// Throws ChemError("<file>:<line>: ..."): the line of gemmi's syntax error, or of the item or
// loop the problem is in (with the block name and site label).
Trajectory readCif(const std::filesystem::path& path, const CifReadOptions& options = {});
// `firstLine` is the line number of the text's first line in its file (for CIF text inside a CSV cell).
Trajectory readCifString(std::string_view text, std::string_view sourceName = "<string>",
                         const CifReadOptions& options = {}, std::size_t firstLine = 1);
#endif

// Throws ChemError for a structure without a lattice.
std::string toCif(const Trajectory& frames);
void writeCif(const std::filesystem::path& path, const Trajectory& frames);

}  // namespace atomscope::chem
