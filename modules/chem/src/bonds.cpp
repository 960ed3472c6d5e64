#include "atomscope/chem/bonds.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "atomscope/chem/elements.h"
#include "atomscope/chem/error.h"
#include "atomscope/chem/neighbors.h"

namespace atomscope::chem {

double bondCutoff(int zi, int zj, const BondOptions& options) {
  return options.scale * (element(zi).covalentRadius + element(zj).covalentRadius) + options.tolerance;
}

// Candidates come from the neighbour-list engine (neighbors.h) at the largest cutoff of the
// elements present; each pair is then held to its own cutoff.
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

  visitPairsWithin(s, maxCutoff, [&](std::size_t i, std::size_t j, const std::array<int, 3>& image, double d2) {
    if (d2 < minD2 || d2 >= cutoff2[s.numbers[i] * (kMaxAtomicNumber + 1) + s.numbers[j]]) return;
    bonds.push_back({static_cast<int>(i), static_cast<int>(j), image});
  });
  std::sort(bonds.begin(), bonds.end(), [](const Bond& a, const Bond& b) {
    if (a.i != b.i) return a.i < b.i;
    if (a.j != b.j) return a.j < b.j;
    return a.image < b.image;
  });
  return bonds;
}

}  // namespace atomscope::chem
