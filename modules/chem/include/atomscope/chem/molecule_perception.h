#pragma once
// Bond orders, sanitisation and SMILES for a molecule given only coordinates, the way ADiT decides
// molecular validity (facebookresearch/all-atom-diffusion-transformer, src/eval/molecule_generation.py):
// pymatgen's Molecule.to("*.pdb") hands the atoms to Open Babel (BabelMolAdaptor: ConnectTheDots,
// then PerceiveBondOrders, total charge 0, Center) and writes a PDB with CONECT records (a double
// bond listed twice); RDKit's MolFromPDBFile reads that back and sanitises it; the molecule is
// valid when that works, and its SMILES is RDKit's canonical isomeric SMILES of the largest
// fragment (most atoms, first on ties). We follow the same steps with the same libraries, in
// memory. (Debian's RDKit 2022.09 has no rdDetermineBonds, so Open Babel's perception is also
// the only one at hand.) Needs the chemistry toolkits.
#include <string>
#include <string_view>

#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct PerceivedMolecule {
  bool valid = false;
  std::string smiles;                 // canonical isomeric SMILES of the whole molecule
  std::string largestFragmentSmiles;  // the SMILES ADiT counts (uniqueness, novelty)
  int fragments = 0;
  int bonds = 0;
  std::string error;                  // why it is invalid (RDKit's message when it gave one)
  // Stricter than 'valid', and not part of ADiT's protocol: the atoms as given form one neutral,
  // closed-shell molecule under Open Babel's bonds alone. RDKit reads them as a MOL block (no proximity
  // bonds of its own, which add bonds Open Babel left out for valence) and every atom must be
  // uncharged, have no radical electron and need no hydrogen beyond the structure's (the PDB reader
  // fills missing hydrogens in silently, so a molecule short of two H still "sanitises").
  bool neutralClosedShell = false;
  std::string strictError;            // why it is not (empty when it is)
};

struct PerceptionOptions {
  bool removeHs = false;  // ADiT's sampling.removeHs (false in its configs)
};

// Throws ChemError only for an empty structure; chemistry failures come back as valid = false.
PerceivedMolecule perceiveMolecule(const Structure& molecule, const PerceptionOptions& options = {});

// 'valid' in ADiT's sense (sanitises, one fragment) and also a neutral closed shell: what adit.evaluate
// and the Generate panel call "valid and neutral". (An odd electron count can never pass: every atom
// sits at its neutral default valence, whose sum is even.)
inline bool validAndNeutral(const PerceivedMolecule& p) { return p.valid && p.fragments == 1 && p.neutralClosedShell; }

// The PDB text Open Babel writes for the molecule after perception (the intermediate ADiT uses).
std::string perceivedPdb(const Structure& molecule);

// RDKit's canonical SMILES of a SMILES string, isomeric (stereo kept) or not (empty when RDKit cannot
// parse or sanitise it).
std::string canonicalSmiles(const std::string& smiles, bool isomeric = true);

// Whether a SMILES string writes a formal charge ([NH4+], [O-]): a + or - inside a bracket atom.
// Plain text, no toolkit needed.
inline bool smilesHasCharge(std::string_view smiles) {
  bool inBracket = false;
  for (char c : smiles) {
    if (c == '[') inBracket = true;
    else if (c == ']') inBracket = false;
    else if (inBracket && (c == '+' || c == '-')) return true;
  }
  return false;
}

}  // namespace atomscope::chem
