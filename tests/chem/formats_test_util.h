#pragma once
// Helpers for the structure-format tests: running formats_reference.py with Debian's Python and
// comparing periodic structures whose site order may differ.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "atomscope/chem/error.h"
#include "atomscope/chem/structure.h"
#include "atomscope/core/json.h"
#include "chem_test_util.h"
#include "test_util.h"

namespace atomscope::chem::testing {

// stdout of `/usr/bin/python3 tests/chem/formats_reference.py ARGS` parsed as JSON; null (and a
// test failure) when the script fails.
inline Json formatsReference(const std::string& args) {
  const std::string cmd = "/usr/bin/python3 " + std::string(ATOMSCOPE_SOURCE_DIR) +
                          "/tests/chem/formats_reference.py " + args;
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "cannot run " << cmd;
    return Json();
  }
  std::array<char, 65536> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  if (status != 0) {
    ADD_FAILURE() << "reference script failed (" << status << "): " << cmd;
    return Json();
  }
  return Json::parse(out);
}

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

inline Mat3 matFromJson(const Json& j) {
  Mat3 m;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r][c] = j.at(r).at(c).get<double>();
  return m;
}

inline std::vector<Vec3> vecsFromJson(const Json& j) {
  std::vector<Vec3> v;
  for (const Json& row : j) v.push_back({row.at(0).get<double>(), row.at(1).get<double>(), row.at(2).get<double>()});
  return v;
}

inline double maxAbsDiff(const Mat3& a, const Mat3& b) {
  double m = 0;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m = std::max(m, std::abs(a[r][c] - b[r][c]));
  return m;
}

// Fractional coordinates of Cartesian positions in a lattice.
inline std::vector<Vec3> toFractional(const std::vector<Vec3>& positions, const Mat3& lattice) {
  Structure s;
  s.lattice = lattice;
  s.positions = positions;
  s.numbers.assign(positions.size(), 1);
  return s.fractionalPositions();
}

// Site sets compared modulo lattice translations: each of our atoms is matched to the unused
// reference atom of the same element nearest to it (fractional difference wrapped to [-0.5, 0.5)).
// Returns the largest residual over all atoms: Cartesian in Angstrom when `lattice` is given, else
// the largest fractional component; +inf when the element counts differ or an atom finds no partner.
inline double periodicSetDistance(const std::vector<int>& numbersA, const std::vector<Vec3>& fracA,
                                  const std::vector<int>& numbersB, const std::vector<Vec3>& fracB,
                                  const Mat3* lattice = nullptr) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (numbersA.size() != numbersB.size() || fracA.size() != numbersA.size() || fracB.size() != numbersB.size()) return inf;
  std::vector<bool> used(numbersB.size(), false);
  double worst = 0;
  for (std::size_t i = 0; i < numbersA.size(); ++i) {
    double best = inf;
    std::size_t bestJ = numbersB.size();
    for (std::size_t j = 0; j < numbersB.size(); ++j) {
      if (used[j] || numbersB[j] != numbersA[i]) continue;
      Vec3 d;
      for (int k = 0; k < 3; ++k) {
        d[k] = fracA[i][k] - fracB[j][k];
        d[k] -= std::round(d[k]);
      }
      double dist;
      if (lattice) {
        Vec3 r{0, 0, 0};
        for (int k = 0; k < 3; ++k)
          for (int c = 0; c < 3; ++c) r[c] += d[k] * (*lattice)[k][c];
        dist = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
      } else {
        dist = std::max({std::abs(d[0]), std::abs(d[1]), std::abs(d[2])});
      }
      if (dist < best) {
        best = dist;
        bestJ = j;
      }
    }
    if (bestJ == numbersB.size()) return inf;
    used[bestJ] = true;
    worst = std::max(worst, best);
  }
  return worst;
}

// Largest |difference| of positions in order; +inf when the atom numbers differ.
inline double orderedDistance(const std::vector<int>& numbersA, const std::vector<Vec3>& a,
                              const std::vector<int>& numbersB, const std::vector<Vec3>& b) {
  if (numbersA != numbersB || a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (int k = 0; k < 3; ++k) worst = std::max(worst, std::abs(a[i][k] - b[i][k]));
  return worst;
}

// Evenly spread 0-based row indices: n of total.
inline std::vector<std::size_t> sampleRows(std::size_t total, std::size_t n) {
  std::vector<std::size_t> rows;
  if (total == 0) return rows;
  n = std::min(n, total);
  for (std::size_t i = 0; i < n; ++i) rows.push_back(i * total / n);
  return rows;
}

inline std::string joinRows(const std::vector<std::size_t>& rows) {
  std::string s;
  for (std::size_t r : rows) s += (s.empty() ? "" : ",") + std::to_string(r);
  return s;
}

// The message of the ChemError `f` throws ("" and a failure when it throws nothing).
template <typename F>
inline std::string errorOf(F&& f) {
  try {
    f();
  } catch (const ChemError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ChemError: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

inline std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

inline void expectContains(const std::string& message, std::initializer_list<const char*> parts) {
  for (const char* p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
}

}  // namespace atomscope::chem::testing
