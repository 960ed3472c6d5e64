// sae.collect, sae.train, sae.analyze, sae.index.
#include "atomscope/sae/sae_jobs.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stop_token>
#include <thread>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/torch_device.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/lm/token_shards.h"
#include "atomscope/sae/analysis.h"
#include "atomscope/sae/atom_index.h"
#include "atomscope/sae/atom_index_builder.h"
#include "atomscope/sae/collect.h"
#include "atomscope/sae/sae_browse_jobs.h"
#include "atomscope/sae/train.h"

namespace atomscope::sae {

namespace fs = std::filesystem;
using core::Context;
using core::JobInfo;
using core::ParamSchema;
using core::ParamSpec;
using core::ParamType;

namespace {

ParamSpec pathSpec(std::string name, std::string help, std::string filter, bool directory, bool required = true) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::Path;
  p.help = std::move(help);
  p.fileFilter = std::move(filter);
  p.directory = directory;
  if (!required) p.defaultValue = "";
  return p;
}

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SaeError("cannot read text file '" + path.string() + "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::vector<std::int64_t> parseIntList(const std::string& text, const std::string& what) {
  std::vector<std::int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    try {
      std::size_t pos = 0;
      const auto v = std::stoll(item, &pos);
      if (pos != item.size()) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw SaeError(what + ": '" + item + "' is not an integer (give a comma-separated list)");
    }
  }
  if (out.empty()) throw SaeError(what + ": the list is empty");
  return out;
}

std::vector<std::string> parseNameList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The site a job works on: the parameter, or the folder's only site.
std::string chooseSite(const ActivationReader& r, const std::string& given) {
  if (!given.empty()) {
    r.requireSite(given);
    return given;
  }
  if (r.sites().size() != 1)
    throw SaeError("activations in '" + r.folder().string() + "' hold " + std::to_string(r.sites().size()) +
                   " sites: choose one with the 'site' parameter");
  return r.sites().front();
}

ActivationReader openActivations(const std::string& path) {
  if (path.empty()) throw SaeError("parameter 'activations' is empty: give the folder written by sae.collect");
  return ActivationReader::open(path);
}

void addTrainingParams(ParamSchema& s) {
  s.addInt("expansion", 4, 1, 1024, "Latents per activation dimension (over-completeness) when 'latents' is 0. The paper uses 4.");
  s.addInt("latents", 0, 0, 1 << 24, "Number of latents; 0: expansion x width.");
  s.addInt("steps", 2000, 1, 100000000, "Training steps.");
  s.addInt("batch", 1024, 1, 1 << 20, "Activations per step.");
  s.addFloat("lr", 1e-3, 1e-7, 1.0, "Adam learning rate (decays linearly to 0 over the last 20% of steps).");
  s.addFloat("threshold_lr_scale", 3, 0.0, 1e4, "The thresholds' learning rate as a multiple of lr (JumpReLU).").markAdvanced();
  s.addFloat("threshold_tracking", 0, 0.0, 1.0, "Threshold SAE: each step scale every threshold by exp(rate x clamp(log(L0 / target), -1, 1)), so the thresholds follow the encoder's scale while the L0 is off target (0: off).").markAdvanced();
  s.addFloat("bandwidth", 0.05, 1e-6, 10.0, "Width of the JumpReLU straight-through kernel, in units of the normalised data.").markAdvanced();
  s.addFloat("sparsity_init", 0.1, 0.0, 1e4, "Sparsity coefficient lambda at the start (the controller tunes it).").markAdvanced();
  s.addFloat("controller_rate", 0.02, 0.0, 1.0, "How fast lambda follows the L0 error per step.").markAdvanced();
  s.addBool("calibrate_l0", true, "Threshold SAE: at 80% of the steps and at the end, scale every threshold by one factor so the L0 on fresh training batches equals the target (frozen in between).").markAdvanced();
  s.addFloat("calibration_tolerance", 0.05, 0.0, 100.0, "Threshold SAE: calibrate (and freeze) only when that L0 is off the target by more than this fraction; on target the controller carries on.").markAdvanced();
  s.addInt("refit_batches", 0, 0, 100000, "After training, refit the decoder by least squares on this many fresh batches with the codes fixed (0: off).").markAdvanced();
  s.addInt("resample_every", 250, 0, 100000000, "Resample dead latents every N steps (0: never).").markAdvanced();
  s.addInt("dead_window", 100000, 1, std::nullopt, "A latent that fired on none of this many recent samples is dead.").markAdvanced();
  s.addFloat("eval_fraction", 0.1, 0.0, 0.9, "The last fraction of the rows is held out for evaluation.");
  s.addInt("train_rows", 0, 0, std::nullopt, "Train on the first this many rows only (0: every row before the held-out ones). The paper's R^2 near 1 comes once the dictionary's capacity matches the rows it is fitted to.");
  s.addChoice("evaluate_on", {"held_out", "training"}, "held_out", "Rows to measure on: the held-out ones, or the rows trained on (the paper's faithfulness of a dictionary on its own data).");
  s.addInt("eval_rows", 100000, 0, std::nullopt, "At most this many rows are evaluated (evenly spaced; 0: all).");
  s.addInt("log_every", 50, 1, 1000000, "Metrics every N steps.").markAdvanced();
}

TrainOptions trainOptionsFrom(const core::Params& p, std::int64_t trainEnd, std::uint64_t seed) {
  TrainOptions o;
  o.expansion = p.getInt("expansion");
  o.latents = p.getInt("latents");
  o.steps = p.getInt("steps");
  o.batch = p.getInt("batch");
  o.lr = p.getFloat("lr");
  o.bandwidth = p.getFloat("bandwidth");
  o.thresholdLrScale = p.getFloat("threshold_lr_scale");
  o.thresholdTracking = p.getFloat("threshold_tracking");
  o.sparsityInit = p.getFloat("sparsity_init");
  o.controllerRate = p.getFloat("controller_rate");
  o.calibrateL0 = p.getBool("calibrate_l0");
  o.calibrationTolerance = p.getFloat("calibration_tolerance");
  o.refitBatches = p.getInt("refit_batches");
  o.resampleEvery = p.getInt("resample_every");
  o.deadWindow = p.getInt("dead_window");
  o.logEvery = p.getInt("log_every");
  o.trainEnd = trainEnd;
  o.seed = seed;
  return o;
}

// The rows a job trains on, [0, trainEnd), and those it measures on: the held-out rows (the last eval_fraction;
// all rows when none are held out), or the training rows themselves.
struct RowSplit {
  std::int64_t trainEnd = 0;
  EvalRange measured;
};

RowSplit splitRows(const ActivationReader& r, const core::Params& p) {
  const auto n = r.rows();
  const double evalFraction = p.getFloat("eval_fraction");
  auto heldOutBegin = static_cast<std::int64_t>(std::floor(static_cast<double>(n) * (1.0 - evalFraction)));
  if (evalFraction > 0 && heldOutBegin == n) heldOutBegin = n - 1;
  RowSplit s;
  s.trainEnd = heldOutBegin;
  if (const auto cap = p.getInt("train_rows"); cap > 0) s.trainEnd = std::min<std::int64_t>(s.trainEnd, cap);
  if (s.trainEnd < 2) throw SaeError("too few activations (" + std::to_string(s.trainEnd) + " of " + std::to_string(n) + ") to train on");
  if (p.getString("evaluate_on") == "training") s.measured = {0, s.trainEnd, p.getInt("eval_rows")};
  else s.measured = {heldOutBegin < n ? heldOutBegin : 0, n, p.getInt("eval_rows")};
  return s;
}

// ------------------------------------------------------------------------------------ sae.collect

class CollectJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.collect", "Collect activations", "Sparse autoencoders",
            "Runs a language model over a text and stores the activations of a site (the residual stream after "
            "block l, the attention output or the MLP output of block l; one layer or all) with the token ids and "
            "positions, in memory-mapped shards with a manifest. The number of activations and bytes is computed "
            "and reported before the model runs; a cancelled run keeps the finished shards, marked partial.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    ParamSpec model = pathSpec("model", "A Hugging Face model folder or a llama2.c .bin checkpoint.", "Models (*.bin config.json)", false);
    s.add(model);
    s.addOptionalPath("tokenizer", "Tokenizer file or folder. Empty: the one found beside the model.", "Tokenizers (*.bin *.model *.json)");
    s.add(pathSpec("data", "A UTF-8 text file, or a folder of .txt files, cut into documents (blank lines or <|endoftext|>).",
                   "Text (*.txt)", false));
    s.addChoice("site", {"resid_post", "attn_out", "mlp_out"}, "resid_post",
                "resid_post: the residual stream after the block; attn_out / mlp_out: the attention or MLP output of the block.");
    s.addString("layers", "all", "Blocks to record: 'all' or a comma-separated list such as 0,2,4.");
    s.addInt("context", 256, 2, 1 << 20, "Window length in tokens; longer documents are cut into windows.");
    s.addBool("skip_bos", true, "Leave out the BOS position (an outlier in the residual stream).");
    s.addInt("max_activations", 0, 0, std::nullopt, "Stop after this many activations per site (0: the whole text).");
    s.addChoice("dtype", {"float32", "bfloat16"}, "float32", "Stored activation type.");
    s.addChoice("model_dtype", {"float32", "bfloat16", "float16"}, "float32", "Weights and computation type of the model.");
    s.addInt("batch_size", 16, 1, 4096, "Windows per forward pass.");
    s.addInt("shard_rows", 1 << 20, 1024, std::nullopt, "Activations per shard file.").markAdvanced();
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const auto modelPath = p.getString("model");
    fb.setProgress(0, "loading " + modelPath);
    auto loaded = lm::loadModel(modelPath, lm::LoadOptions{core::torchDtype(p.getString("model_dtype")),
                                                           core::toTorchDevice(ctx.device()), {}});
    auto& model = *loaded.model;
    model.eval();
    std::optional<fs::path> tokPath;
    if (!p.getString("tokenizer").empty()) tokPath = fs::path(p.getString("tokenizer"));
    else tokPath = loaded.tokenizer;
    if (!tokPath) throw SaeError("no tokenizer found beside '" + modelPath + "': set the 'tokenizer' parameter");
    auto tok = lm::openTokenizer(*tokPath);
    // Sites.
    CollectOptions o;
    const auto kind = siteKindFromName(p.getString("site"));
    const auto L = model.config().nLayers;
    if (p.getString("layers") == "all") {
      for (std::int64_t l = 0; l < L; ++l) o.sites.push_back({kind, l});
    } else {
      for (auto l : parseIntList(p.getString("layers"), "layers")) {
        if (l < 0 || l >= L)
          throw SaeError("layer " + std::to_string(l) + " does not exist: the model has layers 0 to " + std::to_string(L - 1));
        o.sites.push_back({kind, l});
      }
    }
    o.context = p.getInt("context");
    o.skipBos = p.getBool("skip_bos");
    o.maxRows = p.getInt("max_activations");
    o.dtype = p.getString("dtype");
    o.batchSize = p.getInt("batch_size");
    o.shardRows = p.getInt("shard_rows");
    // Documents.
    const fs::path data = p.getString("data");
    if (!fs::exists(data)) throw SaeError("data '" + data.string() + "' does not exist");
    const bool bos = tok->bosId().has_value() && tok->kind() != "gpt2-bpe";
    std::vector<std::vector<std::int32_t>> docs;
    std::int64_t tokens = 0;
    for (const auto& file : lm::listTextFiles(data)) {
      const auto text = readText(file);
      const auto parts = lm::splitDocuments(text, text.find("<|endoftext|>") != std::string::npos ? "<|endoftext|>" : "blank-line");
      for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i % 64 == 0) {
          fb.throwIfCancelled();
          fb.setProgress(0, "tokenising " + file.filename().string() + ": document " + std::to_string(i + 1) + " of " +
                                std::to_string(parts.size()));
        }
        docs.push_back(tok->encode(std::string(parts[i]), bos, false));
        tokens += static_cast<std::int64_t>(docs.back().size());
        if (o.maxRows > 0 && tokens > 2 * o.maxRows + o.context) break;  // enough text
      }
      if (o.maxRows > 0 && tokens > 2 * o.maxRows + o.context) break;
    }
    const auto plan = planCollection(docs, model.config().dim, o, bos ? tok->bosId() : std::nullopt);
    ctx.run().setSummary("planned_rows", plan.rows);
    ctx.run().setSummary("planned_bytes", plan.bytes);
    ctx.run().setSummary("sites", static_cast<std::int64_t>(o.sites.size()));
    ctx.run().setSummary("d", model.config().dim);
    fb.info("will store " + std::to_string(plan.rows) + " activations x " + std::to_string(o.sites.size()) + " sites of width " +
            std::to_string(model.config().dim) + " (" + std::to_string(plan.bytes / (1 << 20)) + " MiB) from " +
            std::to_string(plan.windows.size()) + " windows");
    std::vector<std::string> names;
    for (const auto& s : o.sites) names.push_back(s.name());
    const Json source{{"model", fs::absolute(modelPath).string()},
                      {"tokenizer", fs::absolute(*tokPath).string()},
                      {"data", fs::absolute(data).string()},
                      {"context", o.context},
                      {"skip_bos", o.skipBos},
                      {"model_dtype", p.getString("model_dtype")},
                      {"family", lm::toString(model.config().family)},
                      {"layers", L},
                      {"run", ctx.run().id()}};
    const auto manifest = ctx.run().addArtifact("activations/manifest.json", "activations",
                                                "activation shards of " + std::to_string(names.size()) + " sites (sae.collect)");
    fs::remove(manifest);  // addArtifact created the folder; the writer wants it empty
    const auto t0 = std::chrono::steady_clock::now();
    const auto rows = collectActivations(model, plan, o, manifest.parent_path(), source, fb);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.run().setSummary("rows", rows);
    ctx.run().setSummary("activations_per_s", static_cast<double>(rows) / std::max(1e-9, secs));
    fb.setProgress(1.0, "done");
  }
};

// -------------------------------------------------------------------------------------- sae.train

class TrainJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.train", "Train a sparse autoencoder", "Sparse autoencoders",
            "Trains a threshold SAE (JumpReLU: per-latent thresholds trained through a straight-through estimator, "
            "L0 penalty) or a standard ReLU SAE (L1 penalty) on stored activations, with unit-norm decoder rows, "
            "optional whitening by S = E[x x^T]^-1, a target L0 reached by tuning the sparsity coefficient, and "
            "dead-latent resampling. MSE, R^2, L0 and the dead fraction stream as metrics; the SAE is saved in "
            "SAELens' layout (sae_weights.safetensors + cfg.json) and evaluated on held-out rows (or its training rows: evaluate_on).",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.add(pathSpec("activations", "Folder written by sae.collect (or its manifest.json).", "Manifests (manifest.json)", true));
    s.addString("site", "", "Site to train on, e.g. resid_post.3. Empty: the folder's only site.");
    s.addChoice("kind", {"jumprelu", "relu"}, "jumprelu", "jumprelu: threshold SAE (atoms); relu: standard SAE with an L1 penalty.");
    s.addBool("whiten", true, "Train on whitened activations (x S^1/2): the atoms' geometry is then the atomic inner product.");
    s.addFloat("target_l0", 8, 0, 1e6, "Average number of active latents to reach; 0: keep the sparsity coefficient fixed.");
    addTrainingParams(s);
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const auto reader = openActivations(p.getString("activations"));
    const auto site = chooseSite(reader, p.getString("site"));
    const auto split = splitRows(reader, p);
    const auto trainEnd = split.trainEnd;
    auto o = trainOptionsFrom(p, trainEnd, ctx.seed());
    o.kind = saeKindFromString(p.getString("kind"));
    o.whiten = p.getBool("whiten");
    o.targetL0 = p.getFloat("target_l0");
    TrainReport rep;
    auto sae = trainSae(reader, site, o, core::toTorchDevice(ctx.device()), fb, &rep);
    fb.setProgress(1.0, "evaluating");
    const auto& m = split.measured;
    Json eval = evaluateSae(*sae, reader, site, m.begin, m.end, m.maxRows, &fb);
    sae->info["evaluation"] = eval;
    const auto cfg = ctx.run().addArtifact("sae/cfg.json", "sae", "the SAE in SAELens' layout (sae_weights.safetensors + cfg.json)");
    saveSae(*sae, cfg.parent_path());
    ctx.run().addArtifact("sae/sae_weights.safetensors", "safetensors", "W_enc, W_dec, b_enc, b_dec, threshold");
    for (const auto& [k, v] : eval.items()) ctx.run().setSummary("eval_" + k, v);
    ctx.run().setSummary("train_r2", rep.r2);
    ctx.run().setSummary("train_l0", rep.l0);
    ctx.run().setSummary("lambda", rep.lambda);
    ctx.run().setSummary("resampled", rep.resampled);
    if (o.kind == SaeKind::JumpRelu) {
      ctx.run().setSummary("threshold_lr_scale", rep.thresholdLrScale);
      ctx.run().setSummary("threshold_tracking", o.thresholdTracking);
    }
    if (rep.controllerSaturatedAt > 0) ctx.run().setSummary("controller_saturated_at", rep.controllerSaturatedAt);
    if (rep.calibrationL0Before > 0) ctx.run().setSummary("threshold_factor", rep.thresholdFactor);
    ctx.run().setSummary("samples_per_s", rep.samplesPerSecond);
    ctx.run().setSummary("site", site);
    ctx.run().setSummary("evaluated_on", p.getString("evaluate_on"));
    fb.info(p.getString("evaluate_on") + " R2 " + std::to_string(eval["r2"].get<double>()) + ", L0 " + std::to_string(eval["l0"].get<double>()) +
            ", dead " + std::to_string(eval["dead_fraction"].get<double>()));
    fb.setProgress(1.0, "done");
  }
};

// ------------------------------------------------------------------------------------ sae.analyze

std::string fmt(double v) {
  std::ostringstream os;
  os << std::setprecision(6) << v;
  return os.str();
}

class AnalyzeJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.analyze", "Atoms vs features vs neurons", "Sparse autoencoders",
            "For each site and each target L0, trains a threshold SAE (whitened: atoms) and a standard ReLU SAE "
            "(features) and measures, on held-out activations (or the training rows: evaluate_on), R^2, L0, coherence under the atomic inner product "
            "and the Euclidean geometry, the RIP and uniqueness fractions and q* (also by number of active "
            "latents) for the atoms, the features and the neurons (the K largest |x - mean| coordinates, K = the "
            "target L0). Writes results.json, results.csv (the R^2 vs q* trade-off) and by_k.csv.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.add(pathSpec("activations", "Folder written by sae.collect (or its manifest.json).", "Manifests (manifest.json)", true));
    s.addString("sites", "all", "Sites to analyse: 'all' (every site in the folder) or a comma-separated list.");
    s.addString("targets", "2,4,8,16", "Target L0 values (comma-separated).");
    s.addBool("whiten_threshold", true, "Whiten the threshold SAE's input (atoms under the AIP), as the paper does.");
    s.addBool("whiten_relu", false, "Whiten the ReLU SAE's input too (standard SAEs are not whitened).");
    s.addInt("moment_rows", 262144, 0, std::nullopt, "Rows used to estimate S = E[x x^T]^-1 for the AIP (0: all the measured rows).").markAdvanced();
    addTrainingParams(s);
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const auto reader = openActivations(p.getString("activations"));
    std::vector<std::string> sites = p.getString("sites") == "all" ? reader.sites() : parseNameList(p.getString("sites"));
    for (const auto& s : sites) reader.requireSite(s);
    std::vector<double> targets;
    for (auto t : parseIntList(p.getString("targets"), "targets")) {
      if (t < 1 || t > reader.d()) throw SaeError("target L0 " + std::to_string(t) + " must be in [1, " + std::to_string(reader.d()) + "]");
      targets.push_back(static_cast<double>(t));
    }
    const auto split = splitRows(reader, p);
    const auto trainEnd = split.trainEnd;
    const EvalRange range = split.measured;
    const auto device = core::toTorchDevice(ctx.device());
    Json results = Json::array();
    std::ofstream csv(ctx.run().addArtifact("results.csv", "csv", "R^2 vs q* per site, basis and target L0"));
    csv << "site,basis,target_l0,l0,r2,q_star_aip,q_star_euclidean,rip_aip,rip_euclidean,coherence_aip,coherence_euclidean,"
           "dead_fraction\n";
    std::ofstream byk(ctx.run().addArtifact("by_k.csv", "csv", "q* by number of active latents"));
    byk << "site,basis,target_l0,k,count,q_star_aip,q_star_euclidean\n";
    const std::size_t jobs = sites.size() * targets.size();
    std::size_t done = 0;
    auto emit = [&](const std::string& site, double target, Json r) {
      r["site"] = site;
      r["target_l0"] = target;
      const auto& a = r["aip"];
      const auto& e = r["euclidean"];
      csv << site << "," << r["basis"].get<std::string>() << "," << target << "," << fmt(r["l0"]) << "," << fmt(r["r2"]) << ","
          << fmt(a["q_star"]) << "," << fmt(e["q_star"]) << "," << fmt(a["rip_fraction"]) << "," << fmt(e["rip_fraction"]) << ","
          << fmt(a["coherence"]) << "," << fmt(e["coherence"]) << "," << (r.contains("dead_fraction") ? fmt(r["dead_fraction"]) : "")
          << "\n";
      std::map<std::int64_t, std::pair<std::int64_t, double>> ek;
      for (const auto& b : e["by_k"]) ek[b["k"].get<std::int64_t>()] = {b["count"].get<std::int64_t>(), b["q_star"].get<double>()};
      for (const auto& b : a["by_k"])
        byk << site << "," << r["basis"].get<std::string>() << "," << target << "," << b["k"].get<std::int64_t>() << ","
            << b["count"].get<std::int64_t>() << "," << fmt(b["q_star"]) << "," << fmt(ek[b["k"].get<std::int64_t>()].second) << "\n";
      csv.flush();
      byk.flush();
      results.push_back(r);
      fb.info(site + " " + r["basis"].get<std::string>() + " L0 target " + fmt(target) + ": R2 " + fmt(r["r2"]) + ", L0 " +
              fmt(r["l0"]) + ", q*(AIP) " + fmt(a["q_star"]));
    };
    for (const auto& site : sites) {
      // One S per site, on the rows every basis is measured on.
      const auto m = estimateMoments(reader, site, range.begin, range.end, p.getInt("moment_rows"), &fb);
      const auto S = whiteningFromSecondMoment(m.secondMoment).S;
      for (double target : targets) {
        const std::string stage = site + ", L0 " + fmt(target);
        fb.setProgress(static_cast<double>(done) / static_cast<double>(jobs), stage + ": neurons");
        emit(site, target, analyzeNeurons(reader, site, range, static_cast<std::int64_t>(target), S, &fb));
        for (const auto kind : {SaeKind::Relu, SaeKind::JumpRelu}) {
          auto o = trainOptionsFrom(p, trainEnd, ctx.seed());
          o.kind = kind;
          o.whiten = kind == SaeKind::JumpRelu ? p.getBool("whiten_threshold") : p.getBool("whiten_relu");
          o.targetL0 = target;
          // Training metrics stay out of this run's stream (they go to the SAE's training_metrics.jsonl); its
          // messages reach the run's log with the SAE named, and cancel reaches it. Session 21's two failed SAEs
          // on the H200 left nothing to read.
          core::Feedback child;
          struct Forward : core::FeedbackSink {
            core::Feedback& parent;
            core::Feedback& child;
            std::string label;
            std::string metrics;  // metrics.jsonl lines
            Forward(core::Feedback& p, core::Feedback& c, std::string l) : parent(p), child(c), label(std::move(l)) {}
            void onProgress(double, const std::string& s) override {
              if (parent.isCancelled()) child.requestCancel();
              parent.setStage(label + ": " + s);
            }
            void onLog(core::LogLevel level, const std::string& message) override {
              parent.log(level, label + ": " + message);
            }
            void onMetrics(const core::MetricPoint& m) override { metrics += core::metricsLine(m).dump() + "\n"; }
          };
          const auto forward = std::make_shared<Forward>(fb, child, stage + " " + toString(kind));
          child.addSink(forward);
          // The child checks its own flag every step but hears of the run's cancel only when it
          // reports progress (seconds apart): relay it within 20 ms.
          std::jthread relay([&fb, &child](std::stop_token stop) {
            while (!stop.stop_requested()) {
              if (fb.isCancelled()) return child.requestCancel();
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
          });
          TrainReport rep;
          auto sae = trainSae(reader, site, o, device, child, &rep);
          fb.throwIfCancelled();
          auto r = analyzeSae(*sae, reader, site, range, S, &fb);
          r["basis"] = kind == SaeKind::JumpRelu ? "atoms" : "features";
          r["dead_fraction"] = evaluateSae(*sae, reader, site, range.begin, range.end, range.maxRows, &fb)["dead_fraction"];
          r["training"] = sae->info["training"];
          r["samples_per_s"] = rep.samplesPerSecond;
          const auto name = "saes/" + site + "/" + std::string(kind == SaeKind::JumpRelu ? "atoms" : "features") + "_l0_" +
                            std::to_string(static_cast<int>(target));
          const auto cfg = ctx.run().addArtifact(name + "/cfg.json", "sae", "SAE (" + toString(kind) + ") for " + stage);
          saveSae(*sae, cfg.parent_path());
          core::writeFileAtomically(
              ctx.run().addArtifact(name + "/training_metrics.jsonl", "jsonl",
                                    "the SAE's training metrics (mse, r2, l0, dead_fraction, lambda, lr)"),
              forward->metrics);
          emit(site, target, r);
        }
        ++done;
        fb.reportMetrics(static_cast<long long>(done), {{"sites_targets_done", static_cast<double>(done)}});
      }
    }
    core::writeFileAtomically(ctx.run().addArtifact("results.json", "json", "every measurement (see sae.analyze's help)"),
                              Json{{"results", results}, {"eval_rows", range.end - range.begin}, {"train_rows", trainEnd},
                                   {"evaluated_on", p.getString("evaluate_on")}}.dump(1) + "\n");
    // Summary: per basis, the mean over sites and targets.
    std::map<std::string, std::array<double, 3>> agg;
    for (const auto& r : results) {
      auto& a = agg[r["basis"].get<std::string>()];
      a[0] += r["r2"].get<double>();
      a[1] += r["aip"]["q_star"].get<double>();
      a[2] += 1;
    }
    for (const auto& [b, a] : agg) {
      ctx.run().setSummary("mean_r2_" + b, a[0] / a[2]);
      ctx.run().setSummary("mean_q_star_aip_" + b, a[1] / a[2]);
    }
    fb.setProgress(1.0, "done");
  }
};

// -------------------------------------------------------------------------------------- sae.index

class IndexJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.index", "Build the atom index", "Sparse autoencoders",
            "Writes atoms.db (SQLite): for every atom of an SAE its frequency, mean and maximum activation, an "
            "activation histogram, its top-k activating contexts (a token window with the activation on each token), "
            "the tokens its decoder direction promotes through the unembedding, and full-text search (FTS5) over "
            "the contexts.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.add(pathSpec("sae", "SAE folder (sae_weights.safetensors + cfg.json), e.g. a sae.train run's artifacts/sae.", "SAE (cfg.json)", true));
    s.add(pathSpec("activations", "Folder written by sae.collect.", "Manifests (manifest.json)", true));
    s.addString("site", "", "Site. Empty: the SAE's own site, else the folder's only site.");
    s.addOptionalPath("model", "Model for the promoted tokens. Empty: the model recorded in the activations' manifest.", "Models (*.bin config.json)");
    s.addOptionalPath("tokenizer", "Tokenizer for token texts. Empty: the one recorded in the manifest.", "Tokenizers (*.bin *.model *.json)");
    s.addInt("top_k", 10, 1, 1000, "Contexts per atom.");
    s.addInt("left", 12, 0, 1000, "Tokens before the activating token.");
    s.addInt("right", 4, 0, 1000, "Tokens after it.");
    s.addInt("promoted", 10, 0, 1000, "Promoted tokens per atom.");
    s.addInt("max_rows", 0, 0, std::nullopt, "Scan only the first N activations (0: all).");
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    if (!haveAtomIndex()) throw SaeError("this build has no SQLite: the atom index cannot be written");
    const auto device = core::toTorchDevice(ctx.device());
    auto sae = loadSae(p.getString("sae"), device);
    const auto reader = openActivations(p.getString("activations"));
    std::string site = p.getString("site");
    if (site.empty() && sae->info.contains("site") && std::find(reader.sites().begin(), reader.sites().end(),
                                                                 sae->info["site"].get<std::string>()) != reader.sites().end())
      site = sae->info["site"].get<std::string>();
    site = chooseSite(reader, site);
    const auto& src = reader.manifest().value("source", Json::object());
    std::string tokPath = p.getString("tokenizer");
    if (tokPath.empty()) tokPath = src.value("tokenizer", "");
    std::unique_ptr<lm::Tokenizer> tok;
    if (!tokPath.empty() && fs::exists(tokPath)) tok = lm::openTokenizer(tokPath);
    else fb.warn("no tokenizer: contexts show token ids");
    std::string modelPath = p.getString("model");
    if (modelPath.empty()) modelPath = src.value("model", "");
    std::optional<Unembedding> unemb;
    if (!modelPath.empty() && fs::exists(modelPath) && p.getInt("promoted") > 0) {
      auto m = lm::loadModel(modelPath);
      unemb = unembeddingOf(*m.model);
    } else {
      fb.warn("no model: promoted tokens are left out");
    }
    AtomIndexOptions o;
    o.topK = p.getInt("top_k");
    o.left = p.getInt("left");
    o.right = p.getInt("right");
    o.promoted = p.getInt("promoted");
    o.maxRows = p.getInt("max_rows");
    const auto file = ctx.run().addArtifact("atoms.db", "sqlite", "atom index (atomscope.atom_index/1)");
    buildAtomIndex(file, *sae, reader, site, tok.get(), unemb ? &*unemb : nullptr, o, &fb);
    const auto idx = AtomIndex::open(file);
    std::int64_t alive = 0;
    for (const auto& a : idx.atoms()) alive += a.frequency > 0;
    ctx.run().setSummary("atoms", idx.atomCount());
    ctx.run().setSummary("atoms_active", alive);
    ctx.run().setSummary("site", site);
    fb.setProgress(1.0, "done");
  }
};

}  // namespace

void registerSaeJobs(core::JobRegistry& registry) {
  if (!registry.contains("sae.collect")) registry.add([] { return std::make_unique<CollectJob>(); });
  if (!registry.contains("sae.train")) registry.add([] { return std::make_unique<TrainJob>(); });
  if (!registry.contains("sae.analyze")) registry.add([] { return std::make_unique<AnalyzeJob>(); });
  if (!registry.contains("sae.index")) registry.add([] { return std::make_unique<IndexJob>(); });
  registerSaeBrowseJobs(registry);  // sae.encode_text, sae.neighbors, sae.export, sae.import: the Atoms plugin's headless path
}

}  // namespace atomscope::sae
