// adit.prepare on real data: the QM9 subset (ASE reference) and 50 MP-20 crystals (pymatgen reference).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "adit_test_util.h"
#include "atomscope/adit/dataset.h"

namespace atomscope::adit_test {

using adit::AditError;

TEST(AditPrepare, Qm9SubsetMatchesAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  test::ScopedTempDir dir("adit_prepare");
  adit::PrepareOptions o;
  o.shardSize = 30;  // several shards
  const auto rep = adit::prepareDataset({{qm9Xyz().string(), "auto"}}, dir.path(), o);
  const auto ref = pythonReference("xyz " + qm9Xyz().string());  // ASE's ase.io.read
  EXPECT_EQ(rep.records, ref["frames"].get<std::size_t>());
  EXPECT_EQ(rep.molecules, rep.records);
  const auto r = adit::loadDataset(dir.path());
  EXPECT_EQ(r.size(), ref["frames"].get<std::int64_t>());
  EXPECT_EQ(r.numbers.size(0), ref["atoms"].get<std::int64_t>());
  const auto z = ref["first_numbers"].get<std::vector<int>>();
  const auto centred = ref["first_centred"];
  ASSERT_EQ(r.atomsOf(0), static_cast<std::int64_t>(z.size()));
  for (std::size_t a = 0; a < z.size(); ++a) {
    EXPECT_EQ(r.numbers[a].item<std::int64_t>(), z[a]);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(r.positions[a][k].item<float>(), centred[a][k].get<double>(), 1e-5);
  }
  // Molecules carry zero fractional coordinates and lattice (the paper's convention).
  EXPECT_EQ(r.fractional.abs().sum().item<float>(), 0.f);
  EXPECT_EQ(r.lattice.abs().sum().item<float>(), 0.f);
  EXPECT_TRUE(fs::exists(dir / "shard_3.safetensors"));  // 100 records / 30 per shard = 4 shards
}

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
TEST(AditPrepare, Mp20NiggliAndSpaceGroupsMatchPymatgen) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.core");
  test::ScopedTempDir dir("adit_prepare");
  adit::PrepareOptions o;
  o.limit = 50;
  const auto rep = adit::prepareDataset({{mp20Csv().string(), "auto"}}, dir.path(), o);
  ASSERT_EQ(rep.crystals, 50u);
  const auto r = adit::loadDataset(dir.path());
  const auto ref = pythonReference("niggli " + mp20Csv().string() + " 50");
  ASSERT_EQ(ref.size(), 50u);
  for (std::int64_t i = 0; i < 50; ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    const auto& x = ref[i];
    EXPECT_EQ(r.atomsOf(i), x["natoms"].get<std::int64_t>());
    EXPECT_EQ(r.spaceGroup[i].item<std::int64_t>(), x["space_group"].get<std::int64_t>());
    // A Niggli cell's lengths and angles are unique up to the order of equal-metric axes (spglib
    // here, pymatgen's own reduction there): compare them sorted.
    std::vector<double> ours{r.lattice[i][0].item<float>(), r.lattice[i][1].item<float>(), r.lattice[i][2].item<float>()};
    std::vector<double> angles{r.lattice[i][3].item<float>(), r.lattice[i][4].item<float>(), r.lattice[i][5].item<float>()};
    auto theirs = x["abc"].get<std::vector<double>>();
    auto theirAngles = x["angles"].get<std::vector<double>>();
    // Niggli type-I and type-II cells differ by the sign of a basis vector, which turns an angle into
    // its supplement; compare min(angle, 180 - angle).
    for (auto* v : {&angles, &theirAngles})
      for (auto& x : *v) x = std::min(x, 180.0 - x);
    for (auto* v : {&ours, &angles, &theirs, &theirAngles}) std::sort(v->begin(), v->end());
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(ours[k], theirs[k], 1e-3);
      EXPECT_NEAR(angles[k], theirAngles[k], 2e-2);
    }
    // Fractional coordinates wrapped into [0, 1); Cartesian positions are frac . lattice.
    const auto a0 = r.offsets[i].item<std::int64_t>(), a1 = r.offsets[i + 1].item<std::int64_t>();
    const auto f = r.fractional.slice(0, a0, a1);
    EXPECT_TRUE((f >= 0).all().item<bool>());
    EXPECT_TRUE((f < 1).all().item<bool>());
    const auto s = adit::toStructure(r, i);
    EXPECT_NEAR(s.cellVolume(), x["volume"].get<double>(), 1e-4 * x["volume"].get<double>());
  }
}
#endif

TEST(AditPrepare, BatchPadsAndMasks) {
  test::ScopedTempDir dir("adit_prepare");
  adit::PrepareOptions o;
  o.limit = 5;
  adit::prepareDataset({{qm9Xyz().string(), "molecule"}}, dir.path(), o);
  const auto r = adit::loadDataset(dir.path());
  const auto b = adit::makeBatch(r, {0, 1, 2, 3, 4});
  std::int64_t maxN = 0;
  for (int i = 0; i < 5; ++i) {
    maxN = std::max(maxN, r.atomsOf(i));
    EXPECT_EQ(b.mask[i].sum().item<std::int64_t>(), r.atomsOf(i));
    EXPECT_EQ(b.natoms[i].item<std::int64_t>(), r.atomsOf(i));
    // Padding holds type 0 and zero coordinates.
    EXPECT_EQ(b.numbers[i].slice(0, r.atomsOf(i)).abs().sum().item<std::int64_t>(), 0);
  }
  EXPECT_EQ(b.numbers.size(1), maxN);

  // The device-resident form: every record padded to the largest (plus a minimum), gathered by an
  // index tensor, equals makeBatch on the real slots and holds zeros in the padding.
  const auto padded = adit::padRecords(r, torch::kCPU, maxN + 3);
  ASSERT_EQ(padded.width(), maxN + 3);
  const auto g = padded.gather(torch::tensor({4, 0, 2}, torch::kInt64));
  const auto ref = adit::makeBatch(r, {4, 0, 2});
  for (int j = 0; j < 3; ++j) {
    const auto n = ref.natoms[j].item<std::int64_t>();
    EXPECT_EQ(g.natoms[j].item<std::int64_t>(), n);
    EXPECT_TRUE(torch::equal(g.numbers[j].slice(0, 0, n), ref.numbers[j].slice(0, 0, n)));
    EXPECT_TRUE(torch::equal(g.positions[j].slice(0, 0, n), ref.positions[j].slice(0, 0, n)));
    EXPECT_TRUE(torch::equal(g.mask[j].slice(0, 0, n), ref.mask[j].slice(0, 0, n)));
    EXPECT_EQ(g.mask[j].slice(0, n).sum().item<std::int64_t>(), 0);
    EXPECT_EQ(g.positions[j].slice(0, n).abs().sum().item<float>(), 0.f);
  }
  EXPECT_TRUE(torch::equal(g.lattice, ref.lattice));
  EXPECT_TRUE(torch::equal(g.kind, ref.kind));
}

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
// SMILES are embedded by a pool of threads, each with its fixed seed, and appended in file order: one thread
// and three give the same records, and every line is accounted for (kept, dropped as charged or radical, or
// failed to embed). The first 40 SMILES of the shared QM9 list.
TEST(AditPrepare, SmilesGiveTheSameRecordsForAnyNumberOfThreads) {
  test::ScopedTempDir dir("adit_prepare_smiles");
  const auto smiles = sharedData("smiles/graph_hdc_QM9Smiles_train_smile.txt");
  adit::PrepareOptions o;
  o.limit = 40;
  o.threads = 1;
  const auto one = adit::prepareDataset({{smiles.string(), "molecule"}}, dir / "one", o);
  o.threads = 3;
  const auto three = adit::prepareDataset({{smiles.string(), "molecule"}}, dir / "three", o);
  EXPECT_EQ(one.records + one.dropped + one.failed, 40u);
  EXPECT_GT(one.records, 30u);
  EXPECT_EQ(three.records, one.records);
  EXPECT_EQ(three.dropped, one.dropped);
  EXPECT_EQ(three.failed, one.failed);
  const auto a = adit::loadDataset(dir / "one"), b = adit::loadDataset(dir / "three");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(torch::equal(a.numbers, b.numbers));
  EXPECT_TRUE(torch::equal(a.positions, b.positions));
}
#endif

TEST(AditPrepare, BadInputsGiveClearErrors) {
  test::ScopedTempDir dir("adit_prepare");
  try {
    adit::prepareDataset({{"/nonexistent/qm9.xyz", "auto"}}, dir.path(), {});
    FAIL() << "no error";
  } catch (const AditError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/qm9.xyz"), std::string::npos) << e.what();
  }
  const auto odd = dir / "data.bin";
  std::ofstream(odd) << "x";
  try {
    adit::prepareDataset({{odd.string(), "auto"}}, dir.path(), {});
    FAIL() << "no error";
  } catch (const AditError& e) {
    EXPECT_NE(std::string(e.what()).find("data.bin"), std::string::npos) << e.what();
  }
  // A truncated XYZ names the file and line (modules/chem's reader).
  const auto bad = dir / "bad.xyz";
  std::ofstream(bad) << "3\ncomment\nC 0 0 0\n";
  EXPECT_THROW(adit::prepareDataset({{bad.string(), "auto"}}, dir / "out", {}), std::exception);
  // A data folder without a manifest.
  try {
    adit::loadDataset(dir.path());
    FAIL() << "no error";
  } catch (const AditError& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos) << e.what();
  }
  // A corrupt shard.
  adit::PrepareOptions o;
  o.limit = 3;
  adit::prepareDataset({{qm9Xyz().string(), "auto"}}, dir / "good", o);
  std::ofstream(dir / "good" / "shard_0.safetensors", std::ios::trunc) << "garbage";
  try {
    adit::loadDataset(dir / "good");
    FAIL() << "no error";
  } catch (const AditError& e) {
    EXPECT_NE(std::string(e.what()).find("shard_0.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace atomscope::adit_test
