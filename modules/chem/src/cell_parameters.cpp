#include "atomscope/chem/cell_parameters.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "atomscope/chem/error.h"

namespace atomscope::chem {
namespace {

double norm(const Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }
double dot(const Vec3& u, const Vec3& v) { return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]; }
double angleDegrees(const Vec3& u, const Vec3& v) {
  const double nu = norm(u), nv = norm(v);
  if (nu == 0 || nv == 0) return 90.0;
  const double c = std::clamp(dot(u, v) / (nu * nv), -1.0, 1.0);
  return std::acos(c) * 180.0 / std::numbers::pi;
}

}  // namespace

CellParameters cellParameters(const Mat3& m) {
  CellParameters p;
  p.a = norm(m[0]);
  p.b = norm(m[1]);
  p.c = norm(m[2]);
  p.alpha = angleDegrees(m[1], m[2]);
  p.beta = angleDegrees(m[0], m[2]);
  p.gamma = angleDegrees(m[0], m[1]);
  return p;
}

Mat3 latticeFromParameters(const CellParameters& p) {
  for (double v : {p.a, p.b, p.c})
    if (!std::isfinite(v) || v <= 0)
      throw ChemError("cell lengths must be positive and finite (a=" + std::to_string(p.a) +
                      ", b=" + std::to_string(p.b) + ", c=" + std::to_string(p.c) + ")");
  for (double v : {p.alpha, p.beta, p.gamma})
    if (!std::isfinite(v) || v <= 0 || v >= 180)
      throw ChemError("cell angles must lie strictly between 0 and 180 degrees (alpha=" +
                      std::to_string(p.alpha) + ", beta=" + std::to_string(p.beta) +
                      ", gamma=" + std::to_string(p.gamma) + ")");
  // As ase.geometry.cellpar_to_cell: exact right angles avoid cos(pi/2) = 6e-17 noise.
  constexpr double eps = 2.8421709430404007e-14;  // 2 * np.spacing(90.0)
  const double rad = std::numbers::pi / 180.0;
  auto cosOf = [&](double deg) { return std::abs(deg - 90) < eps ? 0.0 : std::cos(deg * rad); };
  const double ca = cosOf(p.alpha), cb = cosOf(p.beta);
  double cg, sg;
  if (std::abs(p.gamma - 90) < eps) {
    cg = 0.0;
    sg = 1.0;
  } else {
    cg = std::cos(p.gamma * rad);
    sg = std::sin(p.gamma * rad);
  }
  const double cx = cb;
  const double cy = (ca - cb * cg) / sg;
  const double czSquared = 1.0 - cx * cx - cy * cy;
  if (!(czSquared > 0))
    throw ChemError("the cell angles alpha=" + std::to_string(p.alpha) + ", beta=" + std::to_string(p.beta) +
                    ", gamma=" + std::to_string(p.gamma) + " do not form a cell (zero or negative volume)");
  const double cz = std::sqrt(czSquared);
  return Mat3{Vec3{p.a, 0, 0}, Vec3{p.b * cg, p.b * sg, 0}, Vec3{p.c * cx, p.c * cy, p.c * cz}};
}

}  // namespace atomscope::chem
