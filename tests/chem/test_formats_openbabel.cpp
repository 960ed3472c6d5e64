// PDB, SDF/MOL and MOL2 through Open Babel: files nobody here wrote (rdkit-data, which python3-rdkit
// depends on) against RDKit and ASE, round trips of the shared molecules, ASE/RDKit reading ours.
#include <gtest/gtest.h>

#include <filesystem>

#include "atomscope/chem/formats.h"
#include "atomscope/chem/openbabel_io.h"
#include "atomscope/chem/xyz.h"
#include "formats_test_util.h"

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS

using namespace atomscope::chem;
using namespace atomscope::chem::testing;
using atomscope::Json;
namespace fs = std::filesystem;

namespace {

// Real files shipped by Debian's rdkit-data (a dependency of python3-rdkit, the reference here).
const fs::path kBzrSdf = "/usr/share/RDKit/Projects/DbCLI/testData/bzr.sdf";  // 163 benzodiazepines, 3D
const fs::path kProteinPdb = "/usr/share/RDKit/Contrib/CalcLigRMSD/data/5dpv.pdb";

// Molecules from the shared data: 20 QM9 molecules and 5 aspirin frames.
Trajectory sharedMolecules() {
  Trajectory out = readXyz(sharedData("qm9/qm9_reduced_100.xyz"));
  out.resize(20);
  const Trajectory aspirin = readXyz(sharedData("md_forces/md17_aspirin_15frames.xyz"));
  out.insert(out.end(), aspirin.begin(), aspirin.begin() + 5);
  for (Structure& s : out) {  // only what these formats carry
    s.info = Json::object();
    s.atomProperties.clear();
  }
  return out;
}

// ASE's PDB reader closes a frame at ENDMDL and again at the END after the last MODEL, so a
// multi-model file gives one extra, empty frame at the end: drop it.
Json withoutTrailingEmpty(Json frames) {
  while (!frames.empty() && frames.back()["numbers"].empty()) frames.erase(frames.size() - 1);
  return frames;
}

}  // namespace

// bzr.sdf: all 163 molecules as RDKit reads them (sanitize off, hydrogens kept): atoms, positions.
TEST(FormatsOpenBabel, SdfFromRdkitDataMatchesRdkit) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("rdkit");
  ASSERT_TRUE(fs::exists(kBzrSdf)) << "rdkit-data (a dependency of python3-rdkit) should provide " << kBzrSdf;
  const Trajectory ours = readStructureFile(kBzrSdf);
  const Json ref = formatsReference("rdkit_sdf " + quoted(kBzrSdf));
  ASSERT_EQ(ours.size(), ref.size());
  ASSERT_EQ(ours.size(), 163u);  // 163 "$$$$" records in the file
  for (std::size_t i = 0; i < ours.size(); ++i) {
    ASSERT_FALSE(ref[i].is_null()) << i;
    EXPECT_LT(orderedDistance(ours[i].numbers, ours[i].positions, ref[i]["numbers"].get<std::vector<int>>(),
                              vecsFromJson(ref[i]["positions"])),
              1e-9)
        << "molecule " << i;
  }
  EXPECT_EQ(ours[0].info["title"], "Adinazolam");  // the first record's name line
}

// A protein with ligands and waters: Open Babel's atoms and positions equal ASE's PDB reader's.
TEST(FormatsOpenBabel, PdbFromRdkitDataMatchesAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  ASSERT_TRUE(fs::exists(kProteinPdb));
  const Trajectory ours = readStructureFile(kProteinPdb);
  const Json ase = formatsReference("ase " + quoted(kProteinPdb) + " proteindatabank");
  ASSERT_EQ(ours.size(), ase.size());
  for (std::size_t i = 0; i < ours.size(); ++i) {
    EXPECT_GT(ours[i].size(), 1000u);
    EXPECT_LT(orderedDistance(ours[i].numbers, ours[i].positions, ase[i]["numbers"].get<std::vector<int>>(),
                              vecsFromJson(ase[i]["positions"])),
              1e-9);
  }
}

// Write then read: same atoms, positions to the format's precision (SDF %10.4f, MOL2 %.4f, PDB %8.3f:
// half a unit of the last printed digit plus rounding), as many molecules as written.
TEST(FormatsOpenBabel, RoundTripsKeepAtomsAndPositions) {
  atomscope::test::ScopedTempDir dir("chem_ob_round");
  const Trajectory molecules = sharedMolecules();
  for (const auto& [ext, tol] : std::vector<std::pair<std::string, double>>{{"sdf", 5.1e-5}, {"mol", 5.1e-5},
                                                                              {"mol2", 5.1e-5}, {"pdb", 5.1e-4}}) {
    const fs::path file = dir / ("all." + ext);
    const Trajectory written = ext == "mol" ? Trajectory{molecules[0]} : molecules;
    writeStructureFile(file, written);
    const Trajectory back = readStructureFile(file);
    ASSERT_EQ(back.size(), written.size()) << ext;
    for (std::size_t i = 0; i < written.size(); ++i)
      EXPECT_LT(orderedDistance(back[i].numbers, back[i].positions, written[i].numbers, written[i].positions), tol)
          << ext << " molecule " << i;
  }
}

// ASE reads our PDB (every MODEL) and the first molecule of our SDF; RDKit every SDF record.
TEST(FormatsOpenBabel, AseAndRdkitReadOurFiles) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("rdkit");
  atomscope::test::ScopedTempDir dir("chem_ob_ase");
  const Trajectory molecules = sharedMolecules();
  writeStructureFile(dir / "m.pdb", molecules);
  writeStructureFile(dir / "m.sdf", molecules);
  const Json ase = withoutTrailingEmpty(formatsReference("ase " + quoted(dir / "m.pdb") + " proteindatabank"));
  const Json rd = formatsReference("rdkit_sdf " + quoted(dir / "m.sdf"));
  // ASE 3.22's SDF reader reads one molecule per file: the first.
  const Json aseSdf = formatsReference("ase " + quoted(dir / "m.sdf") + " sdf");
  ASSERT_EQ(aseSdf.size(), 1u);
  EXPECT_LT(orderedDistance(molecules[0].numbers, molecules[0].positions, aseSdf[0]["numbers"].get<std::vector<int>>(),
                            vecsFromJson(aseSdf[0]["positions"])),
            5.1e-5);
  ASSERT_EQ(ase.size(), molecules.size());
  ASSERT_EQ(rd.size(), molecules.size());
  for (std::size_t i = 0; i < molecules.size(); ++i) {
    const Structure& m = molecules[i];
    EXPECT_LT(orderedDistance(m.numbers, m.positions, ase[i]["numbers"].get<std::vector<int>>(), vecsFromJson(ase[i]["positions"])),
              5.1e-4)
        << "pdb " << i;
    ASSERT_FALSE(rd[i].is_null()) << "RDKit could not read molecule " << i << " of our SDF";
    EXPECT_LT(orderedDistance(m.numbers, m.positions, rd[i]["numbers"].get<std::vector<int>>(), vecsFromJson(rd[i]["positions"])),
              5.1e-5)
        << "sdf " << i;
  }
}

// Formal charges survive SDF and MOL2 (RDKit reads the same charges from our SDF).
TEST(FormatsOpenBabel, FormalChargesKept) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("rdkit");
  atomscope::test::ScopedTempDir dir("chem_ob_charge");
  // A glycine-like zwitterion backbone (N+ ... O-, charges set here) and a neutral QM9 molecule.
  const Trajectory gly = readStructureFile(sharedData("qm9/qm9_reduced_100.xyz"));
  Structure z;
  const std::vector<int> numbers = {7, 6, 6, 8, 8};
  const std::vector<Vec3> pos = {{-1.9, 0.0, 0.0}, {-0.5, 0.3, 0.0}, {0.4, -0.9, 0.0}, {1.6, -0.7, 0.0}, {-0.1, -2.0, 0.0}};
  for (std::size_t i = 0; i < numbers.size(); ++i) z.addAtom(numbers[i], pos[i]);
  AtomProperty q;
  q.type = AtomProperty::Type::Int;
  q.values = {1, 0, 0, -1, 0};
  z.atomProperties["charges"] = q;
  for (const char* ext : {"sdf", "mol2"}) {
    const fs::path file = dir / (std::string("z.") + ext);
    writeStructureFile(file, {z, gly[0]});
    const Trajectory back = readStructureFile(file);
    ASSERT_EQ(back.size(), 2u);
    const AtomProperty* c = back[0].atomProperty("charges");
    ASSERT_NE(c, nullptr) << ext;
    EXPECT_EQ(c->values, q.values) << ext;
    EXPECT_EQ(back[1].atomProperty("charges"), nullptr) << ext << ": a neutral molecule gets no charges array";
  }
  const Json rd = formatsReference("rdkit_sdf " + quoted(dir / "z.sdf"));
  EXPECT_EQ(rd[0]["charges"].get<std::vector<int>>(), (std::vector<int>{1, 0, 0, -1, 0}));
}

// A crystal as PDB: CRYST1 carries the cell; ours and ASE's readings of the same file agree (both
// build the cell from CRYST1's parameters in ASE's orientation).
TEST(FormatsOpenBabel, PdbCellAsAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  atomscope::test::ScopedTempDir dir("chem_ob_cell");
  const Trajectory crystals = readStructureFile(sharedData("crystals/mp_20_subset_test.csv"));
  const Trajectory some = {crystals[3], crystals[40], crystals[100]};
  writeStructureFile(dir / "c.pdb", some);
  const Trajectory back = readStructureFile(dir / "c.pdb");
  const Json ase = withoutTrailingEmpty(formatsReference("ase " + quoted(dir / "c.pdb") + " proteindatabank"));
  ASSERT_EQ(back.size(), some.size());
  ASSERT_EQ(ase.size(), some.size());
  for (std::size_t i = 0; i < some.size(); ++i) {
    ASSERT_TRUE(back[i].lattice);
    EXPECT_TRUE(back[i].isPeriodic());
    // Open Babel passes CRYST1 through its own cell matrix: parameters come back within ~3e-7.
    EXPECT_LT(maxAbsDiff(*back[i].lattice, matFromJson(ase[i]["cell"])), 1e-6) << i;
    EXPECT_LT(orderedDistance(back[i].numbers, back[i].positions, ase[i]["numbers"].get<std::vector<int>>(),
                              vecsFromJson(ase[i]["positions"])),
              1e-9)
        << i;
    // And close to what was written (CRYST1 prints lengths to 1e-3 A and angles to 0.01 degree).
    EXPECT_LT(periodicSetDistance(back[i].numbers, back[i].fractionalPositions(), some[i].numbers,
                                  some[i].fractionalPositions()),
              2e-3)
        << i;
  }
}

TEST(FormatsOpenBabel, BadFiles) {
  expectContains(errorOf([] { readOpenBabelString("", "sdf", "empty.sdf"); }), {"empty.sdf", "read no sdf molecule"});
  expectContains(errorOf([] { readOpenBabelString("garbage\nnot a molfile\n", "sdf", "g.sdf"); }), {"g.sdf", "no sdf molecule"});
  // Files Open Babel writes for a QM9 molecule, then damaged.
  const Trajectory one = {sharedMolecules()[3]};
  const std::string sdf = toOpenBabel(one, "sdf");
  ASSERT_EQ(readOpenBabelString(sdf, "sdf").at(0).size(), one[0].size());
  // Truncated: cut after the counts line and two atom lines.
  std::size_t cut = 0;
  for (int line = 0; line < 6; ++line) cut = sdf.find('\n', cut) + 1;
  expectContains(errorOf([&] { readOpenBabelString(sdf.substr(0, cut), "sdf", "cut.sdf"); }), {"cut.sdf"});
  // Unknown element in a PDB.
  const std::string pdb = "HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\n"
                          "HETATM    2 XX   UNK A   2       1.000   0.000   0.000  1.00  0.00          Xx\nEND\n";
  expectContains(errorOf([&] { readOpenBabelString(pdb, "pdb", "el.pdb"); }), {"el.pdb: molecule 1: atom 2", "no known element"});
  // Absurd and non-finite coordinates in MOL2 (Open Babel parses numbers with atof).
  const std::string mol2 = toOpenBabel(one, "mol2");
  const std::size_t atoms = mol2.find("@<TRIPOS>ATOM");
  ASSERT_NE(atoms, std::string::npos);
  const std::size_t firstAtom = mol2.find('\n', atoms) + 1;
  // The first atom line: "      1 C  x y z ..." -> replace its x.
  const auto tokenStart = [&](int k) {
    std::size_t p = firstAtom;
    for (int t = 0; t <= k; ++t) {
      p = mol2.find_first_not_of(' ', p);
      if (t < k) p = mol2.find(' ', p);
    }
    return p;
  };
  const std::size_t x = tokenStart(2), xEnd = mol2.find(' ', tokenStart(2));
  for (const char* bad : {"1e300", "nan"}) {
    const std::string damaged = mol2.substr(0, x) + bad + mol2.substr(xEnd);
    expectContains(errorOf([&] { readOpenBabelString(damaged, "mol2", "far.mol2"); }), {"far.mol2: molecule 1: atom 1"});
  }
  expectContains(errorOf([] { readOpenBabelString("x", "xyz", "a.xyz"); }), {"pdb, sdf (mol) and mol2"});
}

#endif  // ATOMSCOPE_HAS_CHEM_TOOLKITS
