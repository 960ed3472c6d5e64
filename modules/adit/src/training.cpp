#include "atomscope/adit/training.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "atomscope/chem/cell_parameters.h"
#include "atomscope/chem/elements.h"
#include "atomscope/chem/linear_assignment.h"
#include "atomscope/chem/structure_matcher.h"
#include "atomscope/chem/validity.h"
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
#include "atomscope/chem/molecule_perception.h"
#endif
#include <mutex>

#include <optional>

#include "atomscope/core/code_files.h"
#include "atomscope/core/torch_autocast.h"
#include "atomscope/lm/cuda_graph.h"
#include "atomscope/lm/training.h"

namespace atomscope::adit {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The generator of step s on the training device: depends only on the run seed and s, so resume
// reproduces the stream. On CUDA it is the device's default generator reseeded (a host-side call,
// no synchronisation); on the CPU a fresh one.
torch::Generator stepGenerator(unsigned long long seed, long long step, const torch::Device& device) {
  const auto s = stepHash(seed, step, 0);
  if (device.is_cuda()) {
    auto g = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(s);
    return g;
  }
  return at::detail::createCPUGenerator(s);
}

void writeConfig(torch::serialize::OutputArchive& out, const std::string& key, const Json& j) {
  out.write(key, c10::IValue(j.dump()));
}
Json readConfig(torch::serialize::InputArchive& in, const std::string& key, const fs::path& file) {
  c10::IValue v;
  if (!in.try_read(key, v) || !v.isString()) throw AditError(file.string() + ": no '" + key + "' in the model file");
  return Json::parse(v.toStringRef());
}

torch::serialize::InputArchive openArchive(const fs::path& file, const torch::Device& d) {
  if (!fs::exists(file)) throw AditError("model file '" + file.string() + "' does not exist");
  torch::serialize::InputArchive in;
  try {
    core::refusePickle(file, "ADiT model");
    in.load_from(file.string(), d);
  } catch (const std::exception& e) {
    throw AditError("model file '" + file.string() + "' is not a readable torch archive: " + e.what());
  }
  return in;
}

void saveArchive(torch::serialize::OutputArchive& out, const fs::path& file) {
  const auto tmp = file.string() + ".tmp";
  out.save_to(tmp);
  fs::rename(tmp, file);
}

// Data parallel, after the backward pass: the mean gradient over ranks; a parameter keeps no
// gradient (AdamW skips it, as in one process) when it got none on any rank. Returns whether any
// rank is out of time; a cancel on any rank stops all of them here.
bool synchroniseStep(core::GradientSynchronizer& sync, core::Feedback& fb, bool outOfTime) {
  const auto flags = sync.finishAndSum({fb.isCancelled() ? 1.0 : 0.0, outOfTime ? 1.0 : 0.0});
  if (flags[0] > 0) throw core::Cancelled();
  return flags[1] > 0;
}

}  // namespace

std::uint64_t stepHash(unsigned long long seed, long long step, std::uint64_t salt) {
  // splitmix64 over the three numbers
  auto mix = [](std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(seed) ^ static_cast<std::uint64_t>(step)) ^ salt);
}

TrainResult trainLoop(core::Context& ctx, torch::nn::Module& module, const StepLoss& lossFn, const TrainSettings& s,
                      std::vector<torch::Tensor>& ema, std::shared_ptr<core::Communicator> comm,
                      const StepVariant& variant) {
  auto& fb = ctx.feedback();
  auto params = module.parameters();
  const auto device = params.empty() ? torch::Device(torch::kCPU) : params[0].device();
  const bool lead = !comm || comm->rank() == 0;  // writes the checkpoints
  std::unique_ptr<core::GradientSynchronizer> sync;
  if (comm) {
    comm->broadcastParameters(params);
    sync = std::make_unique<core::GradientSynchronizer>(comm, params);
  }
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(s.lr).weight_decay(s.weightDecay));
  lm::AdamWStepper stepper(optimizer);  // the fused CUDA kernel where LibTorch has it
  ema.clear();
  {
    torch::NoGradGuard g;
    for (const auto& p : params) ema.push_back(p.detach().clone());
  }
  long long step = 0;
  if (ctx.resumeCheckpoint()) {
    torch::serialize::InputArchive in;
    in.load_from(ctx.resumeCheckpoint()->string(), device);
    module.load(in);
    torch::serialize::InputArchive opt;
    in.read("optimizer", opt);
    optimizer.load(opt);
    for (std::size_t i = 0; i < ema.size(); ++i) in.read("ema." + std::to_string(i), ema[i]);
    torch::Tensor st;
    in.read("step", st);
    step = st.item<std::int64_t>();
    fb.info("resumed at step " + std::to_string(step));
  }
  // CUDA graphs: one process on CUDA with the fused, tensor-lr AdamW; else the eager step.
  const bool graphs = s.cudaGraph && !comm && device.is_cuda() && lm::CapturedStep::available(device) &&
                      lm::AdamWStepper::canStepWithTensorLr(optimizer);
  if (s.cudaGraph && device.is_cuda() && !graphs)
    fb.info(comm ? "CUDA graphs are not used with several processes: eager steps"
                 : "CUDA graphs are not available in this build: eager steps");
  auto save = [&](long long at) {
    torch::NoGradGuard g;
    if (graphs) stepper.setStepCount(at);  // replays advance only the device counters
    torch::serialize::OutputArchive out;
    module.save(out);
    torch::serialize::OutputArchive opt;
    optimizer.save(opt);
    out.write("optimizer", opt);
    for (std::size_t i = 0; i < ema.size(); ++i) out.write("ema." + std::to_string(i), ema[i]);
    out.write("step", torch::tensor(static_cast<std::int64_t>(at)));
    saveArchive(out, ctx.run().checkpointPath(at));
  };
  const long long logEvery = std::max<long long>(1, s.logEvery);
  module.train();
  const auto t0 = Clock::now();
  const long long first = step;
  TrainResult r;
  r.cudaGraphs = graphs;
  // Loss and gradient-norm sums of the current reporting window stay on the device.
  auto lossSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  auto gradSum = torch::zeros_like(lossSum);
  long long window = 0;
  double lastReported = std::numeric_limits<double>::quiet_NaN();
  auto lossAt = [&](long long at, torch::Generator& gen) {  // the loss under the run's autocast
    core::CudaAutocast ac(s.autocast);
    return lossFn(at, gen);
  };
  // The step after the loss: backward, clipping, AdamW (lr: the options' when undefined), EMA and the
  // window's sums; all on the device, so it can be captured.
  bool agreedOutOfTime = false;  // data parallel: any rank out of time, agreed after the backward pass
  auto finishStep = [&](const torch::Tensor& loss, const torch::Tensor& lrTensor) {
    if (sync) sync->arm();
    loss.backward();
    if (sync)
      agreedOutOfTime = synchroniseStep(*sync, fb, s.maxSeconds > 0 &&
          std::chrono::duration<double>(Clock::now() - t0).count() >= s.maxSeconds);
    const auto gradNorm = lm::clipStepAndAverage(params, s.gradClip > 0 ? s.gradClip : 1e30, stepper, lrTensor, ema, s.emaDecay);
    torch::NoGradGuard g;
    lossSum.add_(loss.detach().to(torch::kFloat32));
    gradSum.add_(gradNorm.to(lossSum.device(), torch::kFloat32));
  };
  // Graph mode: the side stream (current from here on), the lr read by the captured AdamW, and
  // autocast without its weight-cast cache (a cached cast would outlive the capture).
  constexpr long long kEagerWarmup = 3;  // lazy initialisation (cuBLAS, optimizer state) before capture
  std::optional<lm::CapturedStep> captured;
  torch::Tensor lrTensor;
  const bool autocastCache = at::autocast::is_autocast_cache_enabled();
  if (graphs) {
    captured.emplace(device);
    lrTensor = torch::full({}, s.lr, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    at::autocast::set_autocast_cache_enabled(false);
  }
  struct RestoreCache {
    bool on, value;
    ~RestoreCache() {
      if (on) at::autocast::set_autocast_cache_enabled(value);
    }
  } restoreCache{graphs, autocastCache};
  long long lastSaved = step;
  while (step < s.steps) {
    if (!comm && fb.isCancelled()) {  // distributed: every rank stops at the same step instead
      // Keep the steps since the last checkpoint: a cancelled run resumes from here.
      if (lead && step > lastSaved) save(step);
      throw core::Cancelled();
    }
    ++step;
    const double lr = s.warmup > 0 && step <= s.warmup ? s.lr * static_cast<double>(step) / static_cast<double>(s.warmup) : s.lr;
    for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    auto gen = stepGenerator(ctx.seed(), step, device);
    if (graphs && step - first > kEagerWarmup) {
      lrTensor.fill_(lr);
      const int key = variant ? variant(step) : 0;
      if (!captured->captured(key)) {
        stepper.setStepCount(step - 1);
        // Each graph owns its gradients (allocated in its pool by the captured backward).
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
        captured->capture(
            [&] {
              auto loss = lossAt(step, gen);
              finishStep(loss, lrTensor);
              return loss;
            },
            key);
        gen = stepGenerator(ctx.seed(), step, device);  // the replay below draws from step's seed
      }
      captured->replay(key);
    } else {
      for (auto& p : params) p.mutable_grad() = torch::Tensor();  // set_to_none: no zero-fill kernels
      finishStep(lossAt(step, gen), torch::Tensor());
    }
    ++window;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    // Distributed: every rank stops at the same step (any rank's clock).
    const bool outOfTime = (comm ? agreedOutOfTime : s.maxSeconds > 0 && secs >= s.maxSeconds) && step < s.steps;
    const bool checkpoint = step % s.checkpointEvery == 0 || step == s.steps || outOfTime;
    if (checkpoint || step % logEvery == 0) {
      // The one host-device synchronisation of a window.
      const auto both = torch::stack({lossSum, gradSum}).to(torch::kCPU, torch::kFloat64);
      double value = both[0].item<double>() / static_cast<double>(window);
      if (comm) value = comm->sum({value})[0] / static_cast<double>(comm->worldSize());  // the whole batch's
      const double gradNormMean = both[1].item<double>() / static_cast<double>(window);
      if (!std::isfinite(value) || !std::isfinite(gradNormMean)) {
        const auto last = ctx.run().latestCheckpoint();
        throw AditError("training stopped by step " + std::to_string(step) + ": loss or gradient is NaN/inf; " +
                        (last ? "resume continues from " + last->filename().string() : std::string("no checkpoint yet")) +
                        "; lower the learning rate (" + std::to_string(s.lr) + ")");
      }
      r.stepsPerSecond = static_cast<double>(step - first) /
                         std::max(1e-9, std::chrono::duration<double>(Clock::now() - t0).count());
      fb.reportMetrics(step, {{"loss", value}, {"lr", lr}, {"grad_norm", gradNormMean}, {"steps_per_s", r.stepsPerSecond}});
      r.lastLoss = lastReported = value;
      lossSum.zero_();
      gradSum.zero_();
      window = 0;
    }
    if (checkpoint && lead) {
      save(step);
      lastSaved = step;
    }
    fb.setProgress(static_cast<double>(step) / static_cast<double>(s.steps),
                   "step " + std::to_string(step) + " of " + std::to_string(s.steps) +
                       (std::isfinite(lastReported) ? ", loss " + std::to_string(lastReported) : std::string()));
    if (outOfTime) {
      fb.info("max_seconds reached: stopped at step " + std::to_string(step) + " with a checkpoint");
      r.stoppedByTime = true;
      break;
    }
  }
  if (graphs) stepper.setStepCount(step);
  captured.reset();  // waits for the side stream; the default stream is current again
  r.steps = step;
  return r;
}

namespace {
// As Module::save, with floating-point tensors written in dtype; the module itself is untouched.
void saveModule(const torch::nn::Module& m, torch::serialize::OutputArchive& out, torch::Dtype dtype) {
  auto conv = [&](const torch::Tensor& t) { return t.is_floating_point() ? t.detach().to(dtype) : t.detach(); };
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.write(p.key(), conv(p.value()));
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.write(b.key(), conv(b.value()), /*is_buffer=*/true);
  for (const auto& c : m.named_children()) {
    torch::serialize::OutputArchive child;
    saveModule(*c.value(), child, dtype);
    out.write(c.key(), child);
  }
}
// As Module::load, but each stored tensor is copied into the float32 parameter (files may hold
// float16 / bfloat16 weights; Module::load would keep the file's dtype or refuse it).
void loadModule(torch::nn::Module& m, torch::serialize::InputArchive& in) {
  torch::NoGradGuard g;
  for (auto& p : m.named_parameters(/*recurse=*/false)) {
    torch::Tensor t;
    in.read(p.key(), t);
    if (!t.sizes().equals(p.value().sizes()))
      throw AditError("tensor '" + p.key() + "' has shape " + c10::str(t.sizes()) + ", the model expects " +
                      c10::str(p.value().sizes()));
    p.value().copy_(t);
  }
  for (auto& b : m.named_buffers(/*recurse=*/false)) {
    torch::Tensor t;
    in.read(b.key(), t, /*is_buffer=*/true);
    b.value().copy_(t);
  }
  for (auto& c : m.named_children()) {
    torch::serialize::InputArchive child;
    in.read(c.key(), child);
    loadModule(*c.value(), child);
  }
}
}  // namespace

void saveVae(const fs::path& file, Vae& vae, torch::Dtype dtype) {
  torch::serialize::OutputArchive out;
  saveModule(*vae, out, dtype);
  writeConfig(out, "adit_vae_config", vae->config.toJson());
  saveArchive(out, file);
}

Vae loadVae(const fs::path& file, const torch::Device& d) {
  auto in = openArchive(file, d);
  Vae vae(VaeConfig::fromJson(readConfig(in, "adit_vae_config", file)));
  try {
    loadModule(*vae, in);
  } catch (const std::exception& e) {
    throw AditError("model file '" + file.string() + "': weights do not fit the VAE config: " + e.what());
  }
  vae->to(d, torch::kFloat32);  // files may hold float16 / bfloat16 weights
  vae->eval();
  return vae;
}

void saveDit(const fs::path& file, DitBundle& b, torch::Dtype dtype) {
  torch::serialize::OutputArchive out;
  saveModule(*b.dit, out, dtype);
  Json extra{{"atom_counts", b.atomCounts}, {"space_groups", b.spaceGroups}, {"latent_scale", b.latentScale}};
  if (!b.compositions.empty()) extra["compositions"] = b.compositions;
  writeConfig(out, "adit_dit_config", b.dit->config.toJson());
  writeConfig(out, "adit_dit_data", extra);
  saveArchive(out, file);
}

DitBundle loadDit(const fs::path& file, const torch::Device& d) {
  auto in = openArchive(file, d);
  DitBundle b;
  b.dit = Dit(DitConfig::fromJson(readConfig(in, "adit_dit_config", file)));
  try {
    loadModule(*b.dit, in);
  } catch (const std::exception& e) {
    throw AditError("model file '" + file.string() + "': weights do not fit the DiT config: " + e.what());
  }
  const auto extra = readConfig(in, "adit_dit_data", file);
  b.atomCounts = extra.at("atom_counts").get<std::vector<std::vector<std::int64_t>>>();
  b.spaceGroups = extra.value("space_groups", std::vector<std::int64_t>{});
  b.latentScale = extra.value("latent_scale", 1.0);
  if (extra.contains("compositions"))
    b.compositions = extra.at("compositions").get<std::vector<std::map<std::string, std::int64_t>>>();
  if (b.dit->config.compositionCondition && b.compositions.empty())
    throw AditError("model file '" + file.string() + "': a DiT conditioned on composition without the training compositions");
  b.dit->to(d, torch::kFloat32);
  b.dit->eval();
  return b;
}

torch::Tensor encodeRecords(Vae& vae, const Records& r, long long batchSize, const torch::Device& d, core::Feedback* fb) {
  torch::NoGradGuard g;
  vae->eval();
  std::vector<torch::Tensor> out;
  const auto padded = padRecords(r, d);
  for (std::int64_t b = 0; b < r.size(); b += batchSize) {
    if (fb) fb->throwIfCancelled();
    const auto e = std::min<std::int64_t>(r.size(), b + batchSize);
    auto batch = padded.gather(torch::arange(b, e, torch::TensorOptions().dtype(torch::kInt64).device(d)));
    auto mean = vae->encode(batch).first.to(torch::kFloat32);
    out.push_back(mean.index({batch.mask}).to(torch::kCPU));  // real atoms in record order
    if (fb) fb->setProgress(static_cast<double>(b) / static_cast<double>(r.size()), "encoding latents");
  }
  return torch::cat(out);
}

std::pair<torch::Tensor, torch::Tensor> latentBatch(const torch::Tensor& latents, const Records& r,
                                                    const std::vector<std::int64_t>& indices) {
  std::int64_t N = 1;
  for (auto i : indices) N = std::max(N, r.atomsOf(i));
  const auto B = static_cast<std::int64_t>(indices.size());
  auto x = torch::zeros({B, N, latents.size(1)});
  auto mask = torch::zeros({B, N}, torch::kBool);
  const auto* o = r.offsets.data_ptr<std::int64_t>();
  for (std::int64_t j = 0; j < B; ++j) {
    const auto a0 = o[indices[j]], a1 = o[indices[j] + 1];
    x[j].slice(0, 0, a1 - a0).copy_(latents.slice(0, a0, a1));
    mask[j].slice(0, 0, a1 - a0).fill_(true);
  }
  return {x, mask};
}

namespace {
// The elements of `composition` given to the atoms (rows of logProb, [atoms, kMaxZ], column z - 1) so that the sum
// of their log-probabilities is largest. Returns how many atoms changed from `types` (their argmax), updated; none
// (types kept, nullopt) when the composition has a different number of atoms.
std::optional<int> assignComposition(const torch::Tensor& logProb, const std::map<int, int>& composition,
                                     std::vector<int>& types) {
  std::vector<int> slots;  // one element per atom of the composition
  for (const auto& [z, n] : composition)
    for (int i = 0; i < n; ++i) slots.push_back(z);
  const auto n = static_cast<std::int64_t>(types.size());
  if (static_cast<std::int64_t>(slots.size()) != n || n == 0) return std::nullopt;
  const auto lp = logProb.accessor<double, 2>();
  const auto atoms = static_cast<std::size_t>(n);
  std::vector<std::vector<double>> cost(atoms, std::vector<double>(atoms));
  for (std::size_t a = 0; a < atoms; ++a)
    for (std::size_t j = 0; j < atoms; ++j) {
      const int z = slots[j];
      // an element the decoder cannot emit gets a large finite cost (the assignment needs finite costs)
      const auto i = static_cast<std::int64_t>(a);
      cost[a][j] = z >= 1 && z <= kMaxZ ? -std::max(lp[i][z - 1], -1e6) : 1e6;
    }
  const auto assigned = chem::linearAssignment(cost);
  int changed = 0;
  for (std::size_t a = 0; a < atoms; ++a) {
    const int z = slots[static_cast<std::size_t>(assigned[a])];
    changed += z != types[a];
    types[a] = z;
  }
  return changed;
}
}  // namespace

chem::Trajectory decodeToStructures(const VaeOutput& out, const torch::Tensor& mask, const torch::Tensor& kind,
                                    const std::vector<std::map<int, int>>* compositions) {
  const auto typeLogits = out.atomLogits.narrow(-1, 1, kMaxZ);
  const auto types = typeLogits.argmax(-1).to(torch::kCPU) + 1;  // never class 0
  torch::Tensor logProb;
  if (compositions) logProb = typeLogits.to(torch::kCPU, torch::kFloat64).log_softmax(-1);
  const auto pos = out.positions.to(torch::kCPU, torch::kFloat64);
  const auto frac = out.fractional.to(torch::kCPU, torch::kFloat64);
  const auto m = mask.to(torch::kCPU);
  const auto natoms = m.sum(1);
  const auto lat = denormaliseLattice(out.lattice.to(torch::kCPU, torch::kFloat64), natoms);
  chem::Trajectory t;
  for (std::int64_t b = 0; b < types.size(0); ++b) {
    chem::Structure s;
    const bool crystal = kind[b].item<std::int64_t>() == static_cast<int>(Kind::Crystal);
    std::optional<chem::Mat3> lattice;
    if (crystal) {
      chem::CellParameters c{lat[b][0].item<double>(), lat[b][1].item<double>(), lat[b][2].item<double>(),
                             lat[b][3].item<double>(), lat[b][4].item<double>(), lat[b][5].item<double>()};
      try {
        lattice = chem::latticeFromParameters(c);
      } catch (const std::exception&) {
        s.info["decode_error"] = "lattice parameters close no cell";
      }
    }
    std::vector<std::int64_t> atoms;  // the real (unmasked) atoms' rows
    std::vector<int> z;
    for (std::int64_t a = 0; a < types.size(1); ++a)
      if (m[b][a].item<bool>()) {
        atoms.push_back(a);
        z.push_back(static_cast<int>(types[b][a].item<std::int64_t>()));
      }
    const auto ub = static_cast<std::size_t>(b);
    if (compositions && ub < compositions->size() && !(*compositions)[ub].empty()) {
      const auto rows = logProb[b].index_select(0, torch::tensor(atoms, torch::kInt64));
      if (const auto changed = assignComposition(rows, (*compositions)[ub], z)) s.info["retyped_atoms"] = *changed;
    }
    for (std::size_t i = 0; i < atoms.size(); ++i) {
      const auto a = atoms[i];
      chem::Vec3 p{pos[b][a][0].item<double>(), pos[b][a][1].item<double>(), pos[b][a][2].item<double>()};
      if (lattice) {
        chem::Vec3 f{frac[b][a][0].item<double>(), frac[b][a][1].item<double>(), frac[b][a][2].item<double>()};
        for (auto& v : f) v -= std::floor(v);
        p = chem::fractionalToCartesian(f, *lattice);
      }
      s.addAtom(z[i], p);
    }
    if (lattice) {
      s.lattice = lattice;
      s.pbc = {true, true, true};
    }
    t.push_back(std::move(s));
  }
  return t;
}

chem::Trajectory sampleStructures(Vae& vae, DitBundle& bundle, const SampleOptions& o, const torch::Device& d,
                                  core::Feedback* fb) {
  const int k = static_cast<int>(o.kind);
  const bool byComposition = bundle.dit->config.compositionCondition;
  if (!byComposition && !o.composition.empty())
    throw AditError("this DiT was trained without composition conditioning: it cannot sample a given formula");
  if (!byComposition && o.enforceComposition)
    throw AditError("this DiT was trained without composition conditioning: there is no composition to enforce");
  // What each sample is drawn from: atom counts, or (composition conditioning) whole compositions, each one's atom
  // count and its composition vector (counts or fractions) tabulated once here (compositionTotals, compositionRows).
  std::vector<std::map<int, int>> compositions;
  torch::Tensor weights;
  if (byComposition && !o.composition.empty()) {
    try {
      compositions.push_back(chem::parseFormula(o.composition));
    } catch (const std::exception& e) {
      throw AditError(std::string("adit.sample: ") + e.what());
    }
    weights = torch::ones({1}, torch::kFloat64);
  } else if (byComposition) {
    if (k >= static_cast<int>(bundle.compositions.size()) || bundle.compositions[k].empty())
      throw AditError(std::string("the DiT was trained without any ") + (k ? "crystal" : "molecule") +
                      ": no compositions to sample from");
    std::vector<double> w;
    for (const auto& [key, n] : bundle.compositions[k]) {
      compositions.push_back(compositionFromKey(key));
      w.push_back(static_cast<double>(n));
    }
    weights = torch::tensor(w, torch::kFloat64);
  } else {
    if (k >= static_cast<int>(bundle.atomCounts.size()) || bundle.atomCounts[k].empty())
      throw AditError(std::string("the DiT was trained without any ") + (k ? "crystal" : "molecule") +
                      ": no atom-count distribution to sample from");
    weights = torch::tensor(bundle.atomCounts[k], torch::kFloat64);
  }
  const auto K = static_cast<std::int64_t>(compositions.size());
  auto compositionTotals = torch::zeros({K}, torch::kInt64);
  auto elementCounts = torch::zeros({K, kCompositionElements}, torch::kFloat32);
  for (std::int64_t c = 0; c < K; ++c) {
    int total = 0;
    for (const auto& [z, n] : compositions[static_cast<std::size_t>(c)]) {
      total += n;
      if (z <= kCompositionElements) elementCounts[c][z - 1] = static_cast<float>(n);
    }
    compositionTotals[c] = total;
  }
  const auto compositionRows = compositionVector(bundle.dit->config, elementCounts, compositionTotals);
  if (weights.sum().item<double>() <= 0) throw AditError("empty atom-count histogram");
  auto gen = at::detail::createCPUGenerator(o.seed);
  vae->eval();
  bundle.dit->eval();
  chem::Trajectory out;
  for (long long done = 0; done < o.count;) {
    if (fb) fb->throwIfCancelled();
    const auto B = std::min(o.batchSize, o.count - done);
    const auto drawn = at::multinomial(weights, B, true, gen);  // atom counts, or composition indices
    const auto natoms = byComposition ? compositionTotals.index_select(0, drawn) : drawn;
    const auto N = std::max<std::int64_t>(1, natoms.max().item<std::int64_t>());
    auto mask = torch::arange(N).unsqueeze(0) < natoms.unsqueeze(1);
    DitCondition cond{torch::full({B}, k, torch::kInt64).to(d),
                      torch::full({B}, o.kind == Kind::Crystal ? o.spaceGroup : 0, torch::kInt64).to(d), natoms.to(d)};
    if (byComposition) cond.composition = compositionRows.index_select(0, drawn).to(d);
    auto x0 = centredNoise({B, N, bundle.dit->config.latent}, mask, &gen).to(d);
    auto maskD = mask.to(d);
    auto dit = ditPredictor(bundle.dit, cond, maskD, o.guidance);
    // A cancel stops within one integration step, not only between batches (a batch of many
    // steps takes minutes on a CPU).
    X1Predictor predictor = [&dit, fb](const torch::Tensor& xt, double t, const torch::Tensor& sc) {
      if (fb) fb->throwIfCancelled();
      return dit(xt, t, sc);
    };
    SamplerOptions so{o.steps, o.heun};
    auto x1 = sampleFlow(predictor, x0, so, maskD);
    torch::NoGradGuard g;
    auto decoded = vae->decode(x1 * bundle.latentScale, maskD);
    // each sample's composition (conditioned DiTs): enforced at decoding when asked, and recorded
    std::vector<std::map<int, int>> asked;
    if (byComposition)
      for (std::int64_t i = 0; i < B; ++i) asked.push_back(compositions[static_cast<std::size_t>(drawn[i].item<std::int64_t>())]);
    auto structures = decodeToStructures(decoded, maskD, cond.kind.to(torch::kCPU),
                                         o.enforceComposition && !asked.empty() ? &asked : nullptr);
    for (std::size_t i = 0; i < structures.size(); ++i) {
      // what the sample was asked to be, so that adit.evaluate can say how often the model obeys
      if (!asked.empty()) structures[i].info["asked_formula"] = chem::hillFormula(asked[i]);
      out.push_back(std::move(structures[i]));
    }
    done += B;
    if (fb) fb->setProgress(static_cast<double>(done) / static_cast<double>(o.count),
                            "sampled " + std::to_string(done) + " of " + std::to_string(o.count));
  }
  return out;
}

namespace {
void countFormulaMatches(const chem::Trajectory& structures, EvaluationRow& row) {
  for (const auto& s : structures) {
    const auto it = s.info.find("asked_formula");
    if (it == s.info.end() || !it->is_string()) continue;
    ++row.formulaAsked;
    row.formulaMatched += s.formula() == it->get<std::string>();
  }
  if (row.formulaAsked)
    row.formulaMatchRate = static_cast<double>(row.formulaMatched) / static_cast<double>(row.formulaAsked);
}
}  // namespace

EvaluationRow evaluateMolecules(const chem::Trajectory& molecules, const chem::Trajectory& reference, core::Feedback* fb,
                                const std::vector<std::string>& referenceSmiles) {
#ifdef ATOMSCOPE_HAS_CHEM_TOOLKITS
  EvaluationRow row;
  row.dataset = "molecule";
  std::vector<std::string> smiles, neutralSmiles;
  for (std::size_t i = 0; i < molecules.size(); ++i) {
    if (fb) {
      fb->throwIfCancelled();
      fb->setProgress(static_cast<double>(i) / static_cast<double>(molecules.size()), "perceiving bonds");
    }
    const auto& m = molecules[i];
    std::string smi;
    bool neutral = false;
    if (!m.empty()) {
      const auto p = chem::perceiveMolecule(m);
      if (p.valid && p.fragments == 1) {
        smi = p.largestFragmentSmiles;
        neutral = chem::validAndNeutral(p);
      }
    }
    smiles.push_back(smi);
    neutralSmiles.push_back(neutral ? smi : std::string());
  }
  const auto metrics = chem::moleculeSetMetrics(smiles, nullptr);
  row.total = metrics.total;
  row.valid = metrics.valid;
  row.validRate = metrics.validRate;
  row.unique = metrics.unique;
  row.uniqueRate = metrics.uniqueRate;
  if (!reference.empty() || !referenceSmiles.empty()) {
    if (fb) fb->setStage("novelty against the reference");
    std::set<std::string> ref;
    for (const auto& r : reference) {
      const auto p = chem::perceiveMolecule(r);
      if (p.valid) ref.insert(chem::canonicalSmiles(p.largestFragmentSmiles, false));
    }
    for (const auto& s : referenceSmiles) ref.insert(chem::canonicalSmiles(s, false));
    std::vector<std::string> flat;
    for (const auto& s : smiles) flat.push_back(s.empty() ? s : chem::canonicalSmiles(s, false));
    const auto novelty = chem::moleculeSetMetrics(flat, &ref);
    row.novel = novelty.novel;
    row.novelRate = novelty.novelRate;
  }
  for (const auto& s : neutralSmiles) row.validNeutral += !s.empty();
  row.validNeutralRate = row.total ? static_cast<double>(row.validNeutral) / static_cast<double>(row.total) : 0.0;
  countFormulaMatches(molecules, row);
  return row;
#else
  (void)molecules;
  (void)reference;
  (void)fb;
  (void)referenceSmiles;
  throw AditError("molecule validity needs a build with the chemistry toolkits (RDKit, Open Babel)");
#endif
}

EvaluationRow evaluateCrystals(const chem::Trajectory& crystals, const chem::Trajectory& reference, core::Feedback* fb) {
  if (fb) fb->setStage("crystal validity and structure matching");
  EvaluationRow row;
  row.dataset = "crystal";
  const auto vo = chem::CrystalValidityOptions::generated();
  std::vector<chem::CrystalValidity> validity;
  std::size_t composition = 0, structure = 0;
  for (const auto& c : crystals) {
    validity.push_back(chem::crystalValidity(c, vo));
    composition += validity.back().composition;
    structure += validity.back().structure;
    row.latticeRejected += !validity.back().lattice;
  }
  const auto m = chem::crystalSetMetrics(crystals, reference.empty() ? nullptr : &reference, {}, vo, &validity);
  const double n = std::max<double>(1.0, static_cast<double>(crystals.size()));
  row.compositionValidRate = static_cast<double>(composition) / n;
  row.structureValidRate = static_cast<double>(structure) / n;
  row.total = m.total;
  row.valid = row.validNeutral = m.valid;
  row.validRate = row.validNeutralRate = m.validRate;
  row.unique = m.unique;
  row.uniqueRate = m.uniqueRate;
  row.novel = m.novel;
  row.novelRate = m.novelRate;
  countFormulaMatches(crystals, row);
  return row;
}

}  // namespace atomscope::adit
