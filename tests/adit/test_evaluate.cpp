// adit.evaluate on real QM9 molecules (all valid: they are real molecules) and jittered copies.
#include <gtest/gtest.h>

#include <random>

#include "adit_test_util.h"
#include "atomscope/adit/training.h"
#include "atomscope/chem/validity.h"
#include "atomscope/chem/xyz.h"

namespace atomscope::adit_test {

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
TEST(AditEvaluate, RealMoleculesAreValidJitteredLessSo) {
  auto mols = chem::readXyz(qm9Xyz());
  mols.resize(40);
  const auto row = adit::evaluateMolecules(mols, {});
  EXPECT_EQ(row.total, 40u);
  // QM9 molecules are real, neutral closed-shell molecules. Bond perception from coordinates (Open
  // Babel, as ADiT's pipeline) misreads an odd one, so at least 95%, not 100%, pass.
  EXPECT_GE(row.valid, 38u);
  EXPECT_GE(row.validNeutral, 38u);
  EXPECT_GT(row.uniqueRate, 0.9);  // QM9 entries are distinct molecules (a few stereo duplicates at most)
  // Novelty against themselves is 0.
  EXPECT_EQ(adit::evaluateMolecules(mols, mols).novel, 0u);
  // Jitter every coordinate by N(0, 0.4 A): bonds break and form, validity drops.
  std::mt19937 rng(3);
  std::normal_distribution<double> n(0.0, 0.4);
  auto jittered = mols;
  for (auto& m : jittered)
    for (auto& p : m.positions)
      for (auto& v : p) v += n(rng);
  const auto bad = adit::evaluateMolecules(jittered, {});
  EXPECT_LT(bad.validNeutral, 30u);
  EXPECT_LE(bad.validNeutral, bad.valid);

  // The job writes the table as JSON and CSV.
  test::ScopedTempDir root("adit_eval");
  chem::writeXyz(root / "mols.xyz", mols);
  auto out = runJob("adit.evaluate", Json{{"structures", (root / "mols.xyz").string()}}, root.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  EXPECT_GE(summary(out)["molecule_valid_rate"].get<double>(), 0.95);
  EXPECT_TRUE(fs::exists(out.runDir / "artifacts" / "metrics.csv"));
}
#endif

TEST(AditEvaluate, RealCrystalsPassTheDistanceCheck) {
  // MP-20 crystals are DFT-relaxed: no two atoms closer than 0.5 A (CDVAE's structure validity).
  test::ScopedTempDir root("adit_eval_x");
  adit::PrepareOptions o;
  o.limit = 20;
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  adit::prepareDataset({{mp20Csv().string(), "auto"}}, root / "d", o);
  const auto r = adit::loadDataset(root / "d");
  chem::Trajectory xtals;
  for (std::int64_t i = 0; i < r.size(); ++i) xtals.push_back(adit::toStructure(r, i));
  const auto row = adit::evaluateCrystals(xtals, {});
  EXPECT_EQ(row.total, 20u);
  for (const auto& s : xtals) EXPECT_GE(chem::minimumInteratomicDistance(s), 0.5);
  // Squash every cell to 10%: atoms collide and the structure check fails for all.
  auto squashed = xtals;
  for (auto& s : squashed) {
    for (auto& v : *s.lattice)
      for (auto& c : v) c *= 0.1;
    for (auto& p : s.positions)
      for (auto& c : p) c *= 0.1;
  }
  EXPECT_EQ(adit::evaluateCrystals(squashed, {}).valid, 0u);
#else
  GTEST_SKIP() << "CDVAE CSV needs the chemistry toolkits";
#endif
}

}  // namespace atomscope::adit_test
