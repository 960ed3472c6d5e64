// Crystal validity as CDVAE / ADiT compute it, against a Python reference on the same crystals
// (tests/chem/analysis_reference.py validity): pymatgen 2022.11 for the structure part
// (distance_matrix with the diagonal padded, volume >= 0.1) and ADiT's smact_validity re-written
// there without SMACT on the same SMACT v2.6 tables (tests/chem/make_smact_tables.py). Each CSV row
// is checked as read, with its first atom's element changed, and with two atoms squeezed to 0.3 A.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <string>

#include "analysis_test_util.h"
#include "atomscope/chem/validity.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"

namespace atomscope::chem {
namespace {

using testing::runAnalysisReference;
using testing::sharedData;

void checkRows(const std::string& csv, int count) {
  atomscope::test::ScopedTempDir dir("validity");
  const auto xyz = dir / "rows.xyz";
  std::string err;
  const Json ref = runAnalysisReference("validity " + sharedData("crystals/" + csv).string() + " " + xyz.string() +
                                            " 0 " + std::to_string(count),
                                        dir.path(), err);
  ASSERT_TRUE(err.empty()) << err;
  const Trajectory frames = readXyz(xyz);
  ASSERT_EQ(frames.size(), ref.size());
  std::size_t refValid = 0, oursValid = 0, compInvalid = 0, structInvalid = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Json& r = ref[i];
    const std::string what = csv + " row " + std::to_string(r["row"].get<int>()) + " " + r["kind"].get<std::string>();
    const CrystalValidity v = crystalValidity(frames[i]);
    EXPECT_EQ(v.composition, r["composition"].get<bool>()) << what << " " << frames[i].formula();
    EXPECT_EQ(v.structure, r["structure"].get<bool>()) << what;
    if (!r["min_distance"].is_null() && r["min_distance"].get<double>() < 1.5)
      EXPECT_NEAR(v.minDistance, r["min_distance"].get<double>(), 1e-6) << what;
    const bool refOk = r["composition"].get<bool>() && r["structure"].get<bool>();
    refValid += refOk;
    oursValid += v.valid;
    compInvalid += !r["composition"].get<bool>();
    structInvalid += !r["structure"].get<bool>();
  }
  std::printf("%s: %zu of %zu valid (reference %zu)\n", csv.c_str(), oursValid, frames.size(), refValid);
  EXPECT_EQ(oursValid, refValid);
  EXPECT_GT(structInvalid, 0u);  // the squeezed copies
  (void)compInvalid;
}

TEST(CrystalValidity, Mp20RowsAndVariantsEqualTheReference) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.core");
  checkRows("mp_20_subset_test.csv", 142);
}

TEST(CrystalValidity, Perov5AndCarbon24RowsAndVariantsEqualTheReference) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.core");
  checkRows("perov_5_test.csv", 100);
  checkRows("carbon_24_test.csv", 60);
}

// Hand-checkable compositions (oxidation states and Pauling values from SMACT v2.6's tables).
TEST(CrystalValidity, SmactRulesOnKnownCompositions) {
  EXPECT_TRUE(smactValidity({11, 17}, {1, 1}));   // NaCl: Na+1, Cl-1, chi(Na) 0.93 < chi(Cl) 3.16
  EXPECT_FALSE(smactValidity({11, 17}, {2, 1}));  // Na2Cl: Cl has no -2 state, Na no +1/2
  EXPECT_TRUE(smactValidity({26, 8}, {2, 3}));    // Fe2O3: Fe+3, O-2
  EXPECT_TRUE(smactValidity({29, 30}, {1, 1}));   // CuZn: all metals, an alloy
  EXPECT_TRUE(smactValidity({6}, {24}));          // one element
  EXPECT_FALSE(smactValidity({2, 8}, {1, 1}));    // HeO: He has no oxidation states in SMACT
}

TEST(CrystalValidity, SetMetricsCountValidUniqueAndNovel) {
  // Ten copies of one crystal and the next row: 11 valid, 2 unique (the matcher groups the copies);
  // against a reference holding the first crystal, 1 of the 2 groups is novel.
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.core");
  atomscope::test::ScopedTempDir dir("validity");
  std::string err;
  runAnalysisReference("csv-to-xyz " + sharedData("crystals/perov_5_test.csv").string() + " " +
                           (dir / "rows.xyz").string() + " 0 1",
                       dir.path(), err);
  ASSERT_TRUE(err.empty()) << err;
  const Trajectory two = readXyz(dir / "rows.xyz");
  Trajectory set(10, two[0]);
  set.push_back(two[1]);
  const Trajectory reference{two[0]};
  std::vector<int> groups;
  const SetMetrics m = crystalSetMetrics(set, &reference, {}, {}, nullptr, &groups);
  EXPECT_EQ(m.total, 11u);
  EXPECT_EQ(m.valid, 11u);
  EXPECT_EQ(m.unique, 2u);
  EXPECT_EQ(m.novel, 1u);
  EXPECT_DOUBLE_EQ(m.novelRate, 0.5);
  EXPECT_EQ(groups[0], groups[9]);
  EXPECT_NE(groups[0], groups[10]);
}

// ADiT's molecule metrics: unique / valid and novel unique SMILES / valid.
TEST(MoleculeSetMetrics, RatesAsAdit) {
  const std::vector<std::string> smiles{"CCO", "CCO", "", "C", "c1ccccc1"};
  const std::set<std::string> reference{"C"};
  const SetMetrics m = moleculeSetMetrics(smiles, &reference);
  EXPECT_EQ(m.valid, 4u);
  EXPECT_EQ(m.unique, 3u);
  EXPECT_EQ(m.novel, 2u);
  EXPECT_DOUBLE_EQ(m.validRate, 0.8);
  EXPECT_DOUBLE_EQ(m.uniqueRate, 0.75);
  EXPECT_DOUBLE_EQ(m.novelRate, 0.5);
}

}  // namespace
}  // namespace atomscope::chem
