// Bonds from covalent radii (Open Babel's rule) against ASE's neighbour list on the same frames,
// against chemistry (ethanol has 8 bonds), and against a brute-force search over periodic images.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <tuple>

#include "atomscope/chem/bonds.h"
#include "atomscope/chem/elements.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"

namespace atomscope::chem {
namespace {

using Key = std::tuple<int, int, int, int, int>;

std::set<Key> keysOf(const std::vector<Bond>& bonds) {
  std::set<Key> out;
  for (const Bond& b : bonds) out.insert({b.i, b.j, b.image[0], b.image[1], b.image[2]});
  return out;
}

std::set<Key> keysOf(const Json& ase) {
  std::set<Key> out;
  for (const Json& b : ase) out.insert({b[0].get<int>(), b[1].get<int>(), b[2].get<int>(), b[3].get<int>(), b[4].get<int>()});
  return out;
}

TEST(Bonds, EthanolHasEightBonds) {
  // C2H5OH: C-C, C-O, O-H and five C-H.
  const Structure s = readXyz(testing::sharedData("md_forces/rmd17_ethanol_reduced_100.xyz")).at(0);
  const auto bonds = findBonds(s);
  EXPECT_EQ(bonds.size(), 8u);
  int ch = 0, cc = 0, co = 0, oh = 0;
  for (const Bond& b : bonds) {
    const int a = std::min(s.numbers[b.i], s.numbers[b.j]), c = std::max(s.numbers[b.i], s.numbers[b.j]);
    ch += a == 1 && c == 6;
    cc += a == 6 && c == 6;
    co += a == 6 && c == 8;
    oh += a == 1 && c == 8;
    EXPECT_EQ(b.image, (std::array<int, 3>{0, 0, 0}));
  }
  EXPECT_EQ(ch, 5);
  EXPECT_EQ(cc, 1);
  EXPECT_EQ(co, 1);
  EXPECT_EQ(oh, 1);
}

// ASE's neighbor_list with cutoffs r_i + 0.225 (pair cutoff r_i + r_j + 0.45), d > 0.4:
// tests/chem/make_ase_reference.py; all 100 QM9 molecules and picked frames of the other files.
TEST(Bonds, SameBondsAsAseNeighbourListOnSharedFiles) {
  int compared = 0;
  for (const auto& [rel, rec] : testing::aseReference()["files"].items()) {
    SCOPED_TRACE(rel);
    const Trajectory t = readXyz(testing::sharedData(rel));
    for (const auto& [frame, ase] : rec["bonds"].items()) {
      const Structure& s = t.at(std::stoul(frame));
      EXPECT_EQ(keysOf(findBonds(s)), keysOf(ase)) << rel << " frame " << frame;
      ++compared;
    }
  }
  EXPECT_GT(compared, 110);
}

TEST(Bonds, PeriodicFrameHasImageBonds) {
  const Structure s = readXyz(testing::sharedData("md_forces/mlip_test.xyz")).at(0);
  const auto bonds = findBonds(s);
  // 160 bonds, as ASE's neighbour list (ase_reference.json); some cross the cell boundary.
  EXPECT_EQ(bonds.size(), 160u);
  const auto crossing = std::count_if(bonds.begin(), bonds.end(), [](const Bond& b) { return b.image != std::array<int, 3>{0, 0, 0}; });
  EXPECT_GT(crossing, 0);
  // The same structure without its lattice loses exactly the crossing bonds.
  Structure open = s;
  open.lattice.reset();
  open.pbc = {false, false, false};
  EXPECT_EQ(findBonds(open).size(), bonds.size() - static_cast<std::size_t>(crossing));
}

TEST(Bonds, SimpleCubicPoloniumBondsToItsOwnImages) {
  // One Po atom in a 2.9 A cube: cutoff 2 * 1.40 + 0.45 = 3.25 A > 2.9, < 2.9 * sqrt(2):
  // six neighbours, i.e. three distinct self-image bonds.
  Structure s;
  s.addAtom(84, {0.2, 0.3, 0.4});
  s.lattice = Mat3{Vec3{2.9, 0, 0}, Vec3{0, 2.9, 0}, Vec3{0, 0, 2.9}};
  s.pbc = {true, true, true};
  const auto bonds = findBonds(s);
  ASSERT_EQ(bonds.size(), 3u);
  EXPECT_EQ(keysOf(bonds), (std::set<Key>{{0, 0, 0, 0, 1}, {0, 0, 0, 1, 0}, {0, 0, 1, 0, 0}}));
  // Open along z: the z image goes.
  s.pbc = {true, true, false};
  EXPECT_EQ(findBonds(s).size(), 2u);
}

// Independent O(N^2 x images) search for the same rule.
std::set<Key> bruteForce(const Structure& s, const BondOptions& o, int range) {
  std::set<Key> out;
  const int n = static_cast<int>(s.size());
  for (int i = 0; i < n; ++i)
    for (int j = i; j < n; ++j)
      for (int a = -range; a <= range; ++a)
        for (int b = -range; b <= range; ++b)
          for (int c = -range; c <= range; ++c) {
            const std::array<int, 3> img{a, b, c};
            bool skip = false;
            for (int k = 0; k < 3; ++k)
              if (img[k] != 0 && !(s.lattice && s.pbc[k])) skip = true;
            if (skip) continue;
            if (i == j && !(img > std::array<int, 3>{0, 0, 0})) continue;
            Vec3 d{};
            for (int k = 0; k < 3; ++k) {
              d[k] = s.positions[j][k] - s.positions[i][k];
              if (s.lattice)
                for (int m = 0; m < 3; ++m) d[k] += img[m] * (*s.lattice)[m][k];
            }
            const double r = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
            if (r > o.minDistance && r < bondCutoff(s.numbers[i], s.numbers[j], o)) out.insert({i, j, a, b, c});
          }
  return out;
}

TEST(Bonds, CellListMatchesBruteForceOnRandomTriclinicCells) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int zs[] = {1, 6, 8, 40, 14};
  for (int trial = 0; trial < 12; ++trial) {
    SCOPED_TRACE(trial);
    Structure s;
    const double scale = trial < 4 ? 3.0 : 9.0;  // small cells: cutoff larger than the cell
    s.lattice = Mat3{Vec3{scale, 0, 0}, Vec3{scale * (u(rng) - 0.5), scale * (0.8 + 0.4 * u(rng)), 0},
                     Vec3{scale * (u(rng) - 0.5), scale * (u(rng) - 0.5), scale * (0.8 + 0.4 * u(rng))}};
    s.pbc = {true, trial % 3 != 1, trial % 4 != 2};
    const int n = trial < 4 ? 4 : 120;
    for (int k = 0; k < n; ++k) {
      // Fractional coordinates partly outside [0,1) to exercise wrapping.
      const Vec3 f{u(rng) * 1.6 - 0.3, u(rng) * 1.6 - 0.3, u(rng) * 1.6 - 0.3};
      Vec3 r{0, 0, 0};
      for (int m = 0; m < 3; ++m)
        for (int c = 0; c < 3; ++c) r[c] += f[m] * (*s.lattice)[m][c];
      s.addAtom(zs[rng() % 5], r);
    }
    BondOptions o;
    EXPECT_EQ(keysOf(findBonds(s, o)), bruteForce(s, o, 4));
    o.scale = 1.15;
    o.tolerance = 0.0;
    EXPECT_EQ(keysOf(findBonds(s, o)), bruteForce(s, o, 4));
  }
}

TEST(Bonds, CellListMatchesBruteForceOnMolecules) {
  std::mt19937 rng(11);
  std::normal_distribution<double> g(0.0, 3.0);
  for (int trial = 0; trial < 5; ++trial) {
    Structure s;
    for (int k = 0; k < 300; ++k) s.addAtom(k % 3 == 0 ? 6 : 1, {g(rng), g(rng), g(rng) * (trial == 0 ? 0.0 : 1.0)});
    EXPECT_EQ(keysOf(findBonds(s)), bruteForce(s, BondOptions{}, 0));
  }
}

}  // namespace
}  // namespace atomscope::chem
