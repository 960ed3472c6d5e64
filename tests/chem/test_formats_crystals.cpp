// CIF (gemmi) and CDVAE CSV conformance: every shared crystal CSV against pymatgen and ASE, the
// symmetrised CIFs pymatgen writes for the same rows, our CIF writer read back by both, partial
// occupancy, and bad files.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "atomscope/chem/cdvae_csv.h"
#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/cif.h"
#include "atomscope/chem/formats.h"
#include "formats_test_util.h"

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS

using namespace atomscope::chem;
using namespace atomscope::chem::testing;
using atomscope::Json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kRowsPerFile = 20;  // sampled evenly from each CSV to keep the test fast
constexpr double kTol = 1e-6;              // Angstrom, degrees, or fractional units (the brief's 1e-6)

std::vector<fs::path> crystalCsvs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(sharedData("crystals")))
    if (e.path().extension() == ".csv") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Ours against ASE's reading of the same CIF: Cartesian cell entry by entry (same orientation
// convention), sites as sets modulo the lattice, Cartesian residual.
void expectSameAsAse(const Structure& ours, const Json& ase, const std::string& what) {
  ASSERT_TRUE(ours.lattice) << what;
  const Mat3 aseCell = matFromJson(ase["cell"]);
  EXPECT_LT(maxAbsDiff(*ours.lattice, aseCell), kTol) << what << ": cell differs from ASE's";
  const std::vector<int> aseNumbers = ase["numbers"].get<std::vector<int>>();
  const double d = periodicSetDistance(ours.numbers, ours.fractionalPositions(), aseNumbers,
                                       toFractional(vecsFromJson(ase["positions"]), aseCell), &*ours.lattice);
  EXPECT_LT(d, kTol) << what << ": sites differ from ASE's (largest residual " << d << " A)";
}

// Ours against pymatgen: pymatgen orients the same cell differently (c along z), so compare the
// cell parameters and the fractional coordinates (as sets modulo 1). When pymatgen's CifParser
// warns that it rounded coordinates (it moves any within a relative 1e-4 of 1/3 or 2/3 onto that
// fraction; ASE and we keep the file's number), those atoms may differ by up to 1e-4 * 2/3 before
// symmetry and twice that after an operation such as x-y: 2e-4 is allowed then, 1e-6 otherwise.
constexpr double kPymatgenRoundingTol = 2e-4;

void expectSameAsPymatgen(const Structure& ours, const Json& pm, const std::string& what, bool pymatgenRounded = false) {
  ASSERT_TRUE(ours.lattice) << what;
  const CellParameters p = cellParameters(*ours.lattice);
  const std::vector<double> abc = pm["abc"].get<std::vector<double>>();
  const std::vector<double> angles = pm["angles"].get<std::vector<double>>();
  EXPECT_NEAR(p.a, abc[0], kTol) << what;
  EXPECT_NEAR(p.b, abc[1], kTol) << what;
  EXPECT_NEAR(p.c, abc[2], kTol) << what;
  EXPECT_NEAR(p.alpha, angles[0], kTol) << what;
  EXPECT_NEAR(p.beta, angles[1], kTol) << what;
  EXPECT_NEAR(p.gamma, angles[2], kTol) << what;
  const double d = periodicSetDistance(ours.numbers, ours.fractionalPositions(), pm["numbers"].get<std::vector<int>>(),
                                       vecsFromJson(pm["frac"]));
  EXPECT_LT(d, pymatgenRounded ? kPymatgenRoundingTol : kTol)
      << what << ": fractional sites differ from pymatgen's (largest residual " << d << ")";
}

}  // namespace

// Every shared crystal CSV: our CSV + CIF reading equals ASE's and pymatgen's for 20 rows each,
// the other columns equal what Python's csv module reads, and the symmetrised CIF pymatgen writes
// for each row (real space groups, explicit operations) expands to the same structure in all three.
TEST(FormatsCrystals, EverySharedCsvMatchesPymatgenAndAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen");
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const auto files = crystalCsvs();
  ASSERT_EQ(files.size(), 7u) << "shared/data/crystals should hold 7 CSV files (README.md there)";
  std::size_t rowsChecked = 0, symmetricRows = 0, roundedRows = 0;
  // One Python run for all files (importing pymatgen takes seconds).
  std::vector<Trajectory> allFrames;
  std::vector<std::vector<std::size_t>> allRows;
  std::string args = "crystals";
  for (const fs::path& csv : files) {
    allFrames.push_back(readStructureFile(csv));
    allRows.push_back(sampleRows(allFrames.back().size(), kRowsPerFile));
    args += " " + quoted(csv) + " " + joinRows(allRows.back());
  }
  const Json refs = formatsReference(args);
  ASSERT_EQ(refs.size(), files.size());
  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    const fs::path& csv = files[fi];
    const Trajectory& frames = allFrames[fi];
    const std::vector<std::size_t>& rows = allRows[fi];
    const Json& ref = refs[fi];
    ASSERT_EQ(ref.size(), rows.size()) << csv;
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const Structure& s = frames[rows[k]];
      const std::string what = csv.filename().string() + " row " + std::to_string(rows[k]);
      ASSERT_EQ(ref[k]["row"].get<std::size_t>(), rows[k]);
      expectSameAsAse(s, ref[k]["ase"], what);
      expectSameAsPymatgen(s, ref[k]["pymatgen"], what, ref[k]["pymatgen_rounded"].get<bool>());
      if (ref[k]["pymatgen_rounded"].get<bool>()) ++roundedRows;
      EXPECT_EQ(s.pbc, (std::array<bool, 3>{true, true, true})) << what;
      // Columns: as Python's csv module reads them (numbers compared as Python's float()).
      for (const auto& [key, value] : ref[k]["columns"].items()) {
        const std::string name = key.empty() ? "index" : key;
        const std::string text = value.get<std::string>();
        ASSERT_TRUE(s.info.contains(name)) << what << ": column " << name;
        if (s.info[name].is_number())
          EXPECT_EQ(s.info[name].get<double>(), std::stod(text)) << what << ": column " << name;
        else
          EXPECT_EQ(s.info[name].get<std::string>(), text) << what << ": column " << name;
      }
      // The symmetrised CIF of the same crystal.
      const Trajectory sym = readCifString(ref[k]["sym_cif"].get<std::string>(), what + " (symmetrised)");
      ASSERT_EQ(sym.size(), 1u);
      expectSameAsAse(sym[0], ref[k]["sym_ase"], what + " (symmetrised)");
      expectSameAsPymatgen(sym[0], ref[k]["sym_pymatgen"], what + " (symmetrised)",
                           ref[k]["sym_pymatgen_rounded"].get<bool>());
      if (ref[k]["sym_cif"].get<std::string>().find("'x, y, z'\n  2 ") != std::string::npos) ++symmetricRows;
      ++rowsChecked;
    }
  }
  EXPECT_EQ(rowsChecked, 7 * kRowsPerFile);
  EXPECT_GT(symmetricRows, 50u) << "most sampled rows should have a space group beyond P1";
  // Only a few rows carry coordinates pymatgen rounds; most are checked at 1e-6 against pymatgen too.
  EXPECT_LT(roundedRows, rowsChecked / 4) << roundedRows << " of " << rowsChecked << " rows rounded by pymatgen";
  std::cout << "[ info ] " << rowsChecked << " rows checked, " << symmetricRows << " with space groups beyond P1, "
            << roundedRows << " rounded by pymatgen\n";
}

// Our P1 CIF writer: ASE and pymatgen read every block back to the structures we wrote.
TEST(FormatsCrystals, OurCifReadsBackInAsePymatgenAndUs) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen");
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  atomscope::test::ScopedTempDir dir("chem_cif_write");
  Trajectory written;
  for (const fs::path& csv : crystalCsvs()) {
    const Trajectory frames = readStructureFile(csv);
    for (std::size_t r : sampleRows(frames.size(), 4)) written.push_back(frames[r]);
  }
  const fs::path file = dir / "many.cif";
  writeStructureFile(file, written);
  const Json ase = formatsReference("ase " + quoted(file) + " cif");
  const Json pm = formatsReference("pymatgen " + quoted(file));
  const Trajectory back = readStructureFile(file);
  ASSERT_EQ(ase.size(), written.size());
  ASSERT_EQ(pm.size(), written.size());
  ASSERT_EQ(back.size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) {
    const std::string what = "block " + std::to_string(i);
    expectSameAsAse(written[i], ase[i], what);
    expectSameAsPymatgen(written[i], pm[i], what);
    ASSERT_TRUE(back[i].lattice);
    EXPECT_LT(maxAbsDiff(*back[i].lattice, *written[i].lattice), 1e-9) << what;
    EXPECT_LT(periodicSetDistance(back[i].numbers, back[i].fractionalPositions(), written[i].numbers,
                                  written[i].fractionalPositions(), &*written[i].lattice),
              1e-9)
        << what;
  }
}

// Partial occupancy: Na and K sharing the cation site of rock salt (Fm-3m, 4 + 4 cation images, 4 Cl).
// pymatgen reads 8 sites, 4 with {Na: 0.5, K: 0.5}; we keep one atom per species and site (12) with
// occupancies, and say so in info.
TEST(FormatsCrystals, PartialOccupancyIsReported) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen");
  const std::string cif = R"(data_NaKCl2
_symmetry_space_group_name_H-M   'F m -3 m'
_symmetry_Int_Tables_number   225
_cell_length_a   5.64
_cell_length_b   5.64
_cell_length_c   5.64
_cell_angle_alpha   90
_cell_angle_beta   90
_cell_angle_gamma   90
loop_
 _atom_site_label
 _atom_site_type_symbol
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
 Na1 Na 0 0 0 0.5
 K1 K 0 0 0 0.5
 Cl1 Cl 0.5 0.5 0.5 1
)";
  atomscope::test::ScopedTempDir dir("chem_cif_occ");
  writeText(dir / "occ.cif", cif);
  const Trajectory t = readStructureFile(dir / "occ.cif");
  ASSERT_EQ(t.size(), 1u);
  const Structure& s = t[0];
  const Json pm = formatsReference("pymatgen " + quoted(dir / "occ.cif"));
  ASSERT_EQ(pm.size(), 1u);
  std::vector<double> pmOcc;
  for (const Json& site : pm[0]["occupancies"])
    for (const Json& v : site) pmOcc.push_back(v.get<double>());
  ASSERT_EQ(s.size(), pmOcc.size()) << "one atom per species on each of pymatgen's sites";
  const AtomProperty* occ = s.atomProperty("occupancy");
  ASSERT_NE(occ, nullptr);
  std::vector<double> ours = occ->values;
  std::sort(ours.begin(), ours.end());
  std::sort(pmOcc.begin(), pmOcc.end());
  for (std::size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], pmOcc[i], 1e-12);
  EXPECT_EQ(s.info.value("partial_occupancy", false), true);
  ASSERT_TRUE(s.info.contains("warnings"));
  EXPECT_NE(s.info["warnings"][0].get<std::string>().find("partially occupied"), std::string::npos);
  EXPECT_EQ(s.formula(), "Cl4K4Na4");  // 4 Cl (Fm-3m 4b), 4 Na and 4 K on 4a
}

// Operations given by the H-M symbol only (no _symmetry_equiv_pos_as_xyz), and decimal translations.
TEST(FormatsCrystals, SymmetryFromSymbolAndDecimalOperations) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const std::string cif = R"(data_rocksalt
_symmetry_space_group_name_H-M   'F m -3 m'
_cell_length_a   5.64
_cell_length_b   5.64
_cell_length_c   5.64
_cell_angle_alpha   90
_cell_angle_beta   90
_cell_angle_gamma   90
loop_
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 Na1 0 0 0
 Cl1 0.5 0.5 0.5
)";
  atomscope::test::ScopedTempDir dir("chem_cif_hm");
  writeText(dir / "nacl.cif", cif);
  const Structure s = readStructureFile(dir / "nacl.cif").at(0);
  EXPECT_EQ(s.formula(), "Cl4Na4");
  expectSameAsAse(s, formatsReference("ase " + quoted(dir / "nacl.cif") + " cif").at(0), "rock salt from its symbol");

  // Only the International Tables number: gemmi's reference setting of 225 (F m -3 m) gives the same.
  const std::string numbered = replaced(cif, "_symmetry_space_group_name_H-M   'F m -3 m'", "_symmetry_Int_Tables_number 225");
  const Structure n = readCifString(numbered, "225.cif").at(0);
  EXPECT_LT(periodicSetDistance(n.numbers, n.fractionalPositions(), s.numbers, s.fractionalPositions()), 1e-12);
  // Only the Hall symbol of F m -3 m.
  const std::string hall = replaced(cif, "_symmetry_space_group_name_H-M   'F m -3 m'", "_symmetry_space_group_name_Hall '-F 4 2 3'");
  const Structure h = readCifString(hall, "hall.cif").at(0);
  EXPECT_LT(periodicSetDistance(h.numbers, h.fractionalPositions(), s.numbers, s.fractionalPositions()), 1e-12);

  // P2_1/c written with decimal translations (some programs do): same as with fractions.
  const std::string head = "data_x\n_cell_length_a 5\n_cell_length_b 6\n_cell_length_c 7\n_cell_angle_alpha 90\n"
                           "_cell_angle_beta 100\n_cell_angle_gamma 90\nloop_\n_symmetry_equiv_pos_as_xyz\n";
  const std::string atoms = "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nC1 0.1 0.2 0.3\n";
  const Structure a = readCifString(head + "'x,y,z'\n'-x,y+1/2,-z+1/2'\n'-x,-y,-z'\n'x,-y+1/2,z+1/2'\n" + atoms).at(0);
  const Structure b = readCifString(head + "'x,y,z'\n'-x,y+0.5,-z+0.5'\n'-x,-y,-z'\n'x,-y+0.5,z+0.5'\n" + atoms).at(0);
  EXPECT_EQ(a.size(), 4u);  // general position of P2_1/c: multiplicity 4
  EXPECT_LT(periodicSetDistance(a.numbers, a.fractionalPositions(), b.numbers, b.fractionalPositions()), 1e-12);
}

namespace {

const std::string kGoodCif = R"(data_NaCl
_cell_length_a   5.64
_cell_length_b   5.64
_cell_length_c   5.64
_cell_angle_alpha   90
_cell_angle_beta   90
_cell_angle_gamma   90
loop_
 _atom_site_label
 _atom_site_type_symbol
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 Na1 Na 0 0 0
 Cl1 Cl 0.5 0.5 0.5
)";

}  // namespace

TEST(FormatsCrystals, BadCifFilesNameTheLine) {
  ASSERT_EQ(readCifString(kGoodCif, "good.cif").at(0).size(), 2u);
  // Truncated inside the atom loop: gemmi's loop check.
  expectContains(errorOf([&] { readCifString(kGoodCif.substr(0, kGoodCif.size() - 10), "cut.cif"); }),
                 {"cut.cif:", "CIF syntax"});
  // Unterminated quote on line 2.
  expectContains(errorOf([&] { readCifString(replaced(kGoodCif, "5.64\n", "'5.64\n"), "q.cif"); }), {"q.cif:2:", "unterminated"});
  // Unknown element, reported on the atom loop's line (8).
  expectContains(errorOf([&] { readCifString(replaced(kGoodCif, "Cl1 Cl", "Xx1 Xx"), "el.cif"); }),
                 {"el.cif:8:", "unknown element", "'Xx'"});
  // Missing coordinate (?), NaN-like.
  expectContains(errorOf([&] { readCifString(replaced(kGoodCif, "0.5 0.5 0.5", "? 0.5 0.5"), "nan.cif"); }),
                 {"nan.cif:8:", "Cl1", "missing or not a number"});
  // Absurd numbers.
  expectContains(errorOf([&] { readCifString(replaced(kGoodCif, "_cell_length_a   5.64", "_cell_length_a   5e9"), "big.cif"); }),
                 {"big.cif:2:", "absurd"});
  expectContains(errorOf([&] { readCifString(replaced(kGoodCif, "0.5 0.5 0.5", "1e300 0.5 0.5"), "far.cif"); }),
                 {"far.cif:8:", "absurd"});
  // Angles that close no cell.
  expectContains(errorOf([&] {
                   readCifString(replaced(replaced(kGoodCif, "_cell_angle_alpha   90", "_cell_angle_alpha   170"),
                                          "_cell_angle_beta   90", "_cell_angle_beta   170"),
                                 "ang.cif");
                 }),
                 {"ang.cif:2:", "do not form a cell"});
  // No atoms at all, and an empty file.
  expectContains(errorOf([&] { readCifString("data_x\n_cell_length_a 3\n", "none.cif"); }), {"none.cif:1:", "no data block"});
  expectContains(errorOf([&] { readCifString("", "empty.cif"); }), {"empty.cif"});
  // A symmetry operation that is not one, and one with an absurd number.
  const std::string withOps = replaced(kGoodCif, "loop_\n", "loop_\n_symmetry_equiv_pos_as_xyz\n'x,y,z'\n'x,x,z'\nloop_\n");
  expectContains(errorOf([&] { readCifString(withOps, "op.cif"); }), {"op.cif:8:", "not a crystallographic operation"});
  const std::string hugeOp = replaced(kGoodCif, "loop_\n", "loop_\n_symmetry_equiv_pos_as_xyz\n'x+99999999999/2,y,z'\nloop_\n");
  expectContains(errorOf([&] { readCifString(hugeOp, "hop.cif"); }), {"hop.cif:8:", "absurd"});
  // Unknown space group with no operations.
  expectContains(errorOf([&] { readCifString("data_x\n_symmetry_space_group_name_H-M 'Q 9'\n" + kGoodCif.substr(kGoodCif.find('\n') + 1), "sg.cif"); }),
                 {"sg.cif", "unknown H-M symbol"});
}

TEST(FormatsCrystals, BadCsvRowsNameTheFileLine) {
  const std::string header = ",material_id,cif,band_gap\n";
  const std::string row1 = "0,mp-1,\"" + kGoodCif + "\",1.5\n";
  const Trajectory ok = readCdvaeCsvString(header + row1 + row1, "ok.csv");
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].info["material_id"], "mp-1");
  EXPECT_EQ(ok[1].info["band_gap"], 1.5);
  EXPECT_EQ(ok[1].info["index"], 0);

  // The second row's CIF has an unknown element: the message gives the file line of its atom loop.
  const std::string bad = header + row1 + "1,mp-2,\"" + replaced(kGoodCif, "Cl1 Cl", "Xx1 Xx") + "\",2\n";
  const std::size_t rowStart = bad.find("1,mp-2");
  const std::size_t loopAt = bad.find("loop_", rowStart);
  const std::size_t expectedLine = 1 + std::count(bad.begin(), bad.begin() + static_cast<long>(loopAt), '\n');
  expectContains(errorOf([&] { readCdvaeCsvString(bad, "bad.csv"); }),
                 {("bad.csv:" + std::to_string(expectedLine) + ":").c_str(), "row 2", "mp-2", "unknown element"});
  // Truncated inside the quoted CIF.
  expectContains(errorOf([&] { readCdvaeCsvString((header + row1).substr(0, 60), "cut.csv"); }), {"cut.csv:2:", "closing quote"});
  // Wrong number of fields, no cif column, empty file.
  expectContains(errorOf([&] { readCdvaeCsvString(header + "0,mp-1\n", "n.csv"); }), {"n.csv:2:", "2 fields", "header has 4"});
  expectContains(errorOf([&] { readCdvaeCsvString(",material_id,formula\n0,a,b\n", "c.csv"); }), {"c.csv:1:", "no 'cif' column"});
  expectContains(errorOf([&] { readCdvaeCsvString("", "e.csv"); }), {"e.csv:1:", "empty"});
}

#endif  // ATOMSCOPE_HAS_CHEM_TOOLKITS
