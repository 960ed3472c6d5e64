#include "atomscope/chem/formats.h"

#include <algorithm>

#include "atomscope/chem/cdvae_csv.h"
#include "atomscope/chem/cif.h"
#include "atomscope/chem/openbabel_io.h"
#include "atomscope/chem/poscar.h"
#include "atomscope/chem/smiles.h"
#include "atomscope/chem/toolkits.h"
#include "atomscope/chem/xyz.h"
#include "text_util.h"
#include "atomscope/core/text.h"

namespace atomscope::chem {
namespace {

// Every format Atomscope knows; structureFormats() filters by what this build has.
const std::vector<StructureFormat>& allFormats() {
  static const std::vector<StructureFormat> formats = {
      {"xyz", {"xyz", "extxyz"}, true, true, false, "XYZ / extended XYZ"},
      {"cif", {"cif"}, true, true, true, "CIF"},
      {"poscar", {"vasp", "poscar"}, true, true, false, "VASP POSCAR / CONTCAR"},
      {"pdb", {"pdb", "ent"}, true, true, true, "Protein Data Bank"},
      {"sdf", {"sdf", "mol", "sd"}, true, true, true, "MDL SDF / MOL"},
      {"mol2", {"mol2"}, true, true, true, "Tripos MOL2"},
      {"csv", {"csv"}, true, false, true, "CDVAE crystal data set, CSV with a cif column"},
      {"smiles", {"smi", "smiles"}, true, false, true, "SMILES, one per line, 3D by RDKit"},
  };
  return formats;
}

const StructureFormat* findFormat(const std::string& name) {
  for (const StructureFormat& f : allFormats())
    if (f.name == name) return &f;
  return nullptr;
}

std::string knownNames() {
  std::string out;
  for (const StructureFormat& f : structureFormats()) out += (out.empty() ? "" : ", ") + f.name;
  return out;
}

// The format to use: the given name (aliases resolved) or the one the path suggests.
std::string resolve(const std::filesystem::path& path, const std::string& requested, bool forWriting) {
  std::string name = core::asciiLower(requested);
  if (name == "extxyz") name = "xyz";
  if (name == "mol" || name == "sd") name = "sdf";
  if (name == "vasp" || name == "contcar") name = "poscar";
  if (name == "smi") name = "smiles";
  if (name.empty() || name == "auto") {
    name = formatForPath(path);
    if (name.empty())
      throw ChemError(path.string() + ": cannot tell the format from the name (known: " + knownNames() +
                      "); give the format explicitly");
  }
  const StructureFormat* f = findFormat(name);
  if (!f) throw ChemError(path.string() + ": unknown format '" + requested + "' (known: " + knownNames() + ")");
  if (f->needsToolkits && !hasToolkits() && !(forWriting && name == "cif"))
    throw ChemError(path.string() + ": format '" + name +
                    "' needs the chemistry toolkits (RDKit, Open Babel, gemmi), which this build lacks");
  if (forWriting && !f->canWrite) throw ChemError(path.string() + ": format '" + name + "' can be read but not written");
  return name;
}

}  // namespace

std::vector<StructureFormat> structureFormats() {
  std::vector<StructureFormat> out;
  for (const StructureFormat& f : allFormats()) {
    if (!f.needsToolkits || hasToolkits()) {
      out.push_back(f);
    } else if (f.name == "cif") {  // our CIF writer needs no toolkit; reading needs gemmi
      StructureFormat writeOnly = f;
      writeOnly.canRead = false;
      writeOnly.needsToolkits = false;
      out.push_back(writeOnly);
    }
  }
  return out;
}

std::string formatForPath(const std::filesystem::path& path) {
  // A known extension wins ("poscar_relaxed.xyz" is XYZ); then VASP's names (POSCAR, CONTCAR.relax).
  std::string ext = core::asciiLower(path.extension().string());
  if (!ext.empty() && ext.front() == '.') ext.erase(0, 1);
  for (const StructureFormat& f : allFormats())
    if (std::find(f.extensions.begin(), f.extensions.end(), ext) != f.extensions.end()) return f.name;
  if (looksLikePoscarName(path)) return "poscar";
  return {};
}

Trajectory readStructureFile(const std::filesystem::path& path, const std::string& format) {
  const std::string name = resolve(path, format, false);
  if (name == "xyz") return readXyz(path);
  if (name == "poscar") return {readPoscar(path)};
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  if (name == "cif") return readCif(path);
  if (name == "pdb" || name == "sdf" || name == "mol2") return readOpenBabel(path, name);
  if (name == "csv") return readCdvaeCsv(path);
  if (name == "smiles") return readSmilesFile(path);
#endif
  throw ChemError(path.string() + ": no reader for format '" + name + "'");
}

void writeStructureFile(const std::filesystem::path& path, const Trajectory& frames, const std::string& format) {
  const std::string name = resolve(path, format, true);
  if (frames.empty()) throw ChemError(path.string() + ": nothing to write (no structures)");
  if (name == "xyz") return writeXyz(path, frames);
  if (name == "cif") return writeCif(path, frames);
  if (name == "poscar") {
    if (frames.size() != 1)
      throw ChemError(path.string() + ": a POSCAR holds one structure, but " + std::to_string(frames.size()) +
                      " were given (choose one frame)");
    try {
      return writePoscar(path, frames.front());
    } catch (const ChemError& e) {
      const std::string what = e.what();
      if (what.rfind(path.string(), 0) == 0) throw;
      throw ChemError(path.string() + ": " + what);
    }
  }
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  if (name == "pdb" || name == "sdf" || name == "mol2") return writeOpenBabel(path, frames, name);
#endif
  throw ChemError(path.string() + ": no writer for format '" + name + "'");
}

std::string fileDialogFilter(bool forWriting) {
  std::vector<StructureFormat> formats;
  for (const StructureFormat& f : structureFormats())
    if (forWriting ? f.canWrite : f.canRead) formats.push_back(f);
  auto patterns = [](const StructureFormat& f) {
    std::string p;
    for (const std::string& e : f.extensions) p += (p.empty() ? "" : " ") + std::string("*.") + e;
    if (f.name == "poscar") p += " POSCAR* CONTCAR*";
    return p;
  };
  std::string all;
  for (const StructureFormat& f : formats) all += (all.empty() ? "" : " ") + patterns(f);
  std::string out = "Structures (" + all + ")";
  for (const StructureFormat& f : formats) out += ";;" + f.description + " (" + patterns(f) + ")";
  out += ";;All files (*)";
  return out;
}

}  // namespace atomscope::chem
