// Symmetry through spglib against the Python references on the same crystals (read from the CDVAE
// CSVs' cif column by pymatgen 2022.11): pymatgen's SpacegroupAnalyzer (space group number and
// symbol at symprec 0.01 and 0.1, angle_tolerance 5), the CSV's spacegroup.number column for MP-20
// (the Materials Project's, symprec 0.1), Debian's python3-spglib standardize_cell for primitive and
// conventional cells, and pymatgen's Lattice.get_niggli_reduced_lattice() for Niggli cells.
#include <gtest/gtest.h>

#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "analysis_test_util.h"
#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/error.h"
#include "atomscope/chem/structure_matcher.h"
#include "atomscope/chem/symmetry.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"

// spglib / RDKit / Open Babel: only in builds with the chemistry toolkits (not the GPU build).
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS

namespace atomscope::chem {
namespace {

using testing::runAnalysisReference;
using testing::sharedData;

void expectSameParameters(const Mat3& lattice, const Json& ref, double tol, const std::string& what) {
  const CellParameters p = cellParameters(lattice);
  EXPECT_NEAR(p.a, ref["abc"][0].get<double>(), tol) << what;
  EXPECT_NEAR(p.b, ref["abc"][1].get<double>(), tol) << what;
  EXPECT_NEAR(p.c, ref["abc"][2].get<double>(), tol) << what;
  EXPECT_NEAR(p.alpha, ref["angles"][0].get<double>(), tol) << what;
  EXPECT_NEAR(p.beta, ref["angles"][1].get<double>(), tol) << what;
  EXPECT_NEAR(p.gamma, ref["angles"][2].get<double>(), tol) << what;
}

// pymatgen's get_niggli_reduced_lattice ends by mapping the input lattice onto the reduced
// parameters with its find_mapping (1 degree angle tolerance), so its vectors can come back in
// another order (row 91 of mp_20_subset_test: b > c) and an angle within its tolerance e of 90
// on the other side of 90 (row 5). Compare what both agree on: the pairs (length of vector k,
// angle between the other two), sorted, with angles folded to [0, 90].
void expectSameNiggli(const Mat3& lattice, const Json& ref, const std::string& what) {
  const CellParameters p = cellParameters(lattice);
  EXPECT_LE(p.a, p.b + 1e-4) << what << ": Niggli cells have a <= b <= c";
  EXPECT_LE(p.b, p.c + 1e-4) << what << ": Niggli cells have a <= b <= c";
  auto fold = [](double angle) { return std::min(angle, 180.0 - angle); };
  std::vector<std::pair<double, double>> ours{{p.a, fold(p.alpha)}, {p.b, fold(p.beta)}, {p.c, fold(p.gamma)}};
  std::vector<std::pair<double, double>> theirs;
  for (int k = 0; k < 3; ++k) theirs.emplace_back(ref["abc"][k].get<double>(), fold(ref["angles"][k].get<double>()));
  // Equal lengths leave the order free: any pairing of the three within 1e-4 will do.
  std::vector<int> perm{0, 1, 2};
  bool same = false;
  do {
    bool all = true;
    for (int k = 0; k < 3; ++k)
      all = all && std::abs(ours[k].first - theirs[perm[k]].first) < 1e-4 &&
            std::abs(ours[k].second - theirs[perm[k]].second) < 1e-4;
    same = same || all;
  } while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_TRUE(same) << what << ": ours " << p.a << " " << p.b << " " << p.c << " " << p.alpha << " " << p.beta << " "
                    << p.gamma << "; pymatgen " << ref.dump();
}

void checkRows(const std::string& csv, int first, int count, bool hasCsvColumn) {
  atomscope::test::ScopedTempDir dir("symmetry");
  const auto xyz = dir / "rows.xyz";
  std::string err;
  const Json ref = runAnalysisReference("symmetry " + sharedData("crystals/" + csv).string() + " " + xyz.string() +
                                            " " + std::to_string(first) + " " + std::to_string(count),
                                        dir.path(), err);
  ASSERT_TRUE(err.empty()) << err;
  const Trajectory frames = readXyz(xyz);
  ASSERT_EQ(frames.size(), ref.size());
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(count));
  int csvAgree = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Json& r = ref[i];
    const std::string what = csv + " row " + std::to_string(r["row"].get<int>());
    const SpaceGroupInfo fine = spaceGroup(frames[i]);  // symprec 0.01, as SpacegroupAnalyzer's default
    EXPECT_EQ(fine.number, r["sg_0.01"].get<int>()) << what;
    EXPECT_EQ(fine.international, r["symbol_0.01"].get<std::string>()) << what;
    const SpaceGroupInfo coarse = spaceGroup(frames[i], {.symprec = 0.1});
    EXPECT_EQ(coarse.number, r["sg_0.1"].get<int>()) << what;
    EXPECT_EQ(coarse.international, r["symbol_0.1"].get<std::string>()) << what;
    if (hasCsvColumn && coarse.number == r["csv_sg"].get<int>()) ++csvAgree;
    EXPECT_EQ(fine.equivalentAtoms.size(), frames[i].size());

    for (const char* kind : {"primitive", "conventional"}) {
      const Structure cell =
          std::string(kind) == "primitive" ? primitiveCell(frames[i]) : conventionalCell(frames[i]);
      const Json& c = r[kind];
      ASSERT_EQ(cell.size(), c["n"].get<std::size_t>()) << what << " " << kind;
      std::vector<int> z = cell.numbers;
      std::sort(z.begin(), z.end());
      EXPECT_EQ(z, c["numbers"].get<std::vector<int>>()) << what << " " << kind;
      expectSameParameters(*cell.lattice, c, 1e-6, what + " " + kind);
    }
    // Niggli cell lengths and angles equal pymatgen's to 1e-4 (the brief's tolerance).
    const Structure niggli = niggliReduced(frames[i]);
    expectSameNiggli(*niggli.lattice, r["niggli"], what + " niggli (spglib)");
    // The toolkit-free reduction the structure matcher uses gives the same cell.
    expectSameNiggli(niggliBasis(*frames[i].lattice), r["niggli"], what + " niggli (ours)");
    EXPECT_NEAR(niggli.cellVolume(), frames[i].cellVolume(), 1e-6 * frames[i].cellVolume()) << what;
    for (const Vec3& f : niggli.fractionalPositions())
      for (double x : f) EXPECT_TRUE(x > -1e-9 && x < 1 + 1e-9) << what;
  }
  // The MP-20 column is the Materials Project's space group (symprec 0.1): every row agrees.
  if (hasCsvColumn) EXPECT_EQ(csvAgree, count) << csv;
}

TEST(Symmetry, Mp20TestRowsEqualPymatgenSpglibAndTheCsvColumn) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.symmetry.analyzer");
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("spglib");
  checkRows("mp_20_subset_test.csv", 0, 142, true);
}

TEST(Symmetry, Perov5AndCarbon24RowsEqualPymatgenAndSpglib) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.symmetry.analyzer");
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("spglib");
  checkRows("perov_5_test.csv", 0, 40, false);
  checkRows("carbon_24_test.csv", 0, 40, false);
}

TEST(Symmetry, MoleculeIsAChemError) {
  const Structure methane = readXyz(sharedData("qm9/qm9_reduced_100.xyz"))[0];
  EXPECT_THROW(spaceGroup(methane), ChemError);
  EXPECT_THROW(primitiveCell(methane), ChemError);
  EXPECT_THROW(niggliReduced(methane), ChemError);
}

}  // namespace
}  // namespace atomscope::chem

#endif  // ATOMSCOPE_HAS_CHEM_TOOLKITS
