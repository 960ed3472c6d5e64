// The shared MACE TorchScript model (aiida-mlip's test_compiled.model: H, C, O, Zr, r_max 4) on
// the periodic DFT frame it was trained next to (mlip_test.xyz). No Python torch here, so the
// references are the model's own energy under finite differences (forces, stress) and repeat runs.
#include <gtest/gtest.h>

#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/torchscript_calculator.h"
#include "ff_test_util.h"

using namespace atomscope;
using namespace atomscope::ff_test;
using forcefield::TorchScriptCalculator;

TEST(TorchScriptMlip, LoadsMaceAndReadsItsElementTable) {
  TorchScriptCalculator calc(maceModel(), "cpu", true);
  // The data README: H/C/O/Zr, r_max 4.
  EXPECT_EQ(calc.atomicNumbers(), (std::vector<int>{1, 6, 8, 40}));
  EXPECT_DOUBLE_EQ(calc.cutoff(), 4.0);
  // Float32 and float64 runs of the same weights agree to float32 precision.
  const auto s = chem::readXyz(mlipTestFile())[0];
  const auto a = calc.compute(s);
  const auto b = TorchScriptCalculator(maceModel(), "cpu", true, "float64").compute(s);
  EXPECT_NEAR(a.energy, b.energy, 1e-5 * std::abs(b.energy));
}

TEST(TorchScriptMlip, ForcesAreMinusNumericalGradientAndDeterministic) {
  TorchScriptCalculator calc(maceModel(), "cpu", true, "float64");
  const auto s = chem::readXyz(mlipTestFile())[0];
  const auto r = calc.compute(s);
  ASSERT_EQ(r.forces.size(), s.size());
  const auto again = calc.compute(s);
  EXPECT_EQ(again.energy, r.energy);
  for (std::size_t a = 0; a < s.size(); ++a) EXPECT_EQ(again.forces[a], r.forces[a]);
  const double h = 1e-4;
  double worst = 0;
  for (std::size_t a : {0u, 17u, 60u, 113u})
    for (int c = 0; c < 3; ++c) {
      auto sp = s, sm = s;
      sp.positions[a][c] += h;
      sm.positions[a][c] -= h;
      const double num = -(calc.compute(sp).energy - calc.compute(sm).energy) / (2 * h);
      worst = std::max(worst, std::abs(num - r.forces[a][c]));
      EXPECT_NEAR(r.forces[a][c], num, 1e-4 * std::max(1.0, std::abs(num))) << "atom " << a << " axis " << c;
    }
}

TEST(TorchScriptMlip, StressIsStrainDerivativeOverVolume) {
  TorchScriptCalculator calc(maceModel(), "cpu", true, "float64");
  const auto s = chem::readXyz(mlipTestFile())[0];
  const auto r = calc.compute(s, true);
  ASSERT_TRUE(r.stress.has_value());
  const double h = 1e-5, V = s.cellVolume();
  auto strained = [&](int a, int b, double e) {
    Mat3 eps{};
    eps[a][b] += 0.5 * e;
    eps[b][a] += 0.5 * e;
    Structure t = s;
    auto sv = [&](const Vec3& v) {
      Vec3 o = v;
      for (int c = 0; c < 3; ++c) o[c] += v[0] * eps[0][c] + v[1] * eps[1][c] + v[2] * eps[2][c];
      return o;
    };
    for (auto& p : t.positions) p = sv(p);
    for (auto& row : *t.lattice) row = sv(row);
    return calc.compute(t).energy;
  };
  for (auto [a, b] : std::vector<std::pair<int, int>>{{0, 0}, {2, 2}, {0, 2}}) {
    const double num = (strained(a, b, h) - strained(a, b, -h)) / (2 * h) / V;
    EXPECT_NEAR((*r.stress)[a][b], num, 1e-4 * std::max(1e-2, std::abs(num))) << a << b;
  }
}

TEST(TorchScriptMlip, BadFilesAndUntrustedAreClearErrors) {
  auto expectError = [](const std::filesystem::path& f, bool trusted, const std::string& needle) {
    try {
      TorchScriptCalculator c(f, "cpu", trusted);
      FAIL() << "no error for " << f;
    } catch (const forcefield::ForceFieldError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expectError(maceModel(), false, "trusted");
  expectError(bpaFile(), true, "3bpa_train_300K.xyz");          // text, not a zip archive
  expectError(sharedData("md_forces/nope.model"), true, "does not exist");
  // A 3BPA molecule has N, which this model does not know.
  TorchScriptCalculator calc(maceModel(), "cpu", true);
  try {
    calc.compute(bpaFrames()[0]);
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("Z=7"), std::string::npos) << e.what();
  }
}
