// PDB, SDF/MOL and MOL2 through Open Babel's format plugins, from and to text in memory.
#include "atomscope/chem/openbabel_io.h"

#include <openbabel/atom.h>
#include <openbabel/generic.h>
#include <openbabel/mol.h>
#include <openbabel/obconversion.h>
#include <openbabel/oberror.h>
#include <openbabel/obiter.h>

#include <cmath>
#include <mutex>
#include <optional>
#include <sstream>

#include "../text_util.h"
#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/elements.h"
#include "atomscope/core/text.h"

namespace atomscope::chem {
namespace {

namespace ob = OpenBabel;

// Open Babel keeps global state (format plugins, the error log): one conversion at a time.
std::mutex& openBabelMutex() {
  static std::mutex m;
  return m;
}

// Collects what Open Babel reports while it works, instead of letting it print to stderr.
class ErrorCapture {
 public:
  ErrorCapture() : previousStream_(ob::obErrorLog.GetOutputStream()), previousLevel_(ob::obErrorLog.GetOutputLevel()) {
    ob::obErrorLog.ClearLog();
    ob::obErrorLog.SetOutputStream(&sink_);
    ob::obErrorLog.SetOutputLevel(ob::obError);
  }
  ~ErrorCapture() {
    ob::obErrorLog.SetOutputStream(previousStream_);
    ob::obErrorLog.SetOutputLevel(previousLevel_);
  }
  // Open Babel's messages on one line ("" when none).
  std::string text() const {
    std::string out;
    bool space = false;
    for (char c : sink_.str()) {
      if (c == '=' || c == '*' || text::isSpace(c)) {
        space = !out.empty();
        continue;
      }
      if (space) out += ' ';
      space = false;
      out += c;
    }
    if (out.size() > 300) out = out.substr(0, 300) + "...";
    return out;
  }

 private:
  std::ostringstream sink_;
  std::ostream* previousStream_;
  ob::obMessageLevel previousLevel_;
};

std::string canonicalFormat(const std::string& format) {
  const std::string f = core::asciiLower(format);
  if (f == "pdb" || f == "ent") return "pdb";
  if (f == "sdf" || f == "sd" || f == "mol" || f == "mdl") return "sdf";
  if (f == "mol2") return "mol2";
  throw ChemError("Open Babel formats here are pdb, sdf (mol) and mol2, not '" + format + "'");
}

Structure fromMolecule(ob::OBMol& mol, const std::string& format, const std::string& where,
                       const OpenBabelReadOptions& options) {
  Structure s;
  const std::size_t n = mol.NumAtoms();
  s.numbers.reserve(n);
  s.positions.reserve(n);
  std::vector<double> charges;
  bool charged = false;
  FOR_ATOMS_OF_MOL(atom, mol) {
    const int z = static_cast<int>(atom->GetAtomicNum());
    const std::size_t i = s.size() + 1;
    if (!isValidAtomicNumber(z)) {
      std::string type = atom->GetType() ? atom->GetType() : "";
      throw ChemError(where + ": atom " + std::to_string(i) + " has no known element (Open Babel type " +
                      text::quote(type) + ")");
    }
    const Vec3 r{atom->GetX(), atom->GetY(), atom->GetZ()};
    for (double v : r) {
      if (!std::isfinite(v)) throw ChemError(where + ": atom " + std::to_string(i) + " has a non-finite coordinate");
      if (std::abs(v) > options.maxAbsCoordinate)
        throw ChemError(where + ": atom " + std::to_string(i) + " has an absurd coordinate " + text::formatDouble(v));
    }
    s.addAtom(z, r);
    charges.push_back(atom->GetFormalCharge());
    if (atom->GetFormalCharge() != 0) charged = true;
  }
  if (charged) {
    AtomProperty p;
    p.type = AtomProperty::Type::Int;
    p.values = std::move(charges);
    s.atomProperties.emplace("charges", std::move(p));
  }
  const std::string title = std::string(text::trim(mol.GetTitle()));
  if (!title.empty()) s.info["title"] = title;
  if (format == "sdf")
    for (ob::OBGenericData* d : mol.GetData()) {
      if (!d || d->GetDataType() != ob::OBGenericDataType::PairData) continue;
      const std::string key = d->GetAttribute();
      if (key.empty() || key.rfind("OpenBabel", 0) == 0 || key == "title" || s.info.contains(key)) continue;
      s.info[key] = text::scalarJson(static_cast<ob::OBPairData*>(d)->GetValue());
    }
  if (ob::OBUnitCell* cell = static_cast<ob::OBUnitCell*>(mol.GetData(ob::OBGenericDataType::UnitCell))) {
    const CellParameters p{cell->GetA(), cell->GetB(), cell->GetC(), cell->GetAlpha(), cell->GetBeta(), cell->GetGamma()};
    try {
      s.lattice = latticeFromParameters(p);
      s.pbc = {true, true, true};
    } catch (const ChemError& e) {
      throw ChemError(where + ": bad cell (CRYST1): " + e.what());
    }
  }
  return s;
}

void toMolecule(const Structure& s, ob::OBMol& mol, const std::string& format) {
  s.validate();
  mol.BeginModify();
  // A periodic structure is written in ASE's orientation of its cell (as ASE's PDB writer does), so
  // the CRYST1 parameters and the Cartesian coordinates agree for every reader.
  std::vector<Vec3> positions = s.positions;
  std::optional<Mat3> lattice;
  if (s.lattice && s.isPeriodic() && std::abs(s.cellVolume()) > 1e-12) {
    const Mat3 standard = latticeFromParameters(cellParameters(*s.lattice));
    const std::vector<Vec3> frac = s.fractionalPositions();
    for (std::size_t i = 0; i < s.size(); ++i) positions[i] = fractionalToCartesian(frac[i], standard);
    lattice = standard;
  }
  const AtomProperty* charges = s.atomProperty("charges");
  if (charges && (charges->type == AtomProperty::Type::String || charges->columns != 1)) charges = nullptr;
  for (std::size_t i = 0; i < s.size(); ++i) {
    ob::OBAtom* a = mol.NewAtom();
    a->SetAtomicNum(s.numbers[i]);
    a->SetVector(positions[i][0], positions[i][1], positions[i][2]);
    if (charges) a->SetFormalCharge(static_cast<int>(std::lround(charges->at(i))));
  }
  std::string title = s.formula();
  if (auto it = s.info.find("title"); it != s.info.end() && it->is_string()) title = it->get<std::string>();
  mol.SetTitle(title);
  if (lattice) {
    const CellParameters p = cellParameters(*lattice);
    auto* cell = new ob::OBUnitCell;
    cell->SetData(p.a, p.b, p.c, p.alpha, p.beta, p.gamma);
    mol.SetData(cell);
  } else if (format != "pdb") {
    // Molecules get bonds (Open Babel's perception from distances) so SDF/MOL2 readers see them.
    mol.ConnectTheDots();
    mol.PerceiveBondOrders();
  }
  mol.EndModify();
  if (format == "sdf")
    for (const auto& [key, value] : s.info.items()) {
      if (key == "title" || value.is_object() || value.is_array() || value.is_null()) continue;
      auto* d = new ob::OBPairData;
      std::string attribute = key;
      std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      d->SetAttribute(attribute);
      d->SetValue(text);
      mol.SetData(d);
    }
}

}  // namespace

Trajectory readOpenBabelString(std::string_view text, const std::string& format, std::string_view sourceName,
                               const OpenBabelReadOptions& options) {
  const std::string source(sourceName);
  const std::string f = canonicalFormat(format);
  std::lock_guard lock(openBabelMutex());
  ErrorCapture capture;
  ob::OBConversion conv;
  if (!conv.SetInFormat(f.c_str()))
    throw ChemError(source + ": Open Babel has no '" + f + "' reader (are its format plugins installed?)");
  if (f == "pdb") conv.AddOption("b", ob::OBConversion::INOPTIONS);  // no bond perception: we keep no bonds
  std::istringstream in{std::string(text)};
  conv.SetInStream(&in, false);
  Trajectory frames;
  std::size_t atoms = 0;
  while (true) {
    ob::OBMol mol;
    const std::string where = source + ": molecule " + std::to_string(frames.size() + 1);
    bool ok = false;
    try {
      ok = conv.Read(&mol);
    } catch (const std::exception& e) {
      throw ChemError(where + ": Open Babel: " + e.what());
    }
    if (!ok) break;
    frames.push_back(fromMolecule(mol, f, where, options));
    atoms += frames.back().size();
    if (atoms > options.maxAtoms)
      throw ChemError(where + ": more than " + std::to_string(options.maxAtoms) + " atoms in the file");
  }
  // Open Babel reads the END after a last PDB MODEL as one more, empty molecule.
  while (frames.size() > 1 && frames.back().empty()) frames.pop_back();
  const std::string messages = capture.text();
  if (frames.empty() || (frames.size() == 1 && frames.front().empty()))
    throw ChemError(source + ": Open Babel read no " + f + " molecule" + (messages.empty() ? "" : ": " + messages));
  if (!messages.empty()) {
    // Open Babel stopped with an error after some molecules: say so rather than return part of the file.
    throw ChemError(source + ": molecule " + std::to_string(frames.size() + 1) + ": Open Babel: " + messages);
  }
  for (std::size_t i = 0; i < frames.size(); ++i)
    if (frames[i].empty()) throw ChemError(source + ": molecule " + std::to_string(i + 1) + " has no atoms");
  return frames;
}

Trajectory readOpenBabel(const std::filesystem::path& path, const std::string& format,
                         const OpenBabelReadOptions& options) {
  const std::string bytes = text::readFile(path);
  return readOpenBabelString(bytes, format, path.string(), options);
}

std::string toOpenBabel(const Trajectory& frames, const std::string& format) {
  const std::string f = canonicalFormat(format);
  if (frames.empty()) throw ChemError("nothing to write (no structures)");
  std::lock_guard lock(openBabelMutex());
  ErrorCapture capture;
  ob::OBConversion conv;
  if (!conv.SetOutFormat(f.c_str())) throw ChemError("Open Babel has no '" + f + "' writer");
  std::ostringstream out;
  conv.SetOutStream(&out, false);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    ob::OBMol mol;
    try {
      toMolecule(frames[i], mol, f);
    } catch (const ChemError& e) {
      throw ChemError("structure " + std::to_string(i + 1) + ": " + e.what());
    }
    conv.SetLast(i + 1 == frames.size());
    if (!conv.Write(&mol))
      throw ChemError("structure " + std::to_string(i + 1) + ": Open Babel could not write it as " + f + ": " +
                      capture.text());
  }
  return out.str();
}

void writeOpenBabel(const std::filesystem::path& path, const Trajectory& frames, const std::string& format) {
  std::string out;
  try {
    out = toOpenBabel(frames, format);
  } catch (const ChemError& e) {
    throw ChemError(path.string() + ": " + e.what());
  }
  text::writeFile(path, out);
}

}  // namespace atomscope::chem
