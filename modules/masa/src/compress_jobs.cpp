// masa.compress and masa.export.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "atomscope/core/error.h"
#include "atomscope/core/runner.h"
#include "atomscope/core/tensor_io.h"
#include "atomscope/core/torch_device.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/masa/calibration.h"
#include "atomscope/masa/compress.h"
#include "atomscope/masa/masa_format.h"
#include "atomscope/masa/masa_jobs.h"

namespace atomscope::masa {

namespace fs = std::filesystem;
using core::Context;
using core::JobInfo;
using core::ParamSchema;
using lm::LmError;

namespace {



std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LmError("cannot read text file '" + path.string() + "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Forwards a child run's progress into the parent's stage and the parent's cancel into the child.
class ChildFeedback : public core::FeedbackSink {
 public:
  ChildFeedback(core::Feedback& parent, core::Feedback& child, std::string label)
      : parent_(parent), child_(child), label_(std::move(label)) {}
  void onProgress(double, const std::string& stage) override {
    if (parent_.isCancelled()) child_.requestCancel();
    parent_.setStage(label_ + ": " + stage);
  }
  void onMetrics(const core::MetricPoint&) override {
    if (parent_.isCancelled()) child_.requestCancel();
  }

 private:
  core::Feedback& parent_;
  core::Feedback& child_;
  std::string label_;
};

struct Perplexity {
  double perplexity = 0;
  std::int64_t tokens = 0;
  fs::path run;
};

// Perplexity through the registry's lm.eval (the one evaluation of the project), as a child run
// under this run's folder.
Perplexity evaluate(const core::JobRegistry& registry, Context& ctx, const fs::path& model, const std::string& tokenizer,
                    const std::string& label) {
  const auto& p = ctx.params();
  if (!registry.contains("lm.eval")) throw LmError("perplexity needs the lm.eval job, which is not registered");
  Json params{{"model", model.string()},
              {"data", p.getString("eval_text")},
              {"context", p.getInt("context")},
              {"stride", p.getInt("stride")},
              {"max_tokens", p.getInt("max_tokens")},
              {"split_documents", p.getBool("split_documents")},
              {"document_windows", p.getBool("document_windows")},
              {"batch_size", p.getInt("batch_size")},
              {"dtype", p.getString("dtype")}};
  if (!tokenizer.empty()) params["tokenizer"] = tokenizer;
  core::Feedback child;
  child.addSink(std::make_shared<ChildFeedback>(ctx.feedback(), child, label));
  core::RunRequest req{"lm.eval", params, ctx.device().toString(), ctx.seed(), ctx.run().path() / "evaluations", 2.0};
  auto outcome = core::runJob(registry, req, child);
  ctx.feedback().throwIfCancelled();
  if (outcome.status != core::RunStatus::Completed)
    throw LmError("evaluating the " + label + " model failed: " + outcome.error);
  const auto rec = core::RunDir::open(outcome.runDir).record();
  return {rec["summary"]["perplexity"].get<double>(), rec["summary"]["tokens"].get<std::int64_t>(), outcome.runDir};
}

bool copyableTokenizer(const fs::path& t) { return fs::is_directory(t) || t.extension() == ".model"; }

void writeReports(Context& ctx, const CompressionResult& res) {
  {
    std::ofstream f(ctx.run().addArtifact("energy.csv", "csv", "energy kept per atom direction: role, group, direction, energy, kept"));
    f << "role,group,direction,energy,kept\n";
    for (const auto& t : res.types) {
      for (std::size_t g = 0; g < t.energy.size(); ++g) {
        const auto S = res.dictionaries.empty() ? 0 : t.atoms;
        std::int64_t keptHere = 0;
        for (const auto& d : res.dictionaries)
          if (d.role == t.role && d.layers == t.groups[g]) keptHere = d.numAtoms();
        (void)S;
        for (std::size_t s = 0; s < t.energy[g].size(); ++s)
          f << t.role << "," << g << "," << s << "," << t.energy[g][s] << "," << (static_cast<std::int64_t>(s) < keptHere ? 1 : 0) << "\n";
      }
    }
  }
  {
    std::ofstream f(ctx.run().addArtifact("layer_error.csv", "csv", "per matrix: role, layer, relative weight error, rank"));
    f << "role,layer,relative_error,rank\n";
    for (const auto& t : res.types)
      for (std::size_t l = 0; l < t.relativeError.size(); ++l)
        f << t.role << "," << l << "," << t.relativeError[l] << "," << (l < t.ranks.size() ? t.ranks[l] : 0) << "\n";
  }
  std::map<std::string, int> groupCount;
  for (const auto& d : res.dictionaries) {
    const auto g = groupCount[d.role]++;
    const auto name = "coefficients_" + d.role + (g > 0 || res.method == "matrix-pca-grouped" ? "_g" + std::to_string(g) : "") + ".npy";
    core::saveNpy(ctx.run().addArtifact(name, "npy", "coefficients [layers, atoms] of '" + d.role + "' (layers " +
                                                         Json(d.layers).dump() + ")"),
                  d.coefficients.to(torch::kFloat32).contiguous());
  }
}

class CompressJob : public core::Job {
 public:
  explicit CompressJob(const core::JobRegistry* registry) : registry_(registry) {}
  JobInfo info() const override {
    return {"masa.compress", "Compress attention (MASA)", "Language models",
            "Training-free compression of a pretrained model's attention projections: matrix PCA (MASA: S matrix "
            "atoms shared by the layers of each projection type, optionally per group of layers), its calibrated "
            "refinement and variants, or per-matrix truncated SVD / SVD-LLM, all at one attention parameter budget. "
            "Reports energy per atom, relative weight error per matrix, exact parameter counts and perplexity before "
            "and after (through lm.eval); exports the compact MASA folder and/or a dense Hugging Face folder.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.addPath("model", "", "A Hugging Face model folder or a llama2.c .bin checkpoint.", "Models (*.bin config.json)",
              false, false);
    s.addOptionalPath("tokenizer", "Tokenizer file or folder. Empty: the one found beside the model.",
                      "Tokenizers (*.bin *.model *.json)");
    std::string help = "matrix-pca: atoms = top principal matrices of all layers; matrix-pca-grouped: one dictionary per "
                       "group of consecutive layers (cut where the KL between layers is largest); matrix-pca-refined: "
                       "fewer atoms plus whitened low-rank residuals per layer (paper); matrix-pca-refined-greedy: the same, residual ranks per type and layer chosen greedily by measured calibration sensitivity (beyond the paper); matrix-pca-fitted: atoms fitted to every layer's calibration output error, greedy residuals, atoms and residuals refitted in turn, the atom share of the budget measured (beyond the paper); matrix-pca-whitened: atoms "
                       "fitted to the calibration output error under a shared input metric, coefficients refitted "
                       "per layer (beyond the paper); matrix-pca-whitened-refined: that plus residuals; svd: per-matrix "
                       "truncated SVD; svd-llm: whitened truncated SVD.";
    s.addChoice("method", compressionMethods(), "matrix-pca", help);
    s.addFloat("ratio", 0.2, 0.0, 1.0, "Fraction of the attention parameters removed, per projection type (0 < ratio < 1).");
    s.addInt("atoms", 0, 0, 1 << 16, "Atoms per projection type S; the budget is then what matrix PCA with S atoms stores. 0: use ratio.");
    s.addInt("groups", 2, 1, 1 << 16, "matrix-pca-grouped: number of groups of consecutive layers.");
    s.addFloat("atom_fraction", 0.5, 0.0, 1.0, "Refined methods: share of each type's budget spent on atoms (matrix-pca-fitted measures it instead).").markAdvanced();
    s.addFloat("qo_weight", 2.0, 0.0, 100.0, "Refined methods: residual rank of Q and O relative to K and V.").markAdvanced();
    s.addOptionalPath("calibration_text", "UTF-8 text whose inputs calibrate whitening, refinement and grouping (needed by those methods).",
                      "Text (*.txt)");
    s.addInt("calibration_tokens", 16384, 2, 1 << 30, "Calibration tokens used (from the start of the text).");
    s.addInt("calibration_context", 256, 2, 1 << 20, "Calibration window length in tokens.");
    s.addOptionalPath("eval_text", "UTF-8 text for perplexity before and after. Empty: no perplexity.", "Text (*.txt)");
    s.addInt("context", 512, 2, 1 << 20, "Evaluation window length in tokens.");
    s.addInt("stride", 0, 0, 1 << 20, "Evaluation window stride. 0: half the window (lm.eval's default).");
    s.addInt("max_tokens", 0, 0, std::nullopt, "Evaluate only the first N tokens. 0: all.");
    s.addBool("split_documents", true, "Evaluation text: one document per blank-line-separated paragraph, each with BOS.");
    s.addBool("document_windows", true, "Evaluation windows never cross documents (each document on its own).");
    s.addInt("batch_size", 8, 1, 4096, "Evaluation windows per batch.");
    s.addBool("eval_before", true, "Also evaluate the uncompressed model.");
    s.addChoice("dtype", {"float32", "bfloat16", "float16"}, "float32", "Evaluation and export dtype (compression runs in float64/float32).");
    s.addChoice("export", {"masa", "hf", "both", "none"}, "masa",
                "masa: the compact MASA folder (masa_model); hf: a dense Hugging Face folder (hf_model).");
    return s;
  }

  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    const fs::path modelPath = p.getString("model");
    if (modelPath.empty()) throw LmError("parameter 'model' is empty: give a model folder or a llama2.c .bin file");
    if (!fs::exists(modelPath)) throw LmError("model '" + modelPath.string() + "' does not exist");
    CompressOptions o;
    o.method = p.getString("method");
    o.ratio = p.getFloat("ratio");
    o.atoms = p.getInt("atoms");
    o.groups = p.getInt("groups");
    o.atomFraction = p.getFloat("atom_fraction");
    o.qoWeight = p.getFloat("qo_weight");
    if (o.atoms == 0 && !(o.ratio > 0.0 && o.ratio < 1.0))
      throw LmError("ratio must be strictly between 0 and 1 (the fraction of attention parameters removed), got " +
                    std::to_string(o.ratio));
    const auto evalText = p.getString("eval_text");
    if (!evalText.empty() && !fs::exists(evalText)) throw LmError("eval_text '" + evalText + "' does not exist");
    const auto calibText = p.getString("calibration_text");
    if (methodNeedsCalibration(o.method) && calibText.empty())
      throw LmError("method '" + o.method + "' needs calibration_text");
    if (!calibText.empty() && !fs::exists(calibText)) throw LmError("calibration_text '" + calibText + "' does not exist");

    fb.setProgress(0, "loading " + modelPath.string());
    auto recorder = std::make_shared<CalibrationRecorder>();
    lm::LoadOptions lo{torch::kFloat32, core::toTorchDevice(ctx.device()), {}};
    lo.model.attentionProjections = recordingProjections(recorder);
    auto loaded = lm::loadModel(modelPath, lo);
    auto& model = *loaded.model;
    std::string tokenizer = p.getString("tokenizer");
    if (tokenizer.empty() && loaded.tokenizer) tokenizer = loaded.tokenizer->string();
    const auto paramsBefore = model.numParameters();

    Perplexity before;
    if (!evalText.empty() && p.getBool("eval_before")) {
      before = evaluate(*registry_, ctx, modelPath, tokenizer, "uncompressed");
      ctx.run().setSummary("perplexity_before", before.perplexity);
    }
    if (!calibText.empty()) {
      if (tokenizer.empty()) throw LmError("calibration needs a tokenizer: set the 'tokenizer' parameter");
      auto tok = lm::openTokenizer(tokenizer);
      auto ids = calibrationTokens(readText(calibText), *tok, p.getInt("calibration_tokens"));
      fb.setProgress(0, "calibrating on " + std::to_string(ids.size()) + " tokens");
      calibrate(model, *recorder, ids, std::min<std::int64_t>(p.getInt("calibration_context"), model.config().maxSeqLen), fb);
      ctx.run().setSummary("calibration_tokens", static_cast<std::int64_t>(ids.size()));
    }
    auto result = compressAttention(model, o, recorder.get(), fb);
    fb.throwIfCancelled();

    // Report.
    const auto paramsAfter = paramsBefore - result.attentionFull() + result.attentionStored();
    ctx.run().setSummary("method", o.method);
    if (result.atomFraction > 0) ctx.run().setSummary("atom_fraction", result.atomFraction);
    ctx.run().setSummary("attention_params_before", result.attentionFull());
    ctx.run().setSummary("attention_params_after", result.attentionStored());
    ctx.run().setSummary("attention_compression",
                         1.0 - static_cast<double>(result.attentionStored()) / static_cast<double>(result.attentionFull()));
    ctx.run().setSummary("params_before", paramsBefore);
    ctx.run().setSummary("params_after", paramsAfter);
    double errSum = 0;
    std::size_t errN = 0;
    for (const auto& t : result.types)
      for (double e : t.relativeError) errSum += e, ++errN;
    ctx.run().setSummary("mean_relative_error", errN ? errSum / static_cast<double>(errN) : 0.0);
    for (const auto& t : result.types) {
      fb.info(t.role + ": " + std::to_string(t.full) + " -> " + std::to_string(t.stored) + " parameters (budget " +
              std::to_string(t.budget) + "), atoms " + std::to_string(t.atoms));
    }
    writeReports(ctx, result);

    // Export and the compressed model's perplexity.
    const auto exportKind = p.getString("export");
    const auto dtype = core::torchDtype(p.getString("dtype"));
    if (exportKind == "masa" || exportKind == "both") {
      fb.setStage("writing the MASA folder");
      MasaSaveOptions so{dtype, {}};
      if (!tokenizer.empty() && fs::is_regular_file(tokenizer)) so.tokenizer = fs::path(tokenizer);
      saveMasaFolder(model, result, ctx.run().addArtifact("masa_model", "masa_model", "compact MASA folder"), so);
    }
    applyCompression(model, result);
    fs::path dense;
    bool scratch = false;
    if (exportKind == "hf" || exportKind == "both") {
      dense = ctx.run().addArtifact("hf_model", "hf_model", "the compressed model as a dense Hugging Face folder");
    } else if (!evalText.empty()) {
      dense = ctx.run().path() / "scratch_dense_model";
      scratch = true;
    }
    if (!dense.empty()) {
      fb.setStage("writing the dense model");
      lm::SaveOptions so{dtype, {}};
      if (!tokenizer.empty() && copyableTokenizer(tokenizer)) so.tokenizer = fs::path(tokenizer);
      lm::saveHfModel(model, dense, so);
    }
    Json report = result.toJson();
    report["params_before"] = paramsBefore;
    report["params_after"] = paramsAfter;
    if (!evalText.empty()) {
      auto after = evaluate(*registry_, ctx, dense, tokenizer, "compressed");
      ctx.run().setSummary("perplexity_after", after.perplexity);
      ctx.run().setSummary("eval_tokens", after.tokens);
      report["perplexity_after"] = after.perplexity;
      report["eval_tokens"] = after.tokens;
      if (before.tokens > 0) report["perplexity_before"] = before.perplexity;
      fb.info("perplexity " + (before.tokens > 0 ? std::to_string(before.perplexity) + " -> " : std::string()) +
              std::to_string(after.perplexity) + " over " + std::to_string(after.tokens) + " tokens");
    }
    if (scratch) {
      std::error_code ec;
      fs::remove_all(dense, ec);
    }
    std::ofstream(ctx.run().addArtifact("report.json", "json", "the full compression report")) << report.dump(2) << "\n";
    fb.setProgress(1.0, "done");
  }

 private:
  const core::JobRegistry* registry_;
};

class ExportJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"masa.export", "Export a MASA model", "Language models",
            "Rebuilds the dense model of a compact MASA folder (made by masa.compress) and writes it as a Hugging Face "
            "folder that transformers loads.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.addPath("masa", "", "A MASA folder (masa_config.json + masa.safetensors).", {}, true, false);
    s.addChoice("dtype", {"float32", "bfloat16", "float16"}, "float32", "Weights type of the export.");
    return s;
  }
  void run(Context& ctx) override {
    const fs::path folder = ctx.params().getString("masa");
    if (!fs::exists(folder)) throw LmError("MASA folder '" + folder.string() + "' does not exist");
    ctx.feedback().setProgress(0, "loading " + folder.string());
    auto m = loadMasaFolder(folder);
    const auto dtype = core::torchDtype(ctx.params().getString("dtype"));
    lm::SaveOptions so{dtype, {}};
    if (m.tokenizer && copyableTokenizer(*m.tokenizer)) so.tokenizer = m.tokenizer;
    lm::saveHfModel(*m.model, ctx.run().addArtifact("hf_model", "hf_model", "dense Hugging Face folder"), so);
    ctx.run().setSummary("attention_params", m.attentionParameters);
    ctx.run().setSummary("params", m.model->numParameters());
    ctx.feedback().setProgress(1.0, "done");
  }
};

}  // namespace

void registerCompressJobs(core::JobRegistry& registry) {
  const core::JobRegistry* r = &registry;
  if (!registry.contains("masa.compress")) registry.add([r] { return std::make_unique<CompressJob>(r); });
  if (!registry.contains("masa.export")) registry.add([] { return std::make_unique<ExportJob>(); });
}

}  // namespace atomscope::masa
