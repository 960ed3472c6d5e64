#include "atomscope/chem/bonds.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "atomscope/chem/elements.h"
#include "atomscope/chem/error.h"

namespace atomscope::chem {

double bondCutoff(int zi, int zj, const BondOptions& options) {
  return options.scale * (element(zi).covalentRadius + element(zj).covalentRadius) + options.tolerance;
}

namespace {

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double norm(const Vec3& a) { return std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]); }

}  // namespace

// Cell list in the coordinates of the cell (fractional with a lattice, Cartesian box without).
// Along each axis the box is cut into n bins no thinner (perpendicular width) than the largest
// cutoff, so every bonded partner lies within k = ceil(cutoff / bin width) bins. Periodic axes
// wrap bins and remember the image shift; open axes clamp, which can only add candidates.
std::vector<Bond> findBonds(const Structure& s, const BondOptions& options) {
  s.validate();
  const std::size_t n = s.size();
  std::vector<Bond> bonds;
  if (n == 0) return bonds;

  double maxRadius = 0;
  for (int z : s.numbers) maxRadius = std::max(maxRadius, element(z).covalentRadius);
  const double maxCutoff = options.scale * 2.0 * maxRadius + options.tolerance;
  if (!(maxCutoff > 0)) return bonds;
  const double minD2 = options.minDistance * options.minDistance;

  // Per-element cutoffs squared, looked up by Z pair.
  std::vector<int> present;
  for (int z : s.numbers)
    if (std::find(present.begin(), present.end(), z) == present.end()) present.push_back(z);
  std::vector<double> cutoff2((kMaxAtomicNumber + 1) * (kMaxAtomicNumber + 1), 0.0);
  for (int a : present)
    for (int b : present) {
      const double c = bondCutoff(a, b, options);
      cutoff2[a * (kMaxAtomicNumber + 1) + b] = c > 0 ? c * c : 0.0;
    }

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
    bins[k] = static_cast<int>(std::clamp(std::floor(width / maxCutoff), 1.0, maxBins));
    const double binWidth = width / bins[k];
    reach[k] = static_cast<int>(std::ceil(maxCutoff / binWidth - 1e-12));
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
    const int zi = s.numbers[i];
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
            if (d2 < minD2 || d2 >= cutoff2[zi * (kMaxAtomicNumber + 1) + s.numbers[j]]) continue;
            Bond bond;
            bond.i = static_cast<int>(i);
            bond.j = static_cast<int>(j);
            // In the structure's own (unwrapped) coordinates: image = t - w_j + w_i.
            bond.image = {ta - wrapShift[j][0] + wrapShift[i][0], tb - wrapShift[j][1] + wrapShift[i][1],
                          tc - wrapShift[j][2] + wrapShift[i][2]};
            if (j == i) {
              // A self-image bond appears as +t and -t: keep the lexicographically positive one.
              if (bond.image < std::array<int, 3>{0, 0, 0}) continue;
            }
            bonds.push_back(bond);
          }
        }
      }
    }
  }
  std::sort(bonds.begin(), bonds.end(), [](const Bond& a, const Bond& b) {
    if (a.i != b.i) return a.i < b.i;
    if (a.j != b.j) return a.j < b.j;
    return a.image < b.image;
  });
  return bonds;
}

}  // namespace atomscope::chem
