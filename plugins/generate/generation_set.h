#pragma once
// What the Generate panel shows and exports, without any widget: generated structures read from a
// file, each judged valid or not with modules/chem the way adit.evaluate counts them, a filter, and
// export through chem's format registry. No torch, no Qt widgets (tested on its own terms through
// the panel).
#include <QString>
#include <limits>
#include <string>
#include <vector>

#include "atomscope/chem/structure.h"

namespace atomscope::gui::generate {

// One structure's verdict. Molecules: Open Babel bond perception then RDKit sanitisation from the
// coordinates, one fragment (chem::perceiveMolecule, as adit.evaluate's 'valid'); 'neutral' adds a
// neutral closed shell under Open Babel's bonds alone (chem::validAndNeutral). Crystals: chem::crystalValidity (composition and
// distances; 'neutral' = valid).
struct Verdict {
  bool valid = false;
  bool neutral = false;
  bool crystal = false;
  std::string smiles;  // molecules that sanitise: RDKit's canonical SMILES
  std::string reason;  // why it is invalid (empty when valid)
};

Verdict judge(const chem::Structure& structure);

struct Filter {
  bool validOnly = false;
  int kind = -1;  // -1 all, 0 molecules, 1 crystals
  int minAtoms = 0;
  int maxAtoms = std::numeric_limits<int>::max();
  bool accepts(const chem::Structure& s, const Verdict& v) const;
};

// The chem format a file name asks for ("xyz", "cif", "sdf", ...), empty when none.
std::string exportFormat(const QString& path);
// Writes the structures in the format the extension names. CIF takes crystals only, SDF molecules
// only. Throws chem::ChemError naming the file (or the first structure that does not fit).
void exportStructures(const QString& path, const chem::Trajectory& structures);
// Save-dialog filter for a selection: XYZ always, CIF when all are crystals, SDF when all are molecules.
QString exportFilter(bool anyCrystal, bool anyMolecule);

}  // namespace atomscope::gui::generate
