// adit.prepare, adit.train_vae, adit.train_dit, adit.sample, adit.evaluate.
#include "atomscope/adit/adit_jobs.h"

#include <fstream>
#include <sstream>

#include "atomscope/adit/reference_smiles.h"
#include "atomscope/adit/relax.h"
#include "atomscope/adit/training.h"
#include "atomscope/chem/cif.h"
#include "atomscope/chem/formats.h"
#include "atomscope/chem/xyz.h"
#include "atomscope/core/torch_device.h"

namespace atomscope::adit {

namespace fs = std::filesystem;
using core::Context;
using core::JobInfo;
using core::ParamSchema;

namespace {

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ';')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

TrainSettings trainSettings(const core::Params& p, const torch::Device& d) {
  TrainSettings s;
  s.steps = p.getInt("steps");
  s.batchSize = p.getInt("batch_size");
  s.lr = p.getFloat("lr");
  s.warmup = p.getInt("warmup_steps");
  s.emaDecay = p.getFloat("ema_decay");
  s.checkpointEvery = p.getInt("checkpoint_every");
  s.gradClip = p.getFloat("grad_clip");
  s.logEvery = p.getInt("log_every");
  s.maxSeconds = p.getFloat("max_seconds");
  const auto ac = p.getString("autocast");
  s.autocast = ac == "bf16" || (ac == "auto" && d.is_cuda());
  if (s.autocast && !d.is_cuda()) throw AditError("bf16 autocast is available on CUDA devices only");
  s.cudaGraph = p.getBool("cuda_graph");
  return s;
}

void addTrainParams(ParamSchema& s, long long steps, double lr) {
  s.addInt("steps", steps, 1, std::nullopt, "Optimizer steps.");
  s.addInt("batch_size", 64, 1, std::nullopt, "Structures per batch.");
  s.addFloat("lr", lr, 0.0, 1.0, "AdamW learning rate.");
  s.addInt("warmup_steps", 0, 0, std::nullopt, "Linear learning-rate warm-up.").markAdvanced();
  s.addFloat("ema_decay", 0.999, 0.0, 1.0, "EMA of the weights (the exported model holds the EMA weights).");
  s.addInt("checkpoint_every", 100, 1, std::nullopt, "Resumable checkpoint every N steps.");
  s.addFloat("grad_clip", 1.0, 0.0, std::nullopt, "Gradient 2-norm clip (0: none).").markAdvanced();
  s.addChoice("autocast", {"auto", "off", "bf16"}, "auto", "bf16 autocast: auto = on for CUDA, off on the CPU.");
  s.addBool("cuda_graph", true,
            "On CUDA in one process: capture the training step as CUDA graphs after 3 eager steps and replay them "
            "(one launch per step). Random draws then differ from an eager run's, reproducibly. Ignored on the CPU.")
      .markAdvanced();
  s.addInt("log_every", 20, 1, std::nullopt,
           "Report the loss (mean since the last report) every N steps and at checkpoints; reading it back "
           "synchronises the GPU, so not every step.").markAdvanced();
  s.addFloat("max_seconds", 0.0, 0.0, std::nullopt,
             "Stop cleanly with a checkpoint and the exported model after this many seconds of training (0: no limit).");
  s.addChoice("save_dtype", {"float32", "float16", "bfloat16"}, "float32",
              "Precision of the exported model file (float16 halves it; loading converts back to float32).")
      .markAdvanced();
  s.addDevice();
}

torch::Dtype saveDtype(const core::Params& p) { return core::torchDtype(p.getString("save_dtype")); }

void summariseTraining(Context& ctx, const TrainResult& r) {
  ctx.run().setSummary("final_loss", r.lastLoss);
  ctx.run().setSummary("steps_per_s", r.stepsPerSecond);
  ctx.run().setSummary("steps_done", r.steps);
  ctx.run().setSummary("stopped_by_time", r.stoppedByTime);
  ctx.run().setSummary("cuda_graphs", r.cudaGraphs);
}

// Batch indices drawn on the generator's device (no host round trip).
torch::Tensor drawIndices(std::int64_t n, long long B, torch::Generator& gen, const torch::Device& d) {
  return at::randint(n, {B}, gen, torch::TensorOptions().dtype(torch::kInt64).device(d));
}

// Data parallel (distributed.h): this process's place and its process group (null in one process).
struct Parallel {
  core::DistributedEnv env;
  std::shared_ptr<core::Communicator> comm;
  bool lead() const { return env.rank == 0; }  // writes checkpoints and the exported model
};

Parallel startParallel(Context& ctx, torch::Device& device) {
  Parallel par{core::DistributedEnv::fromEnvironment(), nullptr};
  device = core::deviceForRank(device, par.env);
  if (par.env.active()) {
    par.comm = core::Communicator::create(par.env, device);
    ctx.feedback().info("data parallel: rank " + std::to_string(par.env.rank) + " of " +
                        std::to_string(par.env.worldSize) + " (" + par.comm->backend() + ")");
  }
  return par;
}

// A rank's rows [first, first + size) of every global batch. Every rank draws the whole batch's
// indices and random numbers from the step's generator and keeps its rows, so the ranks together
// see exactly the one-process batch, whatever the number of processes.
struct Share {
  std::int64_t first = 0, size = 0, world = 1;
  torch::Tensor rows(const torch::Tensor& t) const { return t.narrow(0, first, size); }
};

Share shareOf(long long batch, const Parallel& par) {
  const std::int64_t world = par.env.worldSize;
  if (batch % world != 0)
    throw AditError("batch_size " + std::to_string(batch) + " does not split evenly over " + std::to_string(world) +
                    " processes; use a multiple of " + std::to_string(world));
  return {par.env.rank * (batch / world), batch / world, world};
}

torch::Tensor randnOn(torch::IntArrayRef shape, torch::Generator& gen, const torch::Device& d) {
  return at::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32).device(d));
}

// Copies EMA weights into the module (same order as parameters()).
void applyEma(torch::nn::Module& m, const std::vector<torch::Tensor>& ema) {
  torch::NoGradGuard g;
  auto params = m.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(ema[i]);
}

class PrepareJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"adit.prepare", "Prepare ADiT training data", "Generative models",
            "Reads molecules (SMILES through RDKit ETKDGv3 + MMFF, XYZ / extended XYZ) and crystals (CDVAE CSV "
            "files such as MP-20, Perov-5, Carbon-24, folders of CIFs, periodic extended XYZ), Niggli-reduces the "
            "crystals and writes safetensors shards with a JSON manifest for adit.train_vae.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addString("sources", "",
                "Paths separated by ';' (.smi/.txt SMILES, .xyz/.extxyz, CDVAE .csv, CIF folders, prepared "
                "folders to merge; a path listed twice is used twice).");
    s.addChoice("kind", {"auto", "molecule", "crystal"}, "auto", "Kind of XYZ sources (auto: periodic = crystal).");
    s.addInt("limit", 0, 0, std::nullopt, "First N structures of each source (0: all).");
    s.addInt("shard_size", 20000, 1, std::nullopt, "Records per shard.").markAdvanced();
    s.addBool("niggli", true, "Niggli-reduce crystals (spglib).");
    s.addInt("embed_attempts", 0, 0, std::nullopt, "ETKDG attempts per SMILES (0: RDKit's default).").markAdvanced();
    s.addInt("threads", 0, 0, 1024, "Threads embedding SMILES (0: every core); the result is the same for any number.").markAdvanced();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    std::vector<PrepareSource> src;
    for (const auto& path : splitList(p.getString("sources"))) src.push_back({path, p.getString("kind")});
    if (src.empty()) throw AditError("adit.prepare: 'sources' is empty; give one or more paths separated by ';'");
    PrepareOptions o;
    o.limit = static_cast<std::size_t>(p.getInt("limit"));
    o.shardSize = static_cast<std::size_t>(p.getInt("shard_size"));
    o.niggli = p.getBool("niggli");
    o.maxEmbedAttempts = static_cast<unsigned>(p.getInt("embed_attempts"));
    o.threads = static_cast<unsigned>(p.getInt("threads"));
    o.seed = static_cast<int>(ctx.seed() % 2147483647ULL);
    const auto dir = ctx.run().addArtifact("data", "adit_data", "ADiT training data (shards + manifest.json)");
    const auto rep = prepareDataset(src, dir, o, &ctx.feedback());
    ctx.run().setSummary("records", rep.records);
    ctx.run().setSummary("molecules", rep.molecules);
    ctx.run().setSummary("crystals", rep.crystals);
    ctx.run().setSummary("dropped_charged_or_radical", rep.dropped);
    ctx.run().setSummary("failed", rep.failed);
    for (const auto& f : rep.failures) ctx.feedback().warn(f);
    ctx.feedback().setProgress(1.0, "done");
  }
};

class TrainVaeJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"adit.train_vae", "Train the ADiT VAE", "Generative models",
            "Trains the all-atom VAE (one token per atom, 8 latent numbers per atom) on data from adit.prepare: "
            "atom-type cross-entropy, position, fractional-coordinate and lattice MSEs and a small KL term. "
            "Resumable; the exported model holds EMA weights. Data-parallel over several processes with --nproc.",
            true, true};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("data", "", "Folder written by adit.prepare (manifest.json).", {}, true);
    s.addChoice("size", {"tiny", "small", "S", "B", "L"}, "S",
                "VAE size (small 128 wide, 4+4 layers; S 256, 6+6; B 512, 8+8; L 768, 12+12).");
    s.addFloat("kl_weight", 1e-5, 0.0, std::nullopt, "Weight of the KL term (the paper's 1e-5).");
    s.addFloat("position_noise", 0.0, 0.0, std::nullopt, "Std of Gaussian noise added to input positions (A).");
    s.addFloat("latent_noise", 0.0, 0.0, std::nullopt,
               "Gaussian noise added to the latents before decoding, in latent RMS units: trains a decoder that "
               "tolerates the DiT's imprecise latents (e.g. 0.1).");
    s.addBool("augment_rotations", false,
              "Randomly rotate molecules' positions (the paper's VAE augmentation); the DiT is trained on "
              "latents of the stored orientation either way.");
    addTrainParams(s, 2000, 1e-4);
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    auto device = core::toTorchDevice(ctx.device());
    const auto par = startParallel(ctx, device);
    const auto settings = trainSettings(p, device);
    const auto share = shareOf(settings.batchSize, par);
    auto data = loadDataset(p.getString("data"));
    if (data.size() == 0) throw AditError("adit.train_vae: the data set is empty");
    torch::manual_seed(ctx.seed());  // the same seed gives the same initial weights (resume, reruns)
    Vae vae(VaeConfig::preset(p.getString("size")));
    vae->to(device);
    const double kl = p.getFloat("kl_weight"), noise = p.getFloat("position_noise");
    const double latentNoise = p.getFloat("latent_noise");
    const bool rotate = p.getBool("augment_rotations");
    ctx.feedback().setStage("uploading the data set");
    const auto padded = padRecords(data, device);  // once; batches are gathers on the device
    ctx.feedback().setStage("training");
    auto loss = [&](long long, torch::Generator& gen) {
      auto b = padded.gather(drawIndices(padded.size(), settings.batchSize, gen, device));
      const auto m = b.mask.unsqueeze(-1).to(torch::kFloat32);
      if (rotate) {
        // Molecules only: a crystal's Cartesian positions follow its lattice's fixed orientation.
        auto R = randomRotations(b.positions.size(0), &gen, device);
        auto isMol = (b.kind == static_cast<int>(Kind::Molecule)).view({-1, 1, 1}).to(torch::kFloat32);
        b.positions = isMol * torch::matmul(b.positions, R.transpose(1, 2)) + (1 - isMol) * b.positions;
      }
      if (noise > 0)
        b.positions = b.positions + noise * at::randn(b.positions.sizes(), gen, b.positions.options()) * m;
      return vaeLoss(vae->forward(b, true, &gen, latentNoise), b, kl).total;
    };
    // Data parallel: the same draws as `loss` for the whole batch, this rank's rows of them, and
    // VaeImpl::forward's sampling spelled out for those rows; each term's normaliser (atoms,
    // crystal atoms, crystals) is the whole batch's, so the mean over ranks is the one-process loss.
    const std::int64_t B = settings.batchSize, W = padded.width();
    const auto latentDim = vae->config.latent;
    auto shareLoss = [&](long long, torch::Generator& gen) {
      const auto idx = drawIndices(padded.size(), B, gen, device);
      auto b = padded.gather(share.rows(idx));
      const auto m = b.mask.unsqueeze(-1).to(torch::kFloat32);
      if (rotate) {
        auto R = share.rows(randomRotations(B, &gen, device));
        auto isMol = (b.kind == static_cast<int>(Kind::Molecule)).view({-1, 1, 1}).to(torch::kFloat32);
        b.positions = isMol * torch::matmul(b.positions, R.transpose(1, 2)) + (1 - isMol) * b.positions;
      }
      if (noise > 0) b.positions = b.positions + noise * share.rows(randnOn({B, W, 3}, gen, device)) * m;
      auto [mean, logvar] = vae->encode(b);
      const auto ml = b.mask.unsqueeze(-1).to(mean.dtype());
      auto z = mean + torch::exp(0.5 * logvar) * share.rows(randnOn({B, W, latentDim}, gen, device)) * ml;
      if (latentNoise > 0) {
        // The whole batch's latent RMS (detached), as in one process.
        const auto sums = par.comm->sum({(mean.detach().to(torch::kFloat32).pow(2) * ml).sum().item<double>(),
                                         ml.sum().item<double>()});
        const double rms = std::sqrt(sums[0] / std::max(1.0, sums[1] * static_cast<double>(latentDim)));
        z = z + latentNoise * rms * share.rows(randnOn({B, W, latentDim}, gen, device)) * ml;
      }
      auto out = vae->decode(z, b.mask);
      out.mean = mean;
      out.logvar = logvar;
      const auto l = vaeLoss(out, b, kl);
      const auto crystal = [](const torch::Tensor& kind) { return (kind == static_cast<int>(Kind::Crystal)).to(torch::kFloat32); };
      const auto gm = padded.mask.index_select(0, idx).to(torch::kFloat32);
      const auto gc = crystal(padded.kind.index_select(0, idx));
      const auto lmask = b.mask.to(torch::kFloat32), lc = crystal(b.kind);
      auto part = [](const torch::Tensor& local, const torch::Tensor& whole) {
        return local.sum().clamp_min(1.0) / whole.sum().clamp_min(1.0);
      };
      return static_cast<double>(share.world) *
             ((l.atoms + l.positions + kl * l.kl) * part(lmask, gm) + l.fractional * part(lmask * lc.unsqueeze(1), gm * gc.unsqueeze(1)) +
              l.lattice * part(lc, gc));
    };
    std::vector<torch::Tensor> ema;
    const auto r = par.comm ? trainLoop(ctx, *vae, shareLoss, settings, ema, par.comm)
                            : trainLoop(ctx, *vae, loss, settings, ema);
    if (par.comm) ctx.run().setSummary("processes", share.world);
    if (!par.lead()) return;  // rank 0 exports
    applyEma(*vae, ema);
    const auto file = ctx.run().addArtifact("vae.pt", "adit_vae", "the VAE (EMA weights)");
    saveVae(file, vae, saveDtype(p));
    // Reconstruction of the first (up to) 256 records with the EMA weights.
    {
      torch::NoGradGuard g;
      vae->eval();
      std::vector<std::int64_t> idx;
      for (std::int64_t i = 0; i < std::min<std::int64_t>(256, data.size()); ++i) idx.push_back(i);
      auto b = makeBatch(data, idx).to(device);
      auto out = vae->forward(b, false);
      auto m = b.mask.to(torch::kFloat32);
      const double rmsd = torch::sqrt(((out.positions - b.positions).pow(2).sum(-1) * m).sum() / m.sum()).item<double>();
      const double acc = ((out.atomLogits.argmax(-1) == b.numbers).to(torch::kFloat32) * m).sum().item<double>() /
                         m.sum().item<double>();
      ctx.run().setSummary("reconstruction_rmsd", rmsd);
      ctx.run().setSummary("atom_type_accuracy", acc);
    }
    summariseTraining(ctx, r);
    ctx.feedback().setProgress(1.0, "done");
  }
};

class TrainDitJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"adit.train_dit", "Train the ADiT latent DiT", "Generative models",
            "Encodes the data set once with a trained VAE and trains the latent diffusion Transformer "
            "(adaLN-Zero, self-conditioning, classifier-free guidance on the kind and space group, conditioned "
            "on the atom count) by flow matching. Resumable; the exported model holds EMA weights. Data-parallel "
            "over several processes with --nproc.",
            true, true};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("data", "", "Folder written by adit.prepare (manifest.json).", {}, true);
    s.addPath("vae", "", "VAE from adit.train_vae (vae.pt).", "ADiT VAE (*.pt)");
    s.addChoice("size", {"tiny", "small", "S", "B", "L"}, "S",
                "DiT size (small 256/8/4, S 384/12/6, B 768/12/12, L 1024/24/16: width/blocks/heads).");
    s.addFloat("class_dropout", 0.1, 0.0, 1.0, "Share of labels dropped for classifier-free guidance.");
    s.addBool("composition_condition", true,
              "Condition the DiT on the composition (composition_input: element counts or fractions) too: samples then "
              "take compositions drawn from the training set, or a formula. With 'init', a DiT without it gains it (a "
              "new projection that starts at zero); one with it keeps it either way.");
    s.addChoice("composition_input", {"counts", "fractions"}, "counts",
                "What the composition projection reads: element counts, or element fractions. Ignored when continuing a "
                "DiT that already has the conditioning.").markAdvanced();
    s.addFloat("self_condition_rate", 0.5, 0.0, 1.0,
               "Share of steps trained with self-conditioning (a first, gradient-free prediction fed back).")
        .markAdvanced();
    s.addOptionalPath("init", "Continue training this DiT file (dit.pt from an earlier run with the same VAE): its size and "
                      "latent scale are kept, 'size' is ignored, and the optimiser and schedule start afresh. Empty: a new DiT.",
                      "ADiT DiT (*.pt)");
    addTrainParams(s, 5000, 1e-4);
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    auto device = core::toTorchDevice(ctx.device());
    const auto par = startParallel(ctx, device);
    const auto settings = trainSettings(p, device);
    const auto share = shareOf(settings.batchSize, par);
    auto data = loadDataset(p.getString("data"));
    if (data.size() == 0) throw AditError("adit.train_dit: the data set is empty");
    auto vae = loadVae(p.getString("vae"), device);
    ctx.feedback().setStage("encoding the data set");
    auto latents = encodeRecords(vae, data, 256, device, &ctx.feedback());
    const std::string init = p.getString("init");
    const double scale = std::max(1e-6, latents.std().item<double>());
    DitBundle bundle;
    if (!init.empty()) {
      bundle = loadDit(init, device);
      if (bundle.dit->config.latent != vae->config.latent)
        throw AditError("adit.train_dit: the DiT in 'init' (" + init + ") has latent width " +
                        std::to_string(bundle.dit->config.latent) + ", the VAE " + std::to_string(vae->config.latent));
      // The network learned on the latents scaled by its own factor: keep it (the same VAE and data give the same).
      if (std::abs(scale / bundle.latentScale - 1.0) > 0.05)
        ctx.feedback().warn("the latents' scale here (" + std::to_string(scale) + ") differs from the one '" + init +
                            "' was trained on (" + std::to_string(bundle.latentScale) + "): is it the same VAE?");
      if (p.getBool("composition_condition") && !bundle.dit->config.compositionCondition) {
        // The conditioning added to a DiT without it: its projection starts at zero, so the DiT starts as it was.
        auto cfg = bundle.dit->config;
        cfg.compositionCondition = true;
        cfg.compositionInput = p.getString("composition_input");
        Dit grown(cfg);
        torch::NoGradGuard g;
        const auto before = bundle.dit->named_parameters();
        for (auto& item : grown->named_parameters())
          if (before.contains(item.key())) item.value().copy_(before[item.key()]);
        grown->to(device);
        bundle.dit = grown;
        ctx.feedback().info("conditioning on composition added to " + init + " (a zero projection: the DiT starts as it was)");
      }
      bundle.dit->train();
      ctx.feedback().info("continuing " + init);
    } else {
      // The latents are scaled to unit standard deviation for the flow (the decoder gets them back).
      bundle.latentScale = scale;
    }
    latents = latents / bundle.latentScale;
    bundle.atomCounts = atomCountHistogram(data);
    bundle.compositions = compositionHistogram(data);
    bundle.spaceGroups.assign(kNumSpaceGroups + 1, 0);
    for (std::int64_t i = 0; i < data.size(); ++i)
      if (data.kind[i].item<std::int64_t>() == 1) ++bundle.spaceGroups[std::clamp<std::int64_t>(data.spaceGroup[i].item<std::int64_t>(), 0, kNumSpaceGroups)];
    torch::manual_seed(ctx.seed());
    if (init.empty()) {
      auto cfg = DitConfig::preset(p.getString("size"));
      cfg.latent = vae->config.latent;
      cfg.compositionCondition = p.getBool("composition_condition");
      cfg.compositionInput = p.getString("composition_input");
      bundle.dit = Dit(cfg);
    }
    bundle.dit->config.classDropout = p.getFloat("class_dropout");  // a training setting, not the architecture
    bundle.dit->to(device);
    // Latents and labels uploaded once, padded to the largest record: a batch is a gather on the device.
    const auto padded = padRecords(data, device);
    const auto paddedLatents = padAtomRows(latents, data.offsets, padded.width()).to(device);
    const double selfCondRate = p.getFloat("self_condition_rate");
    const auto seed = ctx.seed();
    // Data parallel: every rank draws the whole batch and trains on its rows of it (BatchRows).
    const BatchRows rows = par.comm ? BatchRows{share.first, share.size} : BatchRows{};
    // The self-conditioning coin is a host hash of (seed, step): reproducible and sync-free; with CUDA
    // graphs each side of it is its own graph.
    auto selfCondAt = [&](long long step) {
      return static_cast<double>(stepHash(seed, step, 1) >> 11) * 0x1.0p-53 < selfCondRate;
    };
    auto loss = [&](long long step, torch::Generator& gen) {
      auto idx = drawIndices(padded.size(), settings.batchSize, gen, device);
      DitCondition cond{padded.kind.index_select(0, idx), padded.spaceGroup.index_select(0, idx),
                        padded.natoms.index_select(0, idx)};
      if (bundle.dit->config.compositionCondition) {
        const auto mask = padded.mask.index_select(0, idx);
        cond.composition = compositionVector(bundle.dit->config, compositionCounts(padded.numbers.index_select(0, idx), mask),
                                             mask.sum(1));
      }
      return ditTrainingLoss(bundle.dit, paddedLatents.index_select(0, idx), cond, padded.mask.index_select(0, idx),
                             &gen, selfCondAt(step), rows);
    };
    std::vector<torch::Tensor> ema;
    const auto r = trainLoop(ctx, *bundle.dit, loss, settings, ema, par.comm,
                             [&](long long step) { return selfCondAt(step) ? 1 : 0; });
    if (par.comm) ctx.run().setSummary("processes", share.world);
    if (!par.lead()) return;  // rank 0 exports
    applyEma(*bundle.dit, ema);
    const auto file = ctx.run().addArtifact("dit.pt", "adit_dit", "the latent DiT (EMA weights)");
    saveDit(file, bundle, saveDtype(p));
    summariseTraining(ctx, r);
    ctx.run().setSummary("latent_scale", bundle.latentScale);
    ctx.feedback().setProgress(1.0, "done");
  }
};

void writeRowFiles(const std::vector<EvaluationRow>& rows, const fs::path& json, const fs::path& csv) {
  Json j = Json::array();
  std::ofstream c(csv);
  c << "dataset,total,valid,valid_rate,valid_neutral,valid_neutral_rate,unique,unique_rate,novel,novel_rate,"
       "composition_valid_rate,structure_valid_rate,lattice_rejected,"
       "formula_asked,formula_matched,formula_match_rate\n";
  for (const auto& r : rows) {
    Json row{{"dataset", r.dataset}, {"total", r.total}, {"valid", r.valid}, {"valid_rate", r.validRate},
             {"valid_neutral", r.validNeutral}, {"valid_neutral_rate", r.validNeutralRate}, {"unique", r.unique},
             {"unique_rate", r.uniqueRate}, {"novel", r.novel}, {"novel_rate", r.novelRate}};
    if (r.dataset == "crystal") {
      row["composition_valid_rate"] = r.compositionValidRate;
      row["structure_valid_rate"] = r.structureValidRate;
      row["lattice_rejected"] = r.latticeRejected;
    }
    if (r.formulaAsked) {
      row["formula_asked"] = r.formulaAsked;
      row["formula_matched"] = r.formulaMatched;
      row["formula_match_rate"] = r.formulaMatchRate;
    }
    j.push_back(row);
    c << r.dataset << ',' << r.total << ',' << r.valid << ',' << r.validRate << ',' << r.validNeutral << ','
      << r.validNeutralRate << ',' << r.unique << ',' << r.uniqueRate << ',' << r.novel << ',' << r.novelRate << ',';
    if (r.dataset == "crystal")
      c << r.compositionValidRate << ',' << r.structureValidRate << ',' << r.latticeRejected << ',';
    else
      c << ",,,";  // not defined for molecules
    if (r.formulaAsked)
      c << r.formulaAsked << ',' << r.formulaMatched << ',' << r.formulaMatchRate << "\n";
    else
      c << ",,\n";  // no sample carried an asked formula
  }
  std::ofstream(json) << j.dump(1) << "\n";
}

class SampleJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"adit.sample", "Generate structures with ADiT", "Generative models",
            "Samples N molecules or crystals from a trained DiT and VAE: atom counts drawn from the training "
            "distribution, Euler (or Heun) flow integration with classifier-free guidance, decoded and written "
            "as extended XYZ (and CIF for crystals). The same seed gives the same structures.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("vae", "", "VAE (vae.pt).", "ADiT VAE (*.pt)");
    s.addPath("dit", "", "DiT (dit.pt).", "ADiT DiT (*.pt)");
    s.addChoice("kind", {"molecule", "crystal"}, "molecule", "What to generate.");
    s.addInt("space_group", 0, 0, 230, "Space group to condition crystals on (0: none).");
    s.addString("composition", "",
                "A DiT conditioned on composition: every sample of this formula (e.g. C7H10O2). Empty: compositions drawn "
                "from the training set. A DiT without it takes atom counts from the training set and no formula.");
    s.addInt("count", 100, 1, std::nullopt, "Number of structures.");
    s.addInt("batch_size", 256, 1, std::nullopt, "Structures per batch.").markAdvanced();
    s.addInt("steps", 100, 1, 100000, "Integration steps (the paper: 100).");
    s.addFloat("guidance", 1.0, 0.0, std::nullopt,
               "Classifier-free guidance scale (1 = none, one DiT pass per step; the paper: 2). On the sample model 1 gives more "
               "valid and more unique structures than 2 (tests/bench/RESULTS.md).");
    s.addChoice("sampler", {"euler", "heun"}, "euler", "Integrator.");
    s.addBool("enforce_composition", false,
              "A DiT conditioned on composition: give each sample exactly the elements it was asked for (the most "
              "likely assignment of them to its atoms under the decoder), instead of each atom's likeliest element.");
    s.addBool("evaluate", false, "Also compute validity and uniqueness of the samples.");
    s.addString("relax_model", "",
                "Relax every sample with a force field before writing it: 'xtb' (GFN2-xTB), a PONITA model file or a "
                "TorchScript model file (MACE). Empty: no relaxation.");
    s.addFloat("relax_fmax", 0.05, 1e-4, 10.0, "Relaxation: force threshold (eV/A).").markAdvanced();
    s.addInt("relax_steps", 200, 1, 100000, "Relaxation: most FIRE steps per structure.").markAdvanced();
    s.addDevice();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    const auto device = core::toTorchDevice(ctx.device());
    // The calculator first: a bad model file fails the run before minutes of sampling.
    std::unique_ptr<forcefield::Calculator> relaxer;
    if (!p.getString("relax_model").empty()) relaxer = forcefield::makeCalculator(p.getString("relax_model"), device.str(), true);
    auto vae = loadVae(p.getString("vae"), device);
    auto dit = loadDit(p.getString("dit"), device);
    if (dit.dit->config.latent != vae->config.latent)
      throw AditError("adit.sample: the DiT's latent size differs from the VAE's (different runs?)");
    SampleOptions o;
    o.kind = p.getString("kind") == "crystal" ? Kind::Crystal : Kind::Molecule;
    o.spaceGroup = static_cast<int>(p.getInt("space_group"));
    o.composition = p.getString("composition");
    o.count = p.getInt("count");
    o.batchSize = p.getInt("batch_size");
    o.steps = static_cast<int>(p.getInt("steps"));
    o.guidance = p.getFloat("guidance");
    o.heun = p.getString("sampler") == "heun";
    o.enforceComposition = p.getBool("enforce_composition");
    o.seed = ctx.seed();
    auto structures = sampleStructures(vae, dit, o, device, &ctx.feedback());
    if (relaxer) {
      chem::writeXyz(ctx.run().addArtifact("samples_unrelaxed.extxyz", "structures", "generated structures, before relaxation"),
                     structures);
      forcefield::OptimizeOptions ro;
      ro.fmax = p.getFloat("relax_fmax");
      ro.maxSteps = static_cast<int>(p.getInt("relax_steps"));
      const auto r = relaxStructures(structures, *relaxer, ro, &ctx.feedback());
      ctx.run().setSummary("relaxed", r.relaxed);
      ctx.run().setSummary("relaxed_converged", r.converged);
      ctx.run().setSummary("relax_failed", r.failed);
      ctx.run().setSummary("relax_mean_steps", r.meanSteps);
      for (const auto& f : r.failures) ctx.feedback().log(core::LogLevel::Warning, "not relaxed: " + f);
    }
    chem::writeXyz(ctx.run().addArtifact("samples.extxyz", "structures",
                                         relaxer ? "generated structures, relaxed" : "generated structures"),
                   structures);
    if (o.kind == Kind::Crystal) {
      chem::Trajectory withCell;
      for (const auto& s : structures)
        if (s.lattice) withCell.push_back(s);
      if (!withCell.empty()) chem::writeCif(ctx.run().addArtifact("samples.cif", "structures", "generated crystals"), withCell);
    }
    ctx.run().setSummary("count", structures.size());
    if (p.getBool("evaluate")) {
      const auto row = o.kind == Kind::Crystal ? evaluateCrystals(structures, {}, &ctx.feedback())
                                               : evaluateMolecules(structures, {}, &ctx.feedback());
      ctx.run().setSummary("valid_rate", row.validRate);
      ctx.run().setSummary("valid_neutral_rate", row.validNeutralRate);
      ctx.run().setSummary("unique_rate", row.uniqueRate);
      if (row.formulaAsked) ctx.run().setSummary("formula_match_rate", row.formulaMatchRate);
    }
    ctx.feedback().setProgress(1.0, "done");
  }
};

// The autoencoder alone: structures through the VAE's encoder and decoder. How well a VAE keeps atom types
// and positions bounds what any DiT on its latents can generate; latent_noise shows how much imprecision in
// the latents (what a DiT's samples carry) the decoder tolerates.
class ReconstructJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"adit.reconstruct", "Reconstruct structures with the ADiT VAE", "Generative models",
            "Encodes structures with a trained VAE and decodes the latent means (optionally with noise added), "
            "reporting atom-type accuracy, the fraction of structures with every type right, position RMSD "
            "(molecules) and, optionally, the validity of the reconstructions.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("vae", "", "VAE from adit.train_vae (vae.pt).", "ADiT VAE (*.pt)");
    s.addPath("structures", "", "Structures to reconstruct (extended XYZ, CIF, ...).", "Structures (*.extxyz *.xyz *.cif)");
    s.addChoice("kind", {"auto", "molecule", "crystal"}, "auto", "auto: periodic structures are crystals.");
    s.addFloat("latent_noise", 0.0, 0.0, std::nullopt,
               "Gaussian noise added to the latent means before decoding, in units of the batch's latent RMS "
               "(adit.train_vae's latent_noise trains the decoder against the same).");
    s.addInt("batch_size", 256, 1, std::nullopt, "Structures per batch.").markAdvanced();
    s.addBool("evaluate", false, "Also compute the validity of the reconstructed structures (as adit.evaluate).");
    s.addDevice();
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    const auto device = core::toTorchDevice(ctx.device());
    auto vae = loadVae(p.getString("vae"), device);
    vae->eval();
    const auto file = p.getString("structures");
    const auto all = chem::readStructureFile(file);
    if (all.empty()) throw AditError("adit.reconstruct: '" + file + "' holds no structures");
    const auto kindName = p.getString("kind");
    const bool crystals = kindName == "crystal" || (kindName == "auto" && all.front().isPeriodic());
    for (std::size_t i = 0; crystals && i < all.size(); ++i)
      if (!all[i].lattice)
        throw AditError("adit.reconstruct: structure " + std::to_string(i) + " of '" + file + "' has no cell (kind crystal)");
    const auto records = recordsFromStructures(all, crystals ? Kind::Crystal : Kind::Molecule, crystals, false);
    const double noise = p.getFloat("latent_noise");
    auto gen = at::detail::createCPUGenerator(ctx.seed());
    torch::NoGradGuard g;
    chem::Trajectory out;
    double typeRight = 0, atoms = 0, sq = 0, molAtoms = 0;
    std::size_t allRight = 0;
    const auto B = p.getInt("batch_size");
    for (std::int64_t a = 0; a < records.size(); a += B) {
      ctx.feedback().throwIfCancelled();
      std::vector<std::int64_t> idx;
      for (std::int64_t i = a; i < std::min<std::int64_t>(records.size(), a + B); ++i) idx.push_back(i);
      const auto b = makeBatch(records, idx).to(device);
      auto z = vae->encode(b).first.to(torch::kFloat32);
      const auto m = b.mask.to(torch::kFloat32).unsqueeze(-1);
      if (noise > 0) {
        const double rms = std::sqrt((z.pow(2) * m).sum().item<double>() / std::max(1.0, m.sum().item<double>() * z.size(-1)));
        z = z + noise * rms * at::randn(z.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32)).to(device) * m;
      }
      const auto dec = vae->decode(z, b.mask);
      const auto types = dec.atomLogits.narrow(-1, 1, kMaxZ).argmax(-1) + 1;
      const auto right = (types == b.numbers).logical_and(b.mask);
      typeRight += right.sum().item<double>();
      atoms += b.mask.sum().item<double>();
      allRight += static_cast<std::size_t>((right == b.mask).all(1).sum().item<std::int64_t>());
      if (!crystals) {
        sq += ((dec.positions.to(torch::kFloat32) - b.positions).pow(2).sum(-1) * b.mask).sum().item<double>();
        molAtoms += b.mask.sum().item<double>();
      }
      for (auto& st : decodeToStructures(dec, b.mask, b.kind.to(torch::kCPU))) out.push_back(std::move(st));
      ctx.feedback().setProgress(static_cast<double>(out.size()) / static_cast<double>(records.size()),
                                 "reconstructed " + std::to_string(out.size()) + " of " + std::to_string(records.size()));
    }
    chem::writeXyz(ctx.run().addArtifact("reconstructed.extxyz", "structures", "the structures after encoding and decoding"), out);
    ctx.run().setSummary("count", out.size());
    const double accuracy = typeRight / std::max(1.0, atoms);
    ctx.run().setSummary("atom_type_accuracy", accuracy);
    ctx.run().setSummary("all_types_right_rate", static_cast<double>(allRight) / static_cast<double>(out.size()));
    if (!crystals) ctx.run().setSummary("position_rmsd", std::sqrt(sq / std::max(1.0, molAtoms)));
    ctx.feedback().info("atom types right: " + std::to_string(accuracy) + "; structures with all right: " +
                        std::to_string(allRight) + " of " + std::to_string(out.size()));
    if (p.getBool("evaluate")) {
      const auto row = crystals ? evaluateCrystals(out, {}, &ctx.feedback()) : evaluateMolecules(out, {}, &ctx.feedback());
      ctx.run().setSummary("valid_rate", row.validRate);
      ctx.run().setSummary("valid_neutral_rate", row.validNeutralRate);
    }
    ctx.feedback().setProgress(1.0, "done");
  }
};

class EvaluateJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"adit.evaluate", "Evaluate generated structures", "Generative models",
            "Validity (molecules from coordinates alone: bond perception and sanitisation, one fragment; and also "
            "neutral without radicals; crystals: composition and distances), uniqueness and novelty against a "
            "reference set. Writes a table as JSON and CSV.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("structures", "", "Generated structures (extended XYZ, CIF, ...).", "Structures (*.extxyz *.xyz *.cif)");
    s.addChoice("kind", {"auto", "molecule", "crystal"}, "auto", "auto: periodic structures are crystals.");
    s.addOptionalPath("reference", "Training set for novelty: any structure file, or a SMILES list (.smi, or a "
                                   "text/CSV file headed 'smiles', such as the QM9 SMILES lists).");
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    const auto all = chem::readStructureFile(p.getString("structures"));
    chem::Trajectory reference;
    std::vector<std::string> referenceSmiles;
    if (!p.getString("reference").empty()) {
      referenceSmiles = readReferenceSmiles(p.getString("reference"));
      if (referenceSmiles.empty()) reference = chem::readStructureFile(p.getString("reference"));
    }
    chem::Trajectory mols, xtals, refMols, refXtals;
    const auto kind = p.getString("kind");
    for (const auto& s : all) ((kind == "crystal" || (kind == "auto" && s.isPeriodic())) ? xtals : mols).push_back(s);
    for (const auto& s : reference) (s.isPeriodic() ? refXtals : refMols).push_back(s);
    std::vector<EvaluationRow> rows;
    if (!mols.empty()) rows.push_back(evaluateMolecules(mols, refMols, &ctx.feedback(), referenceSmiles));
    if (!xtals.empty()) rows.push_back(evaluateCrystals(xtals, refXtals, &ctx.feedback()));
    writeRowFiles(rows, ctx.run().addArtifact("metrics.json", "table", "validity, uniqueness, novelty"),
                  ctx.run().addArtifact("metrics.csv", "table", "validity, uniqueness, novelty"));
    for (const auto& r : rows) {
      ctx.run().setSummary(r.dataset + "_valid_rate", r.validRate);
      ctx.run().setSummary(r.dataset + "_valid_neutral_rate", r.validNeutralRate);
      ctx.run().setSummary(r.dataset + "_unique_rate", r.uniqueRate);
      ctx.run().setSummary(r.dataset + "_novel_rate", r.novelRate);
      if (r.dataset == "crystal") {
        ctx.run().setSummary("crystal_composition_valid_rate", r.compositionValidRate);
        ctx.run().setSummary("crystal_structure_valid_rate", r.structureValidRate);
        ctx.run().setSummary("crystal_lattice_rejected", r.latticeRejected);
      }
      if (r.formulaAsked) ctx.run().setSummary(r.dataset + "_formula_match_rate", r.formulaMatchRate);
    }
    ctx.feedback().setProgress(1.0, "done");
  }
};

}  // namespace

void registerAditJobs(core::JobRegistry& registry) {
  if (!registry.contains("adit.prepare")) registry.add([] { return std::make_unique<PrepareJob>(); });
  if (!registry.contains("adit.train_vae")) registry.add([] { return std::make_unique<TrainVaeJob>(); });
  if (!registry.contains("adit.train_dit")) registry.add([] { return std::make_unique<TrainDitJob>(); });
  if (!registry.contains("adit.sample")) registry.add([] { return std::make_unique<SampleJob>(); });
  if (!registry.contains("adit.evaluate")) registry.add([] { return std::make_unique<EvaluateJob>(); });
  if (!registry.contains("adit.reconstruct")) registry.add([] { return std::make_unique<ReconstructJob>(); });
}

}  // namespace atomscope::adit
