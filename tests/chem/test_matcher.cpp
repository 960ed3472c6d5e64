// StructureMatcher against pymatgen 2022.11's StructureMatcher(ltol=0.3, stol=0.5, angle_tol=10)
// (ADiT's settings) on pairs drawn from the shared CDVAE CSVs by tests/chem/analysis_reference.py:
// each crystal against itself perturbed, rotated, permuted, as a supercell and strained, against
// the next row, and real pairs of rows with the same reduced formula. fit() must agree with
// pymatgen's fit on at least 99 % of the pairs of each file (measured: 621 of 622; the one miss is
// carbon_24_test row 0 against itself with 0.02 A noise, where pymatgen's get_primitive_structure
// reduces the clean 10-atom cell to 2 atoms but not the perturbed one, so pymatgen says "no match"
// and we, reducing both, say "match"); where both match, the RMS equals pymatgen's get_rms_dist.
#include <gtest/gtest.h>

#include "test_util.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "analysis_test_util.h"
#include "atomscope/chem/linear_assignment.h"
#include "atomscope/chem/structure_matcher.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"

namespace atomscope::chem {
namespace {

using testing::runAnalysisReference;
using testing::sharedData;

void checkPairs(const std::string& csv, int count, int seed) {
  atomscope::test::ScopedTempDir dir("matcher");
  const auto xyz = dir / "pairs.xyz";
  std::string err;
  const Json ref = runAnalysisReference("matcher " + sharedData("crystals/" + csv).string() + " " + xyz.string() +
                                            " 0 " + std::to_string(count) + " " + std::to_string(seed),
                                        dir.path(), err);
  ASSERT_TRUE(err.empty()) << err;
  const Trajectory frames = readXyz(xyz);
  ASSERT_EQ(frames.size(), 2 * ref.size());
  const StructureMatcher matcher;  // ltol 0.3, stol 0.5, angle_tol 10
  std::size_t agree = 0, matches = 0;
  std::map<std::string, std::pair<int, int>> perKind;  // kind -> (agree, total)
  for (std::size_t k = 0; k < ref.size(); ++k) {
    const Json& r = ref[k];
    const std::string what = csv + " pair " + std::to_string(k) + " (" + r["kind"].get<std::string>() + ", rows " +
                             r["rows"].dump() + ")";
    const bool ours = matcher.fit(frames[2 * k], frames[2 * k + 1]);
    const bool theirs = r["fit"].get<bool>();
    if (ours != theirs) std::printf("mismatch: %s: ours %d, pymatgen %d\n", what.c_str(), ours, theirs);
    auto& [a, t] = perKind[r["kind"].get<std::string>()];
    ++t;
    if (ours == theirs) {
      ++agree;
      ++a;
    }
    matches += theirs;
    const auto rms = matcher.rmsDistance(frames[2 * k], frames[2 * k + 1]);
    if (ours == theirs) EXPECT_EQ(rms.has_value(), !r["rms"].is_null()) << what;
    if (rms && !r["rms"].is_null()) {
      EXPECT_NEAR(rms->rms, r["rms"][0].get<double>(), 1e-4) << what;
      EXPECT_NEAR(rms->maxDist, r["rms"][1].get<double>(), 1e-4) << what;
    }
  }
  std::string summary;
  for (const auto& [kind, at] : perKind)
    summary += " " + kind + " " + std::to_string(at.first) + "/" + std::to_string(at.second);
  std::printf("%s: fit agrees with pymatgen on %zu of %zu pairs (%zu match in pymatgen);%s\n", csv.c_str(), agree,
              ref.size(), matches, summary.c_str());
  EXPECT_GE(static_cast<double>(agree), 0.99 * static_cast<double>(ref.size())) << csv;
  // Both kinds of answer occur, so agreement is not trivial.
  EXPECT_GT(matches, 0u);
  EXPECT_LT(matches, ref.size());
}

TEST(StructureMatcher, Mp20PairsAgreeWithPymatgen) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.analysis.structure_matcher");
  checkPairs("mp_20_subset_train.csv", 20, 7);
  checkPairs("mp_20_subset_test.csv", 20, 11);
}

TEST(StructureMatcher, Carbon24AndPerov5PairsAgreeWithPymatgen) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.analysis.structure_matcher");
  checkPairs("carbon_24_test.csv", 20, 7);
  checkPairs("perov_5_test.csv", 20, 7);
}

// The assignment the matcher (and ADiT's composition decoding) relies on, against every permutation: random 1..7
// square cost matrices, ties included (integer costs), must reach the least total cost exhaustive search finds.
TEST(LinearAssignment, EqualsExhaustiveSearch) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + trial % 7;
    std::vector<std::vector<double>> cost(n, std::vector<double>(n));
    std::uniform_int_distribution<int> value(trial % 2 ? 0 : -50, trial % 3 ? 9 : 1000);
    for (auto& row : cost)
      for (auto& c : row) c = value(rng);
    std::vector<int> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    double best = 1e300;
    do {
      double total = 0;
      for (int i = 0; i < n; ++i) total += cost[i][perm[i]];
      best = std::min(best, total);
    } while (std::next_permutation(perm.begin(), perm.end()));
    const auto got = linearAssignment(cost);
    ASSERT_EQ(static_cast<int>(got.size()), n);
    std::vector<int> sorted = got;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i) << "not a permutation, trial " << trial;
    double total = 0;
    for (int i = 0; i < n; ++i) total += cost[i][got[i]];
    EXPECT_DOUBLE_EQ(total, best) << "trial " << trial;
  }
}

}  // namespace
}  // namespace atomscope::chem
