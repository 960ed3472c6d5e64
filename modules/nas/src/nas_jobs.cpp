// nas.search, nas.evaluate, nas.random_search.
#include "atomscope/nas/nas_jobs.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <cmath>
#include <map>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "atomscope/core/error.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/core/torch_device.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/lm/token_shards.h"
#include "atomscope/lm/tokenizer.h"
#include "atomscope/lm/training.h"
#include "atomscope/nas/param_budget.h"
#include "atomscope/nas/supernet.h"

namespace atomscope::nas {

namespace fs = std::filesystem;
using core::Context;
using core::JobInfo;
using core::ParamSchema;

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ------------------------------------------------------------------------------------------- data

// Tokens of one search: weights train on `train`, architecture weights on `arch` (a held-out part of
// the training data, as TangleNAS splits it), perplexities are measured on `val`.
struct TokenSplits {
  std::vector<std::int32_t> train, arch, val;
  int vocabSize = 0;
};

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NasError("cannot read text file '" + path.string() + "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::vector<std::int32_t> readSplit(const lm::TokenShardReader& r, lm::Split split) {
  std::vector<std::int32_t> out(r.numTokens(split));
  if (!out.empty()) r.read(split, 0, out.size(), out.data());
  return out;
}

// A text file (documents split as lm.tokenize does, each with BOS, or EOS for GPT-2 BPE; the last
// valFraction of the tokens held out) or a token-shard folder (its validation split held out).
TokenSplits loadTokens(const fs::path& data, const lm::Tokenizer* tok, double valFraction, double archFraction,
                       core::Feedback& fb) {
  if (!fs::exists(data)) throw NasError("data '" + data.string() + "' does not exist");
  TokenSplits s;
  std::vector<std::int32_t> train;
  if (fs::is_directory(data) || data.filename() == "index.json") {
    const auto r = lm::TokenShardReader::open(data);
    s.vocabSize = r.vocabSize();
    if (tok && tok->vocabSize() != s.vocabSize)
      throw NasError("token shards '" + data.string() + "' were made with a " + std::to_string(s.vocabSize) +
                     "-token tokenizer, not this one (" + std::to_string(tok->vocabSize()) + " tokens)");
    train = readSplit(r, lm::Split::Train);
    s.val = readSplit(r, lm::Split::Validation);
  } else {
    if (!tok) throw NasError("data '" + data.string() + "' is a text file: set the 'tokenizer' parameter");
    s.vocabSize = tok->vocabSize();
    const auto text = readText(data);
    const bool bos = tok->bosId().has_value() && tok->kind() != "gpt2-bpe";
    std::vector<std::int32_t> all;
    const auto docs = lm::splitDocuments(text, "auto");
    for (std::size_t i = 0; i < docs.size(); ++i) {
      if (i % 256 == 0) {
        fb.throwIfCancelled();
        fb.setProgress(0.0, "tokenising document " + std::to_string(i + 1) + " of " + std::to_string(docs.size()));
      }
      const auto ids = tok->encode(std::string(docs[i]), bos, !bos && tok->eosId().has_value());
      all.insert(all.end(), ids.begin(), ids.end());
    }
    const auto nVal = static_cast<std::size_t>(static_cast<double>(all.size()) * valFraction);
    s.val.assign(all.end() - static_cast<std::ptrdiff_t>(nVal), all.end());
    all.resize(all.size() - nVal);
    train = std::move(all);
  }
  const auto nArch = static_cast<std::size_t>(static_cast<double>(train.size()) * archFraction);
  s.arch.assign(train.end() - static_cast<std::ptrdiff_t>(nArch), train.end());
  train.resize(train.size() - nArch);
  s.train = std::move(train);
  return s;
}

void requireTokens(const std::vector<std::int32_t>& t, std::int64_t T, const std::string& what, const fs::path& data) {
  if (static_cast<std::int64_t>(t.size()) < T + 1)
    throw NasError("'" + data.string() + "' gives " + std::to_string(t.size()) + " " + what +
                   " tokens, fewer than one sequence of context + 1 = " + std::to_string(T + 1));
}

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// B rows of T + 1 consecutive tokens at offsets that depend only on (seed, step).
torch::Tensor randomBatch(const std::vector<std::int32_t>& t, std::int64_t B, std::int64_t T, std::uint64_t seed,
                          std::uint64_t step) {
  const auto span = static_cast<std::uint64_t>(t.size()) - static_cast<std::uint64_t>(T + 1);
  auto out = torch::empty({B, T + 1}, torch::kLong);
  auto* o = out.data_ptr<std::int64_t>();
  std::uint64_t state = mix(seed ^ mix(step));
  for (std::int64_t b = 0; b < B; ++b) {
    state = mix(state);
    const auto off = state % (span + 1);
    for (std::int64_t i = 0; i <= T; ++i) o[b * (T + 1) + i] = t[off + static_cast<std::uint64_t>(i)];
  }
  return out;
}

// Mean loss over the first `batches` x B consecutive windows of T + 1 tokens (fewer when the split
// is short): the same windows for every model, so perplexities compare.
double meanLoss(const std::vector<std::int32_t>& t, std::int64_t B, std::int64_t T, std::int64_t batches,
                const torch::Device& device, bool autocast, core::Feedback& fb,
                const std::function<torch::Tensor(const torch::Tensor&)>& lossOf) {
  torch::NoGradGuard g;
  core::CudaAutocast ac(autocast);
  const auto windows = std::min<std::int64_t>(batches * B, (static_cast<std::int64_t>(t.size()) - 1) / T);
  if (windows < 1) throw NasError("the validation split is shorter than one sequence of context + 1 tokens");
  double sum = 0;
  std::int64_t n = 0;
  for (std::int64_t start = 0; start < windows; start += B) {
    fb.throwIfCancelled();
    const auto rows = std::min(B, windows - start);
    auto ids = torch::empty({rows, T + 1}, torch::kLong);
    auto* o = ids.data_ptr<std::int64_t>();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t i = 0; i <= T; ++i) o[r * (T + 1) + i] = t[static_cast<std::size_t>((start + r) * T + i)];
    sum += lossOf(ids.to(device)).item<double>() * static_cast<double>(rows);
    n += rows;
  }
  return sum / static_cast<double>(n);
}

// ------------------------------------------------------------------------------------ parameters

void addDataParams(ParamSchema& s, bool required = true) {
  s.addDevice();
  const std::string help = "A UTF-8 text file (its last val_fraction held out for validation) or a token-shard folder made by "
            "lm.tokenize (its validation split held out)." + std::string(required ? "" : " Empty: the search's data.");
  if (required) s.addPath("data", "", help, "Text (*.txt);;Token shards (index.json)", false, false);
  else s.addOptionalPath("data", help, "Text (*.txt);;Token shards (index.json)");
  s.addOptionalPath("tokenizer", "Tokenizer file or folder (needed for text data).", "Tokenizers (*.bin *.model *.json)");
  s.addFloat("val_fraction", 0.1, 0.0, 0.9, "Text data: share of the tokens (at the end) held out for validation.");
}

void addSpaceParams(ParamSchema& s) {
  s.addChoice("family", {"llama", "gpt2"}, "llama", "Model family of the supernet and its architectures (lm's Llama or GPT-2).");
  s.addString("layers", "2,3,4", "Depth choices (comma-separated).");
  s.addString("heads", "2,4", "Attention-head choices; each must split every embedding size (Llama: into an even head dim).");
  s.addString("embed", "64,96,128", "Embedding-size choices.");
  s.addString("mlp_ratio", "2,3,4", "MLP hidden size as a multiple of the embedding size.");
  s.addString("atoms", "", "MASA's number of shared attention atoms S as one more choice (Llama only; e.g. 1,2; each at most "
              "the smallest depth). Empty: dense attention.");
}

void addTrainParams(ParamSchema& s, long long steps, double lr) {
  s.addInt("steps", steps, 1, std::nullopt, "Optimizer steps (for random search: in all, shared equally).");
  s.addFloat("time_budget_s", 0.0, 0.0, std::nullopt, "Stop after this many seconds of training (0: no limit).");
  s.addInt("context", 64, 2, 1 << 16, "Training sequence length.");
  s.addInt("batch_size", 8, 1, 1 << 16, "Sequences per step.");
  s.addFloat("lr", lr, 0.0, std::nullopt, "Peak learning rate of the model weights (AdamW, warm-up then cosine).");
  s.addInt("warmup_steps", 10, 0, std::nullopt, "Linear warm-up steps.");
  s.addFloat("weight_decay", 0.1, 0.0, 10.0, "AdamW weight decay of the matrices.");
  s.addFloat("grad_clip", 1.0, 0.0, 1e6, "Clip the global gradient norm of the weights to this. 0: off.");
  s.addInt("val_batches", 4, 1, 100000, "Batches of consecutive validation windows in each perplexity.");
  s.addInt("val_every", 0, 0, std::nullopt,
           "Trained models (nas.evaluate, nas.random_search): measure the validation loss every N steps and keep the "
           "best weights (early stopping; the time it takes counts in the budget). 0: measure once, at the end.");
}

SearchSpace spaceFromParams(const core::Params& p, std::int64_t vocab, std::int64_t context) {
  SearchSpace s;
  s.family = lm::modelFamilyFromString(p.getString("family"));
  s.vocabSize = vocab;
  s.context = context;
  for (int d = 0; d < kNumDims; ++d) {
    const std::string name = dimName(static_cast<Dim>(d));
    s.choices[d] = parseChoiceList(p.getString(name), name);
  }
  const auto atoms = p.getString("atoms");
  if (atoms.find_first_not_of(" \t") != std::string::npos) s.atoms = parseChoiceList(atoms, "atoms");
  s.validate();
  return s;
}

std::unique_ptr<lm::Tokenizer> tokenizerFrom(const std::string& path) {
  if (path.empty()) return nullptr;
  return lm::openTokenizer(path);
}

// AdamW over matrices (decayed) and vectors (not), as lm.train groups them.
std::unique_ptr<torch::optim::AdamW> makeAdamW(const std::vector<torch::Tensor>& params, double lr, double wd) {
  std::vector<torch::Tensor> decay, noDecay;
  for (const auto& prm : params) (prm.dim() >= 2 ? decay : noDecay).push_back(prm);
  auto opts = [&](double w) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).betas({0.9, 0.95}).eps(1e-8).weight_decay(w));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, opts(wd));
  groups.emplace_back(noDecay, opts(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(lr));
}

// Fraction of the run done: by steps, or by the time budget when that is what will stop it. A run
// given a huge step count and a time budget (equal-GPU-time comparisons) decays its learning rate and
// anneals its temperature over the time it actually has, not over steps it will never reach.
double runProgress(long long step, long long steps, double elapsedSeconds, double timeBudget) {
  double p = steps > 0 ? static_cast<double>(step) / static_cast<double>(steps) : 1.0;
  if (timeBudget > 0) p = std::max(p, elapsedSeconds / timeBudget);
  return std::clamp(p, 0.0, 1.0);
}

// Linear warm-up over `warmup` steps, then cosine from lr to lr/10 over the rest of the run's progress
// (progress as runProgress gives it; warm-up's own share of it is taken off when steps decide).
double cosineLr(double lr, long long s, long long steps, long long warmup, double progress) {
  if (warmup > 0 && s <= warmup) return lr * static_cast<double>(s) / static_cast<double>(warmup);
  const double byWarmup = steps > warmup ? static_cast<double>(warmup) / static_cast<double>(steps) : 0.0;
  const double after = byWarmup < 1.0 ? std::max(0.0, (progress - byWarmup) / (1.0 - byWarmup)) : 1.0;
  const double minLr = 0.1 * lr;
  return minLr + 0.5 * (lr - minLr) * (1.0 + std::cos(M_PI * std::min(1.0, after)));
}

void setLr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

struct TrainSettings {
  long long steps = 100;
  double timeBudget = 0;  // seconds, 0: none
  std::int64_t B = 8, T = 64, valBatches = 4;
  double lr = 1e-3, weightDecay = 0.1, clip = 1.0;
  long long warmup = 10, valEvery = 0;
  std::uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  bool autocast = false;
};

TrainSettings trainSettings(const Context& ctx, const torch::Device& device) {
  const auto& p = ctx.params();
  TrainSettings s;
  s.steps = p.getInt("steps");
  s.timeBudget = p.getFloat("time_budget_s");
  s.B = p.getInt("batch_size");
  s.T = p.getInt("context");
  s.valBatches = p.getInt("val_batches");
  s.lr = p.getFloat("lr");
  s.weightDecay = p.getFloat("weight_decay");
  s.clip = p.getFloat("grad_clip");
  s.warmup = p.getInt("warmup_steps");
  s.valEvery = p.getInt("val_every");
  s.seed = ctx.seed();
  s.device = device;
  s.autocast = device.is_cuda();
  return s;
}

struct TrainResult {
  long long steps = 0, bestStep = 0;  // bestStep: the step whose weights are kept and measured
  double seconds = 0, lastLoss = std::nan(""), valLoss = std::nan("");
};

// Trains a standalone model on splits.train (plus splits.arch: a sub-network has no architecture
// weights, so the whole training part is its training data) and measures its validation loss.
// onStep(step, loss) reports progress; metrics go out only when report is true.
TrainResult trainModel(lm::CausalLMImpl& model, const TokenSplits& data, const TrainSettings& s, core::Feedback& fb,
                       const std::function<void(long long, double)>& onStep) {
  std::vector<std::int32_t> train = data.train;
  train.insert(train.end(), data.arch.begin(), data.arch.end());
  auto opt = makeAdamW(model.parameters(), s.lr, s.weightDecay);
  lm::AdamWStepper stepper(*opt);
  const auto valLossNow = [&] {
    model.eval();
    const double v = meanLoss(data.val, s.B, s.T, s.valBatches, s.device, s.autocast, fb,
                              [&](const torch::Tensor& ids) { return lm::languageModelLoss(model, ids); });
    model.train();
    return v;
  };
  // Early stopping: the best weights seen at a validation check, copied on the model's device.
  std::vector<torch::Tensor> best;
  double bestVal = std::numeric_limits<double>::infinity();
  const auto keepIfBest = [&](long long step, double v, TrainResult& r) {
    if (!(v < bestVal)) return;
    bestVal = v;
    r.bestStep = step;
    torch::NoGradGuard g;
    best.clear();
    for (const auto& t : model.parameters()) best.push_back(t.detach().clone());
  };
  model.train();
  TrainResult r;
  const auto t0 = Clock::now();
  for (long long step = 1; step <= s.steps; ++step) {
    fb.throwIfCancelled();
    setLr(*opt, cosineLr(s.lr, step, s.steps, s.warmup, runProgress(step, s.steps, secondsSince(t0), s.timeBudget)));
    opt->zero_grad();
    auto ids = randomBatch(train, s.B, s.T, s.seed, static_cast<std::uint64_t>(step)).to(s.device);
    torch::Tensor loss;
    {
      core::CudaAutocast ac(s.autocast);
      loss = lm::languageModelLoss(model, ids);
    }
    loss.backward();
    lm::clipGradNorm(model.parameters(), s.clip > 0 ? s.clip : 1e30);
    stepper.step();
    r.lastLoss = loss.item<double>();
    if (!std::isfinite(r.lastLoss))
      throw NasError("training stopped at step " + std::to_string(step) + ": the loss is not finite; lower the learning rate");
    r.steps = step;
    if (onStep) onStep(step, r.lastLoss);
    const bool timeUp = s.timeBudget > 0 && secondsSince(t0) >= s.timeBudget;
    if (s.valEvery > 0 && step % s.valEvery == 0 && step < s.steps && !timeUp) keepIfBest(step, valLossNow(), r);
    if (timeUp) break;
  }
  r.seconds = secondsSince(t0);
  const double last = valLossNow();
  model.eval();
  if (s.valEvery > 0 && !(last < bestVal) && !best.empty()) {
    torch::NoGradGuard g;
    const auto params = model.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best[i]);
    r.valLoss = bestVal;
  } else {
    r.valLoss = last;
    r.bestStep = r.steps;
  }
  return r;
}

Json weightsJson(const SearchSpace& space, const ArchWeights& w) {
  Json j = Json::object();
  for (int d = 0; d < kNumDims; ++d) {
    const auto v = w[d].detach().to(torch::kCPU).to(torch::kDouble);
    std::vector<double> xs(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
    j[dimName(static_cast<Dim>(d))] = xs;
  }
  if (w.atoms.defined()) {
    const auto v = w.atoms.detach().to(torch::kCPU).to(torch::kDouble);
    j["atoms"] = std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
  }
  (void)space;
  return j;
}

void writeJson(const fs::path& path, const Json& j) { core::writeFileAtomically(path, j.dump(2) + "\n"); }

Json readJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw NasError("cannot read '" + path.string() + "'");
  try {
    return Json::parse(in);
  } catch (const Json::exception& e) {
    throw NasError("'" + path.string() + "' is not valid JSON: " + e.what());
  }
}

// Every architecture's step time (seconds) from the "step_times" of an earlier search's arch.json, in the
// space's order; each architecture of the space must be there.
std::vector<double> stepSecondsFrom(const SearchSpace& space, const fs::path& file) {
  const Json j = readJson(file);
  if (!j.contains("step_times") || !j["step_times"].is_array())
    throw NasError("'" + file.string() + "' has no step_times (the arch.json of a nas.search run with a time penalty)");
  std::map<std::string, double> ms;
  try {
    for (const auto& e : j["step_times"]) ms[Architecture::fromJson(e.at("architecture")).toString()] = e.at("step_ms").get<double>();
  } catch (const Json::exception& e) {
    throw NasError("'" + file.string() + "': a step_times entry is malformed: " + e.what());
  }
  std::vector<double> out;
  for (std::int64_t i = 0; i < space.numArchitectures(); ++i) {
    const auto name = space.at(i).toString();
    const auto it = ms.find(name);
    if (it == ms.end()) throw NasError("'" + file.string() + "' has no step time for " + name + " (another search space?)");
    if (!(it->second > 0) || !std::isfinite(it->second))
      throw NasError("'" + file.string() + "': the step time of " + name + " is not a positive number");
    out.push_back(it->second / 1e3);
  }
  return out;
}

// ------------------------------------------------------------------------------------- nas.search

class SearchJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"nas.search", "Architecture search (TangleNAS)", "Language models",
            "Searches a Llama or GPT-2 language-model space (depth, heads, embedding size, MLP ratio; Llama also MASA's number "
            "of shared attention atoms) with a weight-entangled "
            "supernet: every architecture is a slice of one largest model. Alternates AdamW steps of the weights on the "
            "training data with Adam steps of the architecture parameters on a held-out part of it (DARTS softmax, GDAS "
            "hard Gumbel samples or DrNAS Dirichlet samples). Streams the losses and the weight of every choice; writes "
            "the argmax architecture (arch.json, with the parameters lm.train takes), the alphas over time and the "
            "supernet for nas.evaluate.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    addDataParams(s);
    addSpaceParams(s);
    s.addChoice("method", {"darts", "gdas", "drnas"}, "darts", "How architecture weights come from the alphas.");
    addTrainParams(s, 200, 1e-3);
    s.addFloat("arch_fraction", 0.5, 0.05, 0.95, "Share of the training tokens the architecture parameters learn on.");
    s.addFloat("arch_lr", 3e-4, 0.0, std::nullopt, "Adam learning rate of the architecture parameters (TangleNAS: 3e-4).");
    s.addFloat("arch_weight_decay", 1e-3, 0.0, 10.0, "Adam weight decay of the architecture parameters.");
    s.addInt("arch_start", 0, 0, std::nullopt, "Train only the weights for this many steps before updating the alphas.");
    s.addFloat("param_penalty", 0.0, 0.0, 100.0,
               "Resource-aware search: adds this times (expected parameters / the largest architecture's) to the "
               "architecture loss, trading validation loss (nats) for size. 0: TangleNAS's plain objective.");
    s.addFloat("time_penalty", 0.0, 0.0, 100.0,
               "Time-aware search, for architectures judged at equal training time: adds this times (expected "
               "training-step time / the largest architecture's) to the architecture loss; every architecture's step "
               "time is measured on this device at the start (from the two smallest depths; counted in the time "
               "budget). 0: off.");
    s.addOptionalPath("step_times",
                      "With time_penalty: every architecture's step time from this arch.json of an earlier nas.search over "
                      "the same space on the same device, instead of measuring them (a reproducible search, no timing). "
                      "Empty: measure.",
                      "NAS architecture (arch.json)");
    s.addFloat("tau_max", 10.0, 1e-3, 1e3, "GDAS: Gumbel-softmax temperature at the start (annealed linearly).");
    s.addFloat("tau_min", 0.1, 1e-3, 1e3, "GDAS: temperature at the end.");
    s.addInt("log_every", 10, 1, std::nullopt, "Report losses and architecture weights every N steps.");
    return s;
  }

  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const auto device = core::toTorchDevice(ctx.device());
    torch::manual_seed(ctx.seed());
    const auto tokPath = p.getString("tokenizer");
    const auto tok = tokenizerFrom(tokPath);
    const fs::path dataPath = p.getString("data");
    const auto data = loadTokens(dataPath, tok.get(), p.getFloat("val_fraction"), p.getFloat("arch_fraction"), fb);
    const auto s = trainSettings(ctx, device);
    requireTokens(data.train, s.T, "weight-training", dataPath);
    requireTokens(data.arch, s.T, "architecture-training", dataPath);
    requireTokens(data.val, s.T, "validation", dataPath);
    const auto space = spaceFromParams(p, data.vocabSize, s.T);
    const auto method = methodFromString(p.getString("method"));
    fb.info("space: " + space.toJson().dump() + " (" + std::to_string(space.numArchitectures()) + " architectures)");
    fb.info("data: " + std::to_string(data.train.size()) + " weight-training, " + std::to_string(data.arch.size()) +
            " architecture-training and " + std::to_string(data.val.size()) + " validation tokens");

    Supernet net(space);
    net->to(device);
    std::int64_t weightCount = 0;
    for (const auto& t : net->weightParameters()) weightCount += t.numel();  // before the optimizer exists
    fb.info("supernet: " + std::to_string(weightCount) + " weights (the largest architecture's), method " + toString(method));
    const auto weights = net->weightParameters();
    auto wopt = makeAdamW(weights, s.lr, s.weightDecay);
    lm::AdamWStepper wstep(*wopt);
    torch::optim::Adam aopt(net->archParameters(), torch::optim::AdamOptions(p.getFloat("arch_lr"))
                                                       .betas({0.5, 0.999})
                                                       .weight_decay(p.getFloat("arch_weight_decay")));
    const auto archStart = p.getInt("arch_start");
    const double penalty = p.getFloat("param_penalty");
    // Per-architecture tables for the penalties, made once as float32 tensors on the device (the
    // penalties are evaluated at every architecture step).
    const auto onDevice = [&](const std::vector<double>& t) {
      return torch::tensor(t, torch::kDouble).to(torch::TensorOptions().dtype(torch::kFloat32).device(device));
    };
    torch::Tensor countTable;
    double largestCount = 1;
    if (penalty > 0) {
      const auto counts = architectureParameterCounts(space);
      largestCount = static_cast<double>(*std::max_element(counts.begin(), counts.end()));
      countTable = onDevice(std::vector<double>(counts.begin(), counts.end()));
    }
    // The penalty term: the expected parameter count under what the alphas say, as a share of the largest.
    const auto sizeShare = [&] { return expectedValue(space, countTable, net->arch->mean(method)) / largestCount; };
    const double timePenalty = p.getFloat("time_penalty");
    std::vector<double> stepSeconds;
    torch::Tensor timeTable;
    double largestSeconds = 1;
    const auto timeShare = [&] { return expectedValue(space, timeTable, net->arch->mean(method)) / largestSeconds; };
    const auto logEvery = p.getInt("log_every");
    const double tauMax = p.getFloat("tau_max"), tauMin = p.getFloat("tau_min");
    Json history = Json::array();
    auto record = [&](long long step, std::map<std::string, double>& metrics) {
      const auto w = net->arch->expected(method);
      for (int d = 0; d < kNumDims; ++d) {
        const auto dim = static_cast<Dim>(d);
        const auto v = w[d].to(torch::kCPU);
        for (std::size_t k = 0; k < space.of(dim).size(); ++k)
          metrics[std::string("w.") + dimName(dim) + "." + std::to_string(space.of(dim)[k])] =
              v[static_cast<std::int64_t>(k)].item<double>();
      }
      if (w.atoms.defined()) {
        const auto v = w.atoms.to(torch::kCPU);
        for (std::size_t k = 0; k < space.atoms.size(); ++k)
          metrics["w.atoms." + std::to_string(space.atoms[k])] = v[static_cast<std::int64_t>(k)].item<double>();
      }
      ArchWeights alphas;
      for (int d = 0; d < kNumDims; ++d) alphas[d] = net->arch->alpha[d];
      alphas.atoms = net->arch->alphaAtoms;
      history.push_back(Json{{"step", step}, {"alphas", weightsJson(space, alphas)}, {"weights", weightsJson(space, w)}});
    };

    const auto t0 = Clock::now();
    if (timePenalty > 0) {
      const std::string timesFile = p.getString("step_times");
      fb.setStage(timesFile.empty() ? "timing architectures" : "reading step times");
      stepSeconds = timesFile.empty() ? architectureStepSeconds(space, device, s.B, s.T, s.autocast)
                                      : stepSecondsFrom(space, timesFile);
      timeTable = onDevice(stepSeconds);
      // The largest architecture's time, the normaliser, is the table's maximum: the last entry of a space
      // ordered by size is not always the slowest.
      largestSeconds = *std::max_element(stepSeconds.begin(), stepSeconds.end());
      const auto fastest = std::min_element(stepSeconds.begin(), stepSeconds.end()) - stepSeconds.begin();
      fb.info("step times " + std::string(timesFile.empty() ? "measured" : "read") + " in " + std::to_string(secondsSince(t0)) + " s: " +
              std::to_string(1e3 * stepSeconds[static_cast<std::size_t>(fastest)]) + " ms (" +
              space.at(fastest).toString() + ") to " + std::to_string(1e3 * largestSeconds) + " ms");
      fb.setStage("searching");
    }
    net->train();
    double lastLoss = std::nan(""), lastArchLoss = std::nan("");
    long long step = 0;
    {
      std::map<std::string, double> m0;
      record(0, m0);
      fb.reportMetrics(0, m0);
    }
    while (step < s.steps) {
      ++step;
      fb.throwIfCancelled();
      const double progress = runProgress(step, s.steps, secondsSince(t0), s.timeBudget);
      const double tau = tauMax + (tauMin - tauMax) * progress;
      // 1. Architecture step on the held-out part (first order, as TangleNAS).
      if (step > archStart) {
        aopt.zero_grad();
        auto ids = randomBatch(data.arch, s.B, s.T, s.seed ^ 0xA5C4ULL, static_cast<std::uint64_t>(step)).to(device);
        torch::Tensor loss;
        {
          core::CudaAutocast ac(s.autocast);
          loss = net->loss(ids, net->arch->sample(method, tau));
        }
        if (penalty > 0) loss = loss + penalty * sizeShare();
        if (timePenalty > 0) loss = loss + timePenalty * timeShare().to(loss.dtype());
        loss.backward();
        aopt.step();
        lastArchLoss = loss.item<double>();
      }
      // 2. Weight step on the training part, architecture weights held fixed.
      const double lr = cosineLr(s.lr, step, s.steps, s.warmup, progress);
      setLr(*wopt, lr);
      wopt->zero_grad();
      ArchWeights w;
      {
        torch::NoGradGuard g;
        w = net->arch->sample(method, tau);
      }
      auto ids = randomBatch(data.train, s.B, s.T, s.seed, static_cast<std::uint64_t>(step)).to(device);
      torch::Tensor loss;
      {
        core::CudaAutocast ac(s.autocast);
        loss = net->loss(ids, w);
      }
      loss.backward();
      lm::clipGradNorm(weights, s.clip > 0 ? s.clip : 1e30);
      wstep.step();
      lastLoss = loss.item<double>();
      if (!std::isfinite(lastLoss))
        throw NasError("search stopped at step " + std::to_string(step) + ": the loss is not finite; lower 'lr'");
      const bool timeUp = s.timeBudget > 0 && secondsSince(t0) >= s.timeBudget;
      if (step % logEvery == 0 || step == s.steps || timeUp) {
        std::map<std::string, double> m{{"loss", lastLoss}, {"lr", lr}};
        if (!std::isnan(lastArchLoss)) m["arch_loss"] = lastArchLoss;
        if (method == Method::Gdas) m["tau"] = tau;
        if (penalty > 0) {
          torch::NoGradGuard g;
          m["expected_params"] = sizeShare().item<double>() * largestCount;
        }
        if (timePenalty > 0) {
          torch::NoGradGuard g;
          m["expected_step_ms"] = timeShare().item<double>() * largestSeconds * 1e3;
        }
        m["val_loss"] = meanLoss(data.val, s.B, s.T, 1, device, s.autocast, fb, [&](const torch::Tensor& v) {
          return net->loss(v, net->arch->expected(method));
        });
        record(step, m);
        fb.reportMetrics(step, m);
      }
      fb.setProgress(static_cast<double>(step) / static_cast<double>(s.steps),
                     "step " + std::to_string(step) + " of " + std::to_string(s.steps) + ", loss " + std::to_string(lastLoss));
      if (timeUp) {
        fb.info("time budget of " + std::to_string(s.timeBudget) + " s reached at step " + std::to_string(step));
        break;
      }
    }
    const double seconds = secondsSince(t0);
    net->eval();
    const auto chosen = net->arch->argmax(space);
    fb.info("chosen architecture: " + chosen.toString());
    const auto oneHot = oneHotWeights(space, chosen, torch::TensorOptions().device(device));
    const double chosenVal = meanLoss(data.val, s.B, s.T, s.valBatches, device, s.autocast, fb,
                                      [&](const torch::Tensor& v) { return net->loss(v, oneHot); });
    const auto config = space.modelConfig(chosen);
    auto sub = createArchitectureModel(space, chosen);  // for its parameter count only
    Json alphas = Json::object();
    {
      ArchWeights a;
      for (int d = 0; d < kNumDims; ++d) a[d] = net->arch->alpha[d];
      a.atoms = net->arch->alphaAtoms;
      alphas = weightsJson(space, a);
    }
    Json arch{{"format", "atomscope.nas_arch/1"},
              {"method", toString(method)},
              {"architecture", chosen.toJson()},
              {"lm_train_params", lmTrainParams(space, chosen)},
              {"model_config", config.toJson()},
              {"params", sub->numParameters()},
              {"space", space.toJson()},
              {"alphas", alphas},
              {"weights", weightsJson(space, net->arch->expected(method))},
              {"inherited_val_loss", chosenVal},
              {"param_penalty", penalty},
              {"time_penalty", timePenalty},
              {"steps", step},
              {"search_seconds", seconds},
              {"tokenizer", tokPath},
              {"data", dataPath.string()}};
    if (!stepSeconds.empty()) {
      Json times = Json::array();
      for (std::int64_t i = 0; i < space.numArchitectures(); ++i) {
        const auto a = space.at(i);
        const double ms = 1e3 * stepSeconds[static_cast<std::size_t>(i)];
        times.push_back(Json{{"architecture", a.toJson()}, {"step_ms", ms}});
        if (a.toString() == chosen.toString()) arch["chosen_step_ms"] = ms;
      }
      arch["step_times"] = times;
    }
    writeJson(ctx.run().addArtifact("arch.json", "nas_arch", "the chosen architecture and lm.train's parameters for it"), arch);
    writeJson(ctx.run().addArtifact("alphas_history.json", "json", "architecture parameters and weights at every log step"),
              history);
    {
      torch::serialize::OutputArchive out;
      net->save(out);
      const auto path = ctx.run().addArtifact("supernet.pt", "torch_archive", "the trained supernet (for nas.evaluate)");
      out.save_to(path.string());
    }
    ctx.run().setSummary("architecture", chosen.toString());
    ctx.run().setSummary("params", sub->numParameters());
    ctx.run().setSummary("inherited_val_loss", chosenVal);
    ctx.run().setSummary("inherited_val_ppl", std::exp(chosenVal));
    ctx.run().setSummary("final_loss", lastLoss);
    ctx.run().setSummary("steps", step);
    ctx.run().setSummary("seconds", seconds);
    fb.setProgress(1.0, "done");
  }
};

// ----------------------------------------------------------------------------------- nas.evaluate

// The search's arch.json and supernet.pt from its run folder (or its artifacts folder, or arch.json).
struct SearchResult {
  Json arch;
  fs::path supernet;
};

SearchResult openSearch(const fs::path& where) {
  fs::path dir = where;
  if (fs::is_regular_file(where)) dir = where.parent_path();
  else if (fs::exists(where / "artifacts" / "arch.json")) dir = where / "artifacts";
  if (!fs::exists(dir / "arch.json"))
    throw NasError("'" + where.string() + "' is not a nas.search run (no arch.json in it or its artifacts folder)");
  SearchResult r{readJson(dir / "arch.json"), dir / "supernet.pt"};
  if (!r.arch.contains("space") || !r.arch.contains("architecture"))
    throw NasError("'" + (dir / "arch.json").string() + "' lacks 'space' or 'architecture'");
  return r;
}

class EvaluateJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"nas.evaluate", "Evaluate a searched architecture", "Language models",
            "Takes an architecture of a nas.search run (its choice, the largest, or any given one), either with the "
            "weights it inherits from the supernet (fine-tuned for 'steps') or trained from scratch, and reports its "
            "validation perplexity and parameter count; can export it as a Hugging Face model.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("search", "", "The nas.search run folder (or its arch.json).", "Architecture (arch.json)", false, false);
    addDataParams(s, false);
    s.addString("arch", "", "Architecture: empty for the search's choice, 'largest', or e.g. layers=3,heads=4,embed=96,mlp_ratio=2.");
    s.addChoice("mode", {"finetune", "scratch"}, "finetune", "Start from the inherited supernet weights, or from a fresh initialisation.");
    addTrainParams(s, 100, 1e-3);
    s.addBool("export", false, "Export the trained model as a Hugging Face folder artifact.");
    return s;
  }

  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const auto device = core::toTorchDevice(ctx.device());
    torch::manual_seed(ctx.seed());
    const auto search = openSearch(p.getString("search"));
    auto space = SearchSpace::fromJson(search.arch.at("space"));
    auto tokPath = p.getString("tokenizer");
    if (tokPath.empty()) tokPath = search.arch.value("tokenizer", std::string());
    const auto tok = tokenizerFrom(tokPath);
    const fs::path dataPath = p.getString("data").empty() ? fs::path(search.arch.value("data", std::string()))
                                                           : fs::path(p.getString("data"));
    auto data = loadTokens(dataPath, tok.get(), p.getFloat("val_fraction"), 0.0, fb);
    if (data.vocabSize != space.vocabSize)
      throw NasError("the data's vocabulary has " + std::to_string(data.vocabSize) + " tokens, the search's " +
                     std::to_string(space.vocabSize));
    auto s = trainSettings(ctx, device);
    if (s.T > space.context) space.context = s.T;
    requireTokens(data.train, s.T, "training", dataPath);
    requireTokens(data.val, s.T, "validation", dataPath);
    const auto archText = p.getString("arch");
    const Architecture a = archText.empty() ? Architecture::fromJson(search.arch.at("architecture"))
                           : archText == "largest" ? space.largest()
                                                   : parseArchitecture(archText);
    if (!space.contains(a)) throw NasError("architecture " + a.toString() + " is not in the search's space");
    const bool finetune = p.getString("mode") == "finetune";
    lm::CausalLM model;
    if (finetune) {
      if (!fs::exists(search.supernet)) throw NasError("'" + search.supernet.string() + "' is missing: cannot inherit weights");
      Supernet net(SearchSpace::fromJson(search.arch.at("space")));
      torch::serialize::InputArchive in;
      in.load_from(search.supernet.string(), torch::kCPU);
      net->load(in);
      net->to(device);
      model = net->extract(a);
      if (s.T > model->config().maxSeqLen)
        throw NasError("context " + std::to_string(s.T) + " exceeds the search's " + std::to_string(model->config().maxSeqLen) +
                       " (inherited weights: a GPT-2's learned positions stop there)");
    } else {
      model = createArchitectureModel(space, a);
      model->to(device);
    }
    const auto params = model->numParameters();
    fb.info("architecture " + a.toString() + ": " + std::to_string(params) + " parameters, " +
            (finetune ? "inherited weights" : "trained from scratch"));
    double before = std::nan("");
    if (finetune) {
      model->eval();
      before = meanLoss(data.val, s.B, s.T, s.valBatches, device, s.autocast, fb,
                        [&](const torch::Tensor& ids) { return lm::languageModelLoss(*model, ids); });
      fb.info("inherited validation perplexity: " + std::to_string(std::exp(before)));
    }
    const auto r = trainModel(*model, data, s, fb, [&](long long step, double loss) {
      if (step % 10 == 0 || step == s.steps) fb.reportMetrics(step, {{"loss", loss}});
      fb.setProgress(static_cast<double>(step) / static_cast<double>(s.steps), "step " + std::to_string(step));
    });
    fb.reportMetrics(r.steps, {{"val_loss", r.valLoss}, {"val_ppl", std::exp(r.valLoss)}});
    fb.info("validation perplexity " + std::to_string(std::exp(r.valLoss)) + " after " + std::to_string(r.steps) + " steps");
    Json result{{"architecture", a.toJson()}, {"mode", finetune ? "finetune" : "scratch"}, {"params", params},
                {"steps", r.steps}, {"best_step", r.bestStep}, {"train_seconds", r.seconds}, {"val_loss", r.valLoss},
                {"val_ppl", std::exp(r.valLoss)},
                {"lm_train_params", lmTrainParams(space, a)}};
    if (finetune) {
      result["inherited_val_loss"] = before;
      result["inherited_val_ppl"] = std::exp(before);
      ctx.run().setSummary("inherited_val_ppl", std::exp(before));
    }
    writeJson(ctx.run().addArtifact("result.json", "json", "architecture, parameters and validation perplexity"), result);
    ctx.run().setSummary("architecture", a.toString());
    ctx.run().setSummary("params", params);
    ctx.run().setSummary("steps", r.steps);
    ctx.run().setSummary("train_seconds", r.seconds);
    ctx.run().setSummary("val_loss", r.valLoss);
    ctx.run().setSummary("val_ppl", std::exp(r.valLoss));
    if (p.getBool("export")) {
      fb.setStage("exporting");
      const auto dir = ctx.run().addArtifact("model", "hf_model", "the evaluated model as a Hugging Face folder");
      std::optional<fs::path> tp;
      if (!tokPath.empty()) tp = fs::path(tokPath);
      lm::saveHfModel(*model, dir, lm::SaveOptions{torch::kFloat32, tp});
    }
    fb.setProgress(1.0, "done");
  }
};

// ------------------------------------------------------------------------------ nas.random_search

class RandomSearchJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"nas.random_search", "Random architecture search", "Language models",
            "The baseline of nas.search: samples K distinct architectures of the same space uniformly, trains each from "
            "scratch for an equal share of the steps (and of the time budget), and reports the validation perplexity "
            "and parameter count of each (artifact random_search.csv).",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    addDataParams(s);
    addSpaceParams(s);
    s.addInt("samples", 4, 1, 100000, "Architectures to sample (at most the size of the space).");
    addTrainParams(s, 200, 1e-3);
    return s;
  }

  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const auto device = core::toTorchDevice(ctx.device());
    const auto tok = tokenizerFrom(p.getString("tokenizer"));
    const fs::path dataPath = p.getString("data");
    const auto data = loadTokens(dataPath, tok.get(), p.getFloat("val_fraction"), 0.0, fb);
    auto s = trainSettings(ctx, device);
    requireTokens(data.train, s.T, "training", dataPath);
    requireTokens(data.val, s.T, "validation", dataPath);
    const auto space = spaceFromParams(p, data.vocabSize, s.T);
    const auto K = std::min<std::int64_t>(p.getInt("samples"), space.numArchitectures());
    std::mt19937_64 rng(ctx.seed());
    std::vector<std::int64_t> order(static_cast<std::size_t>(space.numArchitectures()));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
    std::shuffle(order.begin(), order.end(), rng);
    const long long total = s.steps;
    const double budget = s.timeBudget;
    s.steps = std::max<long long>(1, total / K);
    s.timeBudget = budget > 0 ? budget / static_cast<double>(K) : 0.0;
    fb.info("random search: " + std::to_string(K) + " of " + std::to_string(space.numArchitectures()) +
            " architectures, " + std::to_string(s.steps) + " steps each" +
            (budget > 0 ? ", at most " + std::to_string(s.timeBudget) + " s each" : std::string()));
    Json rows = Json::array();
    std::ostringstream csv;
    csv << "index,layers,heads,embed,mlp_ratio," << (space.hasAtoms() ? "atoms," : "")
        << "params,steps,train_seconds,val_loss,val_ppl\n";
    double best = std::numeric_limits<double>::infinity();
    Json bestRow;
    for (std::int64_t i = 0; i < K; ++i) {
      const auto a = space.at(order[static_cast<std::size_t>(i)]);
      torch::manual_seed(ctx.seed() + static_cast<unsigned long long>(i));
      auto model = createArchitectureModel(space, a);
      model->to(device);
      fb.info("architecture " + std::to_string(i + 1) + " of " + std::to_string(K) + ": " + a.toString());
      const auto r = trainModel(*model, data, s, fb, [&](long long step, double) {
        fb.setProgress((static_cast<double>(i) + static_cast<double>(step) / static_cast<double>(s.steps)) / static_cast<double>(K),
                       "architecture " + std::to_string(i + 1) + ", step " + std::to_string(step));
      });
      const auto params = model->numParameters();
      const Json row{{"index", i}, {"architecture", a.toJson()}, {"params", params}, {"steps", r.steps},
                     {"best_step", r.bestStep}, {"train_seconds", r.seconds}, {"val_loss", r.valLoss}, {"val_ppl", std::exp(r.valLoss)}};
      rows.push_back(row);
      csv << i << "," << a.layers << "," << a.heads << "," << a.embed << "," << a.mlpRatio << ","
          << (space.hasAtoms() ? std::to_string(a.atoms) + "," : std::string()) << params << "," << r.steps
          << "," << r.seconds << "," << r.valLoss << "," << std::exp(r.valLoss) << "\n";
      fb.reportMetrics(i, {{"val_ppl", std::exp(r.valLoss)}, {"params", static_cast<double>(params)}});
      if (r.valLoss < best) {
        best = r.valLoss;
        bestRow = row;
      }
    }
    core::writeFileAtomically(ctx.run().addArtifact("random_search.csv", "csv", "each sampled architecture: size and perplexity"),
                              csv.str());
    writeJson(ctx.run().addArtifact("random_search.json", "json", "each sampled architecture: size and perplexity"),
              Json{{"space", space.toJson()}, {"results", rows}, {"best", bestRow}});
    ctx.run().setSummary("samples", K);
    ctx.run().setSummary("best_architecture", Architecture::fromJson(bestRow.at("architecture")).toString());
    ctx.run().setSummary("best_val_ppl", bestRow.at("val_ppl"));
    ctx.run().setSummary("best_params", bestRow.at("params"));
    fb.setProgress(1.0, "done");
  }
};

}  // namespace

void registerNasJobs(core::JobRegistry& registry) {
  if (!registry.contains("nas.search")) registry.add([] { return std::make_unique<SearchJob>(); });
  if (!registry.contains("nas.evaluate")) registry.add([] { return std::make_unique<EvaluateJob>(); });
  if (!registry.contains("nas.random_search")) registry.add([] { return std::make_unique<RandomSearchJob>(); });
}

}  // namespace atomscope::nas
