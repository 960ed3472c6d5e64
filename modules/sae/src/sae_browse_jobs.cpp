// sae.encode_text, sae.neighbors, sae.export, sae.import: the headless side of the Atoms plugin.
#include "atomscope/sae/sae_browse_jobs.h"

#include <torch/torch.h>

#include <algorithm>
#include <fstream>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/torch_device.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/sae/collect.h"
#include "atomscope/sae/sae.h"
#include "atomscope/sae/statistics.h"

namespace atomscope::sae {

namespace fs = std::filesystem;
using core::Context;
using core::JobInfo;
using core::ParamSchema;

namespace {

// The SAE folder inside a sae.train run folder, or the folder itself.
fs::path saeFolder(const std::string& given) {
  if (given.empty()) throw SaeError("parameter 'sae' is empty: give an SAE folder (cfg.json + sae_weights.safetensors)");
  fs::path p = given;
  if (p.filename() == "cfg.json") p = p.parent_path();
  if (!fs::exists(p / "cfg.json") && fs::exists(p / "artifacts" / "sae" / "cfg.json")) p = p / "artifacts" / "sae";
  return p;
}

// Copies an SAE folder's files byte for byte (after loadSae has validated them), so an exported or
// imported SAE has exactly the weights it had: a load/save round trip would refold the input
// transform in float32 and change the last bits.
void copySaeFiles(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const char* name : {"cfg.json", "sae_weights.safetensors", "input_transform.safetensors"}) {
    if (!fs::exists(from / name)) continue;
    std::error_code ec;
    fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing, ec);
    if (ec) throw SaeError("cannot copy '" + (from / name).string() + "' to '" + (to / name).string() + "': " + ec.message());
  }
}

void writeJson(Context& ctx, const std::string& name, const std::string& what, const Json& j) {
  core::writeFileAtomically(ctx.run().addArtifact(name, "json", what), j.dump(1) + "\n");
}

// ------------------------------------------------------------------------------- sae.encode_text

class EncodeTextJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.encode_text", "Atoms on a text", "Sparse autoencoders",
            "Runs the SAE's model on a text, takes the activation of the SAE's site at every token and encodes it: "
            "writes tokens.json with, per token, its text and the atoms that fire there (largest first).",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.addPath("sae", "", "SAE folder (cfg.json + sae_weights.safetensors) or a sae.train run folder.", "SAE (cfg.json)", true);
    s.addString("text", "Once upon a time there was a little cat.", "The text to run.");
    s.addOptionalPath("model", "Model. Empty: the one recorded in the SAE's cfg.json.", "Models (*.bin config.json)");
    s.addOptionalPath("tokenizer", "Tokenizer. Empty: the one found beside the model.", "Tokenizers (*.bin *.model *.json)");
    s.addString("site", "", "Site such as resid_post.2. Empty: the SAE's own site.");
    s.addInt("top", 8, 1, 1000, "Atoms listed per token.");
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const auto device = core::toTorchDevice(ctx.device());
    auto sae = loadSae(saeFolder(p.getString("sae")), device);
    std::string site = p.getString("site");
    if (site.empty()) site = sae->info.value("site", "");
    if (site.empty()) throw SaeError("the SAE's cfg.json names no site: set the 'site' parameter (e.g. resid_post.2)");
    std::string modelPath = p.getString("model");
    if (modelPath.empty()) modelPath = sae->info.value("model", "");
    if (modelPath.empty()) throw SaeError("the SAE's cfg.json names no model: set the 'model' parameter");
    fb.setProgress(0.1, "loading " + modelPath);
    auto loaded = lm::loadModel(modelPath, lm::LoadOptions{torch::kFloat32, device, {}});
    loaded.model->eval();
    if (loaded.model->config().dim != sae->dIn())
      throw SaeError("the model's width " + std::to_string(loaded.model->config().dim) + " is not the SAE's d_in " +
                     std::to_string(sae->dIn()));
    std::optional<fs::path> tokPath;
    if (!p.getString("tokenizer").empty()) tokPath = fs::path(p.getString("tokenizer"));
    else tokPath = loaded.tokenizer;
    if (!tokPath) throw SaeError("no tokenizer found beside '" + modelPath + "': set the 'tokenizer' parameter");
    auto tok = lm::openTokenizer(*tokPath);
    // The same BOS rule as sae.collect, so a token's activation is the one the SAE was trained on.
    const bool bos = tok->bosId().has_value() && tok->kind() != "gpt2-bpe";
    const auto ids = tok->encode(p.getString("text"), bos, false);
    if (ids.empty()) throw SaeError("the text gives no tokens");
    fb.setProgress(0.4, "running the model on " + std::to_string(ids.size()) + " tokens");
    const auto idT = torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), torch::kInt64).unsqueeze(0).to(device);
    torch::NoGradGuard ng;
    const auto acts = captureSites(*loaded.model, idT, {Site::parse(site)});
    const auto x = acts.at(site)[0].to(torch::kFloat32);  // [T, d]
    const auto z = sae->encode(x).to(torch::kCPU).contiguous();  // [T, n]
    const auto top = std::min<std::int64_t>(p.getInt("top"), sae->dSae());
    Json tokens = Json::array();
    for (std::int64_t t = 0; t < z.size(0); ++t) {
      const auto [vals, idx] = torch::topk(z[t], top);
      Json atoms = Json::array();
      for (std::int64_t k = 0; k < top; ++k) {
        const double v = vals[k].item<double>();
        if (v <= 0) break;
        atoms.push_back({{"atom", idx[k].item<std::int64_t>()}, {"a", v}});
      }
      const bool isBos = bos && t == 0;
      tokens.push_back({{"id", ids[static_cast<std::size_t>(t)]},
                        {"t", tok->tokenText(ids[static_cast<std::size_t>(t)])},
                        {"bos", isBos},
                        {"l0", (z[t] > 0).sum().item<std::int64_t>()},
                        {"atoms", atoms}});
    }
    writeJson(ctx, "tokens.json", "per token, the atoms that fire", Json{{"site", site}, {"text", p.getString("text")}, {"tokens", tokens}});
    ctx.run().setSummary("tokens", static_cast<std::int64_t>(ids.size()));
    ctx.run().setSummary("site", site);
    fb.setProgress(1.0, "done");
  }
};

// --------------------------------------------------------------------------------- sae.neighbors

class NeighborsJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.neighbors", "Nearest atoms", "Sparse autoencoders",
            "For every atom, its nearest atoms under the atomic inner product (cosine after whitening by "
            "S = E[x x^T]^-1) and under plain cosine, as neighbors.json. S is the SAE's own whitening when it was "
            "trained whitened, else it is estimated from the activations given.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.addPath("sae", "", "SAE folder or a sae.train run folder.", "SAE (cfg.json)", true);
    s.addOptionalPath("activations", "Activations for S when the SAE is not whitened. Empty: the ones in its cfg.json.",
                      "Manifests (manifest.json)", true);
    s.addInt("k", 10, 1, 1000, "Neighbours per atom.");
    s.addInt("moment_rows", 65536, 0, std::nullopt, "Rows used to estimate S (0: all).").markAdvanced();
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    auto sae = loadSae(saeFolder(p.getString("sae")), torch::kCPU);
    torch::NoGradGuard ng;
    const auto D = sae->rawAtoms().to(torch::kFloat64);
    torch::Tensor S;
    std::string metric;
    if (sae->whitened()) {
      // A = S^(1/2) (symmetric), so S = A A^T.
      const auto A = sae->A.to(torch::kFloat64);
      S = torch::matmul(A, A.t());
      metric = "the SAE's whitening";
    } else {
      std::string act = p.getString("activations");
      if (act.empty()) act = sae->info.value("activations", "");
      if (act.empty() || !fs::exists(act))
        throw SaeError("the SAE is not whitened and no activations were found for S: set the 'activations' parameter");
      const auto reader = ActivationReader::open(act);
      std::string site = sae->info.value("site", "");
      if (site.empty()) site = reader.sites().front();
      const auto m = estimateMoments(reader, site, 0, reader.rows(), p.getInt("moment_rows"), &fb);
      S = whiteningFromSecondMoment(m.secondMoment).S;
      metric = "S estimated on " + act;
    }
    fb.setProgress(0.5, "Gram matrices");
    const auto k = std::min<std::int64_t>(p.getInt("k"), sae->dSae() - 1);
    auto table = [&](torch::Tensor G) {
      G = G.clone();
      G.fill_diagonal_(-2.0);  // an atom is not its own neighbour
      const auto [vals, idx] = torch::topk(G, k, 1);
      Json out = Json::array();
      for (std::int64_t i = 0; i < G.size(0); ++i) {
        Json row = Json::array();
        for (std::int64_t j = 0; j < k; ++j) row.push_back({{"atom", idx[i][j].item<std::int64_t>()}, {"cos", vals[i][j].item<double>()}});
        out.push_back(row);
      }
      return out;
    };
    const Json j{{"metric", metric}, {"aip", table(cosineGram(D, S))}, {"cosine", table(cosineGram(D))}};
    writeJson(ctx, "neighbors.json", "nearest atoms under the AIP and plain cosine", j);
    ctx.run().setSummary("atoms", sae->dSae());
    fb.setProgress(1.0, "done");
  }
};

// ---------------------------------------------------------------------------- sae.export / import

class ExportJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.export", "Export an SAE (SAELens layout)", "Sparse autoencoders",
            "Checks an SAE folder and copies it as sae_weights.safetensors (W_enc, W_dec, b_enc, b_dec, threshold, acting on the raw "
            "activations) and cfg.json, the layout SAELens and Neuronpedia read.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("sae", "", "SAE folder or a sae.train run folder.", "SAE (cfg.json)", true);
    s.addPath("out", "", "Folder to write (created; its files are replaced).", "", true, false);
    return s;
  }
  void run(Context& ctx) override {
    const auto& p = ctx.params();
    const auto from = saeFolder(p.getString("sae"));
    auto sae = loadSae(from, torch::kCPU);  // validates names, shapes and cfg.json
    const fs::path out = p.getString("out");
    if (out.empty()) throw SaeError("parameter 'out' is empty: give the folder to write");
    if (fs::exists(out) && fs::equivalent(out, from)) throw SaeError("'out' is the SAE's own folder '" + from.string() + "'");
    copySaeFiles(from, out);
    ctx.run().setSummary("out", fs::absolute(out).string());
    ctx.run().setSummary("d_in", sae->dIn());
    ctx.run().setSummary("d_sae", sae->dSae());
    ctx.feedback().setProgress(1.0, "done");
  }
};

class ImportJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"sae.import", "Import an SAE (SAELens layout)", "Sparse autoencoders",
            "Reads a folder in SAELens' layout (cfg.json with architecture jumprelu or standard, "
            "sae_weights.safetensors), checks every tensor's name and shape, and stores it as this run's "
            "artifacts/sae, ready for sae.index and the Atoms plugin.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addPath("folder", "", "A SAELens-layout folder (cfg.json + sae_weights.safetensors).", "SAE (cfg.json)", true);
    return s;
  }
  void run(Context& ctx) override {
    const auto from = saeFolder(ctx.params().getString("folder"));
    auto sae = loadSae(from, torch::kCPU);  // validates names, shapes and cfg.json
    const auto cfg = ctx.run().addArtifact("sae/cfg.json", "sae", "the imported SAE (SAELens layout)");
    copySaeFiles(from, cfg.parent_path());
    ctx.run().setSummary("d_in", sae->dIn());
    ctx.run().setSummary("d_sae", sae->dSae());
    ctx.run().setSummary("architecture", toString(sae->kind()));
    ctx.feedback().setProgress(1.0, "done");
  }
};

}  // namespace

void registerSaeBrowseJobs(core::JobRegistry& registry) {
  if (!registry.contains("sae.encode_text")) registry.add([] { return std::make_unique<EncodeTextJob>(); });
  if (!registry.contains("sae.neighbors")) registry.add([] { return std::make_unique<NeighborsJob>(); });
  if (!registry.contains("sae.export")) registry.add([] { return std::make_unique<ExportJob>(); });
  if (!registry.contains("sae.import")) registry.add([] { return std::make_unique<ImportJob>(); });
}

}  // namespace atomscope::sae
