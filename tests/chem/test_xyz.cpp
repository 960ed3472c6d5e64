// XYZ / extended XYZ reader and writer on the shared real data, checked against the file text and
// against ASE 3.22 (Debian's python3-ase) reading the same files.
#include <gtest/gtest.h>

#include "test_util.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "atomscope/chem/elements.h"
#include "atomscope/chem/error.h"
#include "atomscope/chem/xyz.h"
#include "chem_test_util.h"

namespace atomscope::chem {
namespace {

using testing::aseReference;
using testing::readText;
using testing::sharedData;
using testing::tempDir;
using testing::writeText;

// ---------------------------------------------------------------- counts and values from the file text

TEST(Xyz, Qm9FramesCountsAndValuesAsInTheFileText) {
  const Trajectory t = readXyz(sharedData("qm9/qm9_reduced_100.xyz"));
  ASSERT_EQ(t.size(), 100u);
  // Frame 0, from the file's first lines: methane, "C -0.01269814 1.08580416 0.00800100", U0=-40.47893.
  const Structure& m = t[0];
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m.formula(), "CH4");
  EXPECT_EQ(m.numbers[0], 6);
  EXPECT_DOUBLE_EQ(m.positions[0][0], -0.01269814);
  EXPECT_DOUBLE_EQ(m.positions[0][1], 1.08580416);
  EXPECT_DOUBLE_EQ(m.positions[0][2], 0.00800100);
  EXPECT_DOUBLE_EQ(m.info.at("U0").get<double>(), -40.47893);
  EXPECT_DOUBLE_EQ(m.info.at("<R2>").get<double>(), 35.3641);
  EXPECT_TRUE(m.info.at("mu").is_number_integer());  // "mu=0": an integer, as ASE reads it
  EXPECT_FALSE(m.lattice.has_value());
  EXPECT_EQ(m.pbc, (std::array<bool, 3>{false, false, false}));
  EXPECT_FALSE(m.info.contains("pbc"));
  EXPECT_FALSE(m.info.contains("Properties"));
}

TEST(Xyz, EthanolEnergiesAndForcesAsInTheFileText) {
  const Trajectory t = readXyz(sharedData("md_forces/rmd17_ethanol_reduced_100.xyz"));
  ASSERT_EQ(t.size(), 100u);
  for (const Structure& s : t) ASSERT_EQ(s.size(), 9u);
  const Structure& s = t[0];
  EXPECT_EQ(s.formula(), "C2H6O");
  // Line 2 and 3 of the file: energy=-97079.92222178938;
  // "H 0.16712676 -1.19985031 0.84958249 -32.31755688687498 3.563851157625127 -8.174049461946362".
  ASSERT_TRUE(s.energy().has_value());
  EXPECT_DOUBLE_EQ(*s.energy(), -97079.92222178938);
  EXPECT_EQ(s.energyKey().value(), "energy");
  const AtomProperty* f = s.forces();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->columns, 3);
  EXPECT_DOUBLE_EQ(f->at(0, 0), -32.31755688687498);
  EXPECT_DOUBLE_EQ(f->at(0, 1), 3.563851157625127);
  EXPECT_DOUBLE_EQ(f->at(0, 2), -8.174049461946362);
  EXPECT_EQ(s.numbers[0], 1);
  EXPECT_DOUBLE_EQ(s.positions[0][0], 0.16712676);
}

TEST(Xyz, RemoveAtomTakesItsRowOfEveryPerAtomArray) {
  // Ethanol frame 0 of the file: atom 0 is the H whose forces the test above reads; removing it leaves
  // atom 1's row first, and the structure still passes the reader's invariants.
  Structure s = readXyz(sharedData("md_forces/rmd17_ethanol_reduced_100.xyz")).front();
  const Structure before = s;
  s.removeAtom(0);
  EXPECT_EQ(s.size(), 8u);
  EXPECT_EQ(s.formula(), "C2H5O");
  EXPECT_NO_THROW(s.validate());
  EXPECT_EQ(s.numbers[0], before.numbers[1]);
  EXPECT_EQ(s.positions[0], before.positions[1]);
  ASSERT_NE(s.forces(), nullptr);
  EXPECT_EQ(s.forces()->atomCount(), 8u);
  for (int c = 0; c < 3; ++c) EXPECT_DOUBLE_EQ(s.forces()->at(0, c), before.forces()->at(1, c));
  s.removeAtom(7);  // the last
  EXPECT_EQ(s.positions.back(), before.positions[7]);
  EXPECT_THROW(s.removeAtom(7), ChemError);
}

TEST(Xyz, PeriodicMlipFrameLatticeStressAndForcesAsInTheFileText) {
  const Trajectory t = readXyz(sharedData("md_forces/mlip_test.xyz"));
  ASSERT_EQ(t.size(), 1u);
  const Structure& s = t[0];
  ASSERT_EQ(s.size(), 114u);
  ASSERT_TRUE(s.lattice.has_value());
  // Lattice="14.656053852204064 0.0 0.0 7.152716897291043 12.83340508269681 0.0 7.3175087671203345 ..."
  EXPECT_DOUBLE_EQ((*s.lattice)[0][0], 14.656053852204064);
  EXPECT_DOUBLE_EQ((*s.lattice)[1][0], 7.152716897291043);
  EXPECT_DOUBLE_EQ((*s.lattice)[1][1], 12.83340508269681);
  EXPECT_DOUBLE_EQ((*s.lattice)[2][0], 7.3175087671203345);
  EXPECT_EQ(s.pbc, (std::array<bool, 3>{true, true, true}));
  EXPECT_TRUE(s.isPeriodic());
  EXPECT_DOUBLE_EQ(*s.energy(), -842.19986612);
  EXPECT_EQ(s.energyKey().value(), "dft_energy");
  const Json& stress = s.info.at("dft_stress");
  ASSERT_EQ(stress.size(), 6u);
  EXPECT_DOUBLE_EQ(stress[0].get<double>(), -0.002807895578799348);
  // First atom: "Zr 22.48182938 14.27491151 4.60630202 0.00000000 -0.62996178 0.95368699 0.82369577"
  EXPECT_EQ(s.numbers[0], 40);
  EXPECT_DOUBLE_EQ(s.positions[0][0], 22.48182938);
  const AtomProperty* mag = s.atomProperty("initial_magmoms");
  ASSERT_NE(mag, nullptr);
  EXPECT_EQ(mag->columns, 1);
  const AtomProperty* f = s.forces();
  ASSERT_NE(f, nullptr);
  EXPECT_DOUBLE_EQ(f->at(0, 0), -0.62996178);
  EXPECT_DOUBLE_EQ(f->at(0, 2), 0.82369577);
  EXPECT_GT(s.cellVolume(), 0.0);
}

TEST(Xyz, ThreeBpaJsonValuesAndNonPeriodicLattice) {
  const Trajectory t = readXyz(sharedData("md_forces/3bpa_train_300K.xyz"));
  ASSERT_EQ(t.size(), 500u);
  const Structure& s = t[0];
  // Line 2: Lattice="50.0 0.0 ..." ... dihedrals="_JSON [209.44, 80.54, 59.96]" pbc="F F F"
  ASSERT_TRUE(s.lattice.has_value());
  EXPECT_DOUBLE_EQ((*s.lattice)[2][2], 50.0);
  EXPECT_FALSE(s.isPeriodic());
  const Json& d = s.info.at("dihedrals");
  ASSERT_TRUE(d.is_array());
  ASSERT_EQ(d.size(), 3u);
  EXPECT_DOUBLE_EQ(d[0].get<double>(), 209.44);
  EXPECT_DOUBLE_EQ(*s.energy(), -17660.461737861464);
}

// ---------------------------------------------------------------- against ASE on every shared .xyz

void expectNear(double a, double b, const std::string& what) {
  // ASE's float() and std::from_chars are both correctly rounded: the doubles are identical.
  EXPECT_EQ(a, b) << what;
}

void compareWithAse(const Structure& s, const Json& ase, const std::string& where) {
  ASSERT_EQ(s.size(), ase["numbers"].size()) << where;
  for (std::size_t i = 0; i < s.size(); ++i) {
    ASSERT_EQ(s.numbers[i], ase["numbers"][i].get<int>()) << where << " atom " << i;
    for (int k = 0; k < 3; ++k)
      expectNear(s.positions[i][k], ase["positions"][i][k].get<double>(), where + " position");
  }
  for (int k = 0; k < 3; ++k) EXPECT_EQ(s.pbc[k], ase["pbc"][k].get<bool>()) << where;
  if (ase["cell"].is_null()) {
    EXPECT_FALSE(s.lattice.has_value()) << where;
  } else {
    ASSERT_TRUE(s.lattice.has_value()) << where;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) expectNear((*s.lattice)[r][c], ase["cell"][r][c].get<double>(), where + " cell");
  }
  // Every info value ASE has, with the same type class and value.
  EXPECT_EQ(s.info.size(), ase["info"].size()) << where << " info " << s.info.dump();
  for (const auto& [key, value] : ase["info"].items()) {
    ASSERT_TRUE(s.info.contains(key)) << where << " info key " << key;
    const Json& mine = s.info.at(key);
    if (value.is_number_integer()) {
      EXPECT_TRUE(mine.is_number_integer()) << where << " " << key;
      EXPECT_EQ(mine.get<long long>(), value.get<long long>()) << where << " " << key;
    } else if (value.is_number()) {
      expectNear(mine.get<double>(), value.get<double>(), where + " info " + key);
    } else if (value.is_array()) {
      ASSERT_TRUE(mine.is_array()) << where << " " << key;
      ASSERT_EQ(mine.size(), value.size()) << where << " " << key;
      for (std::size_t k = 0; k < value.size(); ++k) expectNear(mine[k].get<double>(), value[k].get<double>(), where + " " + key);
    } else {
      EXPECT_EQ(mine, value) << where << " " << key;
    }
  }
  // Every per-atom array ASE has.
  EXPECT_EQ(s.atomProperties.size(), ase["arrays"].size()) << where;
  for (const auto& [name, arr] : ase["arrays"].items()) {
    const AtomProperty* p = s.atomProperty(name);
    ASSERT_NE(p, nullptr) << where << " array " << name;
    ASSERT_EQ(p->atomCount(), s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (arr[i].is_array()) {
        ASSERT_EQ(static_cast<std::size_t>(p->columns), arr[i].size());
        for (int k = 0; k < p->columns; ++k) expectNear(p->at(i, k), arr[i][k].get<double>(), where + " " + name);
      } else {
        ASSERT_EQ(p->columns, 1);
        expectNear(p->at(i), arr[i].get<double>(), where + " " + name);
      }
    }
  }
}

TEST(Xyz, EverySharedFileReadsAsAseReadsIt) {
  const Json& ref = aseReference()["files"];
  ASSERT_EQ(ref.size(), 8u);
  for (const auto& [rel, rec] : ref.items()) {
    SCOPED_TRACE(rel);
    const Trajectory t = readXyz(sharedData(rel));
    ASSERT_EQ(t.size(), rec["frame_count"].get<std::size_t>());
    for (std::size_t f = 0; f < t.size(); ++f) ASSERT_EQ(t[f].size(), rec["atom_counts"][f].get<std::size_t>());
    for (const auto& [frame, ase] : rec["frames"].items())
      compareWithAse(t[std::stoul(frame)], ase, rel + " frame " + frame);
  }
}

// ---------------------------------------------------------------- round trips

void expectSameStructure(const Structure& a, const Structure& b, const std::string& where) {
  ASSERT_EQ(a.numbers, b.numbers) << where;
  ASSERT_EQ(a.positions, b.positions) << where;  // exact: the writer prints shortest round-trip doubles
  ASSERT_EQ(a.lattice.has_value(), b.lattice.has_value()) << where;
  if (a.lattice) EXPECT_EQ(*a.lattice, *b.lattice) << where;
  EXPECT_EQ(a.pbc, b.pbc) << where;
  EXPECT_EQ(a.info, b.info) << where;
  ASSERT_EQ(a.atomProperties.size(), b.atomProperties.size()) << where;
  for (const auto& [name, p] : a.atomProperties) {
    const AtomProperty* q = b.atomProperty(name);
    ASSERT_NE(q, nullptr) << where << " " << name;
    EXPECT_EQ(p.type, q->type) << where << " " << name;
    EXPECT_EQ(p.columns, q->columns) << where << " " << name;
    EXPECT_EQ(p.values, q->values) << where << " " << name;
    EXPECT_EQ(p.strings, q->strings) << where << " " << name;
  }
}

TEST(Xyz, EverySharedFileRoundTripsExactly) {
  const auto dir = tempDir("roundtrip");
  for (const auto& [rel, rec] : aseReference()["files"].items()) {
    SCOPED_TRACE(rel);
    const Trajectory t = readXyz(sharedData(rel));
    const auto out = dir / std::filesystem::path(rel).filename();
    writeXyz(out, t);
    const Trajectory back = readXyz(out);
    ASSERT_EQ(back.size(), t.size());
    for (std::size_t f = 0; f < t.size(); ++f) expectSameStructure(t[f], back[f], rel + " frame " + std::to_string(f));
  }
  atomscope::test::removeTree(dir);
}

TEST(Xyz, AllColumnTypesAndInfoKindsRoundTrip) {
  Structure s;
  s.addAtom(8, {0.0, 0.0, 0.119262});
  s.addAtom(1, {0.0, 0.763239, -0.477047});
  s.addAtom(1, {0.0, -0.763239, -0.477047});
  s.lattice = Mat3{Vec3{10, 0, 0}, Vec3{0.5, 9, 0}, Vec3{0.1, 0.2, 8}};
  s.pbc = {true, false, true};
  AtomProperty tags{AtomProperty::Type::Int, 1, {3, -7, 12}, {}};
  AtomProperty fixed{AtomProperty::Type::Bool, 3, {1, 0, 1, 0, 0, 0, 1, 1, 1}, {}};
  AtomProperty labels{AtomProperty::Type::String, 1, {}, {"ow", "hw1", "hw2"}};
  AtomProperty charges{AtomProperty::Type::Real, 1, {-0.834, 0.417, 0.417}, {}};
  s.atomProperties = {{"tags", tags}, {"fixed", fixed}, {"label", labels}, {"charge", charges}};
  s.info["energy"] = -76.4;
  s.info["step"] = 42;
  s.info["converged"] = true;
  s.info["name"] = "water molecule \"TIP3P\"";
  s.info["dipole"] = Json::array({0.0, 0.0, 1.85});
  s.info["flags"] = Json::array({true, false});
  s.info["meta"] = Json{{"code", "test"}, {"n", 3}};
  const std::string text = toExtXyz(s);
  const Trajectory back = readXyzString(text, "memory");
  ASSERT_EQ(back.size(), 1u);
  expectSameStructure(s, back[0], "in memory");
}

// ASE reads what we write: run Debian's python3 with ASE on our file (tests/chem/ase_read_back.py).
TEST(Xyz, AseReadsBackWhatWeWrite) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const auto dir = tempDir("ase");
  Trajectory frames = readXyz(sharedData("md_forces/mlip_train.xyz"));
  frames.resize(2);
  Trajectory more = readXyz(sharedData("md_forces/rmd17_ethanol_reduced_100.xyz"));
  frames.push_back(more[3]);
  Trajectory qm9 = readXyz(sharedData("qm9/qm9_reduced_100.xyz"));
  frames.push_back(qm9[17]);
  frames.back().info["comment"] = "QM9 molecule 18, written by atomscope";
  const auto file = dir / "written.xyz";
  writeXyz(file, frames);
  const auto json = dir / "ase.json";
  const std::string cmd = "/usr/bin/python3 " + std::string(ATOMSCOPE_SOURCE_DIR) +
                          "/tests/chem/ase_read_back.py " + file.string() + " > " + json.string() + " 2> " +
                          (dir / "ase.err").string();
  const int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << "ASE could not read our file (needs Debian's python3-ase): " << readText(dir / "ase.err");
  const Json ase = Json::parse(readText(json));
  ASSERT_EQ(ase.size(), frames.size());
  for (std::size_t f = 0; f < frames.size(); ++f) compareWithAse(frames[f], ase[f], "ASE read-back frame " + std::to_string(f));
  atomscope::test::removeTree(dir);
}

// The structure samples the app ships read cleanly and equal the shared files they were copied from.
TEST(Xyz, SamplesReadAndMatchTheirSources) {
  const std::string samples = std::string(ATOMSCOPE_SAMPLES_DIR) + "/structures/";
  const Trajectory qm9 = readXyz(samples + "qm9_first10.xyz");
  const Trajectory qm9Full = readXyz(sharedData("qm9/qm9_reduced_100.xyz"));
  ASSERT_EQ(qm9.size(), 10u);
  for (std::size_t f = 0; f < qm9.size(); ++f) {
    EXPECT_EQ(qm9[f].positions, qm9Full[f].positions);
    EXPECT_EQ(qm9[f].info, qm9Full[f].info);
  }
  EXPECT_EQ(readXyz(samples + "ethanol_rmd17_100frames.xyz").size(), 100u);
  EXPECT_EQ(readXyz(samples + "aspirin_md17_15frames.xyz").size(), 15u);
  const Trajectory mof = readXyz(samples + "zr_mof_periodic_mlip_test.xyz");
  ASSERT_EQ(mof.size(), 1u);
  EXPECT_TRUE(mof[0].isPeriodic());
  EXPECT_EQ(readText(samples + "zr_mof_periodic_mlip_test.xyz"), readText(sharedData("md_forces/mlip_test.xyz")));
}

// ---------------------------------------------------------------- conventions

TEST(Xyz, PlainXyzCaseInsensitiveSymbolsAndAtomicNumbers) {
  const std::string text =
      "3\n"
      "water, from a hand-written file\n"
      "o   0.0  0.0  0.1\n"
      "H   0.0  0.76 -0.48\n"
      "1   0.0 -0.76 -0.48\n"
      "\n"
      "2\n"
      "\n"
      "CL 0 0 0\n"
      "cl 0 0 2.0\n";
  const Trajectory t = readXyzString(text, "water.xyz");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].numbers, (std::vector<int>{8, 1, 1}));
  EXPECT_EQ(t[0].info.at("comment").get<std::string>(), "water, from a hand-written file");
  EXPECT_EQ(t[1].numbers, (std::vector<int>{17, 17}));
  EXPECT_EQ(t[1].formula(), "Cl2");
  EXPECT_TRUE(t[1].info.empty());
}

TEST(Xyz, CommentSyntaxAsAse) {
  // Quoted keys and values, escaped quotes, {} and [] delimiters, bare keys, T/F, arrays.
  const std::string text =
      "1\n"
      "Properties=species:S:1:pos:R:3 a=1 b=2.5 c=\"1 2 3\" d={4.5 5} e=[T F] flag s='hello world' "
      "q=\"say \\\"hi\\\"\" pbc=F  Lattice=\"3 0 0 0 3 0 0 0 3\"\n"
      "He 0 0 0\n";
  const Structure s = readXyzString(text, "syntax.xyz").at(0);
  EXPECT_EQ(s.info.at("a"), Json(1));
  EXPECT_EQ(s.info.at("b"), Json(2.5));
  EXPECT_EQ(s.info.at("c"), Json::array({1, 2, 3}));
  EXPECT_EQ(s.info.at("d"), Json::array({4.5, 5.0}));
  EXPECT_EQ(s.info.at("e"), Json::array({true, false}));
  EXPECT_EQ(s.info.at("flag"), Json(true));
  EXPECT_EQ(s.info.at("s"), Json("hello world"));
  EXPECT_EQ(s.info.at("q"), Json("say \"hi\""));
  EXPECT_EQ(s.pbc, (std::array<bool, 3>{false, false, false}));
  ASSERT_TRUE(s.lattice.has_value());
  EXPECT_EQ((*s.lattice)[1][1], 3.0);
}

TEST(Xyz, LatticeWithoutPbcMeansPeriodicAsAse) {
  const Structure s =
      readXyzString("1\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3\nNa 0 0 0\n", "x").at(0);
  EXPECT_EQ(s.pbc, (std::array<bool, 3>{true, true, true}));
}

TEST(Xyz, ZColumnGivesElements) {
  const Structure s = readXyzString("2\nProperties=Z:I:1:pos:R:3\n6 0 0 0\n8 0 0 1.2\n", "z.xyz").at(0);
  EXPECT_EQ(s.numbers, (std::vector<int>{6, 8}));
  EXPECT_EQ(s.formula(), "CO");
}

TEST(Xyz, EmptyFileHasNoFramesAndZeroAtomFrameIsAllowed) {
  EXPECT_TRUE(readXyzString("", "empty.xyz").empty());
  EXPECT_TRUE(readXyzString("\n\n  \n", "blank.xyz").empty());
  const Trajectory t = readXyzString("0\nnothing here\n", "zero.xyz");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_TRUE(t[0].empty());
}

// ---------------------------------------------------------------- bad inputs: errors naming file and line

// Writes `text` to a file in a temp dir, reads it, and returns the error message ("" if none).
std::string errorOf(const std::string& text, std::string* pathOut = nullptr) {
  static const auto dir = tempDir("bad");
  static int counter = 0;
  const auto path = dir / ("bad_" + std::to_string(counter++) + ".xyz");
  writeText(path, text);
  if (pathOut) *pathOut = path.string();
  try {
    readXyz(path);
  } catch (const ChemError& e) {
    return e.what();
  }
  return "";
}

void expectError(const std::string& text, int line, const std::string& fragment) {
  std::string path;
  const std::string msg = errorOf(text, &path);
  ASSERT_FALSE(msg.empty()) << "no error for:\n" << text;
  EXPECT_NE(msg.find(path + ":" + std::to_string(line) + ":"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
}

TEST(XyzErrors, TruncatedFiles) {
  expectError("3\ncomment\nC 0 0 0\nH 0 0 1\n", 5, "ends inside a frame: read 2 of 3");
  expectError("3\n", 1, "ends after the atom count");
  // Truncated in the middle of a line: a missing coordinate.
  expectError("2\nc\nC 0 0 0\nH 0 0\n", 4, "expected 4 columns");
  // A real file cut short: the first 10 lines of the ethanol file (2 + 8 of 9 atoms).
  std::string head;
  {
    const std::string full = readText(sharedData("md_forces/rmd17_ethanol_reduced_100.xyz"));
    std::size_t pos = 0;
    for (int k = 0; k < 10; ++k) pos = full.find('\n', pos) + 1;
    head = full.substr(0, pos);
  }
  expectError(head, 11, "read 8 of 9");
}

TEST(XyzErrors, WrongCounts) {
  // Count too small: the leftover atom line is taken for the next count.
  expectError("1\nc\nC 0 0 0\nH 0 0 1\n", 4, "expected the atom count");
  // Count too large, next frame follows: the next count line is not an atom line.
  expectError("3\nc\nC 0 0 0\nH 0 0 1\n2\nc\nH 0 0 0\nH 0 0 1\n", 5, "too large");
  expectError("-4\nc\n", 1, "negative");
  expectError("two\nc\n", 1, "expected the atom count");
  expectError("2.5\nc\n", 1, "expected the atom count");
  expectError("999999999999\nc\nH 0 0 0\n", 1, "above the limit");
}

TEST(XyzErrors, NonFiniteAndAbsurdNumbers) {
  expectError("2\nc\nC 0 0 0\nH nan 0 1\n", 4, "not finite");
  expectError("2\nc\nC 0 0 0\nH 0 -inf 1\n", 4, "not finite");
  expectError("1\nc\nC 1e300 0 0\n", 3, "beyond the limit");
  expectError("1\nc\nC 0x10 0 0\n", 3, "expected a number");
  expectError("1\nLattice=\"1 0 0 0 1 0 0 0 nan\"\nC 0 0 0\n", 2, "non-finite");
  expectError("1\nLattice=\"1 0 0 0 1 0 0 0\"\nC 0 0 0\n", 2, "9 numbers");
}

TEST(XyzErrors, UnknownElementsAndBadColumns) {
  expectError("2\nc\nC 0 0 0\nXx 0 0 1\n", 4, "unknown element 'Xx'");
  expectError("1\nc\n119 0 0 0\n", 3, "outside 1..118");
  expectError("1\nc\n0 0 0 0\n", 3, "outside 1..118");
  expectError("1\nProperties=species:S:1:pos:R:3:forces:R:3\nC 0 0 0 1 2\n", 3, "expected 7 columns");
  expectError("1\nProperties=species:S:1:pos:R:3:forces:R:3\nC 0 0 0 1 2 3 4\n", 3, "expected 7 columns");
  expectError("1\nProperties=species:S:1:pos:R:3:forces:R:3\nC 0 0 0 1 x 3\n", 3, "column 'forces'");
  expectError("1\nProperties=species:S:1:pos:X:3\nC 0 0 0\n", 2, "expected one of S, R, I, L");
  expectError("1\nProperties=species:S:1:pos:R\nC 0 0 0\n", 2, "triples");
  expectError("1\nProperties=species:S:1\nC\n", 2, "no 'pos' column");
  expectError("1\nProperties=species:S:1:pos:R:3:n:I:1\nC 0 0 0 1.5\n", 3, "expected an integer");
  expectError("1\nProperties=species:S:1:pos:R:3:m:L:1\nC 0 0 0 maybe\n", 3, "expected T or F");
  expectError("1\nenergy=1 note=\"unterminated\nC 0 0 0\n", 2, "unterminated");
  expectError("1\npbc=\"T T\"\nC 0 0 0\n", 2, "pbc");
}

TEST(XyzErrors, MissingFileAndBinaryGarbage) {
  try {
    readXyz("/nonexistent/dir/file.xyz");
    FAIL() << "no error";
  } catch (const ChemError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/file.xyz"), std::string::npos);
  }
  std::string garbage(256, '\0');
  for (int k = 0; k < 256; ++k) garbage[k] = static_cast<char>(k);
  EXPECT_NE(errorOf(garbage).find("NUL"), std::string::npos);
}

// Random corruptions of a real file: every outcome is a clean read or a ChemError naming the line.
TEST(XyzErrors, RandomCorruptionsNeverCrash) {
  const std::string original = readText(sharedData("md_forces/mlip_test.xyz")).substr(0, 6000);
  std::mt19937 rng(1234);
  const std::string alphabet = "0123456789 .-+eE\n\"=:TFnaifCHOZr\t";
  int errors = 0, reads = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text = original;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(at, 1 + rng() % 20); break;
        default: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    try {
      const Trajectory t = readXyzString(text, "fuzz.xyz");
      for (const Structure& s : t) s.validate();
      ++reads;
    } catch (const ChemError& e) {
      ++errors;
      ASSERT_EQ(std::string(e.what()).rfind("fuzz.xyz:", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(errors + reads, 3000);
}

}  // namespace
}  // namespace atomscope::chem
