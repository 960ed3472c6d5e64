#include "atomscope/chem/structure.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "atomscope/chem/elements.h"
#include "atomscope/chem/error.h"

namespace atomscope::chem {

void Structure::addAtom(int z, const Vec3& position) {
  numbers.push_back(z);
  positions.push_back(position);
}

void Structure::removeAtom(std::size_t i) {
  if (i >= numbers.size())
    throw ChemError("remove atom " + std::to_string(i) + ": the structure has " + std::to_string(numbers.size()) + " atoms");
  const auto at = [i](auto& v, std::size_t width) {
    const auto first = v.begin() + static_cast<std::ptrdiff_t>(i * width);
    v.erase(first, first + static_cast<std::ptrdiff_t>(width));
  };
  at(numbers, 1);
  at(positions, 1);
  for (auto& [name, p] : atomProperties) {
    const auto width = static_cast<std::size_t>(std::max(p.columns, 1));
    if (p.type == AtomProperty::Type::String) {
      if (p.strings.size() >= (i + 1) * width) at(p.strings, width);
    } else if (p.values.size() >= (i + 1) * width) {
      at(p.values, width);
    }
  }
}

std::vector<std::string> Structure::symbols() const {
  std::vector<std::string> out;
  out.reserve(numbers.size());
  for (int z : numbers) out.emplace_back(isValidAtomicNumber(z) ? element(z).symbol : "X");
  return out;
}

std::string Structure::formula() const {
  std::map<int, int> counts;
  for (int z : numbers) ++counts[z];
  return hillFormula(counts);
}

std::optional<double> Structure::infoNumber(std::initializer_list<std::string_view> keys) const {
  for (std::string_view key : keys) {
    auto it = info.find(std::string(key));
    if (it != info.end() && it->is_number()) return it->get<double>();
  }
  return std::nullopt;
}

namespace {
constexpr std::string_view kEnergyKeys[] = {"energy", "free_energy", "dft_energy", "REF_energy",
                                            "ref_energy", "total_energy", "Energy", "E"};
constexpr std::string_view kForceKeys[] = {"forces", "force", "dft_forces", "REF_forces",
                                           "ref_forces", "dft_force", "F"};
}  // namespace

std::optional<std::string> Structure::energyKey() const {
  for (std::string_view key : kEnergyKeys) {
    auto it = info.find(std::string(key));
    if (it != info.end() && it->is_number()) return std::string(key);
  }
  return std::nullopt;
}

std::optional<double> Structure::energy() const {
  if (auto key = energyKey()) return info[*key].get<double>();
  return std::nullopt;
}

const AtomProperty* Structure::atomProperty(std::string_view name) const {
  auto it = atomProperties.find(std::string(name));
  return it == atomProperties.end() ? nullptr : &it->second;
}

const AtomProperty* Structure::forces() const {
  for (std::string_view key : kForceKeys) {
    const AtomProperty* p = atomProperty(key);
    if (p && p->type == AtomProperty::Type::Real && p->columns == 3) return p;
  }
  return nullptr;
}

double Structure::cellVolume() const {
  if (!lattice) return 0.0;
  const Mat3& m = *lattice;
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
         m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

std::vector<Vec3> Structure::fractionalPositions() const {
  if (!lattice) throw ChemError("fractional coordinates need a lattice");
  const Mat3& m = *lattice;
  const double det = cellVolume();
  if (std::abs(det) < 1e-12) throw ChemError("the lattice is singular (zero volume)");
  // inverse of m (rows a, b, c): r = f . m  =>  f = r . m^-1
  Mat3 inv;
  inv[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
  inv[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
  inv[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
  inv[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
  inv[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
  inv[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
  inv[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
  inv[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
  inv[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
  std::vector<Vec3> out(positions.size());
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const Vec3& r = positions[i];
    for (int k = 0; k < 3; ++k) out[i][k] = r[0] * inv[0][k] + r[1] * inv[1][k] + r[2] * inv[2][k];
  }
  return out;
}

std::array<Vec3, 2> Structure::bounds() const {
  if (positions.empty()) return {Vec3{0, 0, 0}, Vec3{0, 0, 0}};
  Vec3 lo = positions[0], hi = positions[0];
  for (const Vec3& r : positions)
    for (int k = 0; k < 3; ++k) {
      lo[k] = std::min(lo[k], r[k]);
      hi[k] = std::max(hi[k], r[k]);
    }
  return {lo, hi};
}

Vec3 Structure::centroid() const {
  Vec3 c{0, 0, 0};
  if (positions.empty()) return c;
  for (const Vec3& r : positions)
    for (int k = 0; k < 3; ++k) c[k] += r[k];
  for (double& v : c) v /= static_cast<double>(positions.size());
  return c;
}

void Structure::validate() const {
  if (positions.size() != numbers.size())
    throw ChemError("structure has " + std::to_string(numbers.size()) + " atomic numbers but " +
                    std::to_string(positions.size()) + " positions");
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (!isValidAtomicNumber(numbers[i]))
      throw ChemError("atom " + std::to_string(i) + " has atomic number " +
                      std::to_string(numbers[i]) + ", expected 1..118");
    for (double v : positions[i])
      if (!std::isfinite(v))
        throw ChemError("atom " + std::to_string(i) + " has a non-finite coordinate");
  }
  if (lattice)
    for (const Vec3& row : *lattice)
      for (double v : row)
        if (!std::isfinite(v)) throw ChemError("the lattice has a non-finite entry");
  for (const auto& [name, p] : atomProperties) {
    if (p.columns < 1) throw ChemError("per-atom array '" + name + "' has no columns");
    const std::size_t n = p.type == AtomProperty::Type::String ? p.strings.size() : p.values.size();
    if (n != numbers.size() * static_cast<std::size_t>(p.columns))
      throw ChemError("per-atom array '" + name + "' has " + std::to_string(n) +
                      " values, expected " + std::to_string(numbers.size()) + " x " +
                      std::to_string(p.columns));
  }
}

}  // namespace atomscope::chem
