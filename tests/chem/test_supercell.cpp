// makeSupercell against ASE 3.22's Atoms.repeat (Debian's python3-ase) on shared crystals: the MLIP
// Zr-O-C-H frame (per-atom forces and magmoms, stress and energy in info) and MP-20 rows of the CDVAE CSV
// (read from their CIF by pymatgen and handed over as extended XYZ).
#include <gtest/gtest.h>

#include "test_util.h"

#include <string>

#include "analysis_test_util.h"
#include "atomscope/chem/error.h"
#include "atomscope/chem/supercell.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"

namespace atomscope::chem {
namespace {

using testing::runAnalysisReference;
using testing::sharedData;

// Every atom, cell row and per-atom value equal to ASE's (1e-9 A: both add the same image vectors).
void expectSameAsAse(const Structure& ours, const Json& ase, const std::string& what) {
  ASSERT_EQ(ours.size(), ase["numbers"].size()) << what;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    ASSERT_EQ(ours.numbers[i], ase["numbers"][i].get<int>()) << what << " atom " << i;
    for (int c = 0; c < 3; ++c)
      ASSERT_NEAR(ours.positions[i][c], ase["positions"][i][c].get<double>(), 1e-9) << what << " atom " << i;
  }
  ASSERT_TRUE(ours.lattice.has_value());
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR((*ours.lattice)[r][c], ase["cell"][r][c].get<double>(), 1e-9) << what;
  for (int k = 0; k < 3; ++k) EXPECT_EQ(ours.pbc[k], ase["pbc"][k].get<bool>()) << what;
  ASSERT_EQ(ours.atomProperties.size(), ase["arrays"].size()) << what;
  for (const auto& [name, prop] : ours.atomProperties) {
    ASSERT_TRUE(ase["arrays"].contains(name)) << what << " " << name;
    const Json& a = ase["arrays"][name];
    ASSERT_EQ(prop.atomCount(), a.size()) << what << " " << name;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (prop.columns == 1) {
        ASSERT_DOUBLE_EQ(prop.at(i), a[i].get<double>()) << what << " " << name << " " << i;
      } else {
        for (int c = 0; c < prop.columns; ++c)
          ASSERT_DOUBLE_EQ(prop.at(i, c), a[i][c].get<double>()) << what << " " << name << " " << i;
      }
    }
  }
  for (const auto& [key, value] : ase["info"].items()) {
    ASSERT_TRUE(ours.info.contains(key)) << what << " info " << key;
    if (value.is_number()) EXPECT_DOUBLE_EQ(ours.info[key].get<double>(), value.get<double>()) << key;
  }
}

TEST(Supercell, MlipFrameEqualsAseRepeat) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  atomscope::test::ScopedTempDir dir("supercell");
  const auto file = sharedData("md_forces/mlip_train.xyz");
  const Trajectory frames = readXyz(file);
  for (const std::array<int, 3> rep : {std::array<int, 3>{2, 3, 1}, std::array<int, 3>{1, 1, 2}}) {
    std::string err;
    const Json ase = runAnalysisReference("repeat " + file.string() + " 4 " + std::to_string(rep[0]) + " " +
                                              std::to_string(rep[1]) + " " + std::to_string(rep[2]),
                                          dir.path(), err);
    ASSERT_TRUE(err.empty()) << err;
    const Structure big = makeSupercell(frames[4], rep);
    EXPECT_EQ(big.size(), frames[4].size() * rep[0] * rep[1] * rep[2]);
    expectSameAsAse(big, ase, "mlip_train frame 4");
    // The MLIP frame carries dft_forces and initial_magmoms per atom: both must have been tiled.
    EXPECT_EQ(big.atomProperties.count("dft_forces"), 1u);
  }
}

TEST(Supercell, CdvaeCrystalsEqualAseRepeat) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.core");
  atomscope::test::ScopedTempDir dir("supercell");
  const auto xyz = dir / "rows.xyz";
  std::string err;
  runAnalysisReference("csv-to-xyz " + sharedData("crystals/mp_20_subset_test.csv").string() + " " + xyz.string() +
                           " 0 1 7 30",
                       dir.path(), err);
  ASSERT_TRUE(err.empty()) << err;
  const Trajectory frames = readXyz(xyz);
  ASSERT_EQ(frames.size(), 4u);
  for (int f = 0; f < 4; ++f) {
    const Json ase = runAnalysisReference("repeat " + xyz.string() + " " + std::to_string(f) + " 3 1 2", dir.path(), err);
    ASSERT_TRUE(err.empty()) << err;
    expectSameAsAse(makeSupercell(frames[f], {3, 1, 2}), ase, "mp_20 test frame " + std::to_string(f));
  }
}

TEST(Supercell, OneByOneByOneIsTheSameStructure) {
  const Structure s = readXyz(sharedData("md_forces/mlip_test.xyz"))[0];
  const Structure same = makeSupercell(s, {1, 1, 1});
  EXPECT_EQ(same.numbers, s.numbers);
  EXPECT_EQ(same.positions, s.positions);
  EXPECT_EQ(same.lattice, s.lattice);
  EXPECT_EQ(same.info, s.info);
}

TEST(Supercell, MoleculeOrBadRepeatIsAChemError) {
  const Structure methane = readXyz(sharedData("qm9/qm9_reduced_100.xyz"))[0];
  EXPECT_THROW(makeSupercell(methane, {2, 2, 2}), ChemError);
  const Structure crystal = readXyz(sharedData("md_forces/mlip_test.xyz"))[0];
  EXPECT_THROW(makeSupercell(crystal, {0, 1, 1}), ChemError);
  EXPECT_THROW(makeSupercell(crystal, {1, -2, 1}), ChemError);
}

}  // namespace
}  // namespace atomscope::chem
