// Optimisers and MD. References: xtb itself (a converged geometry has xtb forces below fmax),
// the known O(dt^2) scaling of velocity Verlet's energy error, and equipartition for Langevin.
#include <gtest/gtest.h>

#include "atomscope/forcefield/dynamics.h"
#include "atomscope/forcefield/ponita_calculator.h"
#include "atomscope/forcefield/xtb_calculator.h"
#include "ff_test_util.h"

using namespace atomscope;
using namespace atomscope::ff_test;
namespace ff = atomscope::forcefield;

namespace {
Structure ethanol() { return chem::readXyz(sharedData("md_forces/rmd17_ethanol_reduced_100.xyz"))[0]; }
}  // namespace

// FIRE and L-BFGS on GFN2-xTB reach fmax from a 300 K rMD17 ethanol frame; a fresh xtb call on
// the result confirms it, and the energy went down.
TEST(Dynamics, FireAndLbfgsReachFmaxOnXtb) {
  if (::access("/usr/bin/xtb", X_OK) != 0) {
    if (test::strictReferences()) FAIL() << "needs /usr/bin/xtb";
    GTEST_SKIP() << "needs /usr/bin/xtb";
  }
  ff::XtbCalculator xtb;
  const auto start = ethanol();
  const double e0 = xtb.compute(start).energy;
  for (const std::string method : {"fire", "lbfgs"}) {
    ff::OptimizeOptions o;
    o.method = method;
    o.fmax = 0.05;
    o.maxSteps = 300;
    const auto r = ff::optimize(xtb, start, o);
    EXPECT_TRUE(r.converged) << method << " fmax " << r.fmax << " after " << r.steps;
    const auto check = xtb.compute(r.structure);
    EXPECT_LT(ff::maxForce(check.forces), 0.05) << method;
    EXPECT_LT(check.energy, e0 - 0.01) << method;
    std::cout << method << ": " << r.steps << " steps, E " << e0 << " -> " << check.energy << " eV\n";
  }
}

// Velocity Verlet is symplectic and second order: the total-energy error oscillates with an
// amplitude proportional to dt^2. Halving dt must cut the largest deviation by ~4 (3..5 allowed).
// The potential is a seeded PONITA in float64 (smooth: GELU MLPs and a cosine cutoff); the
// integrator's property does not depend on which smooth potential it is.
TEST(Dynamics, VelocityVerletEnergyErrorScalesAsDtSquared) {
  auto m = smallPonita("pointcloud", "fibonacci", 1);
  m->config.scale = 30.0;  // forces of a few eV/A, as in real 300 K frames
  ff::PonitaCalculator calc(m, "test", torch::kCPU, torch::kFloat64);
  const auto& s = bpaFrames()[0];
  const double fm = ff::maxForce(calc.compute(s).forces);
  EXPECT_GT(fm, 0.5);
  auto run = [&](double dt) {
    ff::MdOptions o;
    o.ensemble = "nve";
    o.timestep = dt;
    o.steps = static_cast<int>(std::lround(20.0 / dt));  // 20 fs
    o.sampleEvery = 1;
    o.temperature = 300;
    return ff::runMd(calc, s, o);
  };
  const auto a = run(0.2), b = run(0.1);
  ASSERT_GT(a.maxDeviationPerAtom, 0.0);
  const double ratio = a.maxDeviationPerAtom / b.maxDeviationPerAtom;
  EXPECT_GT(ratio, 3.0);
  EXPECT_LT(ratio, 5.0);
  // With dt = 0.1 fs the deviation stays far below the 1 meV/atom of the drift target.
  EXPECT_LT(b.maxDeviationPerAtom, 1e-3);
  std::cout << "max |dE| per atom: dt 0.2 fs " << a.maxDeviationPerAtom << " eV, dt 0.1 fs " << b.maxDeviationPerAtom
            << " eV (ratio " << ratio << "), fmax " << fm << " eV/A\n";
}

// Langevin (BAOAB) started from rest heats 3BPA to the target: by equipartition the mean kinetic
// temperature over the second half is 300 K. 27 atoms fluctuate by ~27% per sample; with friction
// 0.05/fs (correlation ~20 fs) 1000 fs give ~50 independent samples, a standard error of ~4%:
// 12% is a 3 sigma band.
TEST(Dynamics, LangevinReachesTargetTemperature) {
  auto m = smallPonita("pointcloud", "fibonacci", 1);
  ff::PonitaCalculator calc(m, "test", torch::kCPU, torch::kFloat64);
  ff::MdOptions o;
  o.ensemble = "nvt";
  o.timestep = 1.0;
  o.steps = 2000;
  o.friction = 0.05;
  o.temperature = 300;
  o.initVelocities = false;
  o.sampleEvery = 1;
  o.seed = 42;
  const auto r = ff::runMd(calc, bpaFrames()[0], o);
  double sum = 0;
  int n = 0;
  for (const auto& x : r.samples)
    if (x.step > o.steps / 2) {
      sum += x.temperature;
      ++n;
    }
  EXPECT_NEAR(sum / n, 300.0, 36.0);
  EXPECT_LT(r.samples.front().temperature, 1e-9);  // started at rest
}
