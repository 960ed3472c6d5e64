#include "atomscope/forcefield/ff_jobs.h"

#include <chrono>
#include <fstream>
#include <optional>
#include <algorithm>
#include <set>

#include "atomscope/chem/xyz.h"
#include "atomscope/core/torch_device.h"
#include "atomscope/forcefield/dynamics.h"
#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/ponita_calculator.h"
#include "atomscope/forcefield/training.h"

namespace atomscope::forcefield {

namespace fs = std::filesystem;
using core::Context;
using core::JobInfo;
using core::ParamSchema;

namespace {

void addDataParams(ParamSchema& s) {
  s.addString("energy_key", "", "Energy key in the extxyz info (empty: energy, REF_energy, dft_energy, ...).").markAdvanced();
  s.addString("forces_key", "", "Per-atom forces key (empty: forces, REF_forces, dft_forces, ...).").markAdvanced();
  s.addString("stress_key", "", "Stress key of periodic frames, 6 (Voigt) or 9 values in the energy unit per A^3 "
              "(empty: stress, REF_stress, dft_stress).").markAdvanced();
  s.addChoice("energy_unit", {"eV", "kcal/mol", "kJ/mol", "Hartree"}, "eV", "Unit of energies in the file (forces: that unit per A).");
}

DataOptions dataOptions(const core::Params& p) {
  DataOptions o;
  o.energyKey = p.getString("energy_key");
  o.forcesKey = p.getString("forces_key");
  o.stressKey = p.getString("stress_key");
  o.energyUnit = p.getString("energy_unit");
  return o;
}

void addModelParam(ParamSchema& s) {
  s.addString("model", "", "Calculator: a PONITA model file, a TorchScript model file (MACE), or 'xtb' (GFN2-xTB).");
}

// For the jobs that run a model on structures (not ff.label, whose labels are references).
void addPrecisionParam(ParamSchema& s) {
  s.addBool("tf32", false, "On CUDA, matrix products in TF32 (tensor cores): several times faster on large systems; "
            "energies and forces move by about 1e-3 relative.").markAdvanced();
  s.addFloat("neighbor_skin", 0.5, 0.0, 10.0, "Neighbour lists hold pairs within cutoff + skin (A) and are reused until "
             "an atom has moved skin / 2; 0 makes a list at every call.").markAdvanced();
  s.addBool("cuda_graph", true, "On CUDA, run a PONITA model's calls on small systems (a few hundred atoms) as a replayed "
            "CUDA graph; the same numbers, without the launch overhead of hundreds of kernels.").markAdvanced();
  s.addBool("split_tf32", true, "On CUDA in float32, a PONITA model's per-edge matrix products as three TF32 tensor-core "
            "products of split factors: float32's accuracy, faster than plain float32 products on GPUs with TF32 "
            "(compute capability 8.0 and up); false: plain float32 products (SGEMM).").markAdvanced();
}

std::unique_ptr<Calculator> calculatorOf(Context& ctx) {
  const auto spec = ctx.params().getString("model");
  if (spec.empty()) throw ForceFieldError("'model' is empty: give a model file or 'xtb'");
  auto calc = makeCalculator(spec, core::toTorchDevice(ctx.device()).str(), true);
  calc->tf32 = ctx.params().has("tf32") && ctx.params().getBool("tf32");
  if (ctx.params().has("neighbor_skin")) calc->neighborSkin = ctx.params().getFloat("neighbor_skin");
  if (auto* ponita = dynamic_cast<PonitaCalculator*>(calc.get()); ponita && ctx.params().has("cuda_graph"))
    ponita->cudaGraph = ctx.params().getBool("cuda_graph");
  if (auto* ponita = dynamic_cast<PonitaCalculator*>(calc.get()); ponita && ctx.params().has("split_tf32"))
    ponita->model()->splitTf32 = ctx.params().getBool("split_tf32");
  return calc;
}

// Checks for a cancel before every energy and force call, so that a long run stops within one
// step, not only at its next sample (which may be thousands of steps away).
class CancellableCalculator : public Calculator {
 public:
  CancellableCalculator(std::unique_ptr<Calculator> inner, core::Feedback& fb) : inner_(std::move(inner)), fb_(fb) {}
  std::string name() const override { return inner_->name(); }
  CalcResult compute(const chem::Structure& structure, bool stress) override {
    fb_.throwIfCancelled();
    return inner_->compute(structure, stress);
  }
  Calculator& inner() { return *inner_; }

 private:
  std::unique_ptr<Calculator> inner_;
  core::Feedback& fb_;
};

chem::Structure firstStructure(const std::string& path) {
  const auto frames = chem::readXyz(path);
  if (frames.empty()) throw ForceFieldError(path + ": no structures");
  return frames.front();
}

class TrainJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"ff.train", "Train a PONITA force field", "Force fields",
            "Trains PONITA (position-orientation or point-cloud) on energies and forces from extended XYZ: E0s from "
            "isolated atoms or least squares, loss MSE_E * energy_weight + MSE_F, AdamW with EMA, resumable "
            "checkpoints, validation metrics streamed. Writes model.pt (EMA weights). Data-parallel over several "
            "processes with --nproc (each takes its share of every batch's structures; the result equals one "
            "process's).",
            true, true};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("train", "", "Training frames (extxyz with energies and forces).", "Extended XYZ (*.xyz *.extxyz)");
    s.addOptionalPath("valid", "Validation frames (extxyz); empty: the last valid_count training frames.");
    s.addInt("train_count", 0, 0, std::nullopt, "Use the first N frames of 'train' for training (0: all but the validation ones).");
    s.addInt("valid_count", 0, 0, std::nullopt, "Without 'valid': hold out the last N frames of 'train'.");
    s.addOptionalPath("isolated_atoms", "One-atom frames with energies for the E0s (empty: least squares).");
    addDataParams(s);
    s.addChoice("variant", {"po", "pointcloud"}, "po", "PONITA variant: position-orientation or point cloud.");
    s.addInt("orientations", 20, 1, 1000, "Orientations on the sphere (po).");
    s.addInt("hidden", 128, 1, 4096, "Hidden channels.");
    s.addInt("basis", 256, 1, 4096, "Kernel basis size.");
    s.addInt("layers", 5, 1, 64, "ConvNeXt layers.");
    s.addInt("degree", 2, 1, 4, "Polynomial degree of the kernel features.").markAdvanced();
    s.addFloat("cutoff", 5.0, 0.5, 20.0, "Radius of the graph (A).");
    s.addFloat("invariant_length", 1.0, 0.0, 100.0, "Length (A) the kernels' invariants are measured in (0: the cutoff); 1 feeds them in Angstrom, as the reference does.").markAdvanced();
    s.addBool("a2_root", false, "Feed the kernels a2 (smoothed) as the reference does, not a2 squared.").markAdvanced();
    s.addBool("self_interaction", true, "Each atom also convolves with itself (the kernel at r = 0), as the reference's self-loops do.").markAdvanced();
    s.addInt("steps", 1000, 1, std::nullopt, "Optimizer steps.");
    s.addInt("batch_size", 5, 1, std::nullopt, "Structures per batch.");
    s.addFloat("lr", 5e-4, 0.0, 1.0, "AdamW learning rate.");
    s.addFloat("energy_weight", 0.002, 0.0, std::nullopt, "Weight of the energy MSE (force MSE has weight 1).");
    s.addFloat("stress_weight", 0.0, 0.0, std::nullopt, "Weight of the stress MSE ((eV/A^3)^2) over the periodic frames with a "
               "stress label; 0: stress is not trained. One process only.");
    s.addFloat("ema_decay", 0.99, 0.0, 1.0, "EMA of the weights.");
    s.addInt("checkpoint_every", 200, 1, std::nullopt, "Checkpoint every N steps.");
    s.addInt("eval_every", 100, 0, std::nullopt, "Validation every N steps (0: at the end only).");
    s.addFloat("max_seconds", 0.0, 0.0, std::nullopt, "Stop after this many seconds of training, with a checkpoint (0: no limit; counts resumed time).");
    s.addChoice("lr_schedule", {"constant", "cosine"}, "constant", "Learning rate: constant, or cosine decay to 1% over the steps or max_seconds.");
    s.addInt("warmup_steps", 0, 0, std::nullopt,
             "Raise the learning rate linearly over the first N steps of this run. Useful with 'init': without it Adam's "
             "first steps move every weight of the trained model by about the full learning rate.");
    s.addChoice("dtype", {"float32", "float64"}, "float32", "Precision of training.");
    s.addBool("rotate", false, "Turn every training structure by a random rotation each step (the reference PONITA's augmentation).");
    s.addBool("zero_readouts", true, "Start the readouts at zero (the model starts at E0 + shift with zero forces); false: PyTorch's default initialisation, as the reference.").markAdvanced();
    s.addBool("calibrate", false, "Before the first step, scale each layer's kernels so its convolutions keep the input's standard deviation (the reference PONITA's first-step calibration).").markAdvanced();
    s.addBool("resident", true, "When every frame has the same number of atoms, keep the frames on the device and make batches by gathers (no neighbour lists per step).").markAdvanced();
    s.addBool("cuda_graph", true, "On CUDA, with resident frames and float32: capture the training step as a CUDA graph and replay it (a small molecule's step is bound by kernel launches).").markAdvanced();
    s.addInt("log_every", 1, 1, std::nullopt, "Report the training metrics (means over the window) every N steps; more than 1 spares a host synchronisation per step.").markAdvanced();
    s.addOptionalPath("init", "Continue training this PONITA model file (from an earlier run, e.g. on another machine): "
                      "its architecture, elements, E0s and scale are kept and the architecture parameters here are "
                      "ignored; the optimiser and the schedule start afresh. Empty: a new model.",
                      "PONITA model (*.pt)");
    s.addDevice();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    // Data parallel: this process's place, its device, and the process group.
    const auto dist = core::DistributedEnv::fromEnvironment();
    const auto device = core::deviceForRank(core::toTorchDevice(ctx.device()), dist);
    std::shared_ptr<core::Communicator> comm;
    if (dist.active()) {
      comm = core::Communicator::create(dist, device);
      ctx.feedback().info("data parallel: rank " + std::to_string(dist.rank) + " of " + std::to_string(dist.worldSize) +
                          " (" + comm->backend() + ")");
    }
    auto data = dataOptions(p);
    auto all = loadLabelled(p.getString("train"), data);
    std::vector<chem::Structure> train, valid;
    const auto vc = static_cast<std::size_t>(p.getInt("valid_count"));
    if (!p.getString("valid").empty()) {
      valid = loadLabelled(p.getString("valid"), data);
      train = all;
    } else {
      if (vc >= all.size()) throw ForceFieldError("ff.train: valid_count " + std::to_string(vc) + " leaves no training frames");
      train.assign(all.begin(), all.end() - static_cast<long>(vc));
      valid.assign(all.end() - static_cast<long>(vc), all.end());
    }
    if (const auto tc = static_cast<std::size_t>(p.getInt("train_count")); tc > 0 && tc < train.size()) train.resize(tc);
    PonitaConfig c;
    c.variant = p.getString("variant");
    c.orientations = static_cast<int>(p.getInt("orientations"));
    c.hidden = static_cast<int>(p.getInt("hidden"));
    c.basis = static_cast<int>(p.getInt("basis"));
    c.layers = static_cast<int>(p.getInt("layers"));
    c.degree = static_cast<int>(p.getInt("degree"));
    c.cutoff = p.getFloat("cutoff");
    c.selfInteraction = p.getBool("self_interaction");
    c.invariantLength = p.getFloat("invariant_length");
    c.a2Root = p.getBool("a2_root");
    std::set<int> zs;
    for (const auto& s : train)
      for (int z : s.numbers) zs.insert(z);
    c.species.assign(zs.begin(), zs.end());
    c.e0 = p.getString("isolated_atoms").empty() ? e0LeastSquares(train, c.species)
                                                 : e0FromIsolatedAtoms(p.getString("isolated_atoms"), c.species, data);
    c.avgNeighbors = meanNeighbors(train, c.cutoff);
    // Shift: mean energy per atom left after the E0s, so the network starts near the right energy
    // and its early gradients are not all spent on a constant.
    {
      double rest = 0, atoms = 0;
      for (const auto& s : train) {
        double e0sum = 0;
        for (int z : s.numbers) e0sum += c.e0[std::find(c.species.begin(), c.species.end(), z) - c.species.begin()];
        rest += s.info.at("energy").get<double>() - e0sum;
        atoms += static_cast<double>(s.size());
      }
      c.shift = rest / atoms;
    }
    // Scale: RMS of the force components, so the network's output is of order one.
    double f2 = 0, nf = 0;
    for (const auto& s : train)
      for (double x : s.atomProperty("forces")->values) {
        f2 += x * x;
        nf += 1;
      }
    c.scale = nf > 0 ? std::max(1e-3, std::sqrt(f2 / nf)) : 1.0;
    torch::manual_seed(ctx.seed());
    const std::string init = p.getString("init");
    Ponita model = init.empty() ? Ponita(c) : loadPonita(init, torch::kCPU, torch::kFloat32);
    if (!init.empty()) {
      const auto& known = model->config.species;
      for (int z : zs)
        if (std::find(known.begin(), known.end(), z) == known.end())
          throw ForceFieldError("ff.train: the model in 'init' (" + init + ") does not know element Z=" + std::to_string(z) +
                                " of the training data");
      ctx.feedback().info("continuing " + init + " (its architecture, E0s and scale; fresh optimiser and schedule)");
    } else if (p.getBool("zero_readouts")) {
      model->zeroReadouts();  // a resumed run loads its weights over these
    }
    TrainOptions o;
    o.steps = p.getInt("steps");
    o.batchSize = p.getInt("batch_size");
    o.lr = p.getFloat("lr");
    o.energyWeight = p.getFloat("energy_weight");
    o.stressWeight = p.getFloat("stress_weight");
    o.emaDecay = p.getFloat("ema_decay");
    o.checkpointEvery = p.getInt("checkpoint_every");
    o.evalEvery = p.getInt("eval_every");
    o.maxSeconds = p.getFloat("max_seconds");
    o.cosineSchedule = p.getString("lr_schedule") == "cosine";
    o.warmupSteps = p.getInt("warmup_steps");
    o.dtype = core::torchDtype(p.getString("dtype"));
    o.rotate = p.getBool("rotate");
    o.calibrate = p.getBool("calibrate") && init.empty();  // trained kernels keep their scale
    o.resident = p.getBool("resident");
    o.cudaGraph = p.getBool("cuda_graph");
    o.logEvery = p.getInt("log_every");
    o.device = device;
    o.comm = comm;
    ctx.feedback().info("training on " + std::to_string(train.size()) + " frames, validating on " + std::to_string(valid.size()));
    const auto r = trainPonita(ctx, model, train, valid, o);
    if (comm) ctx.run().setSummary("processes", dist.worldSize);
    if (dist.rank != 0) return;  // rank 0 exports and validates
    model->to(torch::kCPU, torch::kFloat32);
    const auto file = ctx.run().addArtifact("model.pt", "ponita_model", "PONITA force field (EMA weights)");
    savePonita(file, model);
    ctx.run().setSummary("train_frames", train.size());
    ctx.run().setSummary("valid_frames", valid.size());
    ctx.run().setSummary("final_loss", r.lastLoss);
    ctx.run().setSummary("steps_done", r.steps);
    ctx.run().setSummary("stopped_by_time", r.steps < o.steps);  // max_seconds ended it early
    ctx.run().setSummary("steps_per_s", r.stepsPerSecond);
    ctx.run().setSummary("resident_frames", r.residentFrames);
    ctx.run().setSummary("cuda_graphs", r.cudaGraphs);
    ctx.run().setSummary("avg_neighbors", model->config.avgNeighbors);
    ctx.run().setSummary("energy_shift_eV_per_atom", model->config.shift);
    ctx.run().setSummary("force_scale_eV_per_A", model->config.scale);
    ctx.run().setSummary("valid_energy_mae_eV", r.valid.energyMae);
    ctx.run().setSummary("valid_energy_rmse_eV", r.valid.energyRmse);
    ctx.run().setSummary("valid_force_mae_eV_per_A", r.valid.forceMae);
    ctx.run().setSummary("valid_force_rmse_eV_per_A", r.valid.forceRmse);
    ctx.feedback().setProgress(1.0, "done");
  }
};

class EvaluateJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"ff.evaluate", "Evaluate a force field", "Force fields",
            "Energy and force errors (MAE, RMSE) of a model against labelled extended XYZ; writes metrics.json and "
            "parity data (parity_energy.csv, parity_forces.csv).",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    addModelParam(s);
    addPrecisionParam(s);
    s.addPath("data", "", "Labelled frames (extxyz).", "Extended XYZ (*.xyz *.extxyz)");
    s.addInt("skip", 0, 0, std::nullopt, "Skip the first N frames.");
    s.addInt("limit", 0, 0, std::nullopt, "Evaluate at most N frames (0: all).");
    addDataParams(s);
    s.addDevice();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    auto data = dataOptions(p);
    data.skip = static_cast<std::size_t>(p.getInt("skip"));
    data.limit = static_cast<std::size_t>(p.getInt("limit"));
    const auto frames = loadLabelled(p.getString("data"), data);
    auto calc = calculatorOf(ctx);
    const auto preds = predictAll(*calc, frames, [&](std::size_t k) {
      ctx.feedback().throwIfCancelled();
      ctx.feedback().setProgress(static_cast<double>(k) / frames.size(), "frame " + std::to_string(k));
    });
    const auto m = metricsOf(preds);
    {
      std::ofstream e(ctx.run().addArtifact("parity_energy.csv", "csv", "reference vs predicted energies (eV)"));
      e.precision(10);
      e << "frame,atoms,energy_ref_eV,energy_pred_eV\n";
      for (std::size_t k = 0; k < preds.size(); ++k)
        e << k << ',' << preds[k].atoms << ',' << preds[k].refEnergy << ',' << preds[k].energy << '\n';
      std::ofstream f(ctx.run().addArtifact("parity_forces.csv", "csv", "reference vs predicted force components (eV/A)"));
      f.precision(8);
      f << "frame,atom,axis,force_ref,force_pred\n";
      for (std::size_t k = 0; k < preds.size(); ++k)
        for (std::size_t a = 0; a < preds[k].refForces.size(); ++a)
          for (int c = 0; c < 3; ++c)
            f << k << ',' << a << ',' << "xyz"[c] << ',' << preds[k].refForces[a][c] << ',' << preds[k].forces[a][c] << '\n';
      std::ofstream j(ctx.run().addArtifact("metrics.json", "json", "MAE and RMSE table"));
      j << m.toJson().dump(2) << '\n';
    }
    const Json table = m.toJson();  // bound: items() of a temporary dangles
    for (const auto& [k, v] : table.items()) ctx.run().setSummary(k, v);
    ctx.feedback().info(calc->name() + ": energy MAE " + std::to_string(m.energyMae * 1000) + " meV, force MAE " +
                        std::to_string(m.forceMae * 1000) + " meV/A on " + std::to_string(m.frames) + " frames");
    ctx.feedback().setProgress(1.0, "done");
  }
};

// ff.predict and ff.label: energies and forces for every frame, written to extxyz.
class PredictJob : public core::Job {
 public:
  explicit PredictJob(bool label) : label_(label) {}
  JobInfo info() const override {
    if (label_)
      return {"ff.label", "Label structures with xtb", "Force fields",
              "Computes GFN2-xTB (or any model's) energies and forces for every frame and writes labelled extended "
              "XYZ (energy, forces) for training.",
              false};
    return {"ff.predict", "Predict energies and forces", "Force fields",
            "Energy, forces (and stress for periodic frames) of every frame with a model; writes extended XYZ.", false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    if (label_)
      s.addString("model", "xtb", "Calculator: 'xtb' (GFN2-xTB), a PONITA file or a TorchScript file.");
    else {
      addModelParam(s);
      addPrecisionParam(s);
    }
    s.addPath("structures", "", "Structures (XYZ / extended XYZ).", "XYZ (*.xyz *.extxyz)");
    s.addInt("limit", 0, 0, std::nullopt, "First N frames (0: all).");
    s.addBool("stress", true, "Stress for periodic frames.");
    s.addDevice();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    auto frames = chem::readXyz(p.getString("structures"));
    if (const auto lim = static_cast<std::size_t>(p.getInt("limit")); lim > 0 && lim < frames.size()) frames.resize(lim);
    auto calc = calculatorOf(ctx);
    const auto file = ctx.run().addArtifact(label_ ? "labelled.xyz" : "predicted.xyz", "extxyz", "frames with energy and forces");
    std::ofstream out(file);
    for (std::size_t k = 0; k < frames.size(); ++k) {
      ctx.feedback().throwIfCancelled();
      auto s = frames[k];
      try {
        attachResult(s, calc->compute(s, p.getBool("stress")));
      } catch (const ForceFieldError& e) {
        throw ForceFieldError(p.getString("structures") + ": frame " + std::to_string(k + 1) + ": " + e.what());
      }
      s.info["calculator"] = calc->name();
      chem::writeExtXyz(out, s);
      ctx.feedback().setProgress(static_cast<double>(k + 1) / frames.size(), "frame " + std::to_string(k + 1));
    }
    ctx.run().setSummary("frames", frames.size());
    ctx.feedback().setProgress(1.0, "done");
  }

 private:
  bool label_;
};

class OptimizeJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"ff.optimize", "Optimise a geometry", "Force fields",
            "Relaxes atom positions with FIRE or L-BFGS until every atom's force is below fmax; writes the "
            "trajectory and the final structure as extended XYZ.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    addModelParam(s);
    addPrecisionParam(s);
    s.addPath("structure", "", "Starting structure (first frame of an XYZ / extended XYZ file).", "XYZ (*.xyz *.extxyz)");
    s.addChoice("method", {"fire", "lbfgs"}, "fire", "Optimiser.");
    s.addFloat("fmax", 0.05, 1e-6, std::nullopt, "Force threshold (eV/A).");
    s.addInt("max_steps", 500, 1, std::nullopt, "Largest number of steps.");
    s.addFloat("max_step", 0.2, 1e-4, 2.0, "Largest move of one atom per step (A).").markAdvanced();
    s.addDevice();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    auto calc = calculatorOf(ctx);
    OptimizeOptions o;
    o.method = p.getString("method");
    o.fmax = p.getFloat("fmax");
    o.maxSteps = static_cast<int>(p.getInt("max_steps"));
    o.maxStep = p.getFloat("max_step");
    std::ofstream traj(ctx.run().addArtifact("trajectory.xyz", "extxyz", "optimisation trajectory"));
    const auto r = optimize(*calc, firstStructure(p.getString("structure")), o, [&](const OptimizeStep& st, const chem::Structure& s) {
      ctx.feedback().throwIfCancelled();
      ctx.feedback().reportMetrics(st.step, {{"energy", st.energy}, {"fmax", st.fmax}});
      chem::writeExtXyz(traj, s);
      ctx.feedback().setProgress(std::min(1.0, static_cast<double>(st.step) / o.maxSteps), "fmax " + std::to_string(st.fmax));
    });
    chem::writeXyz(ctx.run().addArtifact("final.xyz", "extxyz", "optimised structure"), {r.structure});
    ctx.run().setSummary("converged", r.converged);
    ctx.run().setSummary("steps", r.steps);
    ctx.run().setSummary("energy_eV", r.energy);
    ctx.run().setSummary("fmax_eV_per_A", r.fmax);
    ctx.feedback().setProgress(1.0, r.converged ? "converged" : "not converged");
  }
};

class MdJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"ff.md", "Molecular dynamics", "Force fields",
            "Velocity Verlet (NVE) or Langevin (NVT) dynamics with any model; streams energy and temperature, writes "
            "the trajectory as extended XYZ and reports the total-energy drift (NVE).",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    addModelParam(s);
    addPrecisionParam(s);
    s.addPath("structure", "", "Starting structure (first frame of an XYZ / extended XYZ file).", "XYZ (*.xyz *.extxyz)");
    s.addChoice("ensemble", {"nve", "nvt"}, "nve", "NVE (velocity Verlet) or NVT (Langevin).");
    s.addFloat("timestep", 0.5, 1e-4, 10.0, "Time step (fs).");
    s.addInt("steps", 1000, 1, std::nullopt, "Number of steps.");
    s.addFloat("temperature", 300.0, 0.0, 1e5, "Initial and target temperature (K).");
    s.addFloat("friction", 0.01, 0.0, 10.0, "Langevin friction (1/fs).");
    s.addInt("sample_every", 10, 1, std::nullopt, "Keep and report every N steps.");
    s.addDevice();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    auto calc = std::make_unique<CancellableCalculator>(calculatorOf(ctx), ctx.feedback());
    MdOptions o;
    o.ensemble = p.getString("ensemble");
    o.timestep = p.getFloat("timestep");
    o.steps = static_cast<int>(p.getInt("steps"));
    o.temperature = p.getFloat("temperature");
    o.friction = p.getFloat("friction");
    o.sampleEvery = static_cast<int>(p.getInt("sample_every"));
    o.seed = ctx.seed();
    std::ofstream traj(ctx.run().addArtifact("trajectory.xyz", "extxyz", "MD trajectory (energy, forces, velocities)"));
    const auto start = firstStructure(p.getString("structure"));
    // Speed is timed from the step-0 sample on: the first force call pays for lazy set-up (CUDA context,
    // kernels, allocator), which says nothing about steps per second in a long run.
    std::optional<std::chrono::steady_clock::time_point> tFirst;
    const auto r = runMd(*calc, start, o, [&](const MdSample& smp, const chem::Structure& frame) {
      if (!tFirst) tFirst = std::chrono::steady_clock::now();
      ctx.feedback().throwIfCancelled();
      ctx.feedback().reportMetrics(smp.step, {{"potential", smp.potential}, {"kinetic", smp.kinetic},
                                              {"total", smp.total}, {"temperature", smp.temperature}});
      chem::writeExtXyz(traj, frame);
      ctx.feedback().setProgress(static_cast<double>(smp.step) / o.steps, "t = " + std::to_string(smp.time) + " fs");
    });
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - *tFirst).count();
    ctx.run().setSummary("drift_eV_per_atom_per_ps", r.driftPerAtomPerPs);
    ctx.run().setSummary("max_energy_deviation_eV_per_atom", r.maxDeviationPerAtom);
    double tMean = 0;
    for (const auto& x : r.samples) tMean += x.temperature;
    ctx.run().setSummary("mean_temperature_K", tMean / std::max<std::size_t>(1, r.samples.size()));
    ctx.run().setSummary("atom_steps_per_s", static_cast<double>(start.size()) * o.steps / std::max(1e-9, secs));
    if (const auto* ponita = dynamic_cast<const PonitaCalculator*>(&calc->inner()); ponita && core::toTorchDevice(ctx.device()).is_cuda()) {
      // Whether the steps ran as replayed CUDA graphs, and why not when a capture failed.
      ctx.run().setSummary("cuda_graph_calls", static_cast<double>(ponita->graphedCalls()));
      ctx.run().setSummary("cuda_graph_captures", static_cast<double>(ponita->graphCaptures()));
      if (!ponita->graphCaptureError().empty())
        ctx.feedback().warn("CUDA graph capture failed, the steps ran eagerly: " + ponita->graphCaptureError());
    }
    ctx.feedback().setProgress(1.0, "done");
  }
};

}  // namespace

void registerForceFieldJobs(core::JobRegistry& registry) {
  if (!registry.contains("ff.train")) registry.add([] { return std::make_unique<TrainJob>(); });
  if (!registry.contains("ff.evaluate")) registry.add([] { return std::make_unique<EvaluateJob>(); });
  if (!registry.contains("ff.predict")) registry.add([] { return std::make_unique<PredictJob>(false); });
  if (!registry.contains("ff.label")) registry.add([] { return std::make_unique<PredictJob>(true); });
  if (!registry.contains("ff.optimize")) registry.add([] { return std::make_unique<OptimizeJob>(); });
  if (!registry.contains("ff.md")) registry.add([] { return std::make_unique<MdJob>(); });
}

}  // namespace atomscope::forcefield
