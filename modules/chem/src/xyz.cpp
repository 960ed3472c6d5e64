#include "atomscope/chem/xyz.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include "atomscope/chem/elements.h"
#include "text_util.h"

namespace atomscope::chem {
namespace {

using text::isSpace;
using text::LineReader;
using text::parseDouble;
using text::parseInt;
using text::trim;
const auto quoteForMessage = text::quote;

// Splits on whitespace (and commas when `commas`), as ASE's re.findall(r'[^\s,]+').
void splitTokens(std::string_view s, std::vector<std::string_view>& out, bool commas = false) {
  out.clear();
  std::size_t k = 0;
  while (k < s.size()) {
    while (k < s.size() && (isSpace(s[k]) || (commas && s[k] == ','))) ++k;
    const std::size_t start = k;
    while (k < s.size() && !(isSpace(s[k]) || (commas && s[k] == ','))) ++k;
    if (k > start) out.push_back(s.substr(start, k - start));
  }
}



class Parser {
 public:
  Parser(std::string_view text, std::string_view source, const XyzReadOptions& options)
      : lines_(text), source_(source), options_(options) {}

  Trajectory parse() {
    Trajectory frames;
    std::string_view line;
    while (lines_.next(line)) {
      if (trim(line).empty()) continue;  // blank lines between frames and at the end
      frames.push_back(parseFrame(line));
    }
    return frames;
  }

 private:
  [[noreturn]] void fail(const std::string& message, std::size_t line = 0) const {
    throw ChemError(std::string(source_) + ":" + std::to_string(line ? line : lines_.lineNumber()) +
                    ": " + message);
  }

  struct Column {
    std::string name;
    AtomProperty::Type type;
    int columns;
  };

  Structure parseFrame(std::string_view countLine) {
    const std::size_t countLineNumber = lines_.lineNumber();
    std::int64_t count = 0;
    const std::string_view countText = trim(countLine);
    if (!parseInt(countText, count))
      fail("expected the atom count of a frame (a non-negative integer), found " +
           quoteForMessage(countText));
    if (count < 0) fail("the atom count is negative (" + std::to_string(count) + ")");
    if (static_cast<std::uint64_t>(count) > options_.maxAtoms)
      fail("the atom count " + std::to_string(count) + " is above the limit of " +
           std::to_string(options_.maxAtoms) + " atoms");
    const std::size_t n = static_cast<std::size_t>(count);

    std::string_view comment;
    if (!lines_.next(comment))
      fail("the file ends after the atom count: expected a comment line and " + std::to_string(n) +
               " atom lines",
           countLineNumber);
    const std::size_t commentLine = lines_.lineNumber();

    Structure s;
    std::vector<Column> columns = parseComment(comment, s, commentLine);
    std::size_t totalColumns = 0;
    for (const Column& c : columns) totalColumns += static_cast<std::size_t>(c.columns);

    // Find the species / Z / pos columns.
    const Column* species = nullptr;
    const Column* zColumn = nullptr;
    const Column* pos = nullptr;
    for (const Column& c : columns) {
      if (c.name == "species" && !species) species = &c;
      if (c.name == "Z" && !zColumn) zColumn = &c;
      if (c.name == "pos" && !pos) pos = &c;
    }
    if (!pos) fail("Properties has no 'pos' column (expected pos:R:3)", commentLine);
    if (pos->type != AtomProperty::Type::Real || pos->columns != 3)
      fail("the 'pos' column must be pos:R:3", commentLine);
    if (!species && !zColumn)
      fail("Properties has neither a 'species' nor a 'Z' column", commentLine);
    if (species && (species->columns != 1))
      fail("the 'species' column must have 1 column", commentLine);
    if (zColumn && (zColumn->type != AtomProperty::Type::Int || zColumn->columns != 1))
      fail("the 'Z' column must be Z:I:1", commentLine);

    s.numbers.resize(n);
    s.positions.resize(n);
    for (const Column& c : columns) {
      if (&c == species || &c == zColumn || &c == pos) continue;
      if (s.atomProperties.count(c.name))
        fail("Properties names the column '" + c.name + "' twice", commentLine);
      AtomProperty p;
      p.type = c.type;
      p.columns = c.columns;
      if (c.type == AtomProperty::Type::String)
        p.strings.resize(n * c.columns);
      else
        p.values.resize(n * c.columns);
      s.atomProperties.emplace(c.name, std::move(p));
    }

    std::vector<std::string_view> tokens;
    std::string_view line;
    for (std::size_t i = 0; i < n; ++i) {
      if (!lines_.next(line))
        fail("the file ends inside a frame: read " + std::to_string(i) + " of " +
                 std::to_string(n) + " atom lines (frame starting at line " +
                 std::to_string(countLineNumber) + ")",
             lines_.lineNumber() + 1);
      splitTokens(line, tokens);
      if (tokens.size() < totalColumns || (explicitProperties_ && tokens.size() > totalColumns)) {
        std::string what = "expected " + std::to_string(totalColumns) + " columns (" +
                           propertiesText_ + ") for atom " + std::to_string(i + 1) + " of " +
                           std::to_string(n) + ", found " + std::to_string(tokens.size());
        if (tokens.size() == 1) what += ": is the atom count of line " + std::to_string(countLineNumber) + " too large?";
        fail(what);
      }
      std::size_t t = 0;
      for (const Column& c : columns) {
        if (&c == species) {
          s.numbers[i] = parseSpecies(tokens[t]);
        } else if (&c == zColumn) {
          std::int64_t z = 0;
          if (!parseInt(tokens[t], z) || !isValidAtomicNumber(static_cast<int>(z)) || z > kMaxAtomicNumber)
            fail("column 'Z': expected an atomic number 1..118, found " + quoteForMessage(tokens[t]));
          s.numbers[i] = static_cast<int>(z);  // as ASE: Z wins over species when both exist
        } else if (&c == pos) {
          for (int k = 0; k < 3; ++k) {
            double v = 0;
            if (!parseDouble(tokens[t + k], v))
              fail("expected a number for coordinate " + std::string(1, "xyz"[k]) + " of atom " +
                   std::to_string(i + 1) + ", found " + quoteForMessage(tokens[t + k]));
            if (!std::isfinite(v))
              fail("coordinate " + std::string(1, "xyz"[k]) + " of atom " + std::to_string(i + 1) +
                   " is not finite (" + std::string(tokens[t + k]) + ")");
            if (std::abs(v) > options_.maxAbsCoordinate)
              fail("coordinate " + std::string(1, "xyz"[k]) + " of atom " + std::to_string(i + 1) +
                   " is " + std::string(tokens[t + k]) + " Angstrom, beyond the limit of " +
                   std::to_string(options_.maxAbsCoordinate));
            s.positions[i][k] = v;
          }
        } else {
          AtomProperty& p = s.atomProperties[c.name];
          for (int k = 0; k < c.columns; ++k) {
            const std::string_view tok = tokens[t + k];
            const std::size_t at = i * c.columns + k;
            switch (c.type) {
              case AtomProperty::Type::String:
                p.strings[at] = std::string(tok);
                break;
              case AtomProperty::Type::Real: {
                double v = 0;
                if (!parseDouble(tok, v))
                  fail("column '" + c.name + "': expected a real number, found " + quoteForMessage(tok));
                p.values[at] = v;
                break;
              }
              case AtomProperty::Type::Int: {
                std::int64_t v = 0;
                if (!parseInt(tok, v))
                  fail("column '" + c.name + "': expected an integer, found " + quoteForMessage(tok));
                p.values[at] = static_cast<double>(v);
                break;
              }
              case AtomProperty::Type::Bool: {
                if (tok == "T" || tok == "True" || tok == "true" || tok == "1")
                  p.values[at] = 1.0;
                else if (tok == "F" || tok == "False" || tok == "false" || tok == "0")
                  p.values[at] = 0.0;
                else
                  fail("column '" + c.name + "': expected T or F, found " + quoteForMessage(tok));
                break;
              }
            }
          }
        }
        t += static_cast<std::size_t>(c.columns);
      }
    }
    return s;
  }

  int parseSpecies(std::string_view tok) {
    std::int64_t z = 0;
    if (parseInt(tok, z)) {
      if (!isValidAtomicNumber(static_cast<int>(z)) || z > kMaxAtomicNumber)
        fail("atomic number " + std::string(tok) + " is outside 1..118");
      return static_cast<int>(z);
    }
    const int zz = atomicNumber(tok);
    if (zz == 0) fail("unknown element " + quoteForMessage(tok));
    return zz;
  }

  // Splits the comment line into key/value pairs exactly as ASE's key_val_str_to_dict:
  // quotes ' " and brackets { [ delimit values, backslash escapes the next character.
  std::vector<std::pair<std::string, std::optional<std::string>>> splitKeyValues(std::string_view line,
                                                                                 std::size_t lineNo) {
    std::vector<std::vector<std::string>> pairs{{std::string()}};
    char closer = 0;
    bool escaped = false;
    for (char ch : trim(line)) {
      if (escaped) {
        pairs.back().back() += ch;
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (closer) {
        if (ch == closer)
          closer = 0;
        else
          pairs.back().back() += ch;
      } else if (ch == '"' || ch == '\'') {
        closer = ch;
      } else if (ch == '{') {
        closer = '}';
      } else if (ch == '[') {
        closer = ']';
      } else if (isSpace(ch)) {
        if (pairs.back().size() == 1 && pairs.back().back().empty()) continue;
        if (pairs.back().back().empty()) continue;
        pairs.push_back({std::string()});
      } else if (ch == '=') {
        if (pairs.back().size() == 1 && pairs.back().back().empty() && pairs.size() > 1)
          pairs.pop_back();  // "key =value": the '=' belongs to the previous key
        pairs.back().emplace_back();
      } else {
        pairs.back().back() += ch;
      }
    }
    if (closer) fail(std::string("unterminated ") + (closer == '}' ? "{" : closer == ']' ? "[" : std::string(1, closer)) + " in the comment line", lineNo);
    std::vector<std::pair<std::string, std::optional<std::string>>> out;
    for (auto& p : pairs) {
      if (p.size() == 1 && p[0].empty()) continue;
      if (p.size() == 1) {
        out.emplace_back(p[0], std::nullopt);
      } else {
        std::string value = p[1];
        for (std::size_t k = 2; k < p.size(); ++k) value += "=" + p[k];
        out.emplace_back(p[0], std::move(value));
      }
    }
    return out;
  }

  // A value as ASE converts it: ints, else floats (scalars or arrays), else T/F booleans, else
  // "_JSON ..." as JSON, else the string.
  Json convertValue(const std::string& key, const std::string& value, std::size_t lineNo) {
    if (key == "uid") return value;
    std::vector<std::string_view> parts;
    splitTokens(value, parts, /*commas=*/true);
    if (!parts.empty()) {
      std::vector<std::int64_t> ints;
      bool allInts = true;
      for (std::string_view p : parts) {
        std::int64_t v = 0;
        if (!parseInt(p, v)) {
          allInts = false;
          break;
        }
        ints.push_back(v);
      }
      if (allInts) return ints.size() == 1 ? Json(ints[0]) : Json(ints);
      std::vector<double> reals;
      bool allReals = true;
      for (std::string_view p : parts) {
        double v = 0;
        if (!parseDouble(p, v)) {
          allReals = false;
          break;
        }
        reals.push_back(v);
      }
      if (allReals) {
        Json arr = Json::array();
        for (double v : reals) {
          if (std::isfinite(v))
            arr.push_back(v);
          else
            arr.push_back(std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));  // JSON has no NaN
        }
        return reals.size() == 1 ? arr[0] : arr;
      }
      bool allBools = true;
      std::vector<bool> bools;
      for (std::string_view p : parts) {
        if (p == "T")
          bools.push_back(true);
        else if (p == "F")
          bools.push_back(false);
        else {
          allBools = false;
          break;
        }
      }
      if (allBools) return bools.size() == 1 ? Json(static_cast<bool>(bools[0])) : Json(bools);
    }
    if (value.rfind("_JSON ", 0) == 0) {
      Json j = Json::parse(value.substr(6), nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded()) fail("the value of '" + key + "' is not valid JSON after _JSON", lineNo);
      return j;
    }
    return value;
  }

  std::vector<Column> parseComment(std::string_view comment, Structure& s, std::size_t lineNo) {
    explicitProperties_ = false;
    std::string properties = "species:S:1:pos:R:3";
    const std::string_view trimmed = trim(comment);
    if (trimmed.find('=') == std::string_view::npos) {
      // Plain XYZ: the comment is free text.
      if (!trimmed.empty()) s.info["comment"] = std::string(trimmed);
    } else {
      bool pbcGiven = false;
      for (auto& [key, value] : splitKeyValues(comment, lineNo)) {
        if (key == "Properties") {
          if (!value) fail("Properties has no value", lineNo);
          properties = *value;
          explicitProperties_ = true;
          continue;
        }
        Json v = value ? convertValue(key, *value, lineNo) : Json(true);
        if (key == "Lattice") {
          if (v.is_array())
            for (const Json& x : v)
              if (x.is_string() && (x == "nan" || x == "inf" || x == "-inf"))
                fail("Lattice has a non-finite entry (" + x.get<std::string>() + ")", lineNo);
          if (!v.is_array() || v.size() != 9 || !std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_number(); }))
            fail("Lattice must be 9 numbers \"ax ay az bx by bz cx cy cz\", found " +
                     quoteForMessage(value.value_or("")),
                 lineNo);
          Mat3 m;
          for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 3; ++c) {
              m[r][c] = v[r * 3 + c].get<double>();
              if (!std::isfinite(m[r][c])) fail("Lattice has a non-finite entry", lineNo);
              if (std::abs(m[r][c]) > options_.maxAbsCoordinate)
                fail("Lattice entry " + std::to_string(m[r][c]) + " is beyond the limit of " +
                         std::to_string(options_.maxAbsCoordinate) + " Angstrom",
                     lineNo);
            }
          s.lattice = m;
          continue;
        }
        if (key == "pbc") {
          if (v.is_boolean()) {
            s.pbc = {v.get<bool>(), v.get<bool>(), v.get<bool>()};
          } else if (v.is_array() && v.size() == 3 && std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_boolean(); })) {
            for (int k = 0; k < 3; ++k) s.pbc[k] = v[k].get<bool>();
          } else {
            fail("pbc must be \"T T T\"-like (three of T or F), found " + quoteForMessage(value.value_or("")),
                 lineNo);
          }
          pbcGiven = true;
          continue;
        }
        s.info[key] = std::move(v);
      }
      if (s.lattice && !pbcGiven) s.pbc = {true, true, true};  // as ASE
    }
    propertiesText_ = properties;

    std::vector<Column> columns;
    std::vector<std::string_view> fields;
    {
      std::size_t start = 0;
      const std::string_view p = properties;
      while (true) {
        const std::size_t colon = p.find(':', start);
        fields.push_back(p.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
        if (colon == std::string_view::npos) break;
        start = colon + 1;
      }
    }
    if (fields.size() % 3 != 0)
      fail("Properties must be name:type:columns triples, found " + quoteForMessage(properties), lineNo);
    for (std::size_t k = 0; k < fields.size(); k += 3) {
      Column c;
      c.name = std::string(fields[k]);
      if (c.name.empty()) fail("Properties has an empty column name", lineNo);
      const std::string_view type = fields[k + 1];
      if (type == "R")
        c.type = AtomProperty::Type::Real;
      else if (type == "I")
        c.type = AtomProperty::Type::Int;
      else if (type == "L")
        c.type = AtomProperty::Type::Bool;
      else if (type == "S")
        c.type = AtomProperty::Type::String;
      else
        fail("Properties: column '" + c.name + "' has type " + quoteForMessage(type) +
                 ", expected one of S, R, I, L",
             lineNo);
      std::int64_t cols = 0;
      if (!parseInt(fields[k + 2], cols) || cols < 1 || cols > 1000)
        fail("Properties: column '" + c.name + "' has column count " + quoteForMessage(fields[k + 2]) +
                 ", expected 1..1000",
             lineNo);
      c.columns = static_cast<int>(cols);
      columns.push_back(std::move(c));
    }
    return columns;
  }

  LineReader lines_;
  std::string_view source_;
  XyzReadOptions options_;
  bool explicitProperties_ = false;
  std::string propertiesText_;
};

// Shortest text that reads back to the same double.
std::string formatDouble(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, p);
  // Keep it a float for readers that type by syntax ("1" would read back as an integer).
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// As ASE's escape(): quote when the text has spaces, quotes or brackets.
std::string escape(const std::string& s) {
  if (s.empty()) return "\"\"";
  if (s.find_first_of(" \t\"'{}[]=") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string formatScalar(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "T" : "F";
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) return formatDouble(v.get<double>());
  return {};
}

bool isNumberOrBoolArray(const Json& v) {
  if (!v.is_array() || v.empty()) return false;
  const bool bools = v[0].is_boolean();
  for (const Json& x : v) {
    if (bools ? !x.is_boolean() : !x.is_number()) return false;
  }
  return true;
}

std::string formatInfoValue(const std::string& key, const Json& v) {
  if (v.is_boolean() || v.is_number()) return formatScalar(v);
  if (v.is_string()) return escape(v.get<std::string>());
  if (isNumberOrBoolArray(v)) {
    Json flat = v;
    // ASE reads 'stress' and 'virial' as 3x3 (9 numbers); a Voigt 6-vector becomes the full matrix.
    if ((key == "stress" || key == "virial") && v.size() == 6) {
      const Json& s = v;  // xx yy zz yz xz xy
      flat = Json::array({s[0], s[5], s[4], s[5], s[1], s[3], s[4], s[3], s[2]});
    }
    std::string out;
    for (const Json& x : flat) {
      if (!out.empty()) out += ' ';
      out += formatScalar(x);
    }
    return flat.size() == 1 ? out : "\"" + out + "\"";
  }
  // Anything else (nested arrays, objects, arrays of strings, non-finite numbers kept as strings).
  return escape("_JSON " + v.dump());
}

const char* typeLetter(AtomProperty::Type t) {
  switch (t) {
    case AtomProperty::Type::Real: return "R";
    case AtomProperty::Type::Int: return "I";
    case AtomProperty::Type::Bool: return "L";
    case AtomProperty::Type::String: return "S";
  }
  return "R";
}

}  // namespace

Trajectory readXyzString(std::string_view text, std::string_view sourceName, const XyzReadOptions& options) {
  Parser parser(text, sourceName, options);
  return parser.parse();
}

Trajectory readXyz(const std::filesystem::path& path, const XyzReadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ChemError(path.string() + ": cannot open the file for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw ChemError(path.string() + ": read error");
  const std::string text = std::move(buffer).str();
  if (text.find('\0') != std::string::npos)
    throw ChemError(path.string() + ": the file contains NUL bytes; it is not an XYZ text file");
  return readXyzString(text, path.string(), options);
}

void writeExtXyz(std::ostream& out, const Structure& s) {
  s.validate();
  const std::size_t n = s.size();
  out << n << '\n';

  std::string comment;
  if (s.lattice) {
    comment += "Lattice=\"";
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        if (r || c) comment += ' ';
        comment += formatDouble((*s.lattice)[r][c]);
      }
    comment += "\" ";
  }
  comment += "Properties=species:S:1:pos:R:3";
  std::vector<const std::pair<const std::string, AtomProperty>*> props;
  for (const auto& entry : s.atomProperties) {
    const std::string& name = entry.first;
    if (name == "species" || name == "pos" || name == "Z") continue;  // written from numbers/positions
    props.push_back(&entry);
    comment += ":" + name + ":" + typeLetter(entry.second.type) + ":" + std::to_string(entry.second.columns);
  }
  for (const auto& [key, value] : s.info.items()) {
    if (key == "Lattice" || key == "Properties" || key == "pbc") continue;
    comment += ' ';
    comment += escape(key);
    comment += '=';
    comment += formatInfoValue(key, value);
  }
  if (s.lattice || s.pbc[0] || s.pbc[1] || s.pbc[2]) {
    comment += " pbc=\"";
    for (int k = 0; k < 3; ++k) comment += std::string(k ? " " : "") + (s.pbc[k] ? "T" : "F");
    comment += '"';
  }
  out << comment << '\n';

  std::string line;
  for (std::size_t i = 0; i < n; ++i) {
    line = element(s.numbers[i]).symbol;
    line.resize(std::max<std::size_t>(line.size(), 2), ' ');
    for (int k = 0; k < 3; ++k) {
      const std::string v = formatDouble(s.positions[i][k]);
      line += std::string(v.size() < 22 ? 22 - v.size() : 1, ' ') + v;
    }
    for (const auto* entry : props) {
      const AtomProperty& p = entry->second;
      for (int k = 0; k < p.columns; ++k) {
        const std::size_t at = i * p.columns + k;
        std::string v;
        switch (p.type) {
          case AtomProperty::Type::Real: v = formatDouble(p.values[at]); break;
          case AtomProperty::Type::Int: v = std::to_string(static_cast<std::int64_t>(p.values[at])); break;
          case AtomProperty::Type::Bool: v = p.values[at] != 0.0 ? "T" : "F"; break;
          case AtomProperty::Type::String: v = p.strings[at].empty() ? "_" : p.strings[at]; break;
        }
        line += std::string(v.size() < 22 ? 22 - v.size() : 1, ' ') + v;
      }
    }
    out << line << '\n';
  }
}

std::string toExtXyz(const Structure& s) {
  std::ostringstream out;
  writeExtXyz(out, s);
  return out.str();
}

void writeXyz(const std::filesystem::path& path, const Trajectory& frames) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw ChemError(path.string() + ": cannot open the file for writing");
  for (std::size_t f = 0; f < frames.size(); ++f) {
    try {
      writeExtXyz(out, frames[f]);
    } catch (const ChemError& e) {
      throw ChemError(path.string() + ": frame " + std::to_string(f) + ": " + e.what());
    }
  }
  out.flush();
  if (!out) throw ChemError(path.string() + ": write error");
}

}  // namespace atomscope::chem
