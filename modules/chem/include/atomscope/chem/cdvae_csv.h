#pragma once
// CDVAE data sets (MP-20, Perov-5, Carbon-24 CSV files): one crystal per row, parsed from the CIF in
// the "cif" column through gemmi (toolkit builds only). The other columns go into info: numbers as
// numbers, anything else as text ("material_id", "formation_energy_per_atom", "band_gap",
// "spacegroup.number", ...); pandas' unnamed index column becomes info["index"].
#include <filesystem>
#include <string>
#include <string_view>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
struct CdvaeCsvOptions {
  std::string cifColumn = "cif";
  std::size_t maxRows = 0;  // 0: all rows
};

// Throws ChemError("<file>:<line>: row N (material_id ...): ...") with the file line of the CIF problem.
Trajectory readCdvaeCsv(const std::filesystem::path& path, const CdvaeCsvOptions& options = {});
Trajectory readCdvaeCsvString(std::string_view text, std::string_view sourceName = "<string>",
                              const CdvaeCsvOptions& options = {});
#endif

}  // namespace atomscope::chem
