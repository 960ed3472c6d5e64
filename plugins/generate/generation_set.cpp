#include "generation_set.h"

#include <QFileInfo>
#include <QStringList>
#include <algorithm>

#include "atomscope/chem/error.h"
#include "atomscope/chem/formats.h"
#include "atomscope/chem/validity.h"
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
#include "atomscope/chem/molecule_perception.h"
#endif

namespace atomscope::gui::generate {

Verdict judge(const chem::Structure& s) {
  Verdict v;
  v.crystal = s.isPeriodic();
  if (s.empty()) {
    v.reason = "no atoms";
    return v;
  }
  if (v.crystal) {
    const auto c = chem::crystalValidity(s, chem::CrystalValidityOptions::generated());  // as adit.evaluate
    v.valid = v.neutral = c.valid;
    v.reason = c.reason;
    return v;
  }
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  const auto p = chem::perceiveMolecule(s);
  v.smiles = p.smiles;
  if (!p.valid) {
    v.reason = p.error.empty() ? std::string("does not sanitise") : p.error;
  } else if (p.fragments != 1) {
    v.reason = std::to_string(p.fragments) + " fragments";
  } else {
    v.valid = true;
    v.neutral = chem::validAndNeutral(p);
    if (!v.neutral) v.reason = "not neutral: " + p.strictError;
  }
#else
  v.reason = "molecule validity needs a build with the chemistry toolkits";
#endif
  return v;
}

bool Filter::accepts(const chem::Structure& s, const Verdict& v) const {
  if (validOnly && !v.valid) return false;
  if (kind >= 0 && static_cast<int>(v.crystal) != kind) return false;
  const int n = static_cast<int>(s.size());
  return n >= minAtoms && n <= maxAtoms;
}

std::string exportFormat(const QString& path) { return chem::formatForPath(path.toStdString()); }

void exportStructures(const QString& path, const chem::Trajectory& structures) {
  const std::string file = path.toStdString();
  if (structures.empty()) throw chem::ChemError(file + ": nothing to export (no structure selected or shown)");
  const std::string format = exportFormat(path);
  if (format.empty())
    throw chem::ChemError(file + ": unknown format; name the file .xyz, .extxyz, .cif (crystals) or .sdf (molecules)");
  for (std::size_t i = 0; i < structures.size(); ++i) {
    const bool crystal = structures[i].isPeriodic();
    if (format == "cif" && !crystal)
      throw chem::ChemError(file + ": CIF holds crystals; structure " + std::to_string(i) + " (" +
                            structures[i].formula() + ") is a molecule (export it as XYZ or SDF)");
    if (format == "sdf" && crystal)
      throw chem::ChemError(file + ": SDF holds molecules; structure " + std::to_string(i) + " (" +
                            structures[i].formula() + ") is a crystal (export it as XYZ or CIF)");
  }
  chem::writeStructureFile(file, structures, format);
}

QString exportFilter(bool anyCrystal, bool anyMolecule) {
  QStringList f{QStringLiteral("Extended XYZ (*.extxyz *.xyz)")};
  if (anyCrystal && !anyMolecule) f << QStringLiteral("CIF (*.cif)");
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  if (anyMolecule && !anyCrystal) f << QStringLiteral("SDF (*.sdf)");
#endif
  return f.join(QStringLiteral(";;"));
}

}  // namespace atomscope::gui::generate
