// PONITA: symmetry, derivative and precision properties. References: the group actions themselves
// (rotation, translation, permutation applied to a 3BPA frame), central finite differences of the
// model's own energy (forces, stress), and the float64 model (float32 agreement).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/ponita_calculator.h"
#include "atomscope/forcefield/training.h"
#include "../../modules/forcefield/src/ponita_edge_kernels.h"  // the CUDA kernels' host-callable arithmetic
#include "../../modules/forcefield/src/split_tf32.h"
#include "ff_test_util.h"

using namespace atomscope;
using namespace atomscope::ff_test;
using forcefield::EnergyOutput;
using forcefield::makeGraphBatch;

namespace {

EnergyOutput run(forcefield::Ponita& m, const Structure& s, bool stress = false) {
  return m->compute(makeGraphBatch(s, m->config.cutoff, torch::kFloat64), true, stress);
}

// Rotates about the origin, translates, and permutes atoms (new atom k is old atom perm[k]).
Structure transform(const Structure& s, const Mat3& R, const Vec3& t, const std::vector<int>& perm) {
  Structure o;
  o.pbc = s.pbc;
  o.lattice = s.lattice;
  for (int k : perm) {
    auto p = apply(R, s.positions[k]);
    o.addAtom(s.numbers[k], {p[0] + t[0], p[1] + t[1], p[2] + t[2]});
  }
  return o;
}

// Worst relative error of energy and of forces (F'(k) must equal R F(perm[k])).
std::pair<double, double> symmetryError(forcefield::Ponita& m, const Structure& s, const Mat3& R, const Vec3& t,
                                        const std::vector<int>& perm) {
  const auto a = run(m, s), b = run(m, transform(s, R, t, perm));
  const double e0 = a.energy.item<double>(), e1 = b.energy.item<double>();
  const double eErr = std::abs(e1 - e0) / std::max(1e-12, std::abs(e0));
  auto fa = a.forces.accessor<double, 2>(), fb = b.forces.accessor<double, 2>();
  double fMax = 0, fErr = 0;
  for (std::size_t k = 0; k < perm.size(); ++k) {
    const auto rf = apply(R, {fa[perm[k]][0], fa[perm[k]][1], fa[perm[k]][2]});
    for (int c = 0; c < 3; ++c) {
      fErr = std::max(fErr, std::abs(fb[k][c] - rf[c]));
      fMax = std::max(fMax, std::abs(rf[c]));
    }
  }
  return {eErr, fErr / fMax};
}

std::vector<int> randomPermutation(std::size_t n, std::mt19937& rng) {
  std::vector<int> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

}  // namespace

// The point-cloud variant sees only distances: exact E(3) invariance for any rotation.
TEST(Ponita, PointCloudIsExactlyInvariantAndForcesRotate) {
  auto m = smallPonita("pointcloud", "fibonacci", 1);
  const auto& s = bpaFrames()[0];
  std::mt19937 rng(11);
  for (int trial = 0; trial < 3; ++trial) {
    const auto [eErr, fErr] = symmetryError(m, s, randomRotation(rng), {1.5, -2.0, 0.7}, randomPermutation(s.size(), rng));
    EXPECT_LT(eErr, 1e-10);
    EXPECT_LT(fErr, 1e-9);
  }
}

// With the icosahedron grid, the rotations of the icosahedral group permute the 12 orientations:
// the sphere mean is then unchanged and the invariance is exact (float64 round-off only).
TEST(Ponita, PositionOrientationExactForGridSymmetries) {
  auto m = smallPonita("po", "icosahedron", 12);
  const auto& s = bpaFrames()[3];
  std::mt19937 rng(5);
  const double phi = (1 + std::sqrt(5.0)) / 2;
  const std::vector<Mat3> group = {axisRotation({0, 1, phi}, 2 * M_PI / 5),        // 5-fold axis through a vertex
                                   axisRotation({1, 1, 1}, 2 * M_PI / 3),          // 3-fold axis through a face
                                   axisRotation({0, 0, 1}, M_PI)};                 // 2-fold axis
  for (const auto& R : group) {
    const auto [eErr, fErr] = symmetryError(m, s, R, {0.3, 4.0, -1.0}, randomPermutation(s.size(), rng));
    EXPECT_LT(eErr, 1e-10);
    EXPECT_LT(fErr, 1e-9);
  }
  // A generic rotation is not a grid symmetry: the error is then visibly non-zero, which shows the
  // test above can fail.
  const auto [eErr, fErr] = symmetryError(m, s, axisRotation({0.3, -0.2, 0.9}, 0.7), {0, 0, 0}, randomPermutation(s.size(), rng));
  EXPECT_GT(fErr, 1e-6);
  (void)eErr;
}

// Fibonacci grid: translations and permutations are exact; a generic rotation changes the sphere
// quadrature, and that error falls as the grid gets finer (same weights: kernels do not depend on O).
TEST(Ponita, FibonacciGridInvarianceErrorShrinksWithOrientations) {
  const auto& s = bpaFrames()[7];
  std::mt19937 rng(3);
  auto coarse = smallPonita("po", "fibonacci", 8);
  auto fine = smallPonita("po", "fibonacci", 96);
  {
    const auto [eErr, fErr] = symmetryError(coarse, s, axisRotation({1, 0, 0}, 0.0), {2.0, -1.0, 3.0}, randomPermutation(s.size(), rng));
    EXPECT_LT(eErr, 1e-10);
    EXPECT_LT(fErr, 1e-9);
  }
  double coarseErr = 0, fineErr = 0;
  for (int trial = 0; trial < 4; ++trial) {
    const auto R = randomRotation(rng);
    coarseErr += symmetryError(coarse, s, R, {0, 0, 0}, randomPermutation(s.size(), rng)).second;
    fineErr += symmetryError(fine, s, R, {0, 0, 0}, randomPermutation(s.size(), rng)).second;
  }
  EXPECT_GT(coarseErr, 0.0);
  EXPECT_LT(fineErr, 0.5 * coarseErr) << "coarse " << coarseErr / 4 << " fine " << fineErr / 4;
}

// Forces are minus the central-difference gradient of the energy (h = 1e-5 A, float64).
TEST(Ponita, ForcesEqualMinusNumericalGradient) {
  for (const std::string variant : {"po", "pointcloud"}) {
    auto m = smallPonita(variant, "fibonacci", 10);
    auto s = bpaFrames()[2];
    const auto out = run(m, s);
    auto f = out.forces.accessor<double, 2>();
    const double h = 1e-5;
    for (std::size_t a : {0u, 9u, 26u})
      for (int c = 0; c < 3; ++c) {
        auto sp = s, sm = s;
        sp.positions[a][c] += h;
        sm.positions[a][c] -= h;
        const double num = -(run(m, sp).energy.item<double>() - run(m, sm).energy.item<double>()) / (2 * h);
        EXPECT_NEAR(f[a][c], num, 1e-6 * std::max(1.0, std::abs(num))) << variant << " atom " << a << " axis " << c;
      }
  }
}

// Stress = (1/V) dE/d(strain) against central differences of the strained energy on a periodic
// DFT frame (mlip_test.xyz: Zr, O, C, H in a triclinic cell).
TEST(Ponita, StressEqualsStrainDerivative) {
  auto m = smallPonita("po", "fibonacci", 6, {1, 6, 8, 40});
  const auto s = chem::readXyz(mlipTestFile())[0];
  const auto out = run(m, s, true);
  ASSERT_TRUE(out.stress.defined());
  const double V = s.cellVolume();
  const double h = 1e-5;
  auto strained = [&](int a, int b, double e) {
    Mat3 eps{};
    eps[a][b] += 0.5 * e;
    eps[b][a] += 0.5 * e;
    Structure t = s;
    auto strainVec = [&](const Vec3& v) {
      Vec3 o = v;
      for (int c = 0; c < 3; ++c) o[c] += v[0] * eps[0][c] + v[1] * eps[1][c] + v[2] * eps[2][c];
      return o;
    };
    for (auto& p : t.positions) p = strainVec(p);
    for (auto& row : *t.lattice) row = strainVec(row);
    return run(m, t).energy.item<double>();
  };
  auto st = out.stress.accessor<double, 3>();
  for (auto [a, b] : std::vector<std::pair<int, int>>{{0, 0}, {1, 1}, {2, 2}, {0, 1}, {1, 2}}) {
    const double num = (strained(a, b, h) - strained(a, b, -h)) / (2 * h) / V;
    EXPECT_NEAR(st[0][a][b], num, 1e-6 * std::max(1e-3, std::abs(num))) << a << b;
  }
  EXPECT_NEAR(st[0][0][1], st[0][1][0], 1e-14);
}

TEST(Ponita, Float32AgreesWithFloat64AndFileRoundTrip) {
  auto m = smallPonita("po", "fibonacci", 10);
  const auto& s = bpaFrames()[4];
  const auto ref = run(m, s);
  const auto dir = test::freshTempDir("ponita-io");
  const auto file = dir / "m.pt";
  forcefield::savePonita(file, m);
  auto m32 = forcefield::loadPonita(file, torch::kCPU, torch::kFloat32);
  auto out32 = m32->compute(makeGraphBatch(s, 4.0, torch::kFloat32), true, false);
  EXPECT_EQ(out32.forces.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(out32.energy.item<double>(), ref.energy.item<double>(), 1e-4 * std::abs(ref.energy.item<double>()) + 1e-4);
  EXPECT_LT((out32.forces.to(torch::kFloat64) - ref.forces).abs().max().item<double>(),
            1e-3 * ref.forces.abs().max().item<double>());
  auto m64 = forcefield::loadPonita(file, torch::kCPU, torch::kFloat64);
  EXPECT_EQ(m64->compute(makeGraphBatch(s, 4.0), false, false).energy.item<double>(), ref.energy.item<double>());
  test::removeTree(dir);
}

TEST(Ponita, UnknownElementAndBadFileAreClearErrors) {
  auto m = smallPonita("po", "fibonacci", 4, {1, 6});
  try {
    run(m, bpaFrames()[0]);
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("does not know element Z="), std::string::npos) << e.what();
  }
  try {
    forcefield::loadPonita(bpaFile());
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("3bpa_train_300K.xyz"), std::string::npos) << e.what();
  }
  // A config whose E0 list does not match its species (once an index out of range on the GPU).
  auto c = m->config;
  c.species = {1, 6, 7};
  try {
    forcefield::Ponita bad(c);
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("e0 has 2 values for 3 species"), std::string::npos) << e.what();
  }
}

// Inference (compute without createGraph: two passes, per-edge work a chunk at a time) computes the same function
// as autograd through the whole network (compute with createGraph, training's path): energy, forces and stress of
// a periodic DFT frame and of 3BPA molecules (one model with degree 3 and a2 under a root), with the layers' kernels
// kept, with only the kernel basis kept (each with and without the basis MLP's pre-activations), and with nothing
// kept, in chunks of 7 edges so that every chunk boundary case occurs. Pass 2's gradient through the basis MLP is
// written by hand (kernelBasisGradient). Reference: autograd.
TEST(Ponita, InferenceEqualsAutogradInEveryMemoryMode) {
  struct Case {
    forcefield::Ponita model;
    Structure structure;
    bool stress;
  };
  std::vector<Case> cases;
  cases.push_back({smallPonita("po", "fibonacci", 6, {1, 6, 8, 40}), chem::readXyz(mlipTestFile())[0], true});
  cases.push_back({smallPonita("pointcloud", "fibonacci", 1), bpaFrames()[3], false});
  cases.push_back({smallPonitaDegree3(8), bpaFrames()[2], false});  // the rMD17 model's kernel options
  for (auto& c : cases) {
    auto& m = c.model;
    const auto g = makeGraphBatch(c.structure, m->config.cutoff, torch::kFloat64);
    const auto ref = m->compute(g, true, c.stress, /*createGraph=*/true);
    const std::int64_t E = g.numEdges(), O = m->config.numOrientations();
    const std::int64_t kernels = E * O * m->config.layers * m->config.hidden, basis = E * O * m->config.basis;
    const std::int64_t activations = E * O * (m->config.hidden + m->config.basis);  // the basis MLP's pre-activations
    m->chunkElements = 7 * O * std::max<std::int64_t>(m->config.basis, m->config.layers * m->config.hidden);
    for (const std::int64_t keep : {kernels + activations, kernels, basis + activations, basis, std::int64_t{0}}) {
      m->keepEdgeElements = keep;
      const auto got = m->compute(g, true, c.stress);
      const double e = ref.energy.item<double>();
      EXPECT_NEAR(got.energy.item<double>(), e, 1e-10 * std::abs(e)) << "keep " << keep;
      EXPECT_LT((got.forces - ref.forces).abs().max().item<double>(), 1e-10 * ref.forces.abs().max().item<double>())
          << "keep " << keep;
      if (c.stress)
        EXPECT_LT((got.stress - ref.stress).abs().max().item<double>(), 1e-10 * ref.stress.abs().max().item<double>())
            << "keep " << keep;
    }
    // After an out-of-memory the calculator keeps less, one level at a time, then makes chunks smaller, then gives up.
    m->keepEdgeElements = std::numeric_limits<std::int64_t>::max();
    m->chunkElements = std::int64_t{1} << 22;
    ASSERT_TRUE(m->lowerEdgeMemory(E));
    EXPECT_EQ(m->keepEdgeElements, kernels + activations - 1);
    ASSERT_TRUE(m->lowerEdgeMemory(E));
    EXPECT_EQ(m->keepEdgeElements, kernels - 1);
    ASSERT_TRUE(m->lowerEdgeMemory(E));
    EXPECT_EQ(m->keepEdgeElements, std::min(kernels, basis) - 1);
    while (m->lowerEdgeMemory(E)) EXPECT_GE(m->chunkElements, std::int64_t{1} << 18);
    EXPECT_LE(m->chunkElements, std::int64_t{1} << 20);
    // Training differentiates the forces again, down to the kernel weights: its path gives them a gradient.
    m->zero_grad();
    m->compute(g, true, false, true).forces.pow(2).sum().backward();
    const auto kernelGrad = m->named_parameters()["layers.0.kernel.weight"].grad();
    ASSERT_TRUE(kernelGrad.defined());
    EXPECT_GT(kernelGrad.abs().max().item<double>(), 0.0);
  }
}

// Self-interaction (the kernel at r = 0 applied to an atom's own features, as the reference's
// self-loops do) is on for new models. A config saved before the option existed has no
// "self_interaction" key and must load without it, so old model files keep their energies.
TEST(Ponita, SelfInteractionIsOnForNewModelsAndOffForOldConfigs) {
  auto m = smallPonita("po", "fibonacci", 10);
  ASSERT_TRUE(m->config.selfInteraction);
  auto old = m->config.toJson();
  old.erase("self_interaction");
  EXPECT_FALSE(forcefield::PonitaConfig::fromJson(old).selfInteraction);
  EXPECT_TRUE(forcefield::PonitaConfig::fromJson(m->config.toJson()).selfInteraction);
  // The same weights without the self term give another energy: the term is really in the model.
  const auto& s = bpaFrames()[2];
  const double with = run(m, s).energy.item<double>();
  m->config.selfInteraction = false;
  const double without = run(m, s).energy.item<double>();
  EXPECT_GT(std::abs(with - without), 1e-6 * std::abs(with));
  // A model trained from zero readouts starts at its E0s: zero interaction energy, zero forces.
  m->zeroReadouts();
  const auto z = run(m, s);
  EXPECT_EQ(z.forces.abs().max().item<double>(), 0.0);
}

// a2_root feeds the kernels a2 (smoothed) instead of a2^2. The invariants stay invariants: the icosahedral
// rotations are still exact symmetries; forces stay minus the energy's gradient (central differences,
// h = 1e-5 A); the option changes the energy of the same weights; configs without the key feed a2^2.
TEST(Ponita, A2RootKeepsTheSymmetriesAndTheGradient) {
  auto m = smallPonita("po", "icosahedron", 12);
  const auto& s = bpaFrames()[3];
  const double squared = run(m, s).energy.item<double>();
  m->config.a2Root = true;
  const double root = run(m, s).energy.item<double>();
  EXPECT_GT(std::abs(root - squared), 1e-6 * std::abs(squared));
  std::mt19937 rng(9);
  const double phi = (1 + std::sqrt(5.0)) / 2;
  for (const auto& R : {axisRotation({0, 1, phi}, 2 * M_PI / 5), axisRotation({1, 1, 1}, 2 * M_PI / 3)}) {
    const auto [eErr, fErr] = symmetryError(m, s, R, {0.3, 4.0, -1.0}, randomPermutation(s.size(), rng));
    EXPECT_LT(eErr, 1e-10);
    EXPECT_LT(fErr, 1e-9);
  }
  const auto forces = run(m, s).forces;
  const auto f = forces.accessor<double, 2>();
  const double h = 1e-5;
  for (int c = 0; c < 3; ++c) {
    auto sp = s, sm = s;
    sp.positions[5][c] += h;
    sm.positions[5][c] -= h;
    const double num = -(run(m, sp).energy.item<double>() - run(m, sm).energy.item<double>()) / (2 * h);
    EXPECT_NEAR(f[5][c], num, 1e-6 * std::max(1.0, std::abs(num))) << "axis " << c;
  }
  EXPECT_TRUE(forcefield::PonitaConfig::fromJson(m->config.toJson()).a2Root);
  auto old = m->config.toJson();
  old.erase("a2_root");
  EXPECT_FALSE(forcefield::PonitaConfig::fromJson(old).a2Root);
}

// The reference PONITA's first-step calibration (ebekkers/ponita, nn/conv.py: kernels scaled by
// std(input) / std(output) once): after calibrateKernels every layer's convolutions keep their input's
// standard deviation on that batch, so calibrating again on the same batch is a fixed point (factors
// 1 to rounding), while the first calibration does change the weights. Both variants.
TEST(Ponita, KernelCalibrationIsAFixedPointOnItsBatch) {
  for (const std::string variant : {"po", "pointcloud"}) {
    SCOPED_TRACE(variant);
    auto m = smallPonita(variant, "fibonacci", variant == "po" ? 8 : 1);
    std::vector<const Structure*> frames{&bpaFrames()[0], &bpaFrames()[1], &bpaFrames()[2]};
    const auto g = makeGraphBatch(frames, m->config.cutoff, torch::kFloat64);
    auto kernels = [&] {
      std::vector<torch::Tensor> w;
      for (const auto& item : m->named_parameters())
        if (item.key().find("kernel.weight") != std::string::npos) w.push_back(item.value().detach().clone());
      return w;
    };
    const auto initial = kernels();
    // A spatial and a fiber kernel per layer (the point-cloud variant leaves its fiber kernels unused).
    ASSERT_EQ(initial.size(), static_cast<std::size_t>(m->config.layers * 2));
    m->calibrateKernels(g);
    const auto once = kernels();
    m->calibrateKernels(g);
    const auto twice = kernels();
    double changed = 0;
    for (std::size_t k = 0; k < initial.size(); ++k) {
      changed = std::max(changed, ((once[k] - initial[k]).abs().max() / initial[k].abs().max()).item<double>());
      EXPECT_TRUE(torch::allclose(twice[k], once[k], 1e-9, 0)) << "kernel " << k;
    }
    EXPECT_GT(changed, 0.05) << "the calibration left every kernel as it was";
  }
}

// Training's augmentation: proper rotations (R R^T = I, det +1), reproducible from the seed, and
// uniform: the Haar measure on SO(3) has mean zero (4,000 draws: each entry's standard error is
// 0.577 / sqrt(4000) = 0.009).
TEST(Ponita, RandomRotationsAreProperReproducibleAndUniform) {
  const auto R = forcefield::randomRotations(4000, 7);
  const auto eye = torch::eye(3, torch::kFloat64).expand({4000, 3, 3});
  EXPECT_LT((torch::matmul(R, R.transpose(1, 2)) - eye).abs().max().item<double>(), 1e-12);
  EXPECT_LT((torch::linalg_det(R) - 1).abs().max().item<double>(), 1e-12);
  EXPECT_LT(R.mean(0).abs().max().item<double>(), 0.05);
  EXPECT_TRUE(torch::equal(forcefield::randomRotations(5, 7), R.slice(0, 0, 5)));
  EXPECT_FALSE(torch::allclose(forcefield::randomRotations(5, 8), R.slice(0, 0, 5)));
}

// The candidate graph of a neighbour cache (every pair within cutoff + skin) gives the energies, forces
// and stress of the graph within the cutoff: the smooth cutoff is exactly zero beyond it, with zero
// slope. Captured CUDA graphs of small systems rely on this (PonitaCalculator::cudaGraph).
TEST(Ponita, PairsBeyondTheCutoffContributeNothing) {
  struct Case {
    forcefield::Ponita model;
    Structure structure;
  };
  std::vector<Case> cases;
  cases.push_back({smallPonita("po", "fibonacci", 6, {1, 6, 8, 40}), chem::readXyz(mlipTestFile())[0]});
  cases.push_back({smallPonita("po", "fibonacci", 8), bpaFrames()[5]});
  for (auto& c : cases) {
    auto& m = c.model;
    forcefield::NeighborCache cache(m->config.cutoff, 1.5);
    const auto all = cache.candidates(c.structure, torch::kCPU, torch::kFloat64);
    const auto within = makeGraphBatch(c.structure, m->config.cutoff, torch::kFloat64);
    ASSERT_GT(all.numEdges(), within.numEdges() + 20) << "the skin must add pairs for the test to mean anything";
    const bool stress = c.structure.isPeriodic();
    const auto a = m->compute(all, true, stress), b = m->compute(within, true, stress);
    EXPECT_NEAR(a.energy.item<double>(), b.energy.item<double>(), 1e-12 * std::abs(b.energy.item<double>()));
    EXPECT_LT((a.forces - b.forces).abs().max().item<double>(), 1e-12 * b.forces.abs().max().item<double>());
    if (stress) EXPECT_LT((a.stress - b.stress).abs().max().item<double>(), 1e-12 * b.stress.abs().max().item<double>());
  }
}

// Padding edges (padEdges: atom k -> k + 1 with weight 0, the real edges weight 1) change nothing: energy, forces and stress of
// 3BPA and of a periodic DFT frame equal the unpadded graph's to 1e-12 (float64, this CPU); a second list of other
// positions copied into the same padded buffers (copyEdgesPadded, what a captured graph is fed) gives that list's
// numbers; too small a capacity is a clear error.
TEST(Ponita, PaddedEdgesChangeNothing) {
  auto m = smallPonita("po", "fibonacci", 6, {1, 6, 7, 8, 40});
  for (const auto& s : {bpaFrames()[1], chem::readXyz(mlipTestFile())[0]}) {
    SCOPED_TRACE(s.formula());
    const bool stress = s.isPeriodic();
    const auto g = makeGraphBatch(s, m->config.cutoff, torch::kFloat64);
    auto padded = forcefield::padEdges(g, g.numEdges() + 37);
    ASSERT_EQ(padded.numEdges(), g.numEdges() + 37);
    // Spread over the atoms (one atom with every padding edge slowed the fused edge sums threefold on the H200).
    const auto padFirst = padded.edgeIndex[0].narrow(0, g.numEdges(), 37);
    EXPECT_LE(torch::bincount(padFirst).max().item<std::int64_t>(), 37 / static_cast<std::int64_t>(s.size()) + 1);
    auto same = [&](const EnergyOutput& a, const EnergyOutput& b) {
      EXPECT_NEAR(a.energy.item<double>(), b.energy.item<double>(), 1e-12 * std::abs(b.energy.item<double>()));
      EXPECT_LT((a.forces - b.forces).abs().max().item<double>(), 1e-12 * b.forces.abs().max().item<double>());
      if (stress) EXPECT_LT((a.stress - b.stress).abs().max().item<double>(), 1e-12 * b.stress.abs().max().item<double>());
    };
    same(m->compute(padded, true, stress), m->compute(g, true, stress));
    auto moved = s;
    for (auto& p : moved.positions) p[0] *= 1.02;  // other distances, fewer pairs
    const auto g2 = makeGraphBatch(moved, m->config.cutoff, torch::kFloat64);
    ASSERT_LE(g2.numEdges(), padded.numEdges());
    forcefield::copyEdgesPadded(padded, g2);
    padded.positions = g2.positions;
    same(m->compute(padded, true, stress), m->compute(g2, true, stress));
    EXPECT_THROW(forcefield::padEdges(g, g.numEdges() - 1), forcefield::ForceFieldError);
  }
}

// On CUDA, small systems run as a replayed CUDA graph (PonitaCalculator::cudaGraph, on by default). Along
// 40 steps of a random walk of 3BPA, energies and forces equal those of the eager calculator: through a jump that
// remakes the neighbour list within the graph's padded capacity (replayed at once with the new edges, no capture),
// and a compression that lists more pairs than the padding holds (one eager call, then a new capture).
TEST(Ponita, CudaGraphCallsEqualEagerOnesOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto m = smallPonita("po", "fibonacci", 8);
  forcefield::PonitaCalculator graphed(m, "graphed", torch::kCUDA, torch::kFloat32);
  auto m2 = smallPonita("po", "fibonacci", 8);
  forcefield::PonitaCalculator eager(m2, "eager", torch::kCUDA, torch::kFloat32);
  eager.cudaGraph = false;
  auto s = bpaFrames()[0];
  std::mt19937 rng(2);
  std::normal_distribution<double> step(0.0, 0.01);
  int graphedCalls = 0;
  for (int t = 0; t < 40; ++t) {
    for (auto& p : s.positions)
      for (auto& x : p) x += step(rng);
    if (t == 20) s.positions[4][0] += 0.8;  // past skin / 2: a new list
    if (t == 30)
      for (auto& p : s.positions)
        for (auto& x : p) x *= 0.8;  // many more pairs within cutoff + skin
    const auto a = graphed.compute(s), b = eager.compute(s);
    graphedCalls += graphed.lastCallGraphed();
    EXPECT_FALSE(eager.lastCallGraphed());
    EXPECT_NEAR(a.energy, b.energy, 1e-5 * std::abs(b.energy)) << "step " << t;
    double worst = 0, scale = 0;
    for (std::size_t k = 0; k < s.size(); ++k)
      for (int c = 0; c < 3; ++c) {
        worst = std::max(worst, std::abs(a.forces[k][c] - b.forces[k][c]));
        scale = std::max(scale, std::abs(b.forces[k][c]));
      }
    EXPECT_LT(worst, 1e-4 * scale) << "step " << t;
  }
  // All but the first call and the first on the compressed list; captures at steps 1 and 31.
  EXPECT_EQ(graphedCalls, 38) << "capture error: " << graphed.graphCaptureError();
  EXPECT_EQ(graphed.graphedCalls(), 38u);
  EXPECT_EQ(graphed.graphCaptures(), 2u);
}

// On CUDA the edge sums of inference run as fused kernels (one pass over each atom's run of edges, no atomics)
// where the build has them, and so do the sphere convolution (edgecuda::sphereMix, grids of 6,
// 8, 20 and 28 orientations: its 8-, 24- and 32-wide instances), the basis MLP's polynomial features
// (edgecuda::polynomial, one and two invariants, degrees 2 and 3), its last GELU times the cutoff
// (edgecuda::basisForward), pass 2's edge products (edgecuda::edgeProducts) and its backward through the basis
// (edgecuda::basisBackward, edgecuda::polynomialBackward). Reference: ATen's
// gathers, products, scatters and concatenations and cuBLAS's batched product (fusedKernels = false) on the same
// GPU, float64: energy, forces and stress of a periodic DFT frame, a batch of two 3BPA frames, and 3BPA frames.
TEST(Ponita, FusedEdgeKernelsEqualAtenOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!forcefield::PonitaImpl::hasFusedKernels()) GTEST_SKIP() << "built without a CUDA compiler: no fused kernels";
  struct Case {
    forcefield::Ponita model;
    std::vector<Structure> structures;
    bool stress;
  };
  std::vector<Case> cases;
  cases.push_back({smallPonita("po", "fibonacci", 6, {1, 6, 8, 40}), {chem::readXyz(mlipTestFile())[0]}, true});
  cases.push_back({smallPonita("po", "fibonacci", 8), {bpaFrames()[1], bpaFrames()[5]}, false});
  cases.push_back({smallPonita("po", "fibonacci", 20), {bpaFrames()[2]}, false});  // the rMD17 grid size
  // One invariant (the polynomial kernel's k = 1), and degree 3 with a2 under a root on 28 orientations (30 polynomial
  // features padded to 32; the sphere kernel's widest register bound).
  cases.push_back({smallPonita("pointcloud", "fibonacci", 1), {bpaFrames()[3]}, false});
  cases.push_back({smallPonitaDegree3(28), {bpaFrames()[4]}, false});
  for (auto& c : cases) {
    auto& m = c.model;
    m->to(torch::kCUDA);
    std::vector<const Structure*> batch;
    for (const auto& st : c.structures) batch.push_back(&st);
    const auto g = makeGraphBatch(batch, m->config.cutoff, torch::kFloat64).to(torch::kCUDA, torch::kFloat64);
    m->fusedKernels = false;
    const auto aten = m->compute(g, true, c.stress);
    EXPECT_FALSE(m->lastInferenceFused());
    m->fusedKernels = true;
    const auto fused = m->compute(g, true, c.stress);
    EXPECT_TRUE(m->lastInferenceFused());
    const auto e = aten.energy.cpu(), f = fused.energy.cpu();
    EXPECT_LT((f - e).abs().max().item<double>(), 1e-10 * e.abs().max().item<double>());
    EXPECT_LT((fused.forces - aten.forces).abs().max().item<double>(), 1e-10 * aten.forces.abs().max().item<double>());
    if (c.stress)
      EXPECT_LT((fused.stress - aten.stress).abs().max().item<double>(), 1e-10 * aten.stress.abs().max().item<double>());
  }
}

// The sphere kernel's arithmetic (ponita_edge_kernels.h's sphereMixColumn, what each CUDA thread of sphereMix runs,
// compiled here for the host) against ATen's einsum, in both layouts the inference uses: the forward, kernel [P, O, C]
// read as [q, s] (out[r, q, c] = sum_s kern[q, s, c] in[r, s, c] + bias[c]), and its transpose for the backward
// (out[r, o, c] = sum_p kern[p, o, c] in[r, p, c]); for S on the register bounds 8 .. 32 and between them.
TEST(Ponita, SphereKernelArithmeticEqualsAtenOnCpu) {
  torch::manual_seed(5);
  const std::int64_t rows = 3;
  const int C = 5;
  for (int S : {1, 6, 8, 20, 28, 32}) {
    SCOPED_TRACE("S " + std::to_string(S));
    const int P = S + 2;  // the forward's outputs Q = P need not equal its inputs S
    const auto in = torch::randn({rows, S, C}, torch::kFloat64);
    const auto kern = torch::randn({P, S, C}, torch::kFloat64), bias = torch::randn({C}, torch::kFloat64);
    auto run = [&](int Q, std::int64_t kq, std::int64_t ks, const double* b) {
      auto out = torch::full({rows, Q, C}, std::nan(""), torch::kFloat64);
      for (std::int64_t r = 0; r < rows; ++r)
        for (int c = 0; c < C; ++c) {
          const double* k = kern.data_ptr<double>();
          double* o = out.data_ptr<double>();
          const double* x = in.data_ptr<double>();
          if (S <= 8) forcefield::edgecuda::sphereMixColumn<double, 8>(x, k, kq, ks, b, o, r, c, S, Q, C);
          else forcefield::edgecuda::sphereMixColumn<double, 32>(x, k, kq, ks, b, o, r, c, S, Q, C);
        }
      return out;
    };
    const auto forward = run(P, S * C, C, bias.data_ptr<double>());
    const auto forwardAten = torch::einsum("qsc,rsc->rqc", {kern, in}) + bias;
    EXPECT_LE((forward - forwardAten).abs().max().item<double>(), 1e-12 * forwardAten.abs().max().item<double>());
    // The transpose: S inputs along the kernel's first axis (its first S rows), Q = S outputs along its second.
    const auto backward = run(S, C, S * C, nullptr);
    const auto backwardAten = torch::einsum("poc,rpc->roc", {kern.narrow(0, 0, S), in});
    EXPECT_LE((backward - backwardAten).abs().max().item<double>(), 1e-12 * backwardAten.abs().max().item<double>());
  }
}

// The polynomial kernels' arithmetic (ponita_edge_kernels.h: the functions each CUDA thread calls, compiled here
// for the host) against its definition, PonitaImpl::polynomialTerms' outer products in ATen, and its gradient
// against ATen's autograd of them: every k and degree the kernels take (k <= 4, degree <= 7) with padding columns.
// CI has no GPU; this checks on the CPU the column decoding and the products the fused kernels run.
TEST(Ponita, PolynomialKernelArithmeticEqualsTheOuterProductsOnCpu) {
  using forcefield::edgecuda::kMaxInvariants;
  using forcefield::edgecuda::kMaxPolynomialDegree;
  torch::manual_seed(3);
  const std::int64_t rows = 5;
  for (int k = 1; k <= kMaxInvariants; ++k)
    for (int degree = 0; degree <= kMaxPolynomialDegree; ++degree) {
      if (std::pow(k, degree + 1) > 20000) continue;  // k = 4 at degree 7: 87,380 columns, nothing new to check
      SCOPED_TRACE("k " + std::to_string(k) + ", degree " + std::to_string(degree));
      const auto x = torch::randn({rows, k}, torch::kFloat64).requires_grad_(true);
      std::vector<torch::Tensor> terms{x};
      for (int d = 1; d <= degree; ++d) terms.push_back((terms.back().unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2, -1));
      const auto features = torch::cat(terms, -1);
      const int width = static_cast<int>(features.size(1)) + 3;  // three padding columns
      const auto expected = torch::cat({features, torch::zeros({rows, 3}, torch::kFloat64)}, -1);
      const auto xc = x.detach().contiguous();
      auto ours = torch::empty({rows, width}, torch::kFloat64);
      for (std::int64_t r = 0; r < rows; ++r)
        for (int c = 0; c < width; ++c)
          ours[r][c] = forcefield::edgecuda::polynomialValue(xc.data_ptr<double>() + r * k, c, k, degree);
      EXPECT_LE((ours - expected.detach()).abs().max().item<double>(), 1e-13 * expected.abs().max().item<double>());

      const auto gPoly = torch::randn({rows, width}, torch::kFloat64);
      const auto gExpected = torch::autograd::grad({(expected * gPoly).sum()}, {x})[0];
      auto gOurs = torch::empty({rows, k}, torch::kFloat64);
      for (std::int64_t r = 0; r < rows; ++r)
        forcefield::edgecuda::polynomialRowGradient(xc.data_ptr<double>() + r * k, gPoly.data_ptr<double>() + r * width,
                                                    k, degree, width, gOurs.data_ptr<double>() + r * k);
      EXPECT_LE((gOurs - gExpected).abs().max().item<double>(), 1e-11 * gExpected.abs().max().item<double>());
    }
}

// tf32 (a calculator option; ff.md's "tf32"): on CUDA the products run in TF32 during compute() and the
// process's setting is back afterwards. On 3BPA the forces stay within 1% of the FP32 ones and the energy within
// 0.1% (TF32 keeps 10 mantissa bits: a unit roundoff of 2^-11 = 4.9e-4 per rounded input; on the H200 the energy
// moved by 1.4e-4 relative), and they do move: the products did run in TF32.
TEST(Ponita, Tf32IsScopedToTheCalculatorOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const bool before = at::globalContext().allowTF32CuBLAS();
  auto m = smallPonita("po", "fibonacci", 8);
  forcefield::PonitaCalculator fast(m, "tf32", torch::kCUDA, torch::kFloat32), exact(smallPonita("po", "fibonacci", 8), "fp32", torch::kCUDA, torch::kFloat32);
  fast.tf32 = true;
  const auto a = fast.compute(bpaFrames()[2]), b = exact.compute(bpaFrames()[2]);
  EXPECT_EQ(at::globalContext().allowTF32CuBLAS(), before);
  double worst = 0, scale = 0;
  for (std::size_t k = 0; k < a.forces.size(); ++k)
    for (int c = 0; c < 3; ++c) {
      worst = std::max(worst, std::abs(a.forces[k][c] - b.forces[k][c]));
      scale = std::max(scale, std::abs(b.forces[k][c]));
    }
  std::cout << "TF32 against FP32: largest force difference " << worst << " of " << scale << " eV/A\n";
  EXPECT_LT(worst, 1e-2 * scale);
  EXPECT_GT(worst, 0.0);
  EXPECT_NEAR(a.energy, b.energy, 1e-3 * std::abs(b.energy));
}

namespace {
std::uint32_t bitsOf(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
}  // namespace

// The 3xTF32 split (split_tf32.h; edgecuda::tf32Split is what each CUDA thread of splitTf32Rows runs, compiled here for
// the host): hi and lo are TF32 numbers (13 low mantissa bits zero), hi is x rounded to 11 significant bits
// (|x - hi| <= 2^-11 |x|, round to nearest) and hi + lo leaves at most 2^-22 |x| (lo rounded the same way). The ATen
// path (this CPU, and CUDA builds without the kernel) gives the same bits.
TEST(Ponita, Tf32SplitPartsAreExactAndSumToTheInputOnCpu) {
  torch::manual_seed(13);
  auto x = torch::randn({64, 40}) * torch::pow(10.0, torch::randint(-30, 30, {64, 40}).to(torch::kFloat32));
  x[0][0] = 0.0f;
  x[0][1] = -0.0f;
  x[0][2] = 1.0f + 1.0f / 2048;  // a tie: rounds away from zero
  x[0][3] = -(1.0f + 3.0f / 4096);
  const auto split = forcefield::splitTf32Rows(x);
  ASSERT_EQ(split.sizes(), (std::vector<std::int64_t>{64, 120}));
  const auto xc = x.contiguous();
  for (std::int64_t r = 0; r < 64; ++r)
    for (std::int64_t c = 0; c < 40; ++c) {
      const float v = xc[r][c].item<float>();
      float hi = 0, lo = 0;
      forcefield::edgecuda::tf32Split(v, hi, lo);
      EXPECT_EQ(bitsOf(hi) & 0x1FFFu, 0u);
      EXPECT_EQ(bitsOf(lo) & 0x1FFFu, 0u);
      EXPECT_LE(std::abs(double(v) - hi), std::ldexp(std::abs(double(v)), -11));
      EXPECT_LE(std::abs(double(v) - hi - lo), std::ldexp(std::abs(double(v)), -22));
      EXPECT_EQ(bitsOf(split[r][c].item<float>()), bitsOf(hi));
      EXPECT_EQ(bitsOf(split[r][40 + c].item<float>()), bitsOf(lo));
      EXPECT_EQ(bitsOf(split[r][80 + c].item<float>()), bitsOf(hi));
    }
  EXPECT_EQ(forcefield::edgecuda::tf32Round(1.0f + 1.0f / 2048), 1.0f + 1.0f / 1024);
}

// The 3xTF32 product is the float32 product to float32's accuracy: the three products of the TF32 parts, each exact
// (done here in float64, as tensor cores multiply TF32 numbers exactly), leave per element at most
// 4 * 2^-22 * sum_k |a_ik| |b_kj| (lo_a lo_b and the two lo roundings, 2^-22 each; tf32Split's analysis), on
// PONITA's kernel shape (K = 256 basis functions to 640 = 5 layers x 128 channels). hi_a hi_b alone (plain TF32)
// breaks that bound: the test tells the two apart.
TEST(Ponita, Tf32SplitProductHasFloat32AccuracyOnCpu) {
  torch::manual_seed(17);
  const auto a = torch::randn({300, 256}), b = torch::randn({256, 640}) * 0.1;
  const auto exact = torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64));
  const auto bound = 4 * std::ldexp(1.0, -22) * torch::mm(a.abs().to(torch::kFloat64), b.abs().to(torch::kFloat64));
  const auto split = torch::mm(forcefield::splitTf32Rows(a).to(torch::kFloat64),
                               forcefield::splitTf32Weights(b).to(torch::kFloat64));
  EXPECT_TRUE(((split - exact).abs() <= bound).all().item<bool>())
      << "worst error / bound " << ((split - exact).abs() / bound).max().item<double>();
  const auto hiOnly = torch::mm(forcefield::splitTf32Rows(a).narrow(1, 0, 256).to(torch::kFloat64),
                                forcefield::splitTf32Weights(b).narrow(0, 0, 256).to(torch::kFloat64));
  EXPECT_GT(((hiOnly - exact).abs() / bound).max().item<double>(), 10.0);
  // mmSplitTf32Out over blocks of rows (the row block is 2^27 / 3K rows; here one block) with a bias, in float32.
  auto out = torch::empty({300, 640});
  const auto bias = torch::randn({640});
  forcefield::mmSplitTf32Out(out, a, forcefield::splitTf32Weights(b), bias);
  EXPECT_LT((out.to(torch::kFloat64) - exact - bias.to(torch::kFloat64)).abs().max().item<double>(),
            1e-5 * exact.abs().max().item<double>());
}

// On CUDA (compute capability 8.0 and up) PONITA's float32 inference runs its per-edge products as 3xTF32, on the
// rMD17 model's size (20 orientations, hidden 128, basis 256, 5 layers), a 3BPA frame and a periodic DFT frame,
// against the float64 model. Its error is float32's kind, not TF32's: at most 20x SGEMM's for forces and 60x for
// energies, and more than 30x below plain TF32's (the tf32 option). Not SGEMM's exactly: the tensor cores sum in
// float32 but round those sums otherwise than SGEMM's FMAs do (Fasi et al. 2021 measured truncation in their
// accumulation), over 3K terms. Measured on the H200 (session 25): forces 1.7-5.3x SGEMM's error and 166-287x below
// TF32's; energies 3.8-22x and 366-669x; the forces' error 2e-6 eV/A, 10^4 times below a trained model's.
// Its numbers differ from SGEMM's (the split ran: the fused kernels' split layouts for the kernels and pass 2, the
// generic split for the basis MLP's second layer and its transpose).
TEST(Ponita, SplitTf32KeepsFloat32AccuracyOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!forcefield::PonitaImpl::hasFusedKernels()) GTEST_SKIP() << "built without a CUDA compiler: no split kernel";
  if (!forcefield::splitTf32Pays(torch::zeros({1, 1}, torch::kCUDA)))
    GTEST_SKIP() << "no TF32 tensor cores (compute capability 8.0 and up), or TF32 is on for the process";
  auto c = smallPonita("po", "fibonacci", 20, {1, 6, 7, 8, 40})->config;
  c.hidden = 128;
  c.basis = 256;
  c.layers = 5;
  torch::manual_seed(23);
  forcefield::Ponita m(c);
  m->eval();
  for (const auto& s : {bpaFrames()[2], chem::readXyz(mlipTestFile())[0]}) {
    m->to(torch::kCUDA, torch::kFloat64);
    const auto g64 = makeGraphBatch(s, c.cutoff, torch::kFloat64).to(torch::kCUDA, torch::kFloat64);
    const auto ref = m->compute(g64, true, false);
    m->to(torch::kCUDA, torch::kFloat32);
    const auto g32 = g64.to(torch::kCUDA, torch::kFloat32);
    auto errors = [&](bool split, bool tf32) {
      m->splitTf32 = split;
      const bool before = at::globalContext().allowTF32CuBLAS();
      at::globalContext().setAllowTF32CuBLAS(tf32);
      const auto o = m->compute(g32, true, false);
      at::globalContext().setAllowTF32CuBLAS(before);
      EXPECT_EQ(m->lastInferenceSplit(), split && !tf32);
      EXPECT_TRUE(m->lastInferenceFused());
      const double e = std::abs(o.energy.item<double>() - ref.energy.item<double>());
      const double f = (o.forces.to(torch::kFloat64) - ref.forces).abs().max().item<double>();
      return std::make_tuple(e, f, o.forces.to(torch::kFloat64));
    };
    const auto [eSgemm, fSgemm, forcesSgemm] = errors(false, false);
    const auto [eSplit, fSplit, forcesSplit] = errors(true, false);
    const auto [eTf32, fTf32, forcesTf32] = errors(false, true);
    m->splitTf32 = true;
    std::cout << s.formula() << ": energy error SGEMM " << eSgemm << ", 3xTF32 " << eSplit << ", TF32 " << eTf32
              << "; force error " << fSgemm << ", " << fSplit << ", " << fTf32 << "\n";
    const double fScale = ref.forces.abs().max().item<double>(), eScale = std::abs(ref.energy.item<double>());
    EXPECT_LE(fSplit, 20 * fSgemm + 1e-8 * fScale);
    EXPECT_LE(eSplit, 60 * eSgemm + 1e-8 * eScale);
    EXPECT_GT(fTf32, 30 * fSplit);
    EXPECT_GT(eTf32, 30 * eSplit);
    EXPECT_GT((forcesSplit - forcesSgemm).abs().max().item<double>(), 0.0);
  }
}
