// Molecule perception against ADiT's own pipeline run in Python on the same QM9 molecules
// (tests/chem/analysis_reference.py molecules: pymatgen -> Open Babel PDB -> RDKit 2022.09, with
// Debian's python3-pymatgen, python3-openbabel and python3-rdkit): same validity and the same
// canonical SMILES of the molecule and of its largest fragment, molecule by molecule.
#include <gtest/gtest.h>

#include "test_util.h"

#include <sstream>
#include <string>

#include "analysis_test_util.h"
#include "atomscope/chem/error.h"
#include "atomscope/chem/molecule_perception.h"
#include "atomscope/chem/validity.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"

// spglib / RDKit / Open Babel: only in builds with the chemistry toolkits (not the GPU build).
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS

namespace atomscope::chem {
namespace {

using testing::runAnalysisReference;
using testing::sharedData;

TEST(Perception, Qm9EqualsAditsPipelineInPython) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("rdkit");
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("openbabel");
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.core");
  atomscope::test::ScopedTempDir dir("perception");
  const auto file = sharedData("qm9/qm9_reduced_100.xyz");
  std::string err;
  const Json ref = runAnalysisReference("molecules " + file.string() + " " + dir.path().string(), dir.path(), err);
  ASSERT_TRUE(err.empty()) << err;
  const Trajectory molecules = readXyz(file);
  ASSERT_EQ(ref.size(), molecules.size());
  std::vector<std::string> largest;
  std::size_t valid = 0, refValid = 0;
  for (std::size_t i = 0; i < molecules.size(); ++i) {
    const PerceivedMolecule p = perceiveMolecule(molecules[i]);
    const std::string what = "QM9 molecule " + std::to_string(i) + " " + molecules[i].formula() + " " + p.error;
    EXPECT_EQ(p.valid, ref[i]["valid"].get<bool>()) << what;
    EXPECT_EQ(p.smiles, ref[i]["smiles"].get<std::string>()) << what;
    EXPECT_EQ(p.largestFragmentSmiles, ref[i]["largest"].get<std::string>()) << what;
    valid += p.valid;
    refValid += ref[i]["valid"].get<bool>();
    largest.push_back(p.valid ? p.largestFragmentSmiles : "");
  }
  const SetMetrics m = moleculeSetMetrics(largest, nullptr);
  std::printf("QM9 first 100: %zu valid (ADiT pipeline in Python: %zu), %zu unique\n", valid, refValid, m.unique);
  EXPECT_EQ(valid, refValid);
  EXPECT_GE(valid, 95u);  // real DFT geometries: (nearly) all valid
}

TEST(Perception, CanonicalSmilesOfQm9SmilesFileRoundTrips) {
  // RDKit's canonical SMILES is a fixed point: canonicalising it again gives the same string.
  const std::string text = testing::readText(sharedData("smiles/graph_hdc_QM9Smiles_test_smile.txt"));
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // header
  int checked = 0;
  while (std::getline(in, line) && checked < 200) {
    const std::string c = canonicalSmiles(line);
    if (c.empty()) continue;  // radicals the file notes may not sanitise
    EXPECT_EQ(canonicalSmiles(c), c) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 200);
  EXPECT_EQ(canonicalSmiles("not a smiles"), "");
}

TEST(Perception, Qm9MoleculesAreNeutralClosedShellsWithTheirOwnHydrogens) {
  // Every QM9 entry is a neutral closed-shell molecule whose hydrogens are all in the file, so the strict
  // reading passes all 100 (water included, which Open Babel's PDB writer gives no bonds). Without one
  // hydrogen none may pass, the aromatic [nH] of imidazole (entry 50) included: RDKit would add that H.
  const Trajectory molecules = readXyz(sharedData("qm9/qm9_reduced_100.xyz"));
  ASSERT_EQ(molecules.size(), 100u);
  int stripped = 0;
  for (std::size_t i = 0; i < molecules.size(); ++i) {
    const PerceivedMolecule p = perceiveMolecule(molecules[i]);
    EXPECT_TRUE(p.neutralClosedShell) << "QM9 entry " << i << " " << molecules[i].formula() << ": " << p.strictError;
    Structure m = molecules[i];
    for (std::size_t k = 0; k < m.size(); ++k)
      if (m.numbers[k] == 1) {
        m.removeAtom(k);
        const PerceivedMolecule q = perceiveMolecule(m);
        EXPECT_FALSE(q.neutralClosedShell) << "QM9 entry " << i << " without a hydrogen: " << q.smiles;
        EXPECT_FALSE(q.strictError.empty());
        ++stripped;
        break;
      }
  }
  EXPECT_GT(stripped, 90);
}

TEST(Perception, EmptyStructureIsAChemError) { EXPECT_THROW(perceiveMolecule(Structure{}), ChemError); }

}  // namespace
}  // namespace atomscope::chem

#endif  // ATOMSCOPE_HAS_CHEM_TOOLKITS
