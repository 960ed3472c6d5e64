#pragma once
// Force-field data sets from extended XYZ, E0s, PONITA training (loss MSE_E * w_E + MSE_F, AdamW,
// EMA, checkpoints) and evaluation (MAE / RMSE, parity data) of any Calculator.
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "atomscope/core/distributed.h"
#include "atomscope/core/job.h"
#include "atomscope/forcefield/calculator.h"
#include "atomscope/forcefield/ponita.h"

namespace atomscope::forcefield {

struct DataOptions {
  std::string energyKey;          // empty: Structure::energy() (energy, free_energy, REF_energy, ...)
  std::string forcesKey;          // empty: Structure::forces() (forces, REF_forces, ...)
  std::string stressKey;          // empty: stress, REF_stress, dft_stress; 6 (Voigt xx yy zz yz xz xy) or 9 values, energy unit per A^3
  std::string energyUnit = "eV";  // eV, kcal/mol, kJ/mol, Hartree; forces are in that unit per A
  std::size_t limit = 0;          // first N frames (0: all)
  std::size_t skip = 0;           // frames skipped before reading
};

// Frames with "energy" (eV) in info and "forces" (eV/A) as per-atom array, converted from the file's
// keys and unit, and "stress" (eV/A^3, 9 values row by row, ASE's sign) for periodic frames that have
// one. Throws ForceFieldError naming the file and frame when a label is missing or malformed.
std::vector<chem::Structure> loadLabelled(const std::filesystem::path& file, const DataOptions& options);
double energyUnitInEv(const std::string& unit);  // throws ForceFieldError for an unknown unit

// E0 per species: from a file of isolated atoms (one-atom frames with energies) or by least squares
// of the energies on the element counts.
std::vector<double> e0FromIsolatedAtoms(const std::filesystem::path& file, const std::vector<int>& species,
                                        const DataOptions& options);
std::vector<double> e0LeastSquares(const std::vector<chem::Structure>& frames, const std::vector<int>& species);

struct TrainOptions {
  long long steps = 1000;
  long long batchSize = 5;
  double lr = 5e-4;
  double weightDecay = 0.0;
  double energyWeight = 1.0 / 500.0;  // PONITA's rMD17 recipe: MSE_E / 500 + MSE_F
  // Weight of the stress MSE (eV/A^3)^2 over the periodic frames with a stress label (0: stress not trained).
  // One process only.
  double stressWeight = 0.0;
  double emaDecay = 0.99;
  long long checkpointEvery = 200;
  long long evalEvery = 100;         // validation metrics every N steps (0: never)
  double gradClip = 10.0;
  double maxSeconds = 0;             // stop (with a checkpoint) after this much training time (0: no limit)
  bool cosineSchedule = false;       // lr decays to 1% by cosine over the run (by steps or by maxSeconds, whichever ends first)
  // The lr rises linearly over the first N steps of this run (times the schedule's value). With init,
  // Adam's first steps would otherwise move every weight of a trained model by about the full lr.
  long long warmupSteps = 0;
  torch::Dtype dtype = torch::kFloat32;
  // Each structure of each batch turned by a random rotation (positions, cell, forces), as the
  // reference PONITA trains: the orientation grid makes the model equivariant only approximately.
  bool rotate = false;
  // Before the first step of a new run, PonitaImpl::calibrateKernels on the first batch_size frames.
  bool calibrate = false;
  // One process, frames of one size: keep the frames on the device (resident_frames.h), up to this
  // much device memory; and on CUDA capture the step as a CUDA graph and replay it.
  bool resident = true;
  std::size_t residentMaxBytes = std::size_t{2} << 30;
  bool cudaGraph = true;
  // Metrics (window means) every N steps; more than 1 spares the host read of every step.
  long long logEvery = 1;
  std::optional<torch::Device> device;  // empty: the context's device
  // Data parallel (distributed.h): each rank takes its share of every batch's structures, gradients
  // are averaged over ranks in the backward pass, and only rank 0 writes checkpoints and validates.
  // The result equals one process's with the same batch_size and seed, up to float rounding.
  std::shared_ptr<core::Communicator> comm;
};

struct Metrics {
  double energyMae = 0, energyRmse = 0;          // eV per structure
  double energyMaePerAtom = 0, energyRmsePerAtom = 0;
  double forceMae = 0, forceRmse = 0;            // eV/A per component
  double stressMae = 0, stressRmse = 0;          // eV/A^3 per component, over stressFrames frames
  std::size_t stressFrames = 0;
  std::size_t frames = 0;
  Json toJson() const;
};

struct TrainResult {
  long long steps = 0;
  double lastLoss = 0, stepsPerSecond = 0;
  bool cudaGraphs = false, residentFrames = false;  // how the steps ran
  Metrics valid;  // of the EMA weights on the validation frames (empty set: zeros)
};

// Uniformly random rotation matrices [count, 3, 3] (float64, CPU) from a seed: unit quaternions of
// four normal draws.
torch::Tensor randomRotations(std::int64_t count, std::uint64_t seed);

// Trains `model` (species, E0s and scale already set) on `train`; streams metrics through ctx,
// checkpoints into ctx.run() and resumes from ctx.resumeCheckpoint(). On return the model holds
// the EMA weights.
TrainResult trainPonita(core::Context& ctx, Ponita& model, const std::vector<chem::Structure>& train,
                        const std::vector<chem::Structure>& valid, const TrainOptions& options);

// Mean number of neighbours within cutoff over the frames (PONITA's message normaliser).
double meanNeighbors(const std::vector<chem::Structure>& frames, double cutoff);

struct Prediction {
  double energy, refEnergy;
  std::vector<chem::Vec3> forces, refForces;
  std::size_t atoms;
  std::optional<chem::Mat3> stress, refStress;  // periodic frames with a stress label (eV/A^3)
};
std::vector<Prediction> predictAll(Calculator& calc, const std::vector<chem::Structure>& frames,
                                   const std::function<void(std::size_t)>& progress = {});
Metrics metricsOf(const std::vector<Prediction>& p);

}  // namespace atomscope::forcefield
