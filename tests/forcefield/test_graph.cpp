// Batched graphs: edges and shifts from chem::neighborList (itself tested against ASE's
// neighbor_list in tests/chem/test_neighbors.cpp); here the tensors must reproduce its vectors.
#include <gtest/gtest.h>

#include "atomscope/chem/neighbors.h"
#include "atomscope/forcefield/error.h"
#include "ff_test_util.h"

using namespace atomscope;
using namespace atomscope::ff_test;
using forcefield::makeGraphBatch;

TEST(ForcefieldGraph, PeriodicEdgeVectorsMatchNeighborList) {
  const auto frames = chem::readXyz(mlipTestFile());
  ASSERT_EQ(frames.size(), 1u);
  const auto& s = frames[0];
  ASSERT_TRUE(s.isPeriodic());
  const auto nl = chem::neighborList(s, 4.0);
  const auto g = makeGraphBatch(s, 4.0);
  ASSERT_EQ(g.numEdges(), static_cast<std::int64_t>(nl.size()));
  const auto v = forcefield::edgeVectors(g, g.positions, g.cell);
  auto acc = v.accessor<double, 2>();
  for (std::size_t e = 0; e < nl.size(); ++e)
    for (int k = 0; k < 3; ++k) ASSERT_NEAR(acc[e][k], nl.vector[e][k], 1e-10) << "edge " << e;
  // Some edge must cross the cell, or the test would not exercise shifts.
  EXPECT_GT(g.unitShifts.abs().sum().item<double>(), 0.0);
}

TEST(ForcefieldGraph, BatchOffsetsAndStrain) {
  const auto& f = bpaFrames();
  const auto per = chem::readXyz(mlipTestFile())[0];
  const auto g = makeGraphBatch({&f[0], &per, &f[1]}, 4.0);
  ASSERT_EQ(g.numGraphs, 3);
  ASSERT_EQ(g.numAtoms(), static_cast<std::int64_t>(27 + per.size() + 27));
  EXPECT_EQ(g.ptr[1].item<std::int64_t>(), 27);
  EXPECT_EQ(g.ptr[3].item<std::int64_t>(), static_cast<std::int64_t>(54 + per.size()));
  EXPECT_FALSE(g.periodic[0].item<bool>());  // 3BPA has a box but pbc F F F
  EXPECT_TRUE(g.periodic[1].item<bool>());
  // Edges never join two structures.
  auto bi = g.batch.index_select(0, g.edgeIndex[0]), bj = g.batch.index_select(0, g.edgeIndex[1]);
  EXPECT_TRUE(torch::equal(bi, bj));
  // Under a homogeneous strain eps every edge vector becomes r (I + eps): the definition the
  // stress derivative relies on.
  auto eps = torch::zeros({3, 3, 3}, torch::kFloat64);
  eps[1] = torch::tensor({{0.01, 0.002, -0.003}, {0.002, -0.02, 0.004}, {-0.003, 0.004, 0.015}}, torch::kFloat64);
  const auto s = forcefield::applyStrain(g, g.positions, eps);
  const auto v0 = forcefield::edgeVectors(g, g.positions, g.cell);
  const auto v1 = forcefield::edgeVectors(g, s.positions, s.cell);
  const auto expect = v0 + torch::bmm(v0.unsqueeze(1), eps.index_select(0, bi)).squeeze(1);
  EXPECT_LT((v1 - expect).abs().max().item<double>(), 1e-10);
}

TEST(ForcefieldGraph, EmptyStructureIsAnError) {
  chem::Structure empty;
  try {
    makeGraphBatch({&bpaFrames()[0], &empty}, 4.0);
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("structure 1"), std::string::npos) << e.what();
  }
}

namespace {
// The cache's graph must be makeGraphBatch's: same edges in the same order, same images and positions.
void expectSameGraph(const forcefield::GraphBatch& got, const forcefield::GraphBatch& want, const std::string& where) {
  ASSERT_EQ(got.numEdges(), want.numEdges()) << where;
  EXPECT_TRUE(torch::equal(got.edgeIndex, want.edgeIndex)) << where;
  EXPECT_TRUE(torch::equal(got.unitShifts, want.unitShifts)) << where;
  EXPECT_TRUE(torch::equal(got.positions, want.positions)) << where;
  EXPECT_TRUE(torch::equal(got.cell, want.cell)) << where;
  EXPECT_TRUE(torch::equal(got.numbers, want.numbers)) << where;
  EXPECT_TRUE(torch::equal(got.periodic, want.periodic)) << where;
}
}  // namespace

// A random walk of 150 small steps (0.02 A per coordinate, as MD moves atoms in a few fs), on 3BPA and on
// the periodic mlip_test cell: at every step the cached graph equals a fresh one, while the list is
// made again only when some atom has moved more than skin / 2 (here 0.5 A at skin 1).
TEST(ForcefieldGraph, NeighborCacheEqualsFreshListsAlongAWalk) {
  std::mt19937 rng(11);
  std::normal_distribution<double> step(0.0, 0.02);
  for (auto s : {bpaFrames()[0], chem::readXyz(mlipTestFile())[0]}) {
    forcefield::NeighborCache cache(4.0, 1.0);
    const auto start = s.positions;
    double moved = 0;
    for (int t = 0; t < 150; ++t) {
      for (auto& p : s.positions)
        for (auto& x : p) x += step(rng);
      expectSameGraph(cache.graph(s, torch::kCPU, torch::kFloat64), makeGraphBatch(s, 4.0, torch::kFloat64),
                      s.formula() + " step " + std::to_string(t));
    }
    for (std::size_t a = 0; a < s.size(); ++a)
      moved = std::max(moved, std::hypot(s.positions[a][0] - start[a][0], s.positions[a][1] - start[a][1], s.positions[a][2] - start[a][2]));
    std::cout << s.formula() << ": " << cache.lists() << " lists for 150 steps, largest move " << moved << " A\n";
    EXPECT_GE(cache.lists(), 2u);  // the walk takes some atom past 0.5 A (max move printed above)
    EXPECT_LE(cache.lists(), 30u);
    // float32 graphs from the same cache: the float64 graph, rounded.
    const auto g32 = cache.graph(s, torch::kCPU, torch::kFloat32);
    EXPECT_EQ(g32.positions.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(g32.positions, makeGraphBatch(s, 4.0, torch::kFloat64).positions.to(torch::kFloat32)));
  }
}

// Anything but a small move makes the list again: another element, another cell, a jump past skin / 2;
// and a structure with a NaN coordinate is refused, not passed on.
TEST(ForcefieldGraph, NeighborCacheRemakesItsListWhenItMust) {
  auto s = chem::readXyz(mlipTestFile())[0];
  forcefield::NeighborCache cache(4.0, 1.0);
  cache.graph(s, torch::kCPU, torch::kFloat64);
  cache.graph(s, torch::kCPU, torch::kFloat64);
  EXPECT_EQ(cache.lists(), 1u);
  auto t = s;
  t.positions[3][0] += 0.45;  // under skin / 2: kept
  expectSameGraph(cache.graph(t, torch::kCPU, torch::kFloat64), makeGraphBatch(t, 4.0, torch::kFloat64), "0.45 A");
  EXPECT_EQ(cache.lists(), 1u);
  t.positions[3][0] += 0.1;  // 0.55 A from where the list was made
  expectSameGraph(cache.graph(t, torch::kCPU, torch::kFloat64), makeGraphBatch(t, 4.0, torch::kFloat64), "0.55 A");
  EXPECT_EQ(cache.lists(), 2u);
  auto u = t;
  (*u.lattice)[0][0] *= 1.01;
  expectSameGraph(cache.graph(u, torch::kCPU, torch::kFloat64), makeGraphBatch(u, 4.0, torch::kFloat64), "strained cell");
  EXPECT_EQ(cache.lists(), 3u);
  auto v = u;
  v.numbers[0] = v.numbers[0] == 8 ? 1 : 8;
  expectSameGraph(cache.graph(v, torch::kCPU, torch::kFloat64), makeGraphBatch(v, 4.0, torch::kFloat64), "element");
  EXPECT_EQ(cache.lists(), 4u);
  // Skin 0 (ff.md's neighbor_skin=0): a list at every call that moves an atom, the same graphs.
  cache.setSkin(0.0);
  auto x = v;
  for (int t = 0; t < 3; ++t) {
    x.positions[1][2] += 0.01;
    expectSameGraph(cache.graph(x, torch::kCPU, torch::kFloat64), makeGraphBatch(x, 4.0, torch::kFloat64), "skin 0");
  }
  EXPECT_EQ(cache.lists(), 7u);
  EXPECT_THROW(cache.setSkin(-1.0), forcefield::ForceFieldError);
  auto w = v;
  w.positions[0][1] = std::nan("");
  EXPECT_THROW(cache.graph(w, torch::kCPU, torch::kFloat64), std::exception);
}

// A device named with its index ("cpu:0", as "cuda" and "cuda:0" on a GPU) is the device its tensors report
// without one: the list is kept. Session 18 found on the H200 that a calculator made for "cuda" remade its
// list on every call (the tensors said cuda:0), so no call was ever captured as a CUDA graph.
TEST(ForcefieldGraph, NeighborCacheKeepsItsListOnADeviceNamedWithItsIndex) {
  const auto s = chem::readXyz(mlipTestFile())[0];
  forcefield::NeighborCache cache(4.0, 1.0);
  const torch::Device indexed(torch::kCPU, 0);
  for (int call = 0; call < 3; ++call) cache.candidates(s, indexed, torch::kFloat32);
  EXPECT_EQ(cache.lists(), 1u);
  cache.graph(s, torch::kCPU, torch::kFloat32);  // another name for the device: made again, once
  cache.graph(s, torch::kCPU, torch::kFloat32);
  EXPECT_EQ(cache.lists(), 2u);
}
