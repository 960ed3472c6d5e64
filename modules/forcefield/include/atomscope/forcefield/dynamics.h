#pragma once
// Geometry optimisation (FIRE, L-BFGS) and molecular dynamics (velocity Verlet NVE, Langevin NVT)
// on any Calculator. Units as ASE: eV, Angstrom, amu, femtoseconds, Kelvin.
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "atomscope/forcefield/calculator.h"

namespace atomscope::forcefield {

// ASE's ase.units (CODATA 2014): one femtosecond in ASE time units (A sqrt(amu / eV)) and kB in eV/K.
inline constexpr double kFemtosecond = 0.09822694788464063;
inline constexpr double kBoltzmannEv = 8.617330337217213e-05;

double maxForce(const std::vector<chem::Vec3>& forces);  // largest per-atom |F|

struct OptimizeOptions {
  std::string method = "fire";  // "fire" (Bitzek et al. 2006) or "lbfgs"
  double fmax = 0.05;           // eV/A: stop when every atom's |F| is below
  int maxSteps = 500;
  double maxStep = 0.2;         // A: largest move of one atom per step
};

struct OptimizeStep {
  int step;
  double energy, fmax;
};

struct OptimizeResult {
  chem::Structure structure;  // final geometry with energy / forces attached
  bool converged = false;
  int steps = 0;
  double energy = 0.0, fmax = 0.0;
  std::vector<OptimizeStep> history;
};

// Moves positions only (cell fixed). onStep may throw (cancel) to stop.
OptimizeResult optimize(Calculator& calc, chem::Structure structure, const OptimizeOptions& options,
                        const std::function<void(const OptimizeStep&, const chem::Structure&)>& onStep = {});

struct MdOptions {
  std::string ensemble = "nve";  // "nve" (velocity Verlet) or "nvt" (Langevin, BAOAB splitting)
  double timestep = 0.5;         // fs
  int steps = 1000;
  double temperature = 300.0;    // K: initial Maxwell-Boltzmann velocities and the thermostat target
  double friction = 0.01;        // 1/fs (Langevin)
  int sampleEvery = 10;          // frames kept / reported every N steps
  unsigned long long seed = 1;
  bool initVelocities = true;    // otherwise uses structure.atomProperties["velocities"] (A/fs) or zeros
};

struct MdSample {
  int step;
  double time;        // fs
  double potential, kinetic, total;  // eV
  double temperature; // K, 2 KE / (3 N kB)
};

struct MdResult {
  std::vector<chem::Structure> frames;  // every sampleEvery steps (energy, forces, velocities attached)
  std::vector<MdSample> samples;
  double driftPerAtomPerPs = 0.0;       // slope of a least-squares line through total energy, eV/atom/ps
  double maxDeviationPerAtom = 0.0;     // max |E_total(t) - E_total(0)| / N, eV
};

MdResult runMd(Calculator& calc, chem::Structure structure, const MdOptions& options,
               const std::function<void(const MdSample&, const chem::Structure&)>& onSample = {});

// Attaches energy (info "energy"), forces (per-atom "forces") and, when present, stress to s.
void attachResult(chem::Structure& s, const CalcResult& r);

}  // namespace atomscope::forcefield
