// SMILES to 3D through RDKit (ETKDG + MMFF) on QM9 SMILES from the shared data: formulas as RDKit's
// Python bindings compute them, sane geometry, reproducible for a seed; bad lines.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "atomscope/chem/formats.h"
#include "atomscope/chem/smiles.h"
#include "formats_test_util.h"

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS

using namespace atomscope::chem;
using namespace atomscope::chem::testing;
using atomscope::Json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kLines = 60;  // the first 60 molecules of the QM9 test split

// The header and the first n SMILES of the shared QM9 test split, as a .smi file.
fs::path qm9Smi(const fs::path& dir, std::size_t n) {
  std::ifstream in(sharedData("smiles/graph_hdc_QM9Smiles_test_smile.txt"));
  std::ofstream out(dir / "qm9.smi");
  std::string line;
  for (std::size_t i = 0; i <= n && std::getline(in, line); ++i) out << line << "\n";
  return dir / "qm9.smi";
}

double minDistance(const Structure& s) {
  double best = 1e9;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = i + 1; j < s.size(); ++j) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += (s.positions[i][k] - s.positions[j][k]) * (s.positions[i][k] - s.positions[j][k]);
      best = std::min(best, std::sqrt(d2));
    }
  return best;
}

}  // namespace

// RDKit (Python) says which of the lines it can embed: those go into one .smi file we read and
// compare; each line it cannot embed must give our error naming it.
TEST(FormatsSmiles, Qm9MoleculesHaveRdkitFormulasAndSaneGeometry) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("rdkit");
  atomscope::test::ScopedTempDir dir("chem_smiles");
  const fs::path all = qm9Smi(dir.path(), kLines);
  const Json ref = formatsReference("smiles_formulas " + quoted(all));
  ASSERT_EQ(ref.size(), kLines + 1);  // RDKit (Python) sees the header "smiles" too: not a molecule
  EXPECT_TRUE(ref[0]["formula"].is_null());
  std::vector<Json> good;
  std::size_t failures = 0;
  {
    std::ofstream out(dir / "ok.smi");
    out << "smiles\n";
    for (std::size_t i = 1; i < ref.size(); ++i) {
      ASSERT_FALSE(ref[i]["formula"].is_null()) << ref[i]["smiles"] << ": QM9 SMILES all parse in RDKit";
      if (ref[i]["embeds"].get<bool>()) {
        good.push_back(ref[i]);
        out << ref[i]["smiles"].get<std::string>() << "\n";
      } else {
        ++failures;
        expectContains(errorOf([&] { readSmilesString("CCO\n" + ref[i]["smiles"].get<std::string>() + "\n", "x.smi"); }),
                       {"x.smi:2:", "could not embed"});
      }
    }
  }
  const Trajectory mols = readStructureFile(dir / "ok.smi");  // .smi: the smiles format; the header line is skipped
  ASSERT_EQ(mols.size(), good.size());
  std::size_t unoptimised = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    const Json& r = good[i];
    std::string formula = r["formula"].get<std::string>();
    while (!formula.empty() && (formula.back() == '+' || formula.back() == '-')) formula.pop_back();  // net charge
    EXPECT_EQ(mols[i].formula(), formula) << r["smiles"];
    EXPECT_EQ(mols[i].info["smiles"], r["smiles"]);
    EXPECT_GT(minDistance(mols[i]), 0.7) << r["smiles"];
    if (mols[i].info.contains("warnings")) ++unoptimised;
    else EXPECT_TRUE(mols[i].info.contains("mmff_energy")) << r["smiles"];
  }
  EXPECT_GT(good.size(), kLines * 3 / 4);
  std::cout << "[ info ] " << good.size() << " of " << kLines << " QM9 SMILES embedded (" << failures
            << " RDKit cannot embed either); " << unoptimised << " kept without MMFF or not converged\n";
}

TEST(FormatsSmiles, ReproducibleForASeed) {
  atomscope::test::ScopedTempDir dir("chem_smiles_seed");
  const fs::path smi = qm9Smi(dir.path(), 10);
  const Trajectory a = readSmilesFile(smi);
  const Trajectory b = readSmilesFile(smi);
  SmilesOptions other;
  other.seed = 7;
  const Trajectory c = readSmilesFile(smi, other);
  ASSERT_EQ(a.size(), 10u);
  std::size_t differs = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].positions, b[i].positions) << i;  // bit for bit
    if (a[i].size() > 3 && orderedDistance(a[i].numbers, a[i].positions, c[i].numbers, c[i].positions) > 1e-3) ++differs;
  }
  EXPECT_GT(differs, 0u) << "another seed should give other coordinates for some molecule";
}

TEST(FormatsSmiles, BadLinesNameTheLine) {
  expectContains(errorOf([] { readSmilesString("CCO ethanol\nC1CC\n", "bad.smi"); }), {"bad.smi:2:", "'C1CC'"});
  expectContains(errorOf([] { readSmilesString("smiles\nCCO\nc1cccc1\n", "arom.smi"); }), {"arom.smi:3:", "sanitise"});
  expectContains(errorOf([] { readSmilesString("C*C\n", "dummy.smi"); }), {"dummy.smi:1:", "dummy"});
  expectContains(errorOf([] { readSmilesString("\n# nothing\n", "none.smi"); }), {"none.smi", "no SMILES"});
  const Trajectory named = readSmilesString("CCO  ethyl alcohol\n");
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].info["name"], "ethyl alcohol");
  EXPECT_EQ(named[0].formula(), "C2H6O");  // ethanol
}

#endif  // ATOMSCOPE_HAS_CHEM_TOOLKITS
