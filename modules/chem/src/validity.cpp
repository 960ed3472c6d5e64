// Crystal validity and set metrics as ADiT computes them (see validity.h).
#include "atomscope/chem/validity.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/elements.h"
#include "atomscope/chem/lattice.h"
#include "smact_tables.h"

namespace atomscope::chem {
namespace {

const smact::ElementData* smactElement(int z) {
  if (!isValidAtomicNumber(z)) return nullptr;
  static const std::map<std::string_view, const smact::ElementData*> bySymbol = [] {
    std::map<std::string_view, const smact::ElementData*> m;
    for (const auto& e : smact::elementTable()) m[e.symbol] = &e;
    return m;
  }();
  auto it = bySymbol.find(element(z).symbol);
  return it == bySymbol.end() ? nullptr : it->second;
}

// SMACT's eneg_states_test on every pair: a cation must be less electronegative than an anion.
bool paulingTest(const std::vector<int>& ox, const std::vector<double>& eneg) {
  for (std::size_t i = 0; i < ox.size(); ++i)
    for (std::size_t j = i + 1; j < ox.size(); ++j) {
      if (eneg[i] < 0 || eneg[j] < 0) return false;  // None in SMACT's data
      if (ox[i] > 0 && ox[j] < 0 && eneg[i] >= eneg[j]) return false;
      if (ox[i] < 0 && ox[j] > 0 && eneg[i] <= eneg[j]) return false;
    }
  return true;
}

}  // namespace

bool smactValidity(const std::vector<int>& zs, const std::vector<int>& countsIn) {
  std::map<int, int> comp;
  for (std::size_t i = 0; i < zs.size(); ++i) comp[zs[i]] += countsIn.at(i);
  if (comp.empty()) return false;
  if (comp.size() == 1) return true;
  std::vector<const smact::ElementData*> data;
  std::vector<int> counts;
  int g = 0;
  for (const auto& [z, n] : comp) {
    const auto* e = smactElement(z);
    if (!e || !e->hasOxidationStates) return false;  // ADiT: SMACT raises; counted invalid here
    data.push_back(e);
    counts.push_back(n);
    g = std::gcd(g, n);
  }
  if (std::all_of(data.begin(), data.end(), [](const auto* e) { return e->metal; })) return true;  // alloys
  for (int& n : counts) n /= g;
  double combos = 1;
  for (const auto* e : data) combos *= static_cast<double>(e->oxidationStates.size());
  if (combos > 1e7) return false;
  if (combos == 0) return false;
  std::vector<double> eneg;
  for (const auto* e : data) eneg.push_back(e->paulingElectronegativity);
  // Every choice of one oxidation state per element (itertools.product order), first success wins.
  const std::size_t k = data.size();
  std::vector<std::size_t> idx(k, 0);
  std::vector<int> ox(k);
  while (true) {
    long long charge = 0;
    for (std::size_t i = 0; i < k; ++i) {
      ox[i] = data[i]->oxidationStates[idx[i]];
      charge += static_cast<long long>(ox[i]) * counts[i];
    }
    if (charge == 0 && paulingTest(ox, eneg)) return true;
    std::size_t pos = k;
    while (pos > 0) {
      --pos;
      if (++idx[pos] < data[pos]->oxidationStates.size()) break;
      idx[pos] = 0;
      if (pos == 0) return false;
    }
  }
}

bool compositionValid(const Structure& s) {
  std::map<int, int> comp;
  for (int z : s.numbers) ++comp[z];
  std::vector<int> zs, counts;
  for (const auto& [z, n] : comp) {
    zs.push_back(z);
    counts.push_back(n);
  }
  return smactValidity(zs, counts);
}

double minimumInteratomicDistance(const Structure& s, double searchRadius) {
  const std::size_t n = s.size();
  double best = std::numeric_limits<double>::infinity();
  if (n < 2) return best;
  if (!s.isPeriodic()) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        double d2 = 0;
        for (int k = 0; k < 3; ++k) d2 += (s.positions[i][k] - s.positions[j][k]) * (s.positions[i][k] - s.positions[j][k]);
        best = std::min(best, std::sqrt(d2));
      }
    return best;
  }
  // Images along periodic axes out to the search radius: |n_k| <= ceil(r |b*_k|) + 1 after wrapping
  // the fractional difference to [-0.5, 0.5), with b* the reciprocal vectors (no 2 pi).
  const Mat3& l = *s.lattice;
  const Mat3 inv = inverse(l);
  int nmax[3];
  for (int k = 0; k < 3; ++k) {
    const double rec = std::sqrt(inv[0][k] * inv[0][k] + inv[1][k] * inv[1][k] + inv[2][k] * inv[2][k]);
    nmax[k] = s.pbc[k] ? static_cast<int>(std::ceil(searchRadius * rec)) + 1 : 0;
  }
  const auto frac = s.fractionalPositions();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      Vec3 d;
      for (int k = 0; k < 3; ++k) d[k] = s.pbc[k] ? frac[j][k] - frac[i][k] - std::round(frac[j][k] - frac[i][k]) : frac[j][k] - frac[i][k];
      for (int a = -nmax[0]; a <= nmax[0]; ++a)
        for (int b = -nmax[1]; b <= nmax[1]; ++b)
          for (int c = -nmax[2]; c <= nmax[2]; ++c) {
            const Vec3 v = rowTimes(Vec3{d[0] + a, d[1] + b, d[2] + c}, l);
            const double dd = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
            if (dd < best) best = dd;
          }
    }
  return best < searchRadius ? best : std::numeric_limits<double>::infinity();
}

CrystalValidity crystalValidity(const Structure& s, const CrystalValidityOptions& o) {
  CrystalValidity v;
  if (!s.lattice) {
    v.reason = "no lattice";
    return v;
  }
  if (s.empty()) {
    v.reason = "no atoms";
    return v;
  }
  if (o.angleFilter) {
    const CellParameters p = cellParameters(*s.lattice);
    for (double angle : {p.alpha, p.beta, p.gamma})
      if (!(angle > 50 && angle < 130)) {
        v.reason = "lattice angle " + std::to_string(angle) + " outside (50, 130) degrees";
        return v;
      }
  }
  const double volume = s.cellVolume();
  if (!(volume >= o.minVolume)) {  // ADiT: not even constructed, so composition is not checked
    v.reason = "volume " + std::to_string(volume) + " A^3 < " + std::to_string(o.minVolume);
    return v;
  }
  v.lattice = true;
  v.composition = compositionValid(s);
  v.minDistance = minimumInteratomicDistance(s, 2 * o.minDistance + 1.0);
  v.structure = !(v.minDistance < o.minDistance);
  v.valid = v.composition && v.structure;
  if (!v.structure) v.reason = "distance " + std::to_string(v.minDistance) + " A < " + std::to_string(o.minDistance) + " A";
  if (!v.composition) v.reason += std::string(v.reason.empty() ? "" : "; ") + "composition fails SMACT charge neutrality / Pauling test";
  return v;
}

SetMetrics crystalSetMetrics(const Trajectory& structures, const Trajectory* reference,
                             const StructureMatcherOptions& matcherOptions, const CrystalValidityOptions& options,
                             std::vector<CrystalValidity>* validityOut, std::vector<int>* groupOf) {
  SetMetrics m;
  m.total = structures.size();
  std::vector<CrystalValidity> validity;
  if (validityOut && validityOut->size() == structures.size()) {
    validity = *validityOut;
  } else {
    for (const Structure& s : structures) validity.push_back(crystalValidity(s, options));
  }
  Trajectory valid;
  std::vector<std::size_t> validIndex;
  for (std::size_t i = 0; i < structures.size(); ++i)
    if (validity[i].valid) {
      valid.push_back(structures[i]);
      validIndex.push_back(i);
    }
  m.valid = valid.size();
  m.validRate = m.total ? static_cast<double>(m.valid) / m.total : 0.0;
  const StructureMatcher matcher(matcherOptions);
  const std::vector<int> groups = matcher.groupStructures(valid);
  if (groupOf) {
    groupOf->assign(structures.size(), -1);
    for (std::size_t k = 0; k < valid.size(); ++k) (*groupOf)[validIndex[k]] = groups[k];
  }
  const int groupCount = groups.empty() ? 0 : *std::max_element(groups.begin(), groups.end()) + 1;
  m.unique = static_cast<std::size_t>(groupCount);
  m.uniqueRate = m.valid ? static_cast<double>(m.unique) / m.valid : 0.0;
  if (reference) {
    // ADiT: each group's first member against every reference crystal, fit with
    // skip_structure_reduction=True on the structures as given.
    std::vector<int> firstOf(groupCount, -1);
    for (std::size_t k = 0; k < groups.size(); ++k)
      if (firstOf[groups[k]] < 0) firstOf[groups[k]] = static_cast<int>(k);
    for (int g = 0; g < groupCount; ++g) {
      const Structure& s = valid[firstOf[g]];
      bool novel = true;
      for (const Structure& r : *reference)
        if (matcher.fit(s, r, true)) {
          novel = false;
          break;
        }
      m.novel += novel;
    }
    m.novelRate = groupCount ? static_cast<double>(m.novel) / groupCount : 0.0;
  }
  if (validityOut) *validityOut = validity;
  return m;
}

SetMetrics moleculeSetMetrics(const std::vector<std::string>& smiles, const std::set<std::string>* reference) {
  SetMetrics m;
  m.total = smiles.size();
  std::set<std::string> unique;
  for (const std::string& s : smiles)
    if (!s.empty()) {
      ++m.valid;
      unique.insert(s);
    }
  m.unique = unique.size();
  m.validRate = m.total ? static_cast<double>(m.valid) / m.total : 0.0;
  m.uniqueRate = m.valid ? static_cast<double>(m.unique) / m.valid : 0.0;
  if (reference) {
    for (const std::string& s : unique) m.novel += reference->count(s) == 0;
    // ADiT divides the novel unique SMILES by the number of valid molecules.
    m.novelRate = m.valid ? static_cast<double>(m.novel) / m.valid : 0.0;
  }
  return m;
}

}  // namespace atomscope::chem
