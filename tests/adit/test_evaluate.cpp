// adit.evaluate on real QM9 molecules (all valid: they are real molecules) and jittered copies.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "adit_test_util.h"
#include "atomscope/adit/reference_smiles.h"
#include "atomscope/adit/training.h"
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
#include "atomscope/chem/molecule_perception.h"
#endif
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

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
TEST(AditEvaluate, AllHundredQm9MoleculesCountedBothWays) {
  // Every QM9 entry is a neutral closed-shell molecule with DFT coordinates (qm9_reduced_100.xyz), so
  // bond perception from coordinates with total charge 0 should find all 100 valid in both senses:
  // 'sanitizes, one fragment' and 'also neutral, no radicals'. Known shortfall: Open Babel's
  // perception (the one ADiT's pipeline uses) gives entry 33 (C2H3NO) an oxygen with three bonds,
  // which RDKit refuses; every other entry must pass.
  const auto mols = chem::readXyz(qm9Xyz());
  ASSERT_EQ(mols.size(), 100u);
  const auto row = adit::evaluateMolecules(mols, {});
  for (std::size_t i = 0; i < mols.size(); ++i) {
    if (i == 33) continue;
    const auto p = chem::perceiveMolecule(mols[i]);
    EXPECT_TRUE(p.valid && p.fragments == 1) << "QM9 entry " << i << " (" << mols[i].formula() << "): " << p.error;
  }
  EXPECT_GE(row.valid, 99u);
  EXPECT_GE(row.validNeutral, 99u);
  // Remove one hydrogen from each: an odd electron count, so no molecule can be neutral and radical-free.
  chem::Trajectory stripped;  // the molecules that have a hydrogen to remove
  for (auto m : mols) {
    for (std::size_t i = 0; i < m.size(); ++i)
      if (m.numbers[i] == 1) {
        m.removeAtom(i);
        stripped.push_back(m);
        break;
      }
  }
  ASSERT_GT(stripped.size(), 90u);
  const auto bad = adit::evaluateMolecules(stripped, {});
  EXPECT_EQ(bad.validNeutral, 0u);

  // Remove two hydrogens of one heavy atom: the electron count stays even, but that atom is left two
  // bonds short (a carbene or diradical). RDKit's PDB reader fills the gap with implicit hydrogens, so
  // ADiT's 'valid' still passes many of them; 'valid and neutral' must pass none.
  chem::Trajectory twoShort;
  for (auto m : mols) {
    for (std::size_t heavy = 0; heavy < m.size() && twoShort.size() < 60; ++heavy) {
      if (m.numbers[heavy] == 1) continue;
      std::vector<std::size_t> hs;
      for (std::size_t j = 0; j < m.size(); ++j) {
        const double d = std::hypot(m.positions[j][0] - m.positions[heavy][0], m.positions[j][1] - m.positions[heavy][1],
                                    m.positions[j][2] - m.positions[heavy][2]);
        if (m.numbers[j] == 1 && d < 1.2) hs.push_back(j);
      }
      if (hs.size() < 2) continue;
      m.removeAtom(hs[1]);  // the later index first
      m.removeAtom(hs[0]);
      twoShort.push_back(m);
      break;
    }
  }
  ASSERT_GE(twoShort.size(), 50u);
  const auto shortRow = adit::evaluateMolecules(twoShort, {});
  std::printf("two H short: %zu of %zu valid, %zu valid and neutral\n", shortRow.valid, twoShort.size(), shortRow.validNeutral);
  // The lenient protocol is fooled by the filled-in hydrogens (measured: 59 of the 60 pass it)...
  EXPECT_GE(shortRow.valid, 50u);
  EXPECT_EQ(shortRow.validNeutral, 0u);  // ...the strict one is not
  const auto p = chem::perceiveMolecule(twoShort[0]);
  EXPECT_FALSE(p.neutralClosedShell);
  EXPECT_FALSE(p.strictError.empty());
}
#endif

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
TEST(AditEvaluate, NoveltyAgainstASmilesListComparesWithoutStereo) {
  // The QM9 SMILES lists carry no stereo; molecules perceived from 3D may. Listing the stereo-free
  // SMILES of all 40 molecules makes none novel; listing the first 20 leaves some of the rest novel.
  auto mols = chem::readXyz(qm9Xyz());
  mols.resize(40);
  std::vector<std::string> flat;
  for (const auto& m : mols) {
    const auto p = chem::perceiveMolecule(m);
    if (p.valid) flat.push_back(chem::canonicalSmiles(p.largestFragmentSmiles, false));
  }
  ASSERT_GE(flat.size(), 38u);
  for (const auto& s : flat) EXPECT_EQ(s.find('@'), std::string::npos) << s;
  const auto all = adit::evaluateMolecules(mols, {}, nullptr, flat);
  EXPECT_EQ(all.novel, 0u);
  EXPECT_EQ(all.novelRate, 0.0);
  const std::vector<std::string> half(flat.begin(), flat.begin() + 20);
  const auto some = adit::evaluateMolecules(mols, {}, nullptr, half);
  EXPECT_GE(some.novel, 10u);  // QM9 entries 21-40 are other molecules than 1-20 (stereo duplicates at most)
  EXPECT_LE(some.novel + 18, flat.size());  // the 20 listed are not novel (two stereo duplicates allowed)

  // Through the job: a .txt list headed 'smiles' (the layout of ../shared/data/smiles) is read as SMILES.
  test::ScopedTempDir root("adit_eval_smiles");
  chem::writeXyz(root / "mols.xyz", mols);
  {
    std::ofstream f(root / "train_smile.txt");
    f << "smiles\n";
    for (const auto& s : half) f << s << "\n";
  }
  auto out = runJob("adit.evaluate",
                    Json{{"structures", (root / "mols.xyz").string()}, {"reference", (root / "train_smile.txt").string()}},
                    root.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  EXPECT_NEAR(summary(out)["molecule_novel_rate"].get<double>(), static_cast<double>(some.novel) / some.valid, 1e-12);
}

TEST(AditEvaluate, ReferenceSmilesListsAreRecognisedAndCheckedLineByLine) {
  test::ScopedTempDir root("adit_ref_smiles");
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(root / name) << text;
    return root / name;
  };
  EXPECT_EQ(adit::readReferenceSmiles(write("a.smi", "CCO ethanol\nC1=CC=CC=C1\n")), (std::vector<std::string>{"CCO", "C1=CC=CC=C1"}));
  EXPECT_EQ(adit::readReferenceSmiles(write("b.csv", "SMILES,energy\nCCO,1.0\nN#C,2\n")), (std::vector<std::string>{"CCO", "N#C"}));
  EXPECT_TRUE(adit::readReferenceSmiles(qm9Xyz()).empty());  // a structure file: not a SMILES list
  try {
    adit::readReferenceSmiles(write("bad.smi", "CCO\nC1CC\n"));
    FAIL() << "an unclosed ring was accepted";
  } catch (const adit::AditError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.smi:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(adit::readReferenceSmiles(write("empty.smi", "\n")), adit::AditError);
  EXPECT_THROW(adit::readReferenceSmiles(root / "missing.smi"), adit::AditError);
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
  const auto squashedRow = adit::evaluateCrystals(squashed, {});
  EXPECT_EQ(squashedRow.valid, 0u);
  // Why: the relaxed crystals pass every distance, so their composition decides; squashed, every distance
  // fails (or the cell falls under 0.1 A^3 and is rejected first), and no composition passes that did not before.
  EXPECT_EQ(row.structureValidRate, 1.0);
  EXPECT_EQ(row.latticeRejected, 0u);
  EXPECT_NEAR(row.compositionValidRate, row.validRate, 1e-12);
  // ... and is chem::compositionValid's (checked against ADiT's smact_validity in tests/chem/test_validity.cpp).
  int compositionsValid = 0;
  for (const auto& s : xtals) compositionsValid += chem::compositionValid(s);
  EXPECT_GT(compositionsValid, 0);
  EXPECT_NEAR(row.compositionValidRate, compositionsValid / 20.0, 1e-12);
  EXPECT_EQ(squashedRow.structureValidRate, 0.0);
  EXPECT_LE(squashedRow.compositionValidRate, row.compositionValidRate);
  // A cell sheared to a 30 degree angle is rejected before composition and distances are looked at.
  auto sheared = xtals[0];
  const double pi = std::acos(-1.0);
  *sheared.lattice = {{{4.0, 0.0, 0.0}, {4.0 * std::cos(pi / 6), 4.0 * std::sin(pi / 6), 0.0}, {0.0, 0.0, 4.0}}};
  const auto shearedRow = adit::evaluateCrystals({sheared}, {});
  EXPECT_EQ(shearedRow.latticeRejected, 1u);
  EXPECT_EQ(shearedRow.compositionValidRate, 0.0);
  EXPECT_EQ(shearedRow.structureValidRate, 0.0);
#else
  GTEST_SKIP() << "CDVAE CSV needs the chemistry toolkits";
#endif
}

}  // namespace atomscope::adit_test
