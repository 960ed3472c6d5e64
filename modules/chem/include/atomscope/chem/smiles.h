#pragma once
// SMILES to 3D through RDKit (toolkit builds only): parse and sanitise, add hydrogens, embed with
// ETKDG (version 3, seeded so the same seed gives the same coordinates), then optimise with MMFF94.
// When MMFF has no parameters for a molecule (some radicals, unusual elements) the ETKDG geometry
// is kept and info["warnings"] says so. info gets "smiles" (the input) and "name" when given.
#include <filesystem>
#include <string>
#include <string_view>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
struct SmilesOptions {
  int seed = 42;                  // RDKit's randomSeed for ETKDG (>= 0)
  int mmffMaxIterations = 2000;   // 0: no MMFF optimisation
  std::size_t maxHeavyAtoms = 200;  // larger molecules are refused (embedding time grows fast)
  // ETKDG attempts per try (RDKit's maxIterations); 0: RDKit's default, 10 x the atom count. A
  // molecule that cannot be embedded costs every attempt (about 12 s for a strained 40-atom one).
  unsigned maxEmbedAttempts = 0;
};

// One molecule. Throws ChemError("<what>") when RDKit cannot parse, sanitise or embed it.
Structure smilesToStructure(const std::string& smiles, const SmilesOptions& options = {});

// A .smi file: one SMILES per line, optionally followed by whitespace and a name; blank lines and
// lines starting with '#' are skipped, and a first line whose first word is "smiles" (a header).
// Throws ChemError("<file>:<line>: ...").
Trajectory readSmilesFile(const std::filesystem::path& path, const SmilesOptions& options = {});
Trajectory readSmilesString(std::string_view text, std::string_view sourceName = "<string>",
                            const SmilesOptions& options = {});
#endif

}  // namespace atomscope::chem
