// Molecule perception as ADiT does it: Open Babel bonds and bond orders -> PDB -> RDKit (see
// molecule_perception.h).
#include <GraphMol/FileParsers/FileParsers.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/RDKitBase.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <RDGeneral/RDLog.h>
#include <openbabel/atom.h>
#include <openbabel/mol.h>
#include <openbabel/obconversion.h>
#include <openbabel/oberror.h>

#include <memory>
#include <numeric>

#include "atomscope/chem/error.h"
#include "atomscope/chem/molecule_perception.h"

namespace atomscope::chem {
namespace {

// pymatgen's BabelMolAdaptor: atoms, ConnectTheDots, PerceiveBondOrders, spin and charge, Center.
void buildObMol(const Structure& s, OpenBabel::OBMol& mol) {
  mol.BeginModify();
  int electrons = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    OpenBabel::OBAtom* a = mol.NewAtom();
    a->SetAtomicNum(s.numbers[i]);
    a->SetVector(s.positions[i][0], s.positions[i][1], s.positions[i][2]);
    electrons += s.numbers[i];
  }
  mol.ConnectTheDots();
  mol.PerceiveBondOrders();
  mol.SetTotalSpinMultiplicity(electrons % 2 ? 2 : 1);  // pymatgen's default for charge 0
  mol.SetTotalCharge(0);
  mol.Center();
  mol.EndModify();
}

// The structure after Open Babel's perception (throws ChemError for an empty one).
void perceive(const Structure& s, OpenBabel::OBMol& mol) {
  if (s.empty()) throw ChemError("molecule perception: the structure has no atoms");
  OpenBabel::obErrorLog.StopLogging();
  buildObMol(s, mol);
}

std::string written(OpenBabel::OBMol& mol, const std::string& format) {
  OpenBabel::OBConversion conv;
  if (!conv.SetOutFormat(format.c_str())) throw ChemError("molecule perception: Open Babel has no " + format + " writer");
  return conv.WriteString(&mol);
}

}  // namespace

std::string perceivedPdb(const Structure& s) {
  OpenBabel::OBMol mol;
  perceive(s, mol);
  return written(mol, "pdb");
}

namespace {

// The strict reading (PerceivedMolecule::neutralClosedShell): empty when the molecule passes, else why
// not. It goes through a MOL block, not the PDB: Open Babel writes a water molecule as residue HOH with
// no CONECT records, and a MOL block carries every bond, its order and any charge or radical as they are.
std::string strictClosedShellProblem(const std::string& block, std::size_t atoms) {
  std::unique_ptr<RDKit::RWMol> mol;
  try {
    mol.reset(RDKit::MolBlockToMol(block, /*sanitize=*/true, /*removeHs=*/false));
  } catch (const std::exception& e) {
    return e.what();
  }
  if (!mol) return "RDKit could not build the molecule from Open Babel's bonds";
  if (mol->getNumAtoms() != atoms) return "RDKit read a different number of atoms";
  if (RDKit::MolOps::getMolFrags(*mol, /*sanitizeFrags=*/false).size() != 1) return "more than one fragment";
  for (const RDKit::Atom* a : mol->atoms()) {
    const std::string where = a->getSymbol() + std::to_string(a->getIdx() + 1);
    if (a->getFormalCharge() != 0) return where + " is charged";
    if (a->getNumRadicalElectrons() != 0) return where + " has a radical electron";
    // Every hydrogen is an atom of the structure; one RDKit adds (implicit, or an aromatic [nH]) is missing.
    if (const unsigned h = a->getTotalNumHs(/*includeNeighbors=*/false))
      return where + " lacks " + std::to_string(h) + " hydrogen(s)";
  }
  return {};
}

}  // namespace

PerceivedMolecule perceiveMolecule(const Structure& s, const PerceptionOptions& options) {
  PerceivedMolecule out;
  OpenBabel::OBMol ob;  // perceived once, written as the PDB (ADiT's path) and as a MOL block (the strict one)
  perceive(s, ob);
  const std::string pdb = written(ob, "pdb");
  RDLog::LogStateSetter silence;  // RDKit's sanitisation messages: we report them in `error` / `strictError`
  out.strictError = strictClosedShellProblem(written(ob, "mol"), s.size());
  out.neutralClosedShell = out.strictError.empty();
  std::unique_ptr<RDKit::RWMol> mol;
  try {
    mol.reset(RDKit::PDBBlockToMol(pdb, /*sanitize=*/true, options.removeHs));
  } catch (const std::exception& e) {
    out.error = e.what();
    return out;
  }
  if (!mol) {
    out.error = "RDKit could not build the molecule";
    return out;
  }
  try {
    out.bonds = static_cast<int>(mol->getNumBonds());
    out.smiles = RDKit::MolToSmiles(*mol, /*doIsomericSmiles=*/true);
    std::vector<RDKit::ROMOL_SPTR> frags = RDKit::MolOps::getMolFrags(*mol, /*sanitizeFrags=*/true);
    out.fragments = static_cast<int>(frags.size());
    const RDKit::ROMol* largest = mol.get();
    unsigned best = 0;
    for (const auto& f : frags)
      if (f->getNumAtoms() > best) {  // strict: the first of equal size, as Python's max
        best = f->getNumAtoms();
        largest = f.get();
      }
    out.largestFragmentSmiles = RDKit::MolToSmiles(*largest, true);
    out.valid = true;
  } catch (const std::exception& e) {
    out.error = e.what();
    out.valid = false;
  }
  return out;
}

std::string canonicalSmiles(const std::string& smiles, bool isomeric) {
  RDLog::LogStateSetter silence;
  try {
    std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(smiles));
    return mol ? RDKit::MolToSmiles(*mol, isomeric) : std::string();
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace atomscope::chem
