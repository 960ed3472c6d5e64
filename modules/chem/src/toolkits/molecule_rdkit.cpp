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

}  // namespace

std::string perceivedPdb(const Structure& s) {
  if (s.empty()) throw ChemError("molecule perception: the structure has no atoms");
  OpenBabel::obErrorLog.StopLogging();
  OpenBabel::OBMol mol;
  buildObMol(s, mol);
  OpenBabel::OBConversion conv;
  if (!conv.SetOutFormat("pdb")) throw ChemError("molecule perception: Open Babel has no PDB writer");
  return conv.WriteString(&mol);
}

PerceivedMolecule perceiveMolecule(const Structure& s, const PerceptionOptions& options) {
  PerceivedMolecule out;
  const std::string pdb = perceivedPdb(s);
  RDLog::LogStateSetter silence;  // RDKit's sanitisation messages: we report them in `error`
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
