// SMILES to 3D through RDKit: SmilesToMol (sanitised), AddHs, ETKDGv3 with a fixed seed, MMFF94.
#include "atomscope/chem/smiles.h"

#include <GraphMol/Conformer.h>
#include <GraphMol/DistGeomHelpers/Embedder.h>
#include <GraphMol/ForceFieldHelpers/MMFF/MMFF.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/RWMol.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <RDGeneral/RDLog.h>

#include <cmath>
#include <memory>

#include "../text_util.h"
#include "atomscope/chem/elements.h"
#include "atomscope/core/text.h"

namespace atomscope::chem {
namespace {

// RDKit logs parse errors itself; we report them as ChemError, so its error log stays quiet.
void silenceRdkitErrors() {
  static const bool done = [] {
    boost::logging::disable_logs("rdApp.error");
    boost::logging::disable_logs("rdApp.warning");
    return true;
  }();
  (void)done;
}

}  // namespace

Structure smilesToStructure(const std::string& smiles, const SmilesOptions& options) {
  silenceRdkitErrors();
  const std::string quoted = text::quote(smiles);
  if (options.seed < 0) throw ChemError("the ETKDG seed must be >= 0 (got " + std::to_string(options.seed) + ")");
  std::unique_ptr<RDKit::RWMol> mol;
  try {
    mol.reset(RDKit::SmilesToMol(smiles));
  } catch (const std::exception& e) {  // MolSanitizeException and friends
    throw ChemError("RDKit cannot sanitise the SMILES " + quoted + ": " + e.what());
  }
  if (!mol) throw ChemError("RDKit cannot parse the SMILES " + quoted);
  if (mol->getNumAtoms() == 0) throw ChemError("the SMILES " + quoted + " has no atoms");
  if (mol->getNumHeavyAtoms() > options.maxHeavyAtoms)
    throw ChemError("the SMILES " + quoted + " has " + std::to_string(mol->getNumHeavyAtoms()) +
                    " heavy atoms, more than the limit of " + std::to_string(options.maxHeavyAtoms));
  for (const RDKit::Atom* atom : mol->atoms())
    if (!isValidAtomicNumber(atom->getAtomicNum()))
      throw ChemError("the SMILES " + quoted + " has a dummy or unknown atom (*)");

  Structure s;
  s.info["smiles"] = smiles;
  Json warnings = Json::array();
  try {
    RDKit::MolOps::addHs(*mol);
    RDKit::DGeomHelpers::EmbedParameters params = RDKit::DGeomHelpers::ETKDGv3;
    params.randomSeed = options.seed;
    params.numThreads = 1;
    params.maxIterations = options.maxEmbedAttempts;
    int cid = RDKit::DGeomHelpers::EmbedMolecule(*mol, params);
    if (cid < 0) {  // RDKit's advice for hard cases: start from random coordinates
      params.useRandomCoords = true;
      cid = RDKit::DGeomHelpers::EmbedMolecule(*mol, params);
    }
    if (cid < 0) throw ChemError("RDKit's ETKDG could not embed the SMILES " + quoted + " in 3D");
    if (options.mmffMaxIterations > 0) {
      const auto [status, energy] = RDKit::MMFF::MMFFOptimizeMolecule(*mol, options.mmffMaxIterations);
      if (status < 0)
        warnings.push_back("MMFF94 has no parameters for this molecule: the ETKDG geometry is kept unoptimised");
      else if (status > 0)
        warnings.push_back("MMFF94 did not converge in " + std::to_string(options.mmffMaxIterations) + " iterations");
      else
        s.info["mmff_energy"] = energy;  // kcal/mol
    }
    const RDKit::Conformer& conf = mol->getConformer(cid);
    for (const RDKit::Atom* atom : mol->atoms()) {
      const RDGeom::Point3D& p = conf.getAtomPos(atom->getIdx());
      s.addAtom(atom->getAtomicNum(), Vec3{p.x, p.y, p.z});
    }
    bool charged = false;
    AtomProperty charges;
    charges.type = AtomProperty::Type::Int;
    for (const RDKit::Atom* atom : mol->atoms()) {
      charges.values.push_back(atom->getFormalCharge());
      charged = charged || atom->getFormalCharge() != 0;
    }
    if (charged) s.atomProperties.emplace("charges", std::move(charges));
  } catch (const ChemError&) {
    throw;
  } catch (const std::exception& e) {
    throw ChemError("RDKit failed on the SMILES " + quoted + ": " + e.what());
  }
  if (!warnings.empty()) s.info["warnings"] = warnings;
  s.validate();
  return s;
}

Trajectory readSmilesString(std::string_view input, std::string_view sourceName, const SmilesOptions& options) {
  Trajectory frames;
  text::LineReader lines(input);
  std::string_view line;
  while (lines.next(line)) {
    const auto tokens = text::split(line);
    if (tokens.empty() || tokens[0].front() == '#') continue;
    if (frames.empty() && core::asciiLower(tokens[0]) == "smiles") continue;  // a header line
    const std::string smiles(tokens[0]);
    try {
      Structure s = smilesToStructure(smiles, options);
      if (tokens.size() > 1) {
        const std::size_t start = tokens[1].data() - line.data();
        s.info["name"] = std::string(text::trim(line.substr(start)));
      }
      frames.push_back(std::move(s));
    } catch (const ChemError& e) {
      throw ChemError(std::string(sourceName) + ":" + std::to_string(lines.lineNumber()) + ": " + e.what());
    }
  }
  if (frames.empty()) throw ChemError(std::string(sourceName) + ": no SMILES in the file");
  return frames;
}

Trajectory readSmilesFile(const std::filesystem::path& path, const SmilesOptions& options) {
  const std::string bytes = text::readFile(path);
  return readSmilesString(bytes, path.string(), options);
}

}  // namespace atomscope::chem
