// The xtb calculator (GFN2-xTB through Debian's /usr/bin/xtb) on an rMD17 ethanol frame. Reference:
// central differences of xtb's own energies (the gradient xtb prints must be their derivative once
// converted from Hartree/Bohr to eV/A), and xtb's stdout "TOTAL ENERGY" line for the energy.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "atomscope/chem/elements.h"
#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/xtb_calculator.h"
#include "ff_test_util.h"

using namespace atomscope;
using namespace atomscope::ff_test;
using forcefield::XtbCalculator;

namespace {
bool haveXtb() { return ::access("/usr/bin/xtb", X_OK) == 0; }
#define REQUIRE_XTB()                                                              \
  if (!haveXtb()) {                                                                \
    if (test::strictReferences()) FAIL() << "needs /usr/bin/xtb (Debian xtb)";     \
    GTEST_SKIP() << "needs /usr/bin/xtb (Debian xtb)";                             \
  }
Structure ethanol() { return chem::readXyz(sharedData("md_forces/rmd17_ethanol_reduced_100.xyz"))[0]; }
}  // namespace

TEST(Xtb, ForcesAreMinusNumericalGradientOfXtbEnergies) {
  REQUIRE_XTB();
  forcefield::XtbOptions o;
  o.accuracy = 0.01;  // tight SCF so energy differences of ~1e-3 eV are clean
  XtbCalculator calc(o);
  const auto s = ethanol();
  const auto r = calc.compute(s);
  ASSERT_EQ(r.forces.size(), s.size());
  const double h = 2e-3;
  for (auto [a, c] : std::vector<std::pair<int, int>>{{0, 0}, {2, 1}, {5, 2}}) {
    auto sp = s, sm = s;
    sp.positions[a][c] += h;
    sm.positions[a][c] -= h;
    const double num = -(calc.compute(sp).energy - calc.compute(sm).energy) / (2 * h);
    EXPECT_NEAR(r.forces[a][c], num, 5e-3 + 1e-3 * std::abs(num)) << "atom " << a << " axis " << c;
  }
  // GFN2 energy of a neutral C2H6O in eV: xtb's own stdout reports the same number in Hartree.
  const auto dir = test::freshTempDir("xtb-ref");
  {
    std::ofstream out(dir / "e.xyz");
    out.precision(12);
    out << s.size() << "\n\n";
    for (std::size_t a = 0; a < s.size(); ++a)
      out << chem::element(s.numbers[a]).symbol << ' ' << s.positions[a][0] << ' ' << s.positions[a][1] << ' ' << s.positions[a][2] << '\n';
  }
  const std::string cmd = "cd " + dir.string() + " && OMP_NUM_THREADS=1 /usr/bin/xtb e.xyz --gfn 2 --acc 0.01 2>/dev/null | grep 'TOTAL ENERGY'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  char buf[512] = {0};
  ASSERT_TRUE(pipe && std::fgets(buf, sizeof buf, pipe.get()));
  double hartree = 0;
  ASSERT_EQ(std::sscanf(buf, " | TOTAL ENERGY %lf", &hartree), 1) << buf;
  EXPECT_NEAR(r.energy, hartree * forcefield::kHartreeEv, 1e-6);
  test::removeTree(dir);
}

TEST(Xtb, ClearErrors) {
  forcefield::XtbOptions o;
  o.executable = "/nonexistent/xtb";
  try {
    XtbCalculator(o).compute(ethanol());
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/xtb"), std::string::npos) << e.what();
  }
  try {
    XtbCalculator().compute(chem::readXyz(mlipTestFile())[0]);
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("periodic"), std::string::npos) << e.what();
  }
  // A truncated gradient file: the message names the file and the line.
  const std::string bad = "$grad\n  cycle =      1    SCF energy =    -5.07   |dE/dxyz| =  0.03\n 0 0 0.1 o\n 0 1.4 -0.8 h\n 1.0D-03 2.0 x\n$end\n";
  try {
    forcefield::parseXtbGradient(bad, 2, "gradient");
    FAIL() << "no error";
  } catch (const forcefield::ForceFieldError& e) {
    EXPECT_NE(std::string(e.what()).find("gradient:"), std::string::npos) << e.what();
  }
  // And a good one converts as ASE does: /usr/bin/python3 -c "from ase.units import Hartree, Bohr;
  // print(Hartree, Hartree/Bohr)" prints 27.211386024367243 51.422067090480645 (ASE 3.22).
  const std::string good = "$grad\n  cycle =      1    SCF energy =    -1.0   |dE/dxyz| =  0.03\n 0 0 0 h\n 1.0D+00 0 -2.0E+00\n$end\n";
  const auto r = forcefield::parseXtbGradient(good, 1, "gradient");
  EXPECT_NEAR(r.forces[0][0], -51.422067090480645, 1e-9);
  EXPECT_NEAR(r.forces[0][2], 2 * 51.422067090480645, 1e-9);
  EXPECT_NEAR(r.energy, -27.211386024367243, 1e-12);
}
