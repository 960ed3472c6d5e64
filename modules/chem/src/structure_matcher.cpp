// Structure matching after pymatgen's StructureMatcher (see structure_matcher.h); our own code.
#include "atomscope/chem/structure_matcher.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <numeric>
#include <string>

#include "atomscope/chem/error.h"
#include "atomscope/chem/lattice.h"
#include "atomscope/chem/linear_assignment.h"

namespace atomscope::chem {
namespace {

constexpr double kBig = 1e20;  // squared distance of a forbidden pair

double dot3(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double norm3(const Vec3& a) { return std::sqrt(dot3(a, a)); }
double wrapHalf(double x) { return x - std::round(x); }
double wrapUnit(double x) {
  double y = x - std::floor(x);
  return y >= 1.0 ? 0.0 : y;
}

std::array<double, 6> parameters(const Mat3& l) {
  const double a = norm3(l[0]), b = norm3(l[1]), c = norm3(l[2]);
  auto ang = [](double cosine) { return std::acos(std::clamp(cosine, -1.0, 1.0)) * 180.0 / std::numbers::pi; };
  return {a, b, c, ang(dot3(l[1], l[2]) / (b * c)), ang(dot3(l[0], l[2]) / (a * c)), ang(dot3(l[0], l[1]) / (a * b))};
}

// Any lattice with these lengths and angles (only the metric matters where it is used).
Mat3 fromParameters(const std::array<double, 6>& p) {
  const double r = std::numbers::pi / 180.0;
  const double ca = std::cos(p[3] * r), cb = std::cos(p[4] * r), cg = std::cos(p[5] * r), sg = std::sin(p[5] * r);
  const double cy = (ca - cb * cg) / sg;
  const double cz = std::sqrt(std::max(0.0, 1.0 - cb * cb - cy * cy));
  return Mat3{Vec3{p[0], 0, 0}, Vec3{p[1] * cg, p[1] * sg, 0}, Vec3{p[2] * cb, p[2] * cy, p[2] * cz}};
}

// Reciprocal lattice lengths without the 2 pi (rows of inverse(L)^T).
Vec3 reciprocalLengths(const Mat3& l) {
  const Mat3 inv = inverse(l);  // columns are reciprocal vectors
  Vec3 out;
  for (int k = 0; k < 3; ++k) out[k] = std::sqrt(inv[0][k] * inv[0][k] + inv[1][k] * inv[1][k] + inv[2][k] * inv[2][k]);
  return out;
}

// A structure as the matcher sees it: lattice, wrapped fractional coordinates, species.
struct Cell {
  Mat3 lattice;
  std::vector<Vec3> frac;
  std::vector<int> z;
  double volume() const { return std::abs(determinant(lattice)); }
  std::size_t size() const { return z.size(); }
};

Cell toCell(const Structure& s) {
  if (!s.lattice) throw ChemError("structure matcher: a structure has no lattice");
  if (s.empty()) throw ChemError("structure matcher: a structure has no atoms");
  Cell c{*s.lattice, s.fractionalPositions(), s.numbers};
  for (Vec3& f : c.frac)
    for (double& x : f) x = wrapUnit(x);
  return c;
}

Structure toStructure(const Cell& c) {
  Structure s;
  s.lattice = c.lattice;
  s.pbc = {true, true, true};
  for (std::size_t i = 0; i < c.size(); ++i) s.addAtom(c.z[i], rowTimes(c.frac[i], c.lattice));
  return s;
}

Cell niggliCell(const Cell& c, double tol) {
  Cell out = c;
  out.lattice = niggliBasis(c.lattice, tol);
  const Mat3 inv = inverse(out.lattice);
  for (Vec3& f : out.frac) {
    f = rowTimes(rowTimes(f, c.lattice), inv);
    for (double& x : f) x = wrapUnit(x);
  }
  return out;
}

// Upper-triangular Hermite normal forms with determinant n, as pymatgen enumerates them.
std::vector<Mat3> hermiteForms(int n) {
  std::vector<Mat3> out;
  for (int a = 1; a <= n; ++a) {
    if (n % a) continue;
    for (int e = 1; e <= n / a; ++e) {
      if ((n / a) % e) continue;
      const int g = n / a / e;
      for (int b = 0; b < a; ++b)
        for (int c = 0; c < a; ++c)
          for (int f = 0; f < e; ++f)
            out.push_back(Mat3{Vec3{double(a), double(b), double(c)}, Vec3{0, double(e), double(f)}, Vec3{0, 0, double(g)}});
    }
  }
  return out;
}

bool withinTol(const Vec3& d, const Vec3& tol) {
  for (int k = 0; k < 3; ++k)
    if (std::abs(wrapHalf(d[k])) >= tol[k]) return false;
  return true;
}

// One step of primitive reduction; nullopt when no pure translation maps the crystal onto itself.
std::optional<Cell> primitiveStep(const Cell& c, double tolerance) {
  const std::size_t n = c.size();
  std::map<int, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < n; ++i) groups[c.z[i]].push_back(i);
  const std::vector<std::size_t>* smallest = nullptr;
  int gcdCount = 0;
  for (const auto& [z, g] : groups) {
    if (!smallest || g.size() < smallest->size()) smallest = &g;
    gcdCount = std::gcd(gcdCount, static_cast<int>(g.size()));
  }
  if (gcdCount <= 1) return std::nullopt;
  const auto p = parameters(c.lattice);
  const Vec3 ftol{tolerance / p[0], tolerance / p[1], tolerance / p[2]};
  // Pure translations: differences from the first site of the rarest species that map every site
  // onto a site of its own species.
  std::vector<Vec3> translations;
  const Vec3& f0 = c.frac[(*smallest)[0]];
  for (std::size_t j = 1; j < smallest->size(); ++j) {
    const Vec3& fj = c.frac[(*smallest)[j]];
    const Vec3 t{fj[0] - f0[0], fj[1] - f0[1], fj[2] - f0[2]};
    bool ok = true;
    for (std::size_t i = 0; i < n && ok; ++i) {
      bool found = false;
      for (std::size_t k : groups[c.z[i]]) {
        const Vec3 d{c.frac[i][0] + t[0] - c.frac[k][0], c.frac[i][1] + t[1] - c.frac[k][1], c.frac[i][2] + t[2] - c.frac[k][2]};
        if (withinTol(d, ftol)) {
          found = true;
          break;
        }
      }
      ok = found;
    }
    if (ok) translations.push_back(t);
  }
  if (translations.empty()) return std::nullopt;
  auto isTranslation = [&](const Vec3& v) {
    if (withinTol(v, ftol)) return true;
    for (const Vec3& t : translations)
      if (withinTol(Vec3{v[0] - t[0], v[1] - t[1], v[2] - t[2]}, ftol)) return true;
    return false;
  };
  // Smallest supercell sizes first, as pymatgen; the result is reduced again recursively.
  for (int size = 2; size <= gcdCount; ++size) {
    if (gcdCount % size) continue;
    for (const Mat3& m : hermiteForms(size)) {
      const Mat3 invM = inverse(m);
      if (!isTranslation(invM[0]) || !isTranslation(invM[1]) || !isTranslation(invM[2])) continue;
      Cell out;
      out.lattice = multiply(invM, c.lattice);
      const auto q = parameters(out.lattice);
      const Vec3 ptol{tolerance / q[0], tolerance / q[1], tolerance / q[2]};
      bool valid = true;
      for (const auto& [z, g] : groups) {
        std::vector<Vec3> nf;
        for (std::size_t i : g) {
          Vec3 f = rowTimes(c.frac[i], m);
          for (double& x : f) x = wrapUnit(x);
          nf.push_back(f);
        }
        std::vector<char> added(g.size(), 0);
        for (std::size_t a = 0; a < g.size() && valid; ++a) {
          if (added[a]) continue;
          std::vector<std::size_t> members;
          for (std::size_t b = 0; b < g.size(); ++b)
            if (withinTol(Vec3{nf[b][0] - nf[a][0], nf[b][1] - nf[a][1], nf[b][2] - nf[a][2]}, ptol)) members.push_back(b);
          if (members.size() != static_cast<std::size_t>(size)) {
            valid = false;
            break;
          }
          Vec3 mean = nf[a];
          int count = 1;
          for (std::size_t b : members) {
            if (added[b]) valid = false;
            added[b] = 1;
            if (b == a) continue;
            ++count;
            for (int k = 0; k < 3; ++k) mean[k] += wrapHalf(nf[b][k] - mean[k]) / count;
          }
          for (double& x : mean) x = wrapUnit(x);
          out.frac.push_back(mean);
          out.z.push_back(z);
        }
        if (!valid) break;
      }
      if (valid) return out;
    }
  }
  return std::nullopt;
}

// Lattices spanned by points of `l` whose lengths and angles are close to `target`'s
// (pymatgen's Lattice.find_all_mappings), kept when the integer matrix has |det| 1.
std::vector<Mat3> latticeMappings(const Mat3& l, const Mat3& target, double ltol, double angleTol) {
  const auto tp = parameters(target);
  const double maxLen = std::max({tp[0], tp[1], tp[2]}) * (1 + ltol);
  const Vec3 rec = reciprocalLengths(l);
  int nmax[3];
  for (int k = 0; k < 3; ++k) nmax[k] = static_cast<int>(std::ceil(maxLen * rec[k])) + 1;
  struct Point {
    Vec3 cart;
    Vec3 frac;
    double len;
  };
  std::vector<Point> cand[3];
  for (int i = -nmax[0]; i <= nmax[0]; ++i)
    for (int j = -nmax[1]; j <= nmax[1]; ++j)
      for (int k = -nmax[2]; k <= nmax[2]; ++k) {
        const Vec3 f{double(i), double(j), double(k)};
        const Vec3 c = rowTimes(f, l);
        const double d = norm3(c);
        if (d > maxLen) continue;
        for (int a = 0; a < 3; ++a)
          if (d / tp[a] < 1 + ltol && d / tp[a] > 1 / (1 + ltol)) cand[a].push_back({c, f, d});
      }
  auto angle = [](const Point& p, const Point& q) {
    return std::acos(std::clamp(dot3(p.cart, q.cart) / (p.len * q.len), -1.0, 1.0)) * 180.0 / std::numbers::pi;
  };
  std::vector<Mat3> out;
  for (const Point& a : cand[0])
    for (const Point& b : cand[1]) {
      if (std::abs(angle(a, b) - tp[5]) >= angleTol) continue;
      for (const Point& c : cand[2]) {
        if (std::abs(angle(b, c) - tp[3]) >= angleTol || std::abs(angle(a, c) - tp[4]) >= angleTol) continue;
        const double det = determinant(Mat3{a.frac, b.frac, c.frac});
        if (std::abs(std::abs(det) - 1.0) >= 0.5) continue;
        out.push_back(Mat3{a.cart, b.cart, c.cart});
      }
    }
  return out;
}

// Shortest Cartesian vector of a fractional difference `d` (in `lattice`), through the reduced
// basis `reduced` = T lattice (T integer): 27 images around the wrapped difference.
struct ShortestVectors {
  Mat3 lattice, reduced, toReduced;  // toReduced = lattice * inverse(reduced)
  explicit ShortestVectors(const Mat3& l) : lattice(l), reduced(niggliBasis(l)), toReduced(multiply(l, inverse(reduced))) {}
  // Returns the vector and its fractional coordinates in the reduced basis (wrapped).
  Vec3 operator()(const Vec3& d, Vec3* reducedFrac = nullptr) const {
    Vec3 r = rowTimes(d, toReduced);
    for (double& x : r) x = wrapHalf(x);
    if (reducedFrac) *reducedFrac = r;
    Vec3 best{};
    double bestD = std::numeric_limits<double>::infinity();
    for (int i = -1; i <= 1; ++i)
      for (int j = -1; j <= 1; ++j)
        for (int k = -1; k <= 1; ++k) {
          const Vec3 v = rowTimes(Vec3{r[0] + i, r[1] + j, r[2] + k}, reduced);
          const double dd = dot3(v, v);
          if (dd < bestD) {
            bestD = dd;
            best = v;
          }
        }
    return best;
  }
};

}  // namespace

Mat3 niggliBasis(const Mat3& lattice, double tol) {
  const double volume = std::abs(determinant(lattice));
  if (!(volume > 0) || !std::isfinite(volume)) throw ChemError("Niggli reduction: degenerate lattice");
  const double e = tol * std::cbrt(volume);
  Mat3 basis = lattice;
  auto apply = [&](const Mat3& m) { basis = multiply(transpose(m), basis); };
  auto metric = [&](double& A, double& B, double& C, double& E, double& N, double& Y) {
    A = dot3(basis[0], basis[0]);
    B = dot3(basis[1], basis[1]);
    C = dot3(basis[2], basis[2]);
    E = 2 * dot3(basis[1], basis[2]);
    N = 2 * dot3(basis[0], basis[2]);
    Y = 2 * dot3(basis[0], basis[1]);
  };
  auto sign = [&](double x) { return std::abs(x) < e ? 0 : (x > 0 ? 1 : -1); };
  double A, B, C, E, N, Y;
  for (int iter = 0; iter < 1000; ++iter) {
    metric(A, B, C, E, N, Y);
    if (A > B + e || (std::abs(A - B) < e && std::abs(E) > std::abs(N) + e)) {  // step 1: swap a, b
      apply(Mat3{Vec3{0, -1, 0}, Vec3{-1, 0, 0}, Vec3{0, 0, -1}});
      metric(A, B, C, E, N, Y);
    }
    if (B > C + e || (std::abs(B - C) < e && std::abs(N) > std::abs(Y) + e)) {  // step 2: swap b, c
      apply(Mat3{Vec3{-1, 0, 0}, Vec3{0, 0, -1}, Vec3{0, -1, 0}});
      continue;
    }
    const int l = sign(E), m = sign(N), n = sign(Y);
    if (l * m * n == 1) {  // step 3: all angles acute
      apply(Mat3{Vec3{double(l == -1 ? -1 : 1), 0, 0}, Vec3{0, double(m == -1 ? -1 : 1), 0},
                 Vec3{0, 0, double(n == -1 ? -1 : 1)}});
    } else {  // step 4: all angles obtuse (or right)
      int i = l == 1 ? -1 : 1, j = m == 1 ? -1 : 1, k = n == 1 ? -1 : 1;
      if (i * j * k == -1) {
        if (n == 0) k = -1;
        else if (m == 0) j = -1;
        else if (l == 0) i = -1;
      }
      apply(Mat3{Vec3{double(i), 0, 0}, Vec3{0, double(j), 0}, Vec3{0, 0, double(k)}});
    }
    metric(A, B, C, E, N, Y);
    if (std::abs(E) > B + e || (std::abs(E - B) < e && 2 * N < Y - e) || (std::abs(E + B) < e && Y < -e)) {
      apply(Mat3{Vec3{1, 0, 0}, Vec3{0, 1, E > 0 ? -1.0 : 1.0}, Vec3{0, 0, 1}});  // step 5
      continue;
    }
    if (std::abs(N) > A + e || (std::abs(A - N) < e && 2 * E < Y - e) || (std::abs(A + N) < e && Y < -e)) {
      apply(Mat3{Vec3{1, 0, N > 0 ? -1.0 : 1.0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}});  // step 6
      continue;
    }
    if (std::abs(Y) > A + e || (std::abs(A - Y) < e && 2 * E < N - e) || (std::abs(A + Y) < e && N < -e)) {
      apply(Mat3{Vec3{1, Y > 0 ? -1.0 : 1.0, 0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}});  // step 7
      continue;
    }
    if (E + N + Y + A + B < -e || (std::abs(E + N + Y + A + B) < e && e < Y + (A + N) * 2)) {
      apply(Mat3{Vec3{1, 0, 1}, Vec3{0, 1, 1}, Vec3{0, 0, 1}});  // step 8
      continue;
    }
    break;
  }
  if (determinant(basis) < 0)
    for (Vec3& v : basis)
      for (double& x : v) x = -x;
  return basis;
}

Structure niggliReduce(const Structure& s, double tol) { return toStructure(niggliCell(toCell(s), tol)); }

Structure findPrimitive(const Structure& s, double tolerance) {
  Cell c = toCell(s);
  bool reduced = false;
  while (auto smaller = primitiveStep(c, tolerance)) {
    c = niggliCell(*smaller, 1e-5);
    reduced = true;
  }
  return reduced ? toStructure(c) : s;
}

std::string reducedCompositionKey(const Structure& s) {
  std::map<int, int> counts;
  for (int z : s.numbers) ++counts[z];
  int g = 0;
  for (const auto& [z, n] : counts) g = std::gcd(g, n);
  std::string key;
  for (const auto& [z, n] : counts) key += std::to_string(z) + ":" + std::to_string(g ? n / g : n) + ",";
  return key;
}

Structure StructureMatcher::reduce(const Structure& s) const {
  Structure r = niggliReduce(s);
  if (options_.primitiveCell) r = findPrimitive(r, options_.primitiveTolerance);
  return r;
}

std::optional<MatchResult> StructureMatcher::match(const Structure& a, const Structure& b, bool skipReduction,
                                                   bool breakOnMatch) const {
  if (reducedCompositionKey(a) != reducedCompositionKey(b)) return std::nullopt;
  Cell s1 = toCell(skipReduction ? a : reduce(a));
  Cell s2 = toCell(skipReduction ? b : reduce(b));
  if (s1.size() != s2.size()) return std::nullopt;  // no supercells (attempt_supercell=False)
  if (options_.scale) {
    const double ratio = std::pow(s2.volume() / s1.volume(), 1.0 / 6.0);
    for (Vec3& v : s1.lattice)
      for (double& x : v) x *= ratio;
    for (Vec3& v : s2.lattice)
      for (double& x : v) x /= ratio;
  }
  const std::size_t n = s1.size();
  // mask[i][j]: s2 site i may not sit on s1 site j (different species).
  std::vector<std::vector<char>> mask(n, std::vector<char>(n));
  std::size_t anchor = 0, worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t blocked = 0;
    for (std::size_t j = 0; j < n; ++j) blocked += (mask[i][j] = s2.z[i] != s1.z[j]);
    if (blocked > worst) {
      worst = blocked;
      anchor = i;
    }
  }
  std::vector<std::size_t> anchorTargets;
  for (std::size_t j = 0; j < n; ++j)
    if (!mask[anchor][j]) anchorTargets.push_back(j);

  std::vector<Vec3> cart1(n);
  for (std::size_t j = 0; j < n; ++j) cart1[j] = rowTimes(s1.frac[j], s1.lattice);
  const auto p2 = parameters(s2.lattice);
  std::optional<MatchResult> best;
  double bestVal = std::numeric_limits<double>::infinity();
  const bool useRms = !breakOnMatch;
  for (const Mat3& l : latticeMappings(s1.lattice, s2.lattice, options_.ltol, options_.angleTol)) {
    const Mat3 inv = inverse(l);
    std::vector<Vec3> fc1(n);
    for (std::size_t j = 0; j < n; ++j) {
      fc1[j] = rowTimes(cart1[j], inv);
      for (double& x : fc1[j]) x = wrapUnit(x);
    }
    const auto p1 = parameters(l);
    std::array<double, 6> avgP;
    for (int k = 0; k < 6; ++k) avgP[k] = (p1[k] + p2[k]) / 2;
    const Mat3 avg = fromParameters(avgP);
    const double avgVolume = std::abs(determinant(avg));
    const double normalization = std::cbrt(static_cast<double>(n) / avgVolume);
    // pymatgen's frac_tol = |2 pi b*_k| stol / (pi normalization) = 2 stol |b*_k| / normalization.
    const Vec3 rec = reciprocalLengths(avg);
    Vec3 fracTol;
    for (int k = 0; k < 3; ++k) fracTol[k] = 2 * options_.stol * rec[k] / normalization;
    const ShortestVectors shortest(avg);
    const Vec3 recReduced = reciprocalLengths(shortest.reduced);
    Vec3 reducedTol;
    for (int k = 0; k < 3; ++k) reducedTol[k] = 2 * options_.stol * recReduced[k] / normalization;

    for (std::size_t j0 : anchorTargets) {
      Vec3 t;
      for (int k = 0; k < 3; ++k) t[k] = fc1[j0][k] - s2.frac[anchor][k];
      std::vector<Vec3> fc2(n);
      for (std::size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) fc2[i][k] = s2.frac[i][k] + t[k];
      // Every s2 site needs an allowed s1 site within the fractional tolerance.
      bool subset = true;
      for (std::size_t i = 0; i < n && subset; ++i) {
        bool found = false;
        for (std::size_t j = 0; j < n && !found; ++j) {
          if (mask[i][j]) continue;
          found = withinTol(Vec3{fc1[j][0] - fc2[i][0], fc1[j][1] - fc2[i][1], fc1[j][2] - fc2[i][2]}, fracTol);
        }
        subset = found;
      }
      if (!subset) continue;
      // Shortest vectors s2 -> s1 in the average lattice; squared lengths for the assignment.
      std::vector<std::vector<Vec3>> vecs(n, std::vector<Vec3>(n));
      std::vector<std::vector<double>> d2(n, std::vector<double>(n, kBig));
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          if (mask[i][j]) continue;
          Vec3 rf;
          vecs[i][j] = shortest(Vec3{fc1[j][0] - fc2[i][0], fc1[j][1] - fc2[i][1], fc1[j][2] - fc2[i][2]}, &rf);
          bool close = true;
          for (int k = 0; k < 3; ++k) close = close && std::abs(rf[k]) <= reducedTol[k];
          if (close) d2[i][j] = dot3(vecs[i][j], vecs[i][j]);
        }
      const std::vector<int> assign = linearAssignment(d2);
      Vec3 shift{0, 0, 0};
      bool forbidden = false;
      for (std::size_t i = 0; i < n; ++i) {
        if (d2[i][assign[i]] >= kBig) forbidden = true;
        for (int k = 0; k < 3; ++k) shift[k] += vecs[i][assign[i]][k] / n;
      }
      if (forbidden) continue;
      double maxD = 0, sum2 = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const Vec3& v = vecs[i][assign[i]];
        const Vec3 r{v[0] - shift[0], v[1] - shift[1], v[2] - shift[2]};
        const double d = norm3(r) * normalization;
        maxD = std::max(maxD, d);
        sum2 += d * d;
      }
      const double rms = std::sqrt(sum2 / n);
      const double val = useRms ? rms : maxD;
      if (val < bestVal) {
        bestVal = val;
        best = MatchResult{rms, maxD};
        if ((breakOnMatch || val < 1e-5) && val < options_.stol) return best;
      }
    }
  }
  if (best && bestVal < options_.stol) return best;
  return std::nullopt;
}

bool StructureMatcher::fit(const Structure& a, const Structure& b, bool skipReduction) const {
  const auto m = match(a, b, skipReduction, true);
  return m && m->maxDist <= options_.stol;
}

std::optional<MatchResult> StructureMatcher::rmsDistance(const Structure& a, const Structure& b) const {
  return match(a, b, false, false);
}

std::vector<int> StructureMatcher::groupStructures(const Trajectory& structures) const {
  const std::size_t n = structures.size();
  std::vector<Structure> reduced;
  reduced.reserve(n);
  for (const Structure& s : structures) reduced.push_back(reduce(s));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::string> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = reducedCompositionKey(structures[i]);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return keys[x] < keys[y]; });
  std::vector<int> group(n, -1);
  int next = 0;
  for (std::size_t a = 0; a < n; ++a) {
    const std::size_t i = order[a];
    if (group[i] >= 0) continue;
    group[i] = next;
    for (std::size_t b = a + 1; b < n && keys[order[b]] == keys[i]; ++b) {
      const std::size_t j = order[b];
      if (group[j] < 0 && fit(reduced[i], reduced[j], true)) group[j] = next;
    }
    ++next;
  }
  return group;
}

}  // namespace atomscope::chem
