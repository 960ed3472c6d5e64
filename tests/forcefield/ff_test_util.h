#pragma once
#include <cmath>
#include <filesystem>
#include <random>
#include <string>

#include "atomscope/chem/xyz.h"
#include "atomscope/forcefield/graph.h"
#include "atomscope/forcefield/ponita.h"
#include "test_util.h"

namespace atomscope::ff_test {

namespace fs = std::filesystem;
using chem::Mat3;
using chem::Structure;
using chem::Vec3;

inline fs::path sharedData(const std::string& rel) { return fs::path(ATOMSCOPE_SHARED_DATA_DIR) / rel; }
inline fs::path bpaFile() { return sharedData("md_forces/3bpa_train_300K.xyz"); }
inline fs::path mlipTestFile() { return sharedData("md_forces/mlip_test.xyz"); }
inline fs::path mlipTrainFile() { return sharedData("md_forces/mlip_train.xyz"); }
inline fs::path maceModel() { return sharedData("mlip_models/mace_toy_test_compiled.model"); }

// The first `n` frames of 3BPA (27 atoms: C, H, N, O; energies in eV, forces in eV/A).
inline const chem::Trajectory& bpaFrames() {
  static const chem::Trajectory t = chem::readXyz(bpaFile());
  return t;
}

// A uniformly random rotation (unit quaternion from three uniforms, Shoemake 1992).
inline Mat3 randomRotation(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double u1 = u(rng), u2 = u(rng), u3 = u(rng);
  const double a = std::sqrt(1 - u1), b = std::sqrt(u1);
  const double w = a * std::sin(2 * M_PI * u2), x = a * std::cos(2 * M_PI * u2), y = b * std::sin(2 * M_PI * u3),
               z = b * std::cos(2 * M_PI * u3);
  return Mat3{Vec3{1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)},
              Vec3{2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)},
              Vec3{2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)}};
}

// Rotation by `angle` about the unit axis (Rodrigues).
inline Mat3 axisRotation(Vec3 n, double angle) {
  const double l = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  for (auto& v : n) v /= l;
  const double c = std::cos(angle), s = std::sin(angle), t = 1 - c;
  return Mat3{Vec3{t * n[0] * n[0] + c, t * n[0] * n[1] - s * n[2], t * n[0] * n[2] + s * n[1]},
              Vec3{t * n[0] * n[1] + s * n[2], t * n[1] * n[1] + c, t * n[1] * n[2] - s * n[0]},
              Vec3{t * n[0] * n[2] - s * n[1], t * n[1] * n[2] + s * n[0], t * n[2] * n[2] + c}};
}

inline Vec3 apply(const Mat3& R, const Vec3& v) {
  Vec3 o{};
  for (int r = 0; r < 3; ++r) o[r] = R[r][0] * v[0] + R[r][1] * v[1] + R[r][2] * v[2];
  return o;
}

// A small, fast model (seeded weights) for property tests.
inline forcefield::Ponita smallPonita(const std::string& variant, const std::string& grid, int orientations,
                                      std::vector<int> species = {1, 6, 7, 8}, int seed = 7) {
  torch::manual_seed(seed);
  forcefield::PonitaConfig c;
  c.variant = variant;
  c.grid = grid;
  c.orientations = orientations;
  c.hidden = 16;
  c.basis = 16;
  c.layers = 2;
  c.cutoff = 4.0;
  c.species = std::move(species);
  forcefield::Ponita m(c);
  m->to(torch::kFloat64);
  m->eval();
  return m;
}

// smallPonita with the rMD17 model's kernel options: degree 3 (30 polynomial features, padded to 32) and a2 under a
// root, float64.
inline forcefield::Ponita smallPonitaDegree3(int orientations) {
  auto c = smallPonita("po", "fibonacci", orientations)->config;
  c.degree = 3;
  c.a2Root = true;
  torch::manual_seed(11);
  forcefield::Ponita m(c);
  m->to(torch::kFloat64);
  return m;
}

}  // namespace atomscope::ff_test
