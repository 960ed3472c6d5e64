// The format registry: what this build offers, names and extensions, the Qt file-dialog filters,
// and errors for unknown or unsupported formats.
#include <gtest/gtest.h>

#include <algorithm>

#include "atomscope/chem/formats.h"
#include "atomscope/chem/toolkits.h"
#include "atomscope/chem/xyz.h"
#include "formats_test_util.h"

using namespace atomscope::chem;
using namespace atomscope::chem::testing;

namespace {

const StructureFormat* find(const std::vector<StructureFormat>& formats, const std::string& name) {
  for (const StructureFormat& f : formats)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

TEST(FormatsRegistry, WhatThisBuildOffers) {
  const auto formats = structureFormats();
  ASSERT_FALSE(formats.empty());
  EXPECT_EQ(formats.front().name, "xyz");
  // Toolkit-free: our own XYZ and POSCAR readers and writers, and the CIF writer.
  for (const char* name : {"xyz", "poscar"}) {
    const StructureFormat* f = find(formats, name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_TRUE(f->canRead && f->canWrite && !f->needsToolkits) << name;
  }
  const StructureFormat* cif = find(formats, "cif");
  ASSERT_NE(cif, nullptr);
  EXPECT_TRUE(cif->canWrite);
  EXPECT_EQ(cif->canRead, hasToolkits());
  for (const char* name : {"pdb", "sdf", "mol2", "csv", "smiles"}) EXPECT_EQ(find(formats, name) != nullptr, hasToolkits()) << name;
  if (hasToolkits()) {
    EXPECT_FALSE(find(formats, "csv")->canWrite);
    EXPECT_FALSE(find(formats, "smiles")->canWrite);
    EXPECT_TRUE(find(formats, "sdf")->needsToolkits);
  }
}

TEST(FormatsRegistry, FormatFromTheName) {
  EXPECT_EQ(formatForPath("a/b/traj.XYZ"), "xyz");
  EXPECT_EQ(formatForPath("data.extxyz"), "xyz");
  EXPECT_EQ(formatForPath("x.cif"), "cif");
  EXPECT_EQ(formatForPath("CONTCAR"), "poscar");
  EXPECT_EQ(formatForPath("x.mol"), "sdf");
  EXPECT_EQ(formatForPath("x.sdf"), "sdf");
  EXPECT_EQ(formatForPath("x.mol2"), "mol2");
  EXPECT_EQ(formatForPath("1abc.pdb"), "pdb");
  EXPECT_EQ(formatForPath("mp_20.csv"), "csv");
  EXPECT_EQ(formatForPath("zinc.smi"), "smiles");
  EXPECT_EQ(formatForPath("notes.txt"), "");
  EXPECT_EQ(formatForPath("poscar_relaxed.xyz"), "xyz");  // a known extension beats the VASP name
  EXPECT_EQ(formatForPath("CONTCAR.relax"), "poscar");
}

// Qt's QFileDialog syntax: "Description (*.a *.b);;..." with an "All files (*)" entry last.
TEST(FormatsRegistry, FileDialogFilters) {
  const std::string open = fileDialogFilter(false);
  const std::string save = fileDialogFilter(true);
  EXPECT_EQ(open.rfind("Structures (*.xyz *.extxyz ", 0), 0u) << open;
  EXPECT_NE(open.find(";;VASP POSCAR / CONTCAR (*.vasp *.poscar POSCAR* CONTCAR*)"), std::string::npos) << open;
  EXPECT_EQ(open.substr(open.size() - 15), ";;All files (*)") << open;
  EXPECT_NE(save.find(";;XYZ / extended XYZ (*.xyz *.extxyz)"), std::string::npos) << save;
  EXPECT_NE(save.find("*.cif"), std::string::npos) << save;
  EXPECT_EQ(save.find("*.csv"), std::string::npos) << save;
  EXPECT_EQ(save.find("*.smi"), std::string::npos) << save;
  EXPECT_EQ(open.find("*.csv") != std::string::npos, hasToolkits()) << open;
  // Every entry has one pair of parentheses, at its end.
  std::size_t start = 0;
  while (start < open.size()) {
    const std::size_t end = std::min(open.find(";;", start), open.size());
    const std::string entry = open.substr(start, end - start);
    EXPECT_EQ(std::count(entry.begin(), entry.end(), '('), 1) << entry;
    EXPECT_EQ(entry.back(), ')') << entry;
    start = end + 2;
  }
}

TEST(FormatsRegistry, UnknownOrUnsupportedFormats) {
  atomscope::test::ScopedTempDir dir("chem_registry");
  Structure water;
  water.addAtom(8, {0, 0, 0.1173});
  water.addAtom(1, {0, 0.7572, -0.4692});
  water.addAtom(1, {0, -0.7572, -0.4692});
  expectContains(errorOf([&] { writeStructureFile(dir / "w.unknown", {water}); }), {"w.unknown", "cannot tell the format"});
  expectContains(errorOf([&] { writeStructureFile(dir / "w.xyz", {water}, "bogus"); }), {"unknown format 'bogus'"});
  expectContains(errorOf([&] { readStructureFile(dir / "missing.xyz"); }), {"missing.xyz", "cannot open"});
  expectContains(errorOf([&] { writeStructureFile(dir / "w.xyz", {}); }), {"w.xyz", "nothing to write"});
  if (hasToolkits()) {
    expectContains(errorOf([&] { writeStructureFile(dir / "w.smi", {water}); }), {"w.smi", "can be read but not written"});
  } else {
    expectContains(errorOf([&] { writeStructureFile(dir / "w.pdb", {water}); }), {"w.pdb", "needs the chemistry toolkits"});
  }
  // An explicit format beats the extension.
  writeStructureFile(dir / "water.txt", {water}, "xyz");
  EXPECT_EQ(readStructureFile(dir / "water.txt", "extxyz").at(0).formula(), "H2O");
}
