// POSCAR/CONTCAR: our reader on files ASE writes, ASE reading our files, scale factors against
// pymatgen, VASP 4 files, and bad files.
#include <gtest/gtest.h>

#include <filesystem>

#include "atomscope/chem/formats.h"
#include "atomscope/chem/poscar.h"
#include "formats_test_util.h"

using namespace atomscope::chem;
using namespace atomscope::chem::testing;
using atomscope::Json;
namespace fs = std::filesystem;

namespace {

const char* kRocksaltPoscar = R"(NaCl rock salt, primitive cell
   2.0
   0.0   1.41  1.41
   1.41  0.0   1.41
   1.41  1.41  0.0
   Na Cl
   1 1
Direct
  0.0 0.0 0.0
  0.5 0.5 0.5
)";

}  // namespace

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
// POSCARs written by ASE (VASP 5, Direct and Cartesian, FixAtoms/FixScaled -> Selective dynamics)
// from real crystals: we read ASE's cell, positions (in order) and move mask.
TEST(FormatsPoscar, ReadsWhatAseWrites) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  atomscope::test::ScopedTempDir dir("chem_poscar_ase");
  for (const char* csv : {"crystals/mp_20_subset_test.csv", "crystals/carbon_24_val.csv", "crystals/perov_5_test.csv"}) {
    const Json ref = formatsReference("ase_poscars " + quoted(sharedData(csv)) + " 0,7,33 " + quoted(dir.path()));
    ASSERT_EQ(ref.size(), 3u);
    for (const Json& row : ref) {
      for (const char* variant : {"direct", "cartesian", "selective"}) {
        const fs::path file = row["files"][variant].get<std::string>();
        const std::string what = std::string(csv) + " " + file.filename().string();
        const Trajectory t = readStructureFile(file);  // by name: POSCAR_<row>_<variant>
        ASSERT_EQ(t.size(), 1u) << what;
        const Structure& s = t[0];
        const Json& ase = std::string(variant) == "selective" ? row["ase_selective"] : row["ase"];
        ASSERT_TRUE(s.lattice);
        EXPECT_LT(maxAbsDiff(*s.lattice, matFromJson(ase["cell"])), 1e-9) << what;
        const double d = orderedDistance(s.numbers, s.positions, ase["numbers"].get<std::vector<int>>(),
                                         vecsFromJson(ase["positions"]));
        EXPECT_LT(d, 1e-9) << what;  // ASE writes 16 decimals
        if (std::string(variant) == "selective") {
          const AtomProperty* mask = s.atomProperty("move_mask");
          ASSERT_NE(mask, nullptr) << what;
          EXPECT_EQ(mask->type, AtomProperty::Type::Bool);
          for (std::size_t i = 0; i < s.size(); ++i)
            for (int k = 0; k < 3; ++k)
              EXPECT_EQ(mask->at(i, k) != 0, ase["move_mask"][i][k].get<bool>()) << what << " atom " << i;
        } else {
          EXPECT_EQ(s.atomProperty("move_mask"), nullptr);
        }
      }
    }
  }
}

// Our POSCAR writer: ASE reads back the cell, positions in order and the selective-dynamics mask;
// our reader gives back the same structure.
TEST(FormatsPoscar, AseReadsOurPoscar) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  atomscope::test::ScopedTempDir dir("chem_poscar_ours");
  const Trajectory crystals = readStructureFile(sharedData("crystals/mp_20_subset_val.csv"));
  for (std::size_t r : sampleRows(crystals.size(), 6)) {
    Structure s = crystals[r];
    AtomProperty mask;
    mask.type = AtomProperty::Type::Bool;
    mask.columns = 3;
    for (std::size_t i = 0; i < s.size(); ++i)
      for (int k = 0; k < 3; ++k) mask.values.push_back(i % 2 == 0 ? 1.0 : (k == 1 ? 1.0 : 0.0));
    if (r % 2 == 1) s.atomProperties["move_mask"] = mask;
    const fs::path file = dir / ("POSCAR_" + std::to_string(r));
    writeStructureFile(file, {s});
    const Json ase = formatsReference("ase " + quoted(file)).at(0);
    const std::string what = "row " + std::to_string(r);
    EXPECT_LT(maxAbsDiff(*s.lattice, matFromJson(ase["cell"])), 1e-9) << what;
    EXPECT_LT(orderedDistance(s.numbers, s.positions, ase["numbers"].get<std::vector<int>>(), vecsFromJson(ase["positions"])),
              1e-9)
        << what;
    const Structure back = readPoscar(file);
    EXPECT_LT(orderedDistance(s.numbers, s.positions, back.numbers, back.positions), 1e-9) << what;
    if (r % 2 == 1) {
      ASSERT_TRUE(ase.contains("move_mask")) << what;
      for (std::size_t i = 0; i < s.size(); ++i)
        for (int k = 0; k < 3; ++k) {
          EXPECT_EQ(ase["move_mask"][i][k].get<bool>(), mask.at(i, k) != 0) << what;
          EXPECT_EQ(back.atomProperty("move_mask")->at(i, k), mask.at(i, k)) << what;
        }
    }
  }
}
#endif

// Scale factors: positive, negative (a volume) and Cartesian coordinates, against pymatgen's Poscar
// (ASE 3.22 does not read negative scale factors).
TEST(FormatsPoscar, ScaleFactorsAsPymatgen) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen");
  atomscope::test::ScopedTempDir dir("chem_poscar_scale");
  std::string negative = kRocksaltPoscar;
  negative.replace(negative.find("2.0"), 3, "-44.5");
  std::string cartesian = replaced(kRocksaltPoscar, "Direct\n  0.0 0.0 0.0\n  0.5 0.5 0.5",
                                   "Cartesian\n  0.0 0.0 0.0\n  1.41 1.41 1.41");
  const std::vector<std::string> texts = {kRocksaltPoscar, negative, cartesian};
  std::string args = "pymatgen_many";
  for (std::size_t k = 0; k < texts.size(); ++k) {
    writeText(dir / ("POSCAR_" + std::to_string(k)), texts[k]);
    args += " " + quoted(dir / ("POSCAR_" + std::to_string(k)));
  }
  const Json refs = formatsReference(args);
  ASSERT_EQ(refs.size(), texts.size());
  for (std::size_t k = 0; k < texts.size(); ++k) {
    const Structure s = readStructureFile(dir / ("POSCAR_" + std::to_string(k))).at(0);
    const Json& pm = refs[k].at(0);
    EXPECT_LT(maxAbsDiff(*s.lattice, matFromJson(pm["matrix"])), 1e-9) << texts[k];
    EXPECT_LT(orderedDistance(s.numbers, s.fractionalPositions(), pm["numbers"].get<std::vector<int>>(), vecsFromJson(pm["frac"])),
              1e-9)
        << texts[k];
  }
  // The negative factor is the volume: 44.5 A^3 exactly.
  EXPECT_NEAR(readPoscarString(negative).cellVolume(), 44.5, 1e-9);
  // Cartesian coordinates are scaled too (VASP wiki, POSCAR): Cl at 2 * 1.41 along each axis.
  EXPECT_NEAR(readPoscarString(cartesian).positions[1][0], 2.82, 1e-12);
}

// Three scale factors multiply the x, y and z components (VASP wiki, POSCAR: "three numbers ...
// scaling factors for the x, y, z"): expected lattice by hand from the file's numbers.
TEST(FormatsPoscar, ThreeScaleFactors) {
  const std::string text = replaced(kRocksaltPoscar, "   2.0\n", "   1.0 2.0 3.0\n");
  const Structure s = readPoscarString(text);
  EXPECT_DOUBLE_EQ((*s.lattice)[0][1], 1.41 * 2.0);
  EXPECT_DOUBLE_EQ((*s.lattice)[0][2], 1.41 * 3.0);
  EXPECT_DOUBLE_EQ((*s.lattice)[1][0], 1.41 * 1.0);
}

#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
// VASP 4: species from the comment line as ASE does; without them, the reader says what to give.
TEST(FormatsPoscar, Vasp4Species) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  atomscope::test::ScopedTempDir dir("chem_poscar_v4");
  std::string v4 = replaced(kRocksaltPoscar, "   Na Cl\n", "");
  v4 = replaced(v4, "NaCl rock salt, primitive cell", "Na Cl");
  writeText(dir / "POSCAR", v4);
  const Structure s = readStructureFile(dir / "POSCAR").at(0);
  const Json ase = formatsReference("ase " + quoted(dir / "POSCAR")).at(0);
  EXPECT_EQ(s.numbers, ase["numbers"].get<std::vector<int>>());
  EXPECT_LT(orderedDistance(s.numbers, s.positions, ase["numbers"].get<std::vector<int>>(), vecsFromJson(ase["positions"])), 1e-12);
}
#endif

TEST(FormatsPoscar, Vasp4WithoutSpeciesNeedsThem) {
  std::string v4 = replaced(kRocksaltPoscar, "   Na Cl\n", "");
  expectContains(errorOf([&] { readPoscarString(v4, "v4"); }), {"v4:6:", "VASP 4", "species"});
  PoscarReadOptions o;
  o.species = {"K", "Br"};
  EXPECT_EQ(readPoscarString(v4, "v4", o).formula(), "BrK");
  o.species = {"K"};
  expectContains(errorOf([&] { readPoscarString(v4, "v4", o); }), {"v4:6:", "2 atom counts but 1 species"});
}

TEST(FormatsPoscar, BadFilesNameTheLine) {
  const std::string good = kRocksaltPoscar;
  ASSERT_EQ(readPoscarString(good).size(), 2u);
  // Truncated in the atom lines, after the counts, and empty.
  expectContains(errorOf([&] { readPoscarString(good.substr(0, good.size() - 14), "cut"); }), {"cut:10:", "2 atom"});
  expectContains(errorOf([&] { readPoscarString(good.substr(0, good.find("Direct")), "cut2"); }), {"cut2:8:", "Direct"});
  expectContains(errorOf([&] { readPoscarString("", "empty"); }), {"empty:1:", "comment"});
  // Wrong counts: three atoms announced, two given.
  expectContains(errorOf([&] { readPoscarString(replaced(good, "   1 1\n", "   1 2\n"), "count"); }), {"count:11:", "2 of 3"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "   1 1\n", "   1\n"), "few"); }), {"few:", "2 elements but 1 counts"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "   1 1\n", "   1 -1\n"), "neg"); }), {"neg:7:", "negative"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "   1 1\n", "   0 0\n"), "zero"); }), {"zero:7:", "zero"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "   1 1\n", "   1 99999999999999\n"), "huge"); }),
                 {"huge:7:", "limit"});
  // NaN, absurd numbers, unknown element, singular lattice, bad mode and flags.
  expectContains(errorOf([&] { readPoscarString(replaced(good, "0.5 0.5 0.5", "nan 0.5 0.5"), "nan"); }), {"nan:10:", "not finite"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "0.5 0.5 0.5", "1e300 0.5 0.5"), "big"); }), {"big:10:", "absurd"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "0.5 0.5 0.5", "0.5 abc 0.5"), "word"); }),
                 {"word:10:", "'abc' is not a number"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "Na Cl", "Na Qq"), "el"); }), {"el:6:", "unknown element", "'Qq'"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "   1.41  1.41  0.0\n", "   1.41  1.41  2.82\n"), "sing"); }),
                 {"sing:5:", "linearly dependent"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "   2.0\n", "   0\n"), "s0"); }), {"s0:2:", "zero"});
  expectContains(errorOf([&] { readPoscarString(replaced(good, "Direct", "Fractional"), "mode"); }), {"mode:8:", "Direct or Cartesian"});
  const std::string sel = replaced(replaced(good, "Direct\n", "Selective dynamics\nDirect\n"), "0.5 0.5 0.5", "0.5 0.5 0.5 T T X");
  expectContains(errorOf([&] { readPoscarString(replaced(sel, "0.0 0.0 0.0\n", "0.0 0.0 0.0 T T T\n"), "flag"); }),
                 {"flag:11:", "'X' is not T or F"});
  expectContains(errorOf([&] { readPoscarString(sel, "noflag"); }), {"noflag:10:", "3 T/F flags"});
}

// Found by fuzz_poscar: numbers wider than the print width ran into each other. The reader's
// limit is 1e6 A; here a coordinate of 2e5 A in a 0.5 A cell (fractional 4e5) must read back.
TEST(FormatsPoscar, WideNumbersStaySeparated) {
  Structure s;
  s.lattice = Mat3{Vec3{0.5, 0, 0}, Vec3{0, 0.5, 0}, Vec3{0, 0, 0.5}};
  s.pbc = {true, true, true};
  s.addAtom(13, {2.0e5, -1.0e5, 0.25});
  const Structure back = readPoscarString(toPoscar(s));
  ASSERT_EQ(back.size(), 1u);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(back.positions[0][k], s.positions[0][k], 1e-9);
}

TEST(FormatsPoscar, NamesAndWriting) {
  EXPECT_EQ(formatForPath("relax/CONTCAR"), "poscar");
  EXPECT_EQ(formatForPath("POSCAR_relaxed"), "poscar");
  EXPECT_EQ(formatForPath("si.vasp"), "poscar");
  EXPECT_EQ(formatForPath("contcar.final"), "poscar");
  atomscope::test::ScopedTempDir dir("chem_poscar_names");
  const Structure s = readPoscarString(kRocksaltPoscar);
  writeStructureFile(dir / "CONTCAR", {s});
  EXPECT_EQ(readStructureFile(dir / "CONTCAR").at(0).formula(), "ClNa");
  expectContains(errorOf([&] { writeStructureFile(dir / "POSCAR", {s, s}); }), {"POSCAR", "holds one structure", "2 were given"});
  Structure molecule;
  molecule.addAtom(8, {0, 0, 0});
  expectContains(errorOf([&] { writeStructureFile(dir / "POSCAR", {molecule}); }), {"POSCAR", "needs a lattice"});
}
