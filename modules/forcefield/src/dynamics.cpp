#include "atomscope/forcefield/dynamics.h"

#include <cmath>
#include <deque>

#include "atomscope/chem/elements.h"
#include "atomscope/forcefield/error.h"

namespace atomscope::forcefield {

using chem::Vec3;

double maxForce(const std::vector<Vec3>& f) {
  double m = 0;
  for (const auto& v : f) m = std::max(m, std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]));
  return m;
}

void attachResult(chem::Structure& s, const CalcResult& r) {
  s.info["energy"] = r.energy;
  chem::AtomProperty f;
  f.columns = 3;
  for (const auto& v : r.forces) f.values.insert(f.values.end(), v.begin(), v.end());
  s.atomProperties["forces"] = f;
  if (r.stress) {
    // Voigt order as ASE's extxyz writer: xx yy zz yz xz xy.
    const auto& m = *r.stress;
    s.info["stress"] = std::vector<double>{m[0][0], m[1][1], m[2][2], m[1][2], m[0][2], m[0][1]};
  }
}

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<double> flat(const std::vector<Vec3>& v) {
  std::vector<double> o;
  o.reserve(3 * v.size());
  for (const auto& x : v) o.insert(o.end(), x.begin(), x.end());
  return o;
}

// Scales a step so that no atom moves more than maxStep.
void capStep(std::vector<double>& dr, double maxStep) {
  double worst = 0;
  for (std::size_t a = 0; a < dr.size() / 3; ++a)
    worst = std::max(worst, std::sqrt(dr[3 * a] * dr[3 * a] + dr[3 * a + 1] * dr[3 * a + 1] + dr[3 * a + 2] * dr[3 * a + 2]));
  if (worst > maxStep)
    for (auto& x : dr) x *= maxStep / worst;
}

void move(chem::Structure& s, const std::vector<double>& dr) {
  for (std::size_t a = 0; a < s.size(); ++a)
    for (int c = 0; c < 3; ++c) s.positions[a][c] += dr[3 * a + c];
}

}  // namespace

OptimizeResult optimize(Calculator& calc, chem::Structure s, const OptimizeOptions& o,
                        const std::function<void(const OptimizeStep&, const chem::Structure&)>& onStep) {
  if (o.method != "fire" && o.method != "lbfgs") throw ForceFieldError("optimizer must be fire or lbfgs, not '" + o.method + "'");
  if (!(o.fmax > 0)) throw ForceFieldError("fmax must be positive");
  const std::size_t n3 = 3 * s.size();
  OptimizeResult res;
  // FIRE state (ASE's defaults, time in ASE units).
  double dt = 0.1, alpha = 0.1;
  int positive = 0;
  std::vector<double> v(n3, 0.0);
  bool haveV = false;
  // L-BFGS state (memory 100, initial inverse Hessian 1/70 A^2/eV as ASE).
  std::deque<std::vector<double>> sHist, yHist;
  std::deque<double> rhoHist;
  std::vector<double> prevX, prevF;
  for (int step = 0;; ++step) {
    auto r = calc.compute(s);
    const double fm = maxForce(r.forces);
    attachResult(s, r);
    OptimizeStep st{step, r.energy, fm};
    res.history.push_back(st);
    if (onStep) onStep(st, s);
    res.steps = step;
    res.energy = r.energy;
    res.fmax = fm;
    if (fm < o.fmax) {
      res.converged = true;
      break;
    }
    if (step >= o.maxSteps) break;
    const auto f = flat(r.forces);
    std::vector<double> dr(n3);
    if (o.method == "fire") {
      if (haveV) {
        const double vf = dot(v, f);
        if (vf > 0) {
          const double vn = std::sqrt(dot(v, v)), fn = std::sqrt(dot(f, f));
          for (std::size_t k = 0; k < n3; ++k) v[k] = (1 - alpha) * v[k] + alpha * f[k] / fn * vn;
          if (positive > 5) {
            dt = std::min(dt * 1.1, 1.0);
            alpha *= 0.99;
          }
          ++positive;
        } else {
          std::fill(v.begin(), v.end(), 0.0);
          alpha = 0.1;
          dt *= 0.5;
          positive = 0;
        }
      }
      haveV = true;
      for (std::size_t k = 0; k < n3; ++k) {
        v[k] += dt * f[k];
        dr[k] = dt * v[k];
      }
    } else {
      const auto x = flat(s.positions);
      if (!prevX.empty()) {
        std::vector<double> sv(n3), yv(n3);
        for (std::size_t k = 0; k < n3; ++k) {
          sv[k] = x[k] - prevX[k];
          yv[k] = prevF[k] - f[k];  // gradient difference (g = -F)
        }
        const double sy = dot(sv, yv);
        if (sy > 1e-12) {
          sHist.push_back(sv);
          yHist.push_back(yv);
          rhoHist.push_back(1.0 / sy);
          if (sHist.size() > 100) {
            sHist.pop_front();
            yHist.pop_front();
            rhoHist.pop_front();
          }
        }
      }
      // Two-loop recursion on the gradient -F.
      std::vector<double> q(n3);
      for (std::size_t k = 0; k < n3; ++k) q[k] = -f[k];
      std::vector<double> a(sHist.size());
      for (std::size_t i = sHist.size(); i-- > 0;) {
        a[i] = rhoHist[i] * dot(sHist[i], q);
        for (std::size_t k = 0; k < n3; ++k) q[k] -= a[i] * yHist[i][k];
      }
      for (auto& x0 : q) x0 /= 70.0;
      for (std::size_t i = 0; i < sHist.size(); ++i) {
        const double b = rhoHist[i] * dot(yHist[i], q);
        for (std::size_t k = 0; k < n3; ++k) q[k] += sHist[i][k] * (a[i] - b);
      }
      for (std::size_t k = 0; k < n3; ++k) dr[k] = -q[k];
      if (dot(dr, f) <= 0) {  // not a descent direction: restart from steepest descent
        sHist.clear();
        yHist.clear();
        rhoHist.clear();
        for (std::size_t k = 0; k < n3; ++k) dr[k] = f[k] / 70.0;
      }
      prevX = x;
      prevF = f;
    }
    capStep(dr, o.maxStep);
    move(s, dr);
  }
  res.structure = s;
  return res;
}

MdResult runMd(Calculator& calc, chem::Structure s, const MdOptions& o,
               const std::function<void(const MdSample&, const chem::Structure&)>& onSample) {
  if (o.ensemble != "nve" && o.ensemble != "nvt") throw ForceFieldError("ensemble must be nve or nvt, not '" + o.ensemble + "'");
  if (!(o.timestep > 0)) throw ForceFieldError("MD timestep must be positive");
  const std::size_t N = s.size();
  if (N == 0) throw ForceFieldError("MD: the structure has no atoms");
  std::vector<double> mass(N);
  for (std::size_t a = 0; a < N; ++a) mass[a] = chem::element(s.numbers[a]).mass;
  // Work in ASE time units internally: v in A / t_ase, dt in t_ase, a = F / m.
  const double dt = o.timestep * kFemtosecond;
  const double kT = kBoltzmannEv * o.temperature;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::vector<Vec3> v(N, Vec3{0, 0, 0});
  if (o.initVelocities) {
    Vec3 p{0, 0, 0};
    double mt = 0;
    for (std::size_t a = 0; a < N; ++a) {
      const double sd = std::sqrt(kT / mass[a]);
      for (int c = 0; c < 3; ++c) {
        v[a][c] = sd * gauss(rng);
        p[c] += mass[a] * v[a][c];
      }
      mt += mass[a];
    }
    for (auto& x : v)
      for (int c = 0; c < 3; ++c) x[c] -= p[c] / mt;  // no drift of the centre of mass
  } else if (const auto* vel = s.atomProperty("velocities"); vel && vel->columns == 3 && vel->atomCount() == N) {
    for (std::size_t a = 0; a < N; ++a)
      for (int c = 0; c < 3; ++c) v[a][c] = vel->at(a, c) / kFemtosecond;  // A/fs -> A/t_ase
  }
  auto r = calc.compute(s);
  MdResult res;
  auto kinetic = [&] {
    double k = 0;
    for (std::size_t a = 0; a < N; ++a) k += 0.5 * mass[a] * (v[a][0] * v[a][0] + v[a][1] * v[a][1] + v[a][2] * v[a][2]);
    return k;
  };
  auto sample = [&](int step) {
    const double ke = kinetic();
    MdSample smp{step, step * o.timestep, r.energy, ke, r.energy + ke, 2 * ke / (3.0 * N * kBoltzmannEv)};
    res.samples.push_back(smp);
    chem::Structure frame = s;
    attachResult(frame, r);
    chem::AtomProperty vel;
    vel.columns = 3;
    for (const auto& x : v)
      for (int c = 0; c < 3; ++c) vel.values.push_back(x[c] * kFemtosecond);
    frame.atomProperties["velocities"] = vel;
    frame.info["time_fs"] = smp.time;
    frame.info["temperature_K"] = smp.temperature;
    res.frames.push_back(frame);
    if (onSample) onSample(smp, frame);
  };
  sample(0);
  const double c1 = std::exp(-o.friction * o.timestep), c2 = std::sqrt(1 - c1 * c1);
  for (int step = 1; step <= o.steps; ++step) {
    for (std::size_t a = 0; a < N; ++a)
      for (int c = 0; c < 3; ++c) v[a][c] += 0.5 * dt * r.forces[a][c] / mass[a];
    if (o.ensemble == "nve") {
      for (std::size_t a = 0; a < N; ++a)
        for (int c = 0; c < 3; ++c) s.positions[a][c] += dt * v[a][c];
    } else {  // BAOAB: half drift, Ornstein-Uhlenbeck kick, half drift
      for (std::size_t a = 0; a < N; ++a)
        for (int c = 0; c < 3; ++c) s.positions[a][c] += 0.5 * dt * v[a][c];
      for (std::size_t a = 0; a < N; ++a) {
        const double sd = std::sqrt(kT / mass[a]);
        for (int c = 0; c < 3; ++c) v[a][c] = c1 * v[a][c] + c2 * sd * gauss(rng);
      }
      for (std::size_t a = 0; a < N; ++a)
        for (int c = 0; c < 3; ++c) s.positions[a][c] += 0.5 * dt * v[a][c];
    }
    r = calc.compute(s);
    for (std::size_t a = 0; a < N; ++a)
      for (int c = 0; c < 3; ++c) v[a][c] += 0.5 * dt * r.forces[a][c] / mass[a];
    if (step % std::max(1, o.sampleEvery) == 0 || step == o.steps) sample(step);
  }
  // Drift: least-squares slope of the total energy against time.
  const auto& sm = res.samples;
  if (sm.size() >= 2) {
    double mt = 0, me = 0;
    for (const auto& x : sm) {
      mt += x.time;
      me += x.total;
    }
    mt /= sm.size();
    me /= sm.size();
    double num = 0, den = 0;
    for (const auto& x : sm) {
      num += (x.time - mt) * (x.total - me);
      den += (x.time - mt) * (x.time - mt);
      res.maxDeviationPerAtom = std::max(res.maxDeviationPerAtom, std::abs(x.total - sm[0].total) / N);
    }
    res.driftPerAtomPerPs = den > 0 ? num / den * 1000.0 / N : 0.0;
  }
  return res;
}

}  // namespace atomscope::forcefield
