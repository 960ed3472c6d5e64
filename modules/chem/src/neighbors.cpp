#include "atomscope/chem/neighbors.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>

#include "atomscope/chem/error.h"

namespace atomscope::chem {

namespace {

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double norm(const Vec3& a) { return std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]); }

}  // namespace

// Cell list in the coordinates of the cell (fractional with a lattice, Cartesian box without).
// Along each axis the box is cut into n bins no thinner (perpendicular width) than the cutoff, so
// every partner lies within reach = floor(cutoff / bin width) + 1 bins. Periodic axes wrap bins and
// remember the image shift (a reach beyond the box visits further images); open axes clamp, which
// can only add candidates.
void visitPairsWithin(const Structure& s, double cutoff,
                      const std::function<void(std::size_t, std::size_t, const std::array<int, 3>&, double)>& visit) {
  s.validate();
  const std::size_t n = s.size();
  if (n == 0 || !(cutoff > 0)) return;
  const double cutoff2 = cutoff * cutoff;
  const bool useLattice = s.lattice.has_value() && std::abs(s.cellVolume()) > 1e-9;
  std::array<bool, 3> periodic{false, false, false};
  Mat3 cell{};  // rows: axes of the binning box
  std::vector<Vec3> frac(n);
  if (useLattice) {
    cell = *s.lattice;
    periodic = s.pbc;
    frac = s.fractionalPositions();
  } else {
    const auto [lo, hi] = s.bounds();
    for (int k = 0; k < 3; ++k) {
      cell[k] = {0, 0, 0};
      cell[k][k] = std::max(hi[k] - lo[k], 1e-6);
    }
    for (std::size_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) frac[i][k] = (s.positions[i][k] - lo[k]) / cell[k][k];
  }

  // Perpendicular widths of the box: V / |b x c| etc.
  const double volume = std::abs(cell[0][0] * (cell[1][1] * cell[2][2] - cell[1][2] * cell[2][1]) -
                                 cell[0][1] * (cell[1][0] * cell[2][2] - cell[1][2] * cell[2][0]) +
                                 cell[0][2] * (cell[1][0] * cell[2][1] - cell[1][1] * cell[2][0]));
  std::array<int, 3> bins{1, 1, 1};
  std::array<int, 3> reach{1, 1, 1};
  for (int k = 0; k < 3; ++k) {
    const double width = volume / norm(cross(cell[(k + 1) % 3], cell[(k + 2) % 3]));
    // Cap bins so the grid stays proportional to the atom count (sparse boxes).
    const double maxBins = std::max(1.0, std::cbrt(static_cast<double>(n)) * 4.0);
    bins[k] = static_cast<int>(std::clamp(std::floor(width / cutoff), 1.0, maxBins));
    const double binWidth = width / bins[k];
    // A partner within the cutoff is at most floor(cutoff / binWidth) + 1 bins away along this axis.
    reach[k] = static_cast<int>(std::floor(cutoff / binWidth)) + 1;
    if (!periodic[k]) reach[k] = std::min(reach[k], bins[k]);  // clamped bins: no further needed
  }

  // Wrap periodic fractional coordinates into [0,1), remembering the integer part.
  std::vector<std::array<int, 3>> wrapShift(n, {0, 0, 0});
  std::vector<std::array<int, 3>> binOf(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) {
      double f = frac[i][k];
      if (periodic[k]) {
        const double fl = std::floor(f);
        wrapShift[i][k] = static_cast<int>(fl);
        f -= fl;
        if (f >= 1.0) f = 0.0;  // -1e-17 wraps to 1.0 in floating point
      }
      int b = static_cast<int>(std::floor(f * bins[k]));
      binOf[i][k] = std::clamp(b, 0, bins[k] - 1);
    }
  }
  const std::size_t binCount = static_cast<std::size_t>(bins[0]) * bins[1] * bins[2];
  auto flat = [&](int a, int b, int c) {
    return (static_cast<std::size_t>(a) * bins[1] + b) * bins[2] + c;
  };
  std::vector<std::uint32_t> start(binCount + 1, 0), order(n);
  for (std::size_t i = 0; i < n; ++i) ++start[flat(binOf[i][0], binOf[i][1], binOf[i][2]) + 1];
  for (std::size_t b = 0; b < binCount; ++b) start[b + 1] += start[b];
  {
    std::vector<std::uint32_t> fill(start.begin(), start.end() - 1);
    for (std::size_t i = 0; i < n; ++i)
      order[fill[flat(binOf[i][0], binOf[i][1], binOf[i][2])]++] = static_cast<std::uint32_t>(i);
  }

  // Wrapped Cartesian positions (periodic axes) so the distance is computed from binned coordinates.
  std::vector<Vec3> wrapped(n);
  for (std::size_t i = 0; i < n; ++i) {
    Vec3 r = s.positions[i];
    for (int k = 0; k < 3; ++k)
      if (wrapShift[i][k])
        for (int c = 0; c < 3; ++c) r[c] -= wrapShift[i][k] * cell[k][c];
    wrapped[i] = r;
  }

  for (std::size_t i = 0; i < n; ++i) {
    const auto& bi = binOf[i];
    for (int da = -reach[0]; da <= reach[0]; ++da) {
      int ra = bi[0] + da, ta = 0;
      if (periodic[0]) {
        ta = static_cast<int>(std::floor(static_cast<double>(ra) / bins[0]));
        ra -= ta * bins[0];
      } else if (ra < 0 || ra >= bins[0]) {
        continue;
      }
      for (int db = -reach[1]; db <= reach[1]; ++db) {
        int rb = bi[1] + db, tb = 0;
        if (periodic[1]) {
          tb = static_cast<int>(std::floor(static_cast<double>(rb) / bins[1]));
          rb -= tb * bins[1];
        } else if (rb < 0 || rb >= bins[1]) {
          continue;
        }
        for (int dc = -reach[2]; dc <= reach[2]; ++dc) {
          int rc = bi[2] + dc, tc = 0;
          if (periodic[2]) {
            tc = static_cast<int>(std::floor(static_cast<double>(rc) / bins[2]));
            rc -= tc * bins[2];
          } else if (rc < 0 || rc >= bins[2]) {
            continue;
          }
          // Shift of this neighbour bin in Cartesian space.
          Vec3 shift{0, 0, 0};
          for (int c = 0; c < 3; ++c) shift[c] = ta * cell[0][c] + tb * cell[1][c] + tc * cell[2][c];
          const std::size_t b = flat(ra, rb, rc);
          for (std::uint32_t q = start[b]; q < start[b + 1]; ++q) {
            const std::size_t j = order[q];
            if (j < i) continue;
            if (j == i && ta == 0 && tb == 0 && tc == 0) continue;
            const double dx = wrapped[j][0] + shift[0] - wrapped[i][0];
            const double dy = wrapped[j][1] + shift[1] - wrapped[i][1];
            const double dz = wrapped[j][2] + shift[2] - wrapped[i][2];
            const double d2 = dx * dx + dy * dy + dz * dz;
            if (d2 >= cutoff2) continue;
            // In the structure's own (unwrapped) coordinates: image = t - w_j + w_i.
            const std::array<int, 3> image{ta - wrapShift[j][0] + wrapShift[i][0], tb - wrapShift[j][1] + wrapShift[i][1],
                                           tc - wrapShift[j][2] + wrapShift[i][2]};
            // A self-image pair appears as +t and -t: keep the lexicographically positive one.
            if (j == i && image < std::array<int, 3>{0, 0, 0}) continue;
            visit(i, j, image, d2);
          }
        }
      }
    }
  }
}

NeighborList neighborList(const Structure& s, double cutoff) {
  if (!(cutoff > 0) || !std::isfinite(cutoff))
    throw ChemError("neighbour list: the cutoff must be a positive number of Angstrom, got " + std::to_string(cutoff));
  // Refuse cells so thin for the cutoff that the list would not fit in memory.
  if (s.lattice && s.size() > 0) {
    const double volume = std::abs(s.cellVolume());
    double images = 1.0;
    if (volume > 1e-9) {
      const Mat3& m = *s.lattice;
      for (int k = 0; k < 3; ++k)
        if (s.pbc[static_cast<std::size_t>(k)]) images *= 2.0 * std::ceil(cutoff / (volume / norm(cross(m[(k + 1) % 3], m[(k + 2) % 3])))) + 1.0;
    }
    if (images * static_cast<double>(s.size()) * static_cast<double>(s.size()) > 1e8 &&
        images * static_cast<double>(s.size()) > 5e7)
      throw ChemError("neighbour list: a cutoff of " + std::to_string(cutoff) + " A reaches about " +
                      std::to_string(static_cast<long long>(images)) + " periodic images of the cell: too many pairs");
  }
  struct Half {
    std::int32_t i, j;
    std::array<std::int32_t, 3> image;
    double d2;
  };
  std::vector<Half> half;
  visitPairsWithin(s, cutoff, [&](std::size_t i, std::size_t j, const std::array<int, 3>& image, double d2) {
    half.push_back({static_cast<std::int32_t>(i), static_cast<std::int32_t>(j), image, d2});
  });
  if (half.size() > 25'000'000) throw ChemError("neighbour list: more than 50 million pairs within " + std::to_string(cutoff) + " A");
  struct Pair {
    std::int32_t i, j;
    std::array<std::int32_t, 3> image;
  };
  std::vector<Pair> pairs;
  pairs.reserve(2 * half.size());
  for (const auto& h : half) {
    pairs.push_back({h.i, h.j, h.image});
    pairs.push_back({h.j, h.i, {-h.image[0], -h.image[1], -h.image[2]}});
  }
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) {
    if (a.i != b.i) return a.i < b.i;
    if (a.j != b.j) return a.j < b.j;
    return a.image < b.image;
  });
  NeighborList out;
  out.i.reserve(pairs.size());
  out.j.reserve(pairs.size());
  out.image.reserve(pairs.size());
  out.distance.reserve(pairs.size());
  out.vector.reserve(pairs.size());
  const Mat3 lat = s.lattice.value_or(Mat3{});
  for (const auto& p : pairs) {
    Vec3 v;
    for (int c = 0; c < 3; ++c)
      v[c] = s.positions[static_cast<std::size_t>(p.j)][c] - s.positions[static_cast<std::size_t>(p.i)][c] +
             p.image[0] * lat[0][c] + p.image[1] * lat[1][c] + p.image[2] * lat[2][c];
    out.i.push_back(p.i);
    out.j.push_back(p.j);
    out.image.push_back(p.image);
    out.vector.push_back(v);
    out.distance.push_back(norm(v));
  }
  return out;
}

}  // namespace atomscope::chem
