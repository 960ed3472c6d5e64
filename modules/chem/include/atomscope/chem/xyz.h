#pragma once
// XYZ and extended XYZ (the ASE / QUIP convention), many frames per file.
//
//   <atom count>
//   Lattice="ax ay az bx by bz cx cy cz" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5 pbc="T T T"
//   C  0.0 0.0 0.0  0.1 0.2 0.3
//
// Comment line: whitespace-separated key=value pairs; values may be "quoted" (with \" escapes) or
// in {} / []; a bare key means true. Values become numbers, booleans (T/F/True/False), arrays of
// those when space-separated, "_JSON <json>" is parsed as JSON, anything else stays a string.
// Properties lists name:type:columns with type S (string), R (real), I (integer), L (logical).
// Without Properties the columns are species and pos; a comment that is not key=value is kept as
// info["comment"]. Lattice without pbc means pbc="T T T" (as ASE). Species are element symbols in
// any case or atomic numbers; a Z:I:1 column can replace species.
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"

namespace atomscope::chem {

struct XyzReadOptions {
  std::size_t maxAtoms = 100'000'000;  // a count above this is an error, not an allocation
  double maxAbsCoordinate = 1.0e6;     // Angstrom; larger is an error ("absurd number")
};

// All frames of a file. Throws ChemError("<file>:<line>: ...") on any problem.
Trajectory readXyz(const std::filesystem::path& path, const XyzReadOptions& options = {});
// The same on text in memory; `sourceName` appears in error messages.
Trajectory readXyzString(std::string_view text, std::string_view sourceName = "<string>",
                         const XyzReadOptions& options = {});

// Extended XYZ that ASE's ase.io.read reads back: species and pos first, then every per-atom
// array; Lattice and pbc when the structure has a lattice; info values as key=value.
void writeExtXyz(std::ostream& out, const Structure& structure);
std::string toExtXyz(const Structure& structure);
void writeXyz(const std::filesystem::path& path, const Trajectory& frames);  // throws ChemError

}  // namespace atomscope::chem
