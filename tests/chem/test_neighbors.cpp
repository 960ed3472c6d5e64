// Neighbour lists with periodic boundaries against ASE's neighbor_list('ijSd') on the same frames
// (tests/chem/neighbor_reference.py run with Debian's python3-ase): a periodic MOF frame, the same
// frame as a slab (pbc T T F), a tiny skewed cell whose cutoff reaches many images (atoms are their
// own neighbours there), and a molecule without a lattice. Pairs, images and distances must agree.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <tuple>

#include "atomscope/chem/error.h"
#include "atomscope/chem/neighbors.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"
#include "test_util.h"

namespace atomscope::chem {
namespace {

using Key = std::tuple<int, int, int, int, int>;

std::map<Key, double> aseNeighbours(const Structure& s, double cutoff, const std::string& tag) {
  const auto dir = testing::tempDir("neighbors_" + tag);
  writeXyz(dir / "frame.xyz", Trajectory{s});
  const std::string cmd = "/usr/bin/python3 " + std::string(ATOMSCOPE_SOURCE_DIR) + "/tests/chem/neighbor_reference.py " +
                          (dir / "frame.xyz").string() + " " + std::to_string(cutoff) + " > " + (dir / "ase.json").string() +
                          " 2> " + (dir / "ase.err").string();
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << testing::readText(dir / "ase.err");
  std::map<Key, double> out;
  if (rc != 0) return out;
  const Json j = Json::parse(testing::readText(dir / "ase.json"));
  for (const Json& p : j.at(0))
    out[{p[0].get<int>(), p[1].get<int>(), p[2].get<int>(), p[3].get<int>(), p[4].get<int>()}] = p[5].get<double>();
  atomscope::test::removeTree(dir);
  return out;
}

void expectSameAsAse(const Structure& s, double cutoff, const std::string& tag) {
  SCOPED_TRACE(tag);
  const NeighborList nl = neighborList(s, cutoff);
  const auto ase = aseNeighbours(s, cutoff, tag);
  ASSERT_FALSE(ase.empty());
  EXPECT_EQ(nl.size(), ase.size());
  std::size_t matched = 0;
  for (std::size_t k = 0; k < nl.size(); ++k) {
    const Key key{nl.i[k], nl.j[k], nl.image[k][0], nl.image[k][1], nl.image[k][2]};
    const auto it = ase.find(key);
    if (it == ase.end()) {
      ADD_FAILURE() << "pair not in ASE's list: " << nl.i[k] << " " << nl.j[k] << " image " << nl.image[k][0] << ","
                    << nl.image[k][1] << "," << nl.image[k][2] << " d " << nl.distance[k];
      continue;
    }
    EXPECT_NEAR(nl.distance[k], it->second, 1e-9);
    EXPECT_NEAR(std::sqrt(nl.vector[k][0] * nl.vector[k][0] + nl.vector[k][1] * nl.vector[k][1] +
                          nl.vector[k][2] * nl.vector[k][2]),
                nl.distance[k], 1e-12);
    ++matched;
  }
  EXPECT_EQ(matched, ase.size());
  // Sorted by (i, j, image), and symmetric: (i, j, S) comes with (j, i, -S).
  for (std::size_t k = 1; k < nl.size(); ++k)
    EXPECT_LT(std::make_tuple(nl.i[k - 1], nl.j[k - 1], nl.image[k - 1]), std::make_tuple(nl.i[k], nl.j[k], nl.image[k]));
}

TEST(Neighbors, PeriodicFrameAsAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const Structure s = readXyz(testing::sharedData("md_forces/mlip_test.xyz")).at(0);
  ASSERT_TRUE(s.lattice.has_value());
  expectSameAsAse(s, 5.0, "mof");
}

TEST(Neighbors, SlabPeriodicInTwoDirectionsAsAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  Structure s = readXyz(testing::sharedData("md_forces/mlip_test.xyz")).at(0);
  s.pbc = {true, true, false};
  expectSameAsAse(s, 4.0, "slab");
}

TEST(Neighbors, CutoffBeyondATinySkewedCellAsAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  Structure s;
  s.lattice = Mat3{Vec3{2.5, 0.0, 0.0}, Vec3{0.9, 2.3, 0.0}, Vec3{0.4, 0.7, 2.8}};
  s.pbc = {true, true, true};
  s.addAtom(14, {0.1, 0.2, 0.3});
  s.addAtom(8, {1.6, 1.4, 1.7});
  expectSameAsAse(s, 6.0, "tiny");
  // Each atom sees its own images: (0, 0, S) with S != 0 is in the list.
  const NeighborList nl = neighborList(s, 6.0);
  bool self = false;
  for (std::size_t k = 0; k < nl.size(); ++k) self |= nl.i[k] == 0 && nl.j[k] == 0;
  EXPECT_TRUE(self);
}

TEST(Neighbors, MoleculeWithoutLatticeAsAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const Structure s = readXyz(testing::sharedData("md_forces/md17_aspirin_15frames.xyz")).at(0);
  expectSameAsAse(s, 3.0, "aspirin");
}

TEST(Neighbors, BadCutoffsAreRefused) {
  const Structure s = readXyz(testing::sharedData("md_forces/md17_aspirin_15frames.xyz")).at(0);
  EXPECT_THROW(neighborList(s, 0.0), ChemError);
  EXPECT_THROW(neighborList(s, -1.0), ChemError);
  EXPECT_THROW(neighborList(s, std::nan("")), ChemError);
  Structure tiny;
  tiny.lattice = Mat3{Vec3{0.01, 0, 0}, Vec3{0, 0.01, 0}, Vec3{0, 0, 0.01}};
  tiny.pbc = {true, true, true};
  tiny.addAtom(1, {0, 0, 0});
  EXPECT_THROW(neighborList(tiny, 100.0), ChemError);  // 2e4^3 images
}

}  // namespace
}  // namespace atomscope::chem
