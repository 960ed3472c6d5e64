#include "atomscope/forcefield/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>

#include "atomscope/chem/neighbors.h"
#include "atomscope/chem/xyz.h"
#include "atomscope/core/torch_device.h"
#include "atomscope/core/torch_rotations.h"
#include "atomscope/forcefield/error.h"
#include "atomscope/forcefield/ponita_calculator.h"
#include "atomscope/forcefield/resident_frames.h"
#include "atomscope/lm/cuda_graph.h"
#include "atomscope/lm/training.h"

namespace atomscope::forcefield {

namespace fs = std::filesystem;

double energyUnitInEv(const std::string& u) {
  // ASE's ase.units (CODATA 2014).
  if (u == "eV") return 1.0;
  if (u == "kcal/mol") return 0.04336410390059322;
  if (u == "kJ/mol") return 0.010364269574711572;
  if (u == "Hartree") return 27.211386024367243;
  throw ForceFieldError("unknown energy unit '" + u + "' (eV, kcal/mol, kJ/mol, Hartree)");
}

std::vector<chem::Structure> loadLabelled(const fs::path& file, const DataOptions& o) {
  const double unit = energyUnitInEv(o.energyUnit);
  chem::Trajectory frames;
  try {
    frames = chem::readXyz(file);
  } catch (const std::exception& e) {
    throw ForceFieldError(e.what());
  }
  std::vector<chem::Structure> out;
  for (std::size_t k = o.skip; k < frames.size() && (o.limit == 0 || out.size() < o.limit); ++k) {
    auto s = frames[k];
    const auto where = file.string() + ": frame " + std::to_string(k + 1);
    std::optional<double> e = o.energyKey.empty() ? s.energy() : s.infoNumber({o.energyKey});
    if (!e) throw ForceFieldError(where + ": no energy" + (o.energyKey.empty() ? std::string() : " under '" + o.energyKey + "'"));
    const chem::AtomProperty* f = o.forcesKey.empty() ? s.forces() : s.atomProperty(o.forcesKey);
    if (!f || f->columns != 3 || f->atomCount() != s.size())
      throw ForceFieldError(where + ": no per-atom forces (3 columns)" + (o.forcesKey.empty() ? std::string() : " under '" + o.forcesKey + "'"));
    chem::AtomProperty forces = *f;
    forces.type = chem::AtomProperty::Type::Real;
    for (auto& x : forces.values) x *= unit;
    s.atomProperties.erase(o.forcesKey.empty() ? "forces" : o.forcesKey);
    s.atomProperties["forces"] = forces;
    s.info["energy"] = *e * unit;
    // Stress: 6 Voigt values (xx yy zz yz xz xy) or 9, stored as 9 in eV/A^3; periodic frames only.
    std::vector<double> st;
    const auto stressKeys = o.stressKey.empty() ? std::vector<std::string>{"stress", "REF_stress", "dft_stress"}
                                                : std::vector<std::string>{o.stressKey};
    for (const auto& k : stressKeys) {
      if (!s.info.contains(k)) continue;
      const auto& v = s.info.at(k);
      if (!v.is_array() || (v.size() != 6 && v.size() != 9))
        throw ForceFieldError(where + ": stress '" + k + "' needs 6 (Voigt) or 9 numbers");
      std::vector<double> x;
      for (const auto& n : v) {
        if (!n.is_number()) throw ForceFieldError(where + ": stress '" + k + "' holds a non-number");
        x.push_back(n.get<double>() * unit);
      }
      st = x.size() == 9 ? x : std::vector<double>{x[0], x[5], x[4], x[5], x[1], x[3], x[4], x[3], x[2]};
      if (k != "stress") s.info.erase(k);
      break;
    }
    if (!st.empty() && s.isPeriodic()) s.info["stress"] = st;
    else s.info.erase("stress");
    out.push_back(std::move(s));
  }
  if (out.empty()) throw ForceFieldError(file.string() + ": no frames selected");
  return out;
}

std::vector<double> e0FromIsolatedAtoms(const fs::path& file, const std::vector<int>& species, const DataOptions& o) {
  const double unit = energyUnitInEv(o.energyUnit);
  const auto frames = chem::readXyz(file);
  std::map<int, double> byZ;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const auto& s = frames[k];
    const auto e = o.energyKey.empty() ? s.energy() : s.infoNumber({o.energyKey});
    if (s.size() != 1 || !e) throw ForceFieldError(file.string() + ": frame " + std::to_string(k + 1) + " is not one atom with an energy");
    byZ[s.numbers[0]] = *e * unit;
  }
  std::vector<double> out;
  for (int z : species) {
    if (!byZ.count(z)) throw ForceFieldError(file.string() + ": no isolated-atom energy for Z=" + std::to_string(z));
    out.push_back(byZ[z]);
  }
  return out;
}

std::vector<double> e0LeastSquares(const std::vector<chem::Structure>& frames, const std::vector<int>& species) {
  const auto B = static_cast<long>(frames.size()), S = static_cast<long>(species.size());
  auto A = torch::zeros({B, S}, torch::kFloat64);
  auto y = torch::zeros({B, 1}, torch::kFloat64);
  for (long b = 0; b < B; ++b) {
    for (int z : frames[b].numbers) {
      const auto it = std::find(species.begin(), species.end(), z);
      if (it == species.end()) throw ForceFieldError("frame " + std::to_string(b + 1) + " has element Z=" + std::to_string(z) + " outside the species list");
      A[b][it - species.begin()] += 1.0;
    }
    y[b][0] = frames[b].info.at("energy").get<double>();
  }
  // Minimum-norm least squares (molecules of one formula leave the split between elements open).
  const auto x = torch::matmul(torch::pinverse(A), y).squeeze(1);
  return std::vector<double>(x.data_ptr<double>(), x.data_ptr<double>() + S);
}

double meanNeighbors(const std::vector<chem::Structure>& frames, double cutoff) {
  double pairs = 0, atoms = 0;
  for (const auto& s : frames) {
    pairs += static_cast<double>(chem::neighborList(s, cutoff).size());
    atoms += static_cast<double>(s.size());
  }
  return atoms > 0 ? std::max(1.0, pairs / atoms) : 1.0;
}

Json Metrics::toJson() const {
  Json j{{"frames", frames},
              {"energy_mae_eV", energyMae},
              {"energy_rmse_eV", energyRmse},
              {"energy_mae_per_atom_eV", energyMaePerAtom},
              {"energy_rmse_per_atom_eV", energyRmsePerAtom},
              {"force_mae_eV_per_A", forceMae},
              {"force_rmse_eV_per_A", forceRmse}};
  if (stressFrames > 0) {  // only where some frame had a stress label: no zeros that look like a result
    j["stress_frames"] = stressFrames;
    j["stress_mae_eV_per_A3"] = stressMae;
    j["stress_rmse_eV_per_A3"] = stressRmse;
  }
  return j;
}

std::vector<Prediction> predictAll(Calculator& calc, const std::vector<chem::Structure>& frames,
                                   const std::function<void(std::size_t)>& progress) {
  std::vector<Prediction> out;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const auto& s = frames[k];
    const auto [label, hasStress] = stressLabel(s);
    const auto r = calc.compute(s, hasStress && s.isPeriodic());
    Prediction p{r.energy, s.info.value("energy", 0.0), r.forces, {}, s.size(), {}, {}};
    if (hasStress && r.stress) {
      p.stress = r.stress;
      chem::Mat3 ref{};
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) ref[a][b] = label[3 * a + b];
      p.refStress = ref;
    }
    if (const auto* f = s.atomProperty("forces"))
      for (std::size_t a = 0; a < s.size(); ++a) p.refForces.push_back({f->at(a, 0), f->at(a, 1), f->at(a, 2)});
    out.push_back(std::move(p));
    if (progress) progress(k + 1);
  }
  return out;
}

Metrics metricsOf(const std::vector<Prediction>& ps) {
  Metrics m;
  double fa = 0, fs2 = 0, nf = 0;
  for (const auto& p : ps) {
    const double de = p.energy - p.refEnergy;
    m.energyMae += std::abs(de);
    m.energyRmse += de * de;
    m.energyMaePerAtom += std::abs(de) / p.atoms;
    m.energyRmsePerAtom += de * de / (p.atoms * p.atoms);
    for (std::size_t a = 0; a < p.refForces.size(); ++a)
      for (int c = 0; c < 3; ++c) {
        const double d = p.forces[a][c] - p.refForces[a][c];
        fa += std::abs(d);
        fs2 += d * d;
        nf += 1;
      }
  }
  const double n = std::max<std::size_t>(1, ps.size());
  m.frames = ps.size();
  m.energyMae /= n;
  m.energyRmse = std::sqrt(m.energyRmse / n);
  m.energyMaePerAtom /= n;
  m.energyRmsePerAtom = std::sqrt(m.energyRmsePerAtom / n);
  m.forceMae = nf > 0 ? fa / nf : 0;
  m.forceRmse = nf > 0 ? std::sqrt(fs2 / nf) : 0;
  double sa = 0, ss2 = 0;
  for (const auto& p : ps) {
    if (!p.stress || !p.refStress) continue;
    ++m.stressFrames;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        const double d = (*p.stress)[a][b] - (*p.refStress)[a][b];
        sa += std::abs(d);
        ss2 += d * d;
      }
  }
  if (m.stressFrames > 0) {
    m.stressMae = sa / (9.0 * m.stressFrames);
    m.stressRmse = std::sqrt(ss2 / (9.0 * m.stressFrames));
  }
  return m;
}

namespace {

using Clock = std::chrono::steady_clock;

LabelledBatch labelsOf(const std::vector<const chem::Structure*>& batch, const torch::Device& d, torch::Dtype dtype) {
  std::vector<double> e, f, st, mask;
  for (const auto* s : batch) {
    e.push_back(s->info.at("energy").get<double>());
    const auto* fp = s->atomProperty("forces");
    f.insert(f.end(), fp->values.begin(), fp->values.end());
    const auto [values, labelled] = stressLabel(*s);
    st.insert(st.end(), values.begin(), values.end());
    mask.push_back(labelled ? 1.0 : 0.0);
  }
  LabelledBatch l;
  l.energy = torch::tensor(e, torch::kFloat64).to(d);
  l.forces = torch::tensor(f, torch::kFloat64).view({-1, 3}).to(d, dtype);
  l.stress = torch::tensor(st, torch::kFloat64).view({-1, 3, 3}).to(d, dtype);
  l.stressMask = torch::tensor(mask, torch::kFloat64).to(d, dtype);
  return l;
}

void saveCheckpoint(const fs::path& file, Ponita& model, torch::optim::AdamW& opt, const std::vector<torch::Tensor>& ema,
                    long long step, double seconds) {
  torch::serialize::OutputArchive out;
  model->save(out);
  torch::serialize::OutputArchive os;
  opt.save(os);
  out.write("optimizer", os);
  for (std::size_t i = 0; i < ema.size(); ++i) out.write("ema." + std::to_string(i), ema[i]);
  out.write("step", torch::tensor(static_cast<std::int64_t>(step)));
  out.write("train_seconds", torch::tensor(seconds, torch::kFloat64));
  out.write("ponita_config", c10::IValue(model->config.toJson().dump()));
  const auto tmp = file.string() + ".tmp";
  out.save_to(tmp);
  fs::rename(tmp, file);
}

}  // namespace

torch::Tensor randomRotations(std::int64_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);  // on the host, so every rank and device draws the same
  std::normal_distribution<double> normal;
  auto q = torch::empty({count, 4}, torch::kFloat64);
  auto a = q.accessor<double, 2>();
  for (std::int64_t b = 0; b < count; ++b)
    for (int k = 0; k < 4; ++k) a[b][k] = normal(rng);
  return core::rotationsFromQuaternions(q);
}

TrainResult trainPonita(core::Context& ctx, Ponita& model, const std::vector<chem::Structure>& train,
                        const std::vector<chem::Structure>& valid, const TrainOptions& o) {
  if (train.empty()) throw ForceFieldError("ff.train: no training frames");
  auto& fb = ctx.feedback();
  const auto device = o.device ? *o.device : core::toTorchDevice(ctx.device());
  model->to(device, o.dtype);
  auto params = model->parameters();
  // Data parallel: rank r takes structures [first, first + share) of every batch of batchSize.
  const auto& comm = o.comm;
  const bool lead = !comm || comm->rank() == 0;  // checkpoints and validates
  const long long world = comm ? comm->worldSize() : 1;
  if (o.batchSize % world != 0)
    throw ForceFieldError("ff.train: batch_size " + std::to_string(o.batchSize) + " does not split evenly over " +
                          std::to_string(world) + " processes; use a multiple of " + std::to_string(world));
  const long long share = o.batchSize / world, firstRow = comm ? comm->rank() * share : 0;
  if (o.calibrate && !ctx.resumeCheckpoint()) {
    // On the first batch_size frames (not a random batch, so every rank calibrates alike; rank 0's
    // weights are broadcast next anyway).
    std::vector<const chem::Structure*> first;
    for (std::size_t i = 0; i < train.size() && static_cast<long long>(first.size()) < o.batchSize; ++i) first.push_back(&train[i]);
    model->calibrateKernels(makeGraphBatch(first, model->config.cutoff, o.dtype).to(device, o.dtype));
    fb.info("kernels calibrated on " + std::to_string(first.size()) + " frames");
  }
  if (comm) comm->broadcastParameters(params);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weightDecay));
  lm::AdamWStepper stepper(opt);  // the fused CUDA kernel where LibTorch has it
  std::vector<torch::Tensor> ema;
  for (const auto& p : params) ema.push_back(p.detach().clone());
  long long step = 0;
  double secondsBefore = 0;  // training time of earlier runs, for max_seconds and the cosine schedule
  if (ctx.resumeCheckpoint()) {
    torch::serialize::InputArchive in;
    in.load_from(ctx.resumeCheckpoint()->string(), device);
    model->load(in);
    model->to(device, o.dtype);
    torch::serialize::InputArchive oi;
    in.read("optimizer", oi);
    opt.load(oi);
    for (std::size_t i = 0; i < ema.size(); ++i) in.read("ema." + std::to_string(i), ema[i]);
    torch::Tensor st;
    in.read("step", st);
    step = st.item<std::int64_t>();
    torch::Tensor secs;
    if (in.try_read("train_seconds", secs)) secondsBefore = secs.item<double>();
    fb.info("resumed at step " + std::to_string(step));
  }
  std::unique_ptr<core::GradientSynchronizer> sync;
  if (comm) sync = std::make_unique<core::GradientSynchronizer>(comm, params);

  // One process: the frames live on the device when they have one size (batches by gathers), and on
  // CUDA the whole step (batch, forces, loss, backward, clipping, AdamW, EMA) is then a CUDA graph.
  std::optional<ResidentFrames> resident;
  if (o.resident && !comm && ResidentFrames::canHold(train)) {
    try {
      resident.emplace(train, *model, device, o.dtype, o.residentMaxBytes);
      fb.info("training frames on the device: " + std::to_string(resident->frames()) + " x " +
              std::to_string(resident->atomsPerFrame()) + " atoms, " + std::to_string(resident->edgesPerFrame()) +
              " edges each after padding, " + std::to_string(resident->bytes() >> 20) + " MiB");
    } catch (const ResidentFrames::TooLarge& e) {
      fb.info(std::string("batches made per step: ") + e.what());
    }
  }
  const bool graphs = resident && o.cudaGraph && device.is_cuda() && lm::CapturedStep::available(device) &&
                      lm::AdamWStepper::canStepWithTensorLr(opt);
  if (o.cudaGraph && device.is_cuda() && !graphs)
    fb.info(std::string("CUDA graphs not used: ") +
            (comm ? "several processes" : !resident ? "frames of different sizes (or too many to keep on the device)"
                                                     : "this build or dtype has no capturable AdamW"));

  std::mt19937_64 rng(ctx.seed());
  rng.discard(static_cast<unsigned long long>(step) * static_cast<unsigned long long>(o.batchSize));
  std::uniform_int_distribution<std::size_t> pick(0, train.size() - 1);
  auto applyEma = [&](bool swap) {
    torch::NoGradGuard g;
    for (std::size_t i = 0; i < ema.size(); ++i) {
      if (swap) {
        auto tmp = params[i].detach().clone();
        params[i].copy_(ema[i]);
        ema[i].copy_(tmp);
      }
    }
  };
  auto validate = [&]() {
    Metrics m;
    if (valid.empty()) return m;
    applyEma(true);  // evaluate the EMA weights
    model->eval();
    PonitaCalculator calc(model, "training", device, o.dtype);
    m = metricsOf(predictAll(calc, valid));
    applyEma(true);  // swap back
    model->train();
    return m;
  };
  auto save = [&](long long at, double seconds) {
    if (graphs) stepper.setStepCount(at);  // replays advance only the device step counters
    saveCheckpoint(ctx.run().checkpointPath(at), model, opt, ema, at, seconds);
  };

  // The window's sums since the last report, on the device (one process): loss, energy and force
  // MSE, gradient norm. Data parallel: host sums of the all-reduced values.
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto sums = torch::zeros({5}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  double hostSums[5] = {0, 0, 0, 0, 0};
  long long window = 0;
  // Energy and force MSE of a batch. Data parallel: this rank's part of the whole batch's (sums over its
  // structures and force components over the whole batch's counts), so the all-reduced gradient is one
  // process's.
  const bool trainStress = o.stressWeight > 0;
  if (trainStress && comm) throw ForceFieldError("ff.train: stress_weight needs one process (no --nproc)");
  auto losses = [&](const LabelledBatch& b, double batchAtoms) {
    auto out = model->compute(b.graph, true, trainStress, true);
    const auto eLoss = comm ? (out.energy - b.energy).pow(2).sum() / static_cast<double>(o.batchSize)
                            : (out.energy - b.energy).pow(2).mean();
    const auto fLoss = comm ? (out.forces - b.forces).pow(2).sum() / (3.0 * batchAtoms)
                            : (out.forces - b.forces).pow(2).mean();
    // Stress MSE over the labelled periodic structures of the batch (zero when there are none).
    torch::Tensor sLoss = torch::zeros({}, fLoss.options());
    if (trainStress)
      sLoss = ((out.stress - b.stress).pow(2) * b.stressMask.view({-1, 1, 1})).sum() / (9.0 * b.stressMask.sum()).clamp_min(9.0);
    return std::make_tuple(eLoss, fLoss, sLoss);
  };
  // Backward, clipping, AdamW (lr: the options' when undefined), EMA and the window's sums: all on the
  // device without a host read, so it can be captured.
  auto finishStep = [&](const torch::Tensor& eLoss, const torch::Tensor& fLoss, const torch::Tensor& sLoss,
                        const torch::Tensor& lrTensor) {
    const auto loss = o.energyWeight * eLoss.to(o.dtype) + fLoss + o.stressWeight * sLoss;
    loss.backward();
    const auto gn = lm::clipStepAndAverage(params, o.gradClip > 0 ? o.gradClip : 1e30, stepper, lrTensor, ema, o.emaDecay);
    torch::NoGradGuard ng;
    sums.add_(torch::stack({loss.detach().to(torch::kFloat64), eLoss.detach().to(torch::kFloat64),
                            fLoss.detach().to(torch::kFloat64), gn.to(torch::kFloat64), sLoss.detach().to(torch::kFloat64)}));
  };

  // Graph mode: the side stream is current from here on; a few eager steps first (cuBLAS and the
  // optimiser state are made lazily), then one captured step replayed with new inputs.
  constexpr long long kEagerWarmup = 3;
  std::optional<lm::CapturedStep> captured;
  torch::Tensor lrTensor, idxStatic, rotStatic;
  if (graphs) {
    captured.emplace(device);
    lrTensor = torch::full({}, o.lr, f32);
    idxStatic = torch::zeros({o.batchSize}, torch::TensorOptions().dtype(torch::kInt64).device(device));
    if (o.rotate) rotStatic = torch::zeros({o.batchSize, 3, 3}, torch::TensorOptions().dtype(o.dtype).device(device));
  }

  const auto t0 = Clock::now();
  const long long first = step;
  TrainResult r;
  r.cudaGraphs = graphs;
  r.residentFrames = resident.has_value();
  double agreedSeconds = 0;  // data parallel: rank 0's training time at the last step, which every rank uses
  model->train();
  long long lastSaved = step;
  const long long logEvery = std::max<long long>(1, o.logEvery);
  while (step < o.steps) {
    if (!comm && fb.isCancelled()) {  // distributed: every rank stops at the same step instead
      // Keep the steps since the last checkpoint: a cancelled run resumes from here (Ctrl-C, or the end of a
      // GPU visit), not from up to checkpoint_every steps back.
      if (step > lastSaved) save(step, std::chrono::duration<double>(Clock::now() - t0).count() + secondsBefore);
      throw core::Cancelled();
    }
    ++step;
    std::vector<std::int64_t> picks;
    for (long long b = 0; b < o.batchSize; ++b) picks.push_back(static_cast<std::int64_t>(pick(rng)));
    // One rotation per structure of the whole batch, from (seed, step): the same on every rank and after
    // a resume.
    torch::Tensor R;
    if (o.rotate) R = randomRotations(o.batchSize, ctx.seed() * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(step));
    double lr = o.lr;
    if (o.cosineSchedule) {
      // Progress is the larger of the step and time fractions, so a time-budgeted run still anneals.
      const double elapsed = (comm ? agreedSeconds : std::chrono::duration<double>(Clock::now() - t0).count()) + secondsBefore;
      double frac = static_cast<double>(step - 1) / static_cast<double>(o.steps);
      if (o.maxSeconds > 0) frac = std::max(frac, elapsed / o.maxSeconds);
      frac = std::min(1.0, frac);
      lr = o.lr * (0.01 + 0.99 * 0.5 * (1.0 + std::cos(M_PI * frac)));
    }
    if (o.warmupSteps > 0 && step <= o.warmupSteps) lr *= static_cast<double>(step) / static_cast<double>(o.warmupSteps);
    for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    const auto idxHost = torch::tensor(picks, torch::kInt64);

    if (graphs && step - first > kEagerWarmup) {
      idxStatic.copy_(idxHost);
      if (o.rotate) rotStatic.copy_(R);
      lrTensor.fill_(lr);
      if (!captured->captured()) {
        stepper.setStepCount(step - 1);
        for (auto& p : params) p.mutable_grad() = torch::Tensor();  // the graph owns its gradients
        captured->capture([&] {
          const auto [eLoss, fLoss, sLoss] = losses(resident->batch(idxStatic, rotStatic), 0.0);
          finishStep(eLoss, fLoss, sLoss, lrTensor);
          return eLoss;
        });
      }
      captured->replay();
    } else {
      for (auto& p : params) p.mutable_grad() = torch::Tensor();  // set_to_none: no zero-fill kernels
      LabelledBatch b;
      double batchAtoms = 0;  // of the whole batch: the force loss's normaliser on every rank
      if (resident) {
        b = resident->batch(idxHost.to(device), R.defined() ? R.to(device, o.dtype) : R);
      } else {
        std::vector<const chem::Structure*> batch;
        for (auto k : picks) batch.push_back(&train[static_cast<std::size_t>(k)]);
        if (comm) {
          for (const auto* s : batch) batchAtoms += static_cast<double>(s->size());
          batch = std::vector<const chem::Structure*>(batch.begin() + firstRow, batch.begin() + firstRow + share);
        }
        const auto lab = labelsOf(batch, device, o.dtype);
        b = lab;
        b.graph = makeGraphBatch(batch, model->config.cutoff, o.dtype).to(device, o.dtype);
        if (R.defined()) rotateBatch(b, R.slice(0, firstRow, firstRow + static_cast<long long>(batch.size())).to(device, o.dtype));
      }
      auto [eLoss, fLoss, sLoss] = losses(b, batchAtoms);
      if (comm) {
        // The synchroniser averages over ranks; one small all-reduce then carries the step's bookkeeping:
        // cancel, rank 0's clock, the whole batch's errors.
        sync->arm();
        (static_cast<double>(world) * (o.energyWeight * eLoss.to(o.dtype) + fLoss)).backward();
        const auto v = sync->finishAndSum({fb.isCancelled() ? 1.0 : 0.0,
                                           lead ? std::chrono::duration<double>(Clock::now() - t0).count() : 0.0,
                                           eLoss.item<double>(), fLoss.item<double>()});
        if (v[0] > 0) throw core::Cancelled();
        agreedSeconds = v[1];
        const double gn =
            lm::clipStepAndAverage(params, o.gradClip > 0 ? o.gradClip : 1e30, stepper, torch::Tensor(), ema, o.emaDecay).item<double>();
        hostSums[0] += o.energyWeight * v[2] + v[3];
        hostSums[1] += v[2];
        hostSums[2] += v[3];
        hostSums[3] += gn;
      } else {
        finishStep(eLoss, fLoss, sLoss, torch::Tensor());
      }
    }
    ++window;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const bool outOfTime = o.maxSeconds > 0 && (comm ? agreedSeconds : secs) + secondsBefore >= o.maxSeconds;
    const bool evalNow = lead && o.evalEvery > 0 && (step % o.evalEvery == 0 || step == o.steps) && !valid.empty();
    const bool checkpointNow = lead && (step % o.checkpointEvery == 0 || step == o.steps || outOfTime);
    if (step % logEvery == 0 || evalNow || checkpointNow || outOfTime) {
      double m[5];
      if (comm) {
        std::copy(hostSums, hostSums + 5, m);
        std::fill(hostSums, hostSums + 5, 0.0);
      } else {
        const auto h = sums.to(torch::kCPU);  // the one host synchronisation of a window
        std::copy(h.data_ptr<double>(), h.data_ptr<double>() + 5, m);
        sums.zero_();
      }
      for (double& v : m) v /= static_cast<double>(window);
      window = 0;
      if (!std::isfinite(m[0]) || !std::isfinite(m[3]))
        throw ForceFieldError("ff.train: loss or gradient is NaN/inf by step " + std::to_string(step) + "; lower the learning rate");
      r.stepsPerSecond = static_cast<double>(step - first) / std::max(1e-9, secs);
      r.lastLoss = m[0];
      std::map<std::string, double> mt{{"loss", m[0]},
                                       {"energy_rmse_batch", std::sqrt(m[1])},
                                       {"force_rmse_batch", std::sqrt(m[2])},
                                       {"grad_norm", m[3]},
                                       {"lr", lr},
                                       {"steps_per_s", r.stepsPerSecond}};
      if (trainStress) mt["stress_rmse_batch"] = std::sqrt(m[4]);
      if (evalNow) {
        const auto v = validate();
        mt["valid_energy_mae"] = v.energyMae;
        mt["valid_force_mae"] = v.forceMae;
        mt["valid_force_rmse"] = v.forceRmse;
      }
      fb.reportMetrics(step, mt);
      fb.setProgress(static_cast<double>(step) / static_cast<double>(o.steps), "step " + std::to_string(step) + ", loss " + std::to_string(m[0]));
    }
    if (checkpointNow) {
      save(step, secs + secondsBefore);
      lastSaved = step;
    }
    if (outOfTime) {
      fb.info("ff.train: time budget of " + std::to_string(o.maxSeconds) + " s used at step " + std::to_string(step));
      break;
    }
  }
  r.steps = step;
  if (graphs) stepper.setStepCount(step);
  captured.reset();  // waits for the side stream; the default stream is current again
  {
    torch::NoGradGuard g;
    for (std::size_t i = 0; i < ema.size(); ++i) params[i].copy_(ema[i]);
  }
  model->eval();
  if (lead && !valid.empty()) {
    PonitaCalculator calc(model, "training", device, o.dtype);
    r.valid = metricsOf(predictAll(calc, valid));
  }
  return r;
}

}  // namespace atomscope::forcefield
