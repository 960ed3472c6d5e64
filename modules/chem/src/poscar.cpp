#include "atomscope/chem/poscar.h"

#include <cmath>
#include <cstdio>
#include <optional>

#include "atomscope/chem/elements.h"
#include "text_util.h"
#include "atomscope/core/text.h"

namespace atomscope::chem {
namespace {

using text::quote;

double determinant(const Mat3& m) {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

// "Fe", "Fe_pv", "Fe/abc" (POTCAR-style names) -> Fe; 0 when not an element.
int speciesNumber(std::string_view token) {
  const std::size_t cut = token.find_first_of("_/:");
  if (cut != std::string_view::npos) token = token.substr(0, cut);
  if (token.empty() || token.size() > 3) return 0;
  return atomicNumber(token);
}

class PoscarParser {
 public:
  PoscarParser(std::string_view text, std::string_view source, const PoscarReadOptions& options)
      : lines_(text), source_(source), options_(options) {}

  Structure parse() {
    Structure s;
    const std::string comment(text::trim(nextLine("the comment line")));
    if (!comment.empty()) s.info["comment"] = comment;

    // Scale: one factor (negative: volume) or three per-axis factors.
    const auto scaleTokens = text::split(nextLine("the scale factor"));
    const std::size_t scaleLine = lines_.lineNumber();
    if (scaleTokens.empty()) fail("expected the scale factor, found an empty line");
    std::vector<double> scale;
    for (std::string_view t : scaleTokens) {
      double v;
      if (!text::parseDouble(t, v)) break;  // a trailing comment
      scale.push_back(v);
      if (scale.size() == 3) break;
    }
    if (scale.size() == 2) scale.resize(1);
    if (scale.empty()) fail("expected the scale factor (a number), found " + quote(scaleTokens[0]));
    for (double v : scale) {
      if (!std::isfinite(v)) fail("the scale factor is not a finite number");
      if (v == 0) fail("the scale factor is zero");
      if (std::abs(v) > options_.maxAbsCoordinate) fail("the scale factor " + text::formatDouble(v) + " is absurdly large");
    }
    if (scale.size() == 3 && (scale[0] < 0 || scale[1] < 0 || scale[2] < 0))
      fail("three scale factors must all be positive (a negative one, meaning a volume, must stand alone)");

    Mat3 lattice;
    for (int row = 0; row < 3; ++row) lattice[row] = readVector("lattice vector " + std::string(1, "abc"[row]), false);
    const double rawVolume = std::abs(determinant(lattice));
    if (!(rawVolume > 1e-12)) fail("the lattice vectors are linearly dependent (zero cell volume)", lines_.lineNumber());
    Vec3 axisScale{1, 1, 1};
    if (scale.size() == 3) {
      axisScale = {scale[0], scale[1], scale[2]};
    } else if (scale[0] < 0) {
      const double f = std::cbrt(-scale[0] / rawVolume);
      axisScale = {f, f, f};
    } else {
      axisScale = {scale[0], scale[0], scale[0]};
    }
    (void)scaleLine;
    for (Vec3& v : lattice)
      for (int k = 0; k < 3; ++k) {
        v[k] *= axisScale[k];
        if (!std::isfinite(v[k]) || std::abs(v[k]) > options_.maxAbsCoordinate)
          fail("the scaled lattice has an absurd entry " + text::formatDouble(v[k]), scaleLine);
      }

    // Species line (VASP 5) or counts directly (VASP 4).
    auto tokens = text::split(nextLine("the species or counts line"));
    std::size_t speciesLine = lines_.lineNumber();
    if (tokens.empty()) fail("expected element symbols (VASP 5) or atom counts (VASP 4), found an empty line");
    std::vector<int> species;
    std::int64_t probe;
    const bool vasp4 = text::parseInt(tokens[0], probe);
    if (!vasp4) {
      // VASP writes more than 20 species over several lines; the counts then follow likewise.
      while (true) {
        for (std::string_view t : tokens) {
          if (t.front() == '!' || t.front() == '#') break;  // comment after the symbols
          const int z = speciesNumber(t);
          if (z == 0) fail("unknown element symbol " + quote(t) + " in the species line");
          species.push_back(z);
          if (species.size() > 10'000) fail("more than 10000 species");
        }
        tokens = text::split(nextLine("the atom counts line"));
        if (tokens.empty()) fail("expected the atom counts, found an empty line");
        if (text::parseInt(tokens[0], probe)) break;
      }
    }
    const std::size_t countsLine = lines_.lineNumber();
    std::vector<std::size_t> counts;
    std::size_t total = 0;
    while (true) {
      for (std::string_view t : tokens) {
        std::int64_t c;
        if (!text::parseInt(t, c)) {
          if (counts.empty()) fail("expected atom counts (integers), found " + quote(t));
          break;  // trailing comment
        }
        if (c < 0) fail("an atom count is negative (" + std::to_string(c) + ")");
        if (static_cast<std::uint64_t>(c) > options_.maxAtoms || total + static_cast<std::size_t>(c) > options_.maxAtoms)
          fail("the atom counts add up to more than the limit of " + std::to_string(options_.maxAtoms) + " atoms");
        counts.push_back(static_cast<std::size_t>(c));
        total += static_cast<std::size_t>(c);
        if (!vasp4 && counts.size() == species.size()) break;
      }
      if (vasp4 || counts.size() >= species.size()) break;
      tokens = text::split(nextLine("the rest of the atom counts"));
      if (tokens.empty() || !text::parseInt(tokens[0], probe))
        fail("the species line names " + std::to_string(species.size()) + " elements but " +
             std::to_string(counts.size()) + " counts were given");
    }
    if (total == 0) fail("the atom counts add up to zero: a POSCAR needs at least one atom");
    if (vasp4) {
      species = vasp4Species(comment, counts.size());
      speciesLine = countsLine;
    } else if (counts.size() != species.size()) {
      fail("the species line (line " + std::to_string(speciesLine) + ") names " + std::to_string(species.size()) +
           " elements but this line gives " + std::to_string(counts.size()) + " counts");
    }

    // Optional "Selective dynamics", then the coordinate mode.
    std::string_view mode = text::trim(nextLine("the coordinate mode line (Direct or Cartesian)"));
    bool selective = false;
    if (!mode.empty() && (mode.front() == 's' || mode.front() == 'S')) {
      selective = true;
      mode = text::trim(nextLine("the coordinate mode line (Direct or Cartesian)"));
    }
    if (mode.empty()) fail("expected Direct or Cartesian, found an empty line");
    const bool cartesian = mode.front() == 'c' || mode.front() == 'C' || mode.front() == 'k' || mode.front() == 'K';
    if (!cartesian && mode.front() != 'd' && mode.front() != 'D')
      fail("expected the coordinate mode Direct or Cartesian, found " + quote(mode));

    s.numbers.reserve(total);
    s.positions.reserve(total);
    AtomProperty mask;
    mask.type = AtomProperty::Type::Bool;
    mask.columns = 3;
    for (std::size_t sp = 0; sp < counts.size(); ++sp) {
      for (std::size_t i = 0; i < counts[sp]; ++i) {
        const std::size_t atom = s.numbers.size();
        std::string_view line;
        if (!lines_.next(line))
          fail("the file ends after " + std::to_string(atom) + " of " + std::to_string(total) +
                   " atom lines (counts on line " + std::to_string(countsLine) + ")",
               lines_.lineNumber() + 1);
        const auto t = text::split(line);
        if (t.size() < (selective ? 6u : 3u))
          fail("atom " + std::to_string(atom + 1) + ": expected 3 coordinates" +
               std::string(selective ? " and 3 T/F flags" : "") + ", found " + std::to_string(t.size()) + " fields");
        Vec3 v;
        for (int k = 0; k < 3; ++k) {
          if (!text::parseDouble(t[k], v[k]))
            fail("atom " + std::to_string(atom + 1) + ": coordinate " + quote(t[k]) + " is not a number");
          if (!std::isfinite(v[k]))
            fail("atom " + std::to_string(atom + 1) + ": coordinate " + quote(t[k]) + " is not finite");
          if (std::abs(v[k]) > options_.maxAbsCoordinate)
            fail("atom " + std::to_string(atom + 1) + ": coordinate " + quote(t[k]) + " is absurdly large");
        }
        Vec3 r;
        if (cartesian) {
          for (int k = 0; k < 3; ++k) r[k] = v[k] * axisScale[k];
        } else {
          for (int k = 0; k < 3; ++k) r[k] = v[0] * lattice[0][k] + v[1] * lattice[1][k] + v[2] * lattice[2][k];
        }
        for (int k = 0; k < 3; ++k)
          if (!std::isfinite(r[k]) || std::abs(r[k]) > options_.maxAbsCoordinate)
            fail("atom " + std::to_string(atom + 1) + ": Cartesian coordinate " + text::formatDouble(r[k]) +
                 " is absurdly large");
        s.addAtom(species[sp], r);
        if (selective)
          for (int k = 3; k < 6; ++k) {
            const std::string_view f = t[k];
            const char c = f.empty() ? '?' : (f.front() == '.' && f.size() > 1 ? f[1] : f.front());
            if (c == 'T' || c == 't')
              mask.values.push_back(1.0);
            else if (c == 'F' || c == 'f')
              mask.values.push_back(0.0);
            else
              fail("atom " + std::to_string(atom + 1) + ": selective-dynamics flag " + quote(f) + " is not T or F");
          }
      }
    }
    (void)speciesLine;
    s.lattice = lattice;
    s.pbc = {true, true, true};
    if (selective) s.atomProperties.emplace("move_mask", std::move(mask));
    return s;
  }

 private:
  [[noreturn]] void fail(const std::string& message, std::size_t line = 0) const {
    throw ChemError(std::string(source_) + ":" + std::to_string(line ? line : lines_.lineNumber()) + ": " + message);
  }

  std::string_view nextLine(const std::string& what) {
    std::string_view line;
    if (!lines_.next(line)) fail("the file ends before " + what, lines_.lineNumber() + 1);
    return line;
  }

  Vec3 readVector(const std::string& what, bool) {
    const auto t = text::split(nextLine(what));
    if (t.size() < 3) fail(what + ": expected 3 numbers, found " + std::to_string(t.size()) + " fields");
    Vec3 v;
    for (int k = 0; k < 3; ++k) {
      if (!text::parseDouble(t[k], v[k])) fail(what + ": " + quote(t[k]) + " is not a number");
      if (!std::isfinite(v[k])) fail(what + ": " + quote(t[k]) + " is not finite");
      if (std::abs(v[k]) > options_.maxAbsCoordinate) fail(what + ": " + quote(t[k]) + " is absurdly large");
    }
    return v;
  }

  std::vector<int> vasp4Species(const std::string& comment, std::size_t n) {
    std::vector<int> out;
    if (!options_.species.empty()) {
      if (options_.species.size() != n)
        fail("this VASP 4 file has " + std::to_string(n) + " atom counts but " +
             std::to_string(options_.species.size()) + " species were given");
      for (const std::string& sym : options_.species) {
        const int z = speciesNumber(sym);
        if (z == 0) fail("the given species " + quote(sym) + " is not an element symbol");
        out.push_back(z);
      }
      return out;
    }
    for (std::string_view t : text::split(comment)) {
      const int z = speciesNumber(t);
      if (z == 0) break;
      out.push_back(z);
    }
    if (out.size() == n && text::split(comment).size() == n) return out;
    fail("VASP 4 file without a species line: give the species of the " + std::to_string(n) +
         " counts (option species, e.g. species=Si,O), or add a species line above the counts (VASP 5)");
  }

  text::LineReader lines_;
  std::string_view source_;
  const PoscarReadOptions& options_;
};

std::string format16(double v) {
  if (v == 0) v = 0;  // no "-0.0000000000000000"
  char buf[64];
  std::snprintf(buf, sizeof buf, " %21.16f", v);  // the leading space separates wide numbers too
  return buf;
}

}  // namespace

Structure readPoscarString(std::string_view text, std::string_view sourceName, const PoscarReadOptions& options) {
  Structure s = PoscarParser(text, sourceName, options).parse();
  s.validate();
  return s;
}

Structure readPoscar(const std::filesystem::path& path, const PoscarReadOptions& options) {
  const std::string bytes = text::readFile(path);
  return readPoscarString(bytes, path.string(), options);
}

std::string toPoscar(const Structure& s) {
  if (!s.lattice) throw ChemError("POSCAR needs a lattice; this structure (" + s.formula() + ") has none");
  if (s.empty()) throw ChemError("POSCAR needs at least one atom");
  s.validate();
  std::string out;
  std::string comment = s.formula();
  if (auto it = s.info.find("comment"); it != s.info.end() && it->is_string() && !it->get<std::string>().empty())
    comment = it->get<std::string>();
  for (char& c : comment)
    if (c == '\n' || c == '\r') c = ' ';
  out += comment + "\n   1.0\n";
  for (const Vec3& v : *s.lattice) out += format16(v[0]) + format16(v[1]) + format16(v[2]) + "\n";
  // Runs of equal consecutive elements keep the atom order (VASP allows a symbol to repeat).
  std::vector<std::pair<int, std::size_t>> runs;
  for (int z : s.numbers) {
    if (runs.empty() || runs.back().first != z)
      runs.emplace_back(z, 1);
    else
      ++runs.back().second;
  }
  for (const auto& [z, n] : runs) out += std::string("  ") + element(z).symbol;
  out += "\n";
  for (const auto& [z, n] : runs) out += "  " + std::to_string(n);
  out += "\n";
  const AtomProperty* mask = s.atomProperty("move_mask");
  const bool selective = mask && mask->type == AtomProperty::Type::Bool && mask->columns == 3;
  if (selective) out += "Selective dynamics\n";
  out += "Direct\n";
  const std::vector<Vec3> frac = s.fractionalPositions();
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += format16(frac[i][0]) + format16(frac[i][1]) + format16(frac[i][2]);
    if (selective)
      for (int k = 0; k < 3; ++k) out += mask->at(i, k) != 0 ? "   T" : "   F";
    out += "\n";
  }
  return out;
}

void writePoscar(const std::filesystem::path& path, const Structure& s) { text::writeFile(path, toPoscar(s)); }

bool looksLikePoscarName(const std::filesystem::path& path) {
  const std::string name = core::asciiLower(path.filename().string());
  const std::string ext = core::asciiLower(path.extension().string());
  if (ext == ".vasp" || ext == ".poscar") return true;
  return name.rfind("poscar", 0) == 0 || name.rfind("contcar", 0) == 0;
}

}  // namespace atomscope::chem
