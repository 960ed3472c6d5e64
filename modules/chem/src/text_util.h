#pragma once
// Small text helpers the hand-written readers (POSCAR, CSV, ...) share. Internal to atomscope_chem.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "atomscope/chem/error.h"
#include "atomscope/core/json.h"

namespace atomscope::chem::text {

inline bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

inline std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t k = 0;
  while (k < s.size()) {
    while (k < s.size() && isSpace(s[k])) ++k;
    const std::size_t start = k;
    while (k < s.size() && !isSpace(s[k])) ++k;
    if (k > start) out.push_back(s.substr(start, k - start));
  }
  return out;
}

inline bool parseInt(std::string_view s, std::int64_t& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// A decimal float ("1.5", "-2e-3", "1.0D+00" Fortran style); nan/inf parse too (callers check
// finiteness so they can say what was wrong).
inline bool parseDouble(std::string_view s, double& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) {
    v = std::strtod(std::string(s).c_str(), nullptr);
    return true;
  }
  if (ec == std::errc() && p == s.data() + s.size()) return true;
  if (s.find_first_of("dD") != std::string_view::npos) {
    std::string t(s);
    std::replace(t.begin(), t.end(), 'd', 'e');
    std::replace(t.begin(), t.end(), 'D', 'e');
    auto [q, ec2] = std::from_chars(t.data(), t.data() + t.size(), v);
    return ec2 == std::errc() && q == t.data() + t.size();
  }
  return false;
}

// A text field as a JSON value: an integer, a finite number, else the trimmed string (CSV cells,
// SDF data items).
inline Json scalarJson(std::string_view raw) {
  const std::string_view t = trim(raw);
  std::int64_t i;
  if (parseInt(t, i)) return Json(i);
  double d;
  if (parseDouble(t, d) && std::isfinite(d)) return Json(d);
  return Json(std::string(t));
}

// 'text' shortened to 60 characters, for messages.
inline std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string out = "'";
  out += s.size() > kMax ? std::string(s.substr(0, kMax)) + "..." : std::string(s);
  out += "'";
  return out;
}

// Lines one by one (LF or CRLF), numbered from 1; a UTF-8 byte-order mark is skipped.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {
    if (text_.size() >= 3 && text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
  }
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    std::size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(pos_, end - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = end + 1;
    ++lineNumber_;
    return true;
  }
  std::size_t lineNumber() const { return lineNumber_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t lineNumber_ = 0;
};

// The whole file as bytes; ChemError naming the file when it cannot be opened.
inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ChemError(path.string() + ": cannot open the file for reading");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw ChemError(path.string() + ": read error");
  return s.str();
}

inline void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw ChemError(path.string() + ": cannot open the file for writing");
  out << text;
  out.flush();
  if (!out) throw ChemError(path.string() + ": write error");
}

// Shortest text that reads back to the same double ("%.17g" would also do, but is longer).
inline std::string formatDouble(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, p);
}

}  // namespace atomscope::chem::text
