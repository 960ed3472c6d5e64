#pragma once
// PDB, SDF/MOL and MOL2 through Open Babel (toolkit builds only).
//
// Reading keeps atomic numbers, positions, formal charges (per-atom Int "charges", only when some
// atom is charged), the title (info["title"]), SDF data fields (info, numbers where they parse),
// and a PDB CRYST1 cell (lattice in ASE's orientation from the cell parameters, pbc true).
// Bonds are not kept: Structure has none (the viewer derives them).
// Writing sets the same; many frames become many molecules (SDF records, MOL2 molecules, PDB MODELs).
#include <filesystem>
#include <string>
#include <string_view>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
struct OpenBabelReadOptions {
  std::size_t maxAtoms = 10'000'000;  // in all molecules
  double maxAbsCoordinate = 1.0e6;    // Angstrom
};

// `format` is "pdb", "sdf" (also "mol", "sd") or "mol2". Throws ChemError("<file>: molecule N: ...")
// (Open Babel reports no line numbers) for unreadable input, unknown elements or absurd coordinates.
Trajectory readOpenBabel(const std::filesystem::path& path, const std::string& format,
                         const OpenBabelReadOptions& options = {});
Trajectory readOpenBabelString(std::string_view text, const std::string& format,
                               std::string_view sourceName = "<string>", const OpenBabelReadOptions& options = {});

std::string toOpenBabel(const Trajectory& frames, const std::string& format);
void writeOpenBabel(const std::filesystem::path& path, const Trajectory& frames, const std::string& format);
#endif

}  // namespace atomscope::chem
