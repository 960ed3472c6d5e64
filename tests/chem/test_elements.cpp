// The element table against its sources: Cordero et al. 2008 (covalent radii), Jmol's colour
// table, IUPAC standard atomic weights; and, for all elements, against ASE 3.22's ase.data.
#include <gtest/gtest.h>

#include <map>

#include "test_util.h"

#include <cstdlib>
#include <string>

#include "atomscope/chem/elements.h"
#include "atomscope/chem/error.h"
#include "chem_test_util.h"

namespace atomscope::chem {
namespace {

TEST(Elements, CovalentRadiiFromCordero2008) {
  // Cordero et al., Dalton Trans. 2008, 2832, Table 2 (C sp3).
  EXPECT_DOUBLE_EQ(element(1).covalentRadius, 0.31);
  EXPECT_DOUBLE_EQ(element(6).covalentRadius, 0.76);
  EXPECT_DOUBLE_EQ(element(7).covalentRadius, 0.71);
  EXPECT_DOUBLE_EQ(element(8).covalentRadius, 0.66);
  EXPECT_DOUBLE_EQ(element(17).covalentRadius, 1.02);
  EXPECT_DOUBLE_EQ(element(40).covalentRadius, 1.75);
  EXPECT_DOUBLE_EQ(element(55).covalentRadius, 2.44);
  EXPECT_DOUBLE_EQ(element(96).covalentRadius, 1.69);
}

TEST(Elements, JmolColours) {
  // Jmol's default colour table (jmol.sourceforge.net/jscolors): C [144,144,144], O [255,13,13],
  // H [255,255,255], N [48,80,248], S [255,255,48], Zr [148,224,224].
  EXPECT_EQ(element(6).jmolColor, 0x909090u);
  EXPECT_EQ(element(8).jmolColor, 0xFF0D0Du);
  EXPECT_EQ(element(1).jmolColor, 0xFFFFFFu);
  EXPECT_EQ(element(7).jmolColor, 0x3050F8u);
  EXPECT_EQ(element(16).jmolColor, 0xFFFF30u);
  EXPECT_EQ(element(40).jmolColor, 0x94E0E0u);
}

TEST(Elements, SymbolsMassesAndLookup) {
  EXPECT_STREQ(element(1).symbol, "H");
  EXPECT_STREQ(element(118).symbol, "Og");
  EXPECT_STREQ(element(26).name, "Iron");
  // IUPAC 2016 conventional atomic weights.
  EXPECT_DOUBLE_EQ(element(6).mass, 12.011);
  EXPECT_DOUBLE_EQ(element(8).mass, 15.999);
  for (int z = 1; z <= kMaxAtomicNumber; ++z) {
    EXPECT_EQ(element(z).z, z);
    EXPECT_EQ(atomicNumber(element(z).symbol), z);
    EXPECT_GT(element(z).covalentRadius, 0.0);
    EXPECT_GT(element(z).displayVdwRadius(), 0.0);
  }
  EXPECT_EQ(atomicNumber("cl"), 17);
  EXPECT_EQ(atomicNumber("CL"), 17);
  EXPECT_EQ(atomicNumber("zR"), 40);
  EXPECT_EQ(atomicNumber("Xx"), 0);
  EXPECT_EQ(atomicNumber(""), 0);
  EXPECT_EQ(atomicNumber("Carbon"), 0);
  EXPECT_THROW(element(0), ChemError);
  EXPECT_THROW(element(119), ChemError);
}

// Every symbol, mass, radius and colour against ASE's tables (which cite the same sources).
TEST(Elements, AllElementsAgreeWithAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const auto dir = testing::tempDir("elements");
  const auto json = dir / "ase_elements.json";
  const std::string cmd =
      "/usr/bin/python3 -c \"import json; from ase.data import chemical_symbols as s, atomic_masses as m, "
      "covalent_radii as r; from ase.data.colors import jmol_colors as c; "
      "print(json.dumps([[s[z], float(m[z]), float(r[z]), [round(float(v)*255) for v in c[z]] if z < len(c) else None] "
      "for z in range(1, 119)]))\" > " + json.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "needs Debian's python3-ase";
  const Json ase = Json::parse(testing::readText(json));
  ASSERT_EQ(ase.size(), 118u);
  for (int z = 1; z <= 118; ++z) {
    const Json& e = ase[z - 1];
    EXPECT_EQ(element(z).symbol, e[0].get<std::string>()) << z;
    EXPECT_DOUBLE_EQ(element(z).mass, e[1].get<double>()) << z;
    if (z <= 96) EXPECT_DOUBLE_EQ(element(z).covalentRadius, e[2].get<double>()) << z;  // Cordero stops at Cm
    if (!e[3].is_null()) {
      const auto rgb = element(z).jmolColor;
      EXPECT_EQ(static_cast<int>((rgb >> 16) & 0xFF), e[3][0].get<int>()) << z;
      EXPECT_EQ(static_cast<int>((rgb >> 8) & 0xFF), e[3][1].get<int>()) << z;
      EXPECT_EQ(static_cast<int>(rgb & 0xFF), e[3][2].get<int>()) << z;
    }
  }
  atomscope::test::removeTree(dir);
}

// Plain formulas as chemists write them (adit.sample's composition): counts add up over repeated symbols; what is not
// a formula is refused with the formula in the message.
TEST(Elements, FormulasParseAndBadOnesAreRefused) {
  EXPECT_EQ(parseFormula("C7H10O2"), (std::map<int, int>{{1, 10}, {6, 7}, {8, 2}}));
  EXPECT_EQ(parseFormula("NaCl"), (std::map<int, int>{{11, 1}, {17, 1}}));
  EXPECT_EQ(parseFormula("CH3CH2OH"), (std::map<int, int>{{1, 6}, {6, 2}, {8, 1}}));
  EXPECT_EQ(parseFormula("Si12"), (std::map<int, int>{{14, 12}}));
  for (const char* bad : {"", "c7", "Xx2", "C0", "C7 H10", "H2O+", "CL2"}) {
    try {
      parseFormula(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ChemError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

// Hill order as ASE's get_chemical_formula('hill') gives it for these compositions; parseFormula reads it back.
TEST(Elements, HillFormulasFollowAseAndParseBack) {
  EXPECT_EQ(hillFormula({{8, 2}, {1, 10}, {6, 7}}), "C7H10O2");
  EXPECT_EQ(hillFormula({{1, 2}, {8, 1}}), "H2O");            // no carbon: alphabetical, H included
  EXPECT_EQ(hillFormula({{17, 1}, {11, 1}}), "ClNa");         // alphabetical by symbol, not by Z
  EXPECT_EQ(hillFormula({{40, 1}, {8, 2}, {6, 2}, {1, 4}}), "C2H4O2Zr");
  EXPECT_EQ(hillFormula({{6, 1}, {7, 0}}), "C");              // zero counts are left out
  for (const char* f : {"C7H10O2", "C2H4O2Zr", "ClNa", "BaO3Ti"}) EXPECT_EQ(hillFormula(parseFormula(f)), f);
}

}  // namespace
}  // namespace atomscope::chem
