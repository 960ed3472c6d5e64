#pragma once
// The structure file formats this build can read and write, and one entry point for each direction.
// Formats are chosen by extension ("auto"), or by name for VASP files (POSCAR, CONTCAR, *.vasp).
//
//   name      extensions          read write toolkits  through
//   xyz       .xyz .extxyz         yes  yes   no       our reader/writer (ASE's extended XYZ)
//   poscar    .vasp .poscar        yes  yes   no       our reader/writer (VASP 4/5, POSCAR/CONTCAR by name)
//   cif       .cif                 yes  yes   yes      gemmi (symmetry expanded to P1; P1 writer)
//   pdb       .pdb .ent            yes  yes   yes      Open Babel
//   sdf       .sdf .mol .sd        yes  yes   yes      Open Babel
//   mol2      .mol2                yes  yes   yes      Open Babel
//   csv       .csv                 yes  no    yes      CDVAE data sets: the cif column through gemmi
//   smiles    .smi .smiles         yes  no    yes      RDKit: AddHs, ETKDG (seeded), MMFF
// structureFormats() lists only what this build has (no toolkit formats in a toolkit-free build).
#include <filesystem>
#include <string>
#include <vector>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct StructureFormat {
  std::string name;                     // "xyz", "cif", "poscar", ...: the value of `format` below
  std::vector<std::string> extensions;  // lower case, without the dot: "xyz", "extxyz"
  bool canRead = false;
  bool canWrite = false;
  bool needsToolkits = false;           // true: RDKit, Open Babel or gemmi behind it
  std::string description;              // "XYZ / extended XYZ", shown in file dialogs
};

// The formats this build can read or write, in a stable order (xyz first).
std::vector<StructureFormat> structureFormats();

// The format name for a path: by extension, or "poscar" for names starting POSCAR/CONTCAR (any case);
// empty when unknown.
std::string formatForPath(const std::filesystem::path& path);

// Every frame (structure) in the file. `format` is a format name or "auto" (formatForPath).
// Throws ChemError "<file>:<line>: what was wrong" (or "<file>: row N: ..." / "data block N")
// for unreadable input, an unknown format, or a format this build lacks.
Trajectory readStructureFile(const std::filesystem::path& path, const std::string& format = "auto");

// Writes all frames: xyz, sdf, mol2 and pdb hold many (pdb as MODEL records), cif writes one data
// block per frame; poscar holds one structure and throws ChemError when given several.
// Formats that cannot be written (csv, smiles) or an empty trajectory throw ChemError.
void writeStructureFile(const std::filesystem::path& path, const Trajectory& frames,
                        const std::string& format = "auto");

// A Qt file-dialog filter: "Structures (*.xyz *.cif ...);;XYZ / extended XYZ (*.xyz *.extxyz);;...;;All files (*)".
// forWriting lists only writable formats. POSCAR/CONTCAR appear as name patterns (POSCAR* CONTCAR*).
std::string fileDialogFilter(bool forWriting);

}  // namespace atomscope::chem
