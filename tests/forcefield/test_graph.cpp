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
