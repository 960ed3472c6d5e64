// lm.eval, lm.generate, lm.train, lm.inspect, lm.attention.
#include "atomscope/lm/lm_jobs.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "atomscope/core/distributed.h"
#include "atomscope/core/error.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/core/tensor_io.h"
#include "atomscope/core/torch_device.h"
#include "atomscope/lm/attention_variants.h"
#include "atomscope/lm/generate.h"
#include "atomscope/lm/training.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/lm/token_shards.h"

namespace atomscope::lm {

namespace fs = std::filesystem;
using core::Context;
using core::JobInfo;
using core::ParamSchema;
using core::ParamSpec;
using core::ParamType;

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void addAdvanced(ParamSchema& s, ParamSpec spec) {
  spec.advanced = true;
  s.add(std::move(spec));
}

ParamSpec floatSpec(std::string name, double def, std::optional<double> min, std::optional<double> max, std::string help) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::Float;
  p.defaultValue = def;
  p.min = min;
  p.max = max;
  p.help = std::move(help);
  return p;
}

// Text file or token-shard folder: existence is checked by the job (the schema cannot say "file or folder").
ParamSpec dataPath(std::string help) {
  ParamSpec p;
  p.name = "data";
  p.type = ParamType::Path;
  p.help = std::move(help);
  p.fileFilter = "Text (*.txt);;Token shards (index.json)";
  return p;
}

// Required; a folder (Hugging Face) or a file (llama2.c), so existence is checked by the loader.
ParamSpec modelPath() {
  ParamSpec p;
  p.name = "model";
  p.type = ParamType::Path;
  p.help = "A Hugging Face model folder (config.json + safetensors) or a llama2.c .bin checkpoint.";
  p.fileFilter = "Models (*.bin config.json)";
  return p;
}

fs::path existingData(const core::Params& p) {
  const fs::path path = p.getString("data");
  if (!fs::exists(path)) throw LmError("data '" + path.string() + "' does not exist");
  return path;
}

struct Loaded {
  LoadedModel model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::optional<fs::path> tokenizerPath;
};

Loaded loadModelAndTokenizer(Context& ctx, torch::Dtype dtype, bool needTokenizer) {
  const auto& p = ctx.params();
  const auto modelPath = p.getString("model");
  if (modelPath.empty()) throw LmError("parameter 'model' is empty: give a model folder or a llama2.c .bin file");
  ctx.feedback().setProgress(0, "loading " + modelPath);
  Loaded out;
  out.model = loadModel(modelPath, LoadOptions{dtype, core::toTorchDevice(ctx.device()), {}});
  const auto tokPath = p.getString("tokenizer");
  if (!tokPath.empty()) out.tokenizerPath = fs::path(tokPath);
  else out.tokenizerPath = out.model.tokenizer;
  if (out.tokenizerPath) out.tokenizer = openTokenizer(*out.tokenizerPath);
  if (needTokenizer && !out.tokenizer)
    throw LmError("no tokenizer found beside '" + modelPath + "': set the 'tokenizer' parameter");
  if (out.tokenizer && out.tokenizer->vocabSize() > out.model.model->config().vocabSize)
    throw LmError("tokenizer '" + out.tokenizerPath->string() + "' has " + std::to_string(out.tokenizer->vocabSize()) +
                  " tokens but the model only " + std::to_string(out.model.model->config().vocabSize));
  return out;
}

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LmError("cannot read text file '" + path.string() + "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Documents separated by blank lines or <|endoftext|>.
std::vector<std::string> splitDocuments(const std::string& text) {
  std::vector<std::string> docs;
  std::string cur;
  std::istringstream in(text);
  std::string line;
  auto flush = [&] {
    while (!cur.empty() && (cur.back() == '\n' || cur.back() == '\r')) cur.pop_back();
    if (!cur.empty()) docs.push_back(cur);
    cur.clear();
  };
  while (std::getline(in, line)) {
    const auto eot = line.find("<|endoftext|>");
    if (eot != std::string::npos) {
      cur += line.substr(0, eot);
      flush();
      line = line.substr(eot + 13);
      if (line.empty()) continue;
    }
    if (line.empty() || line == "\r") {
      flush();
      continue;
    }
    cur += line + "\n";
  }
  flush();
  return docs;
}

struct TokenData {
  std::vector<std::int32_t> tokens;
  std::uint64_t bytes = 0;  // UTF-8 bytes of the text the tokens encode
  std::vector<std::int64_t> documentStarts;  // split into documents: where each one begins in tokens
};

// Tokenises a text file: as one document (BOS first when the tokenizer has one) or split into
// documents, each with BOS (SentencePiece / llama2.c) or followed by EOS (GPT-2 BPE).
TokenData tokensFromText(const fs::path& path, const Tokenizer& tok, bool documents, core::Feedback& fb) {
  const auto text = readText(path);
  TokenData out;
  const bool bos = tok.bosId().has_value() && tok.kind() != "gpt2-bpe";
  if (!documents) {
    out.tokens = tok.encode(text, bos, false);
    out.bytes = text.size();
    return out;
  }
  const auto docs = splitDocuments(text);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    if (i % 64 == 0) {
      fb.throwIfCancelled();
      fb.setProgress(0.0, "tokenising document " + std::to_string(i + 1) + " of " + std::to_string(docs.size()));
    }
    auto ids = tok.encode(docs[i], bos, !bos && tok.eosId().has_value());
    out.documentStarts.push_back(static_cast<std::int64_t>(out.tokens.size()));
    out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
    out.bytes += docs[i].size();
  }
  return out;
}

// Tokens to train or evaluate on: held in memory (a tokenised text file) or read from the
// memory-mapped shards of lm.tokenize.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual std::uint64_t size() const = 0;
  virtual void read(std::uint64_t offset, std::uint64_t count, std::int64_t* out) const = 0;
};

class VectorSource : public TokenSource {
 public:
  explicit VectorSource(std::vector<std::int32_t> t) : tokens_(std::move(t)) {}
  std::uint64_t size() const override { return tokens_.size(); }
  void read(std::uint64_t offset, std::uint64_t count, std::int64_t* out) const override {
    for (std::uint64_t i = 0; i < count; ++i) out[i] = tokens_[offset + i];
  }
  const std::vector<std::int32_t>& tokens() const { return tokens_; }

 private:
  std::vector<std::int32_t> tokens_;
};

class ShardSource : public TokenSource {
 public:
  ShardSource(std::shared_ptr<TokenShardReader> r, Split split) : reader_(std::move(r)), split_(split) {}
  std::uint64_t size() const override { return reader_->numTokens(split_); }
  void read(std::uint64_t offset, std::uint64_t count, std::int64_t* out) const override {
    reader_->read(split_, offset, count, out);
  }

 private:
  std::shared_ptr<TokenShardReader> reader_;
  Split split_;
};

// A folder (or index.json) of token shards rather than a text file.
bool isShardData(const fs::path& p) {
  return fs::is_directory(p) || p.filename() == "index.json";
}

std::shared_ptr<TokenShardReader> openShards(const fs::path& p, const Tokenizer* tok, std::int64_t modelVocab) {
  auto reader = std::make_shared<TokenShardReader>(TokenShardReader::open(p));
  if (reader->vocabSize() > modelVocab)
    throw LmError("token shards '" + p.string() + "' were made with a " + std::to_string(reader->vocabSize()) +
                  "-token vocabulary but the model has " + std::to_string(modelVocab));
  if (tok && reader->vocabSize() != tok->vocabSize())
    throw LmError("token shards '" + p.string() + "' were made with a " + std::to_string(reader->vocabSize()) +
                  "-token tokenizer, not this one (" + std::to_string(tok->vocabSize()) + " tokens)");
  return reader;
}


// ------------------------------------------------------------------------------------- lm.inspect

class InspectJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"lm.inspect", "Inspect a language model", "Language models",
            "Loads a model (Hugging Face folder or llama2.c .bin) and counts its parameters per block and per "
            "projection (attention q/k/v/o, MLP), the embedding and the output head.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.add(modelPath());
    return s;
  }
  void run(Context& ctx) override {
    const auto path = ctx.params().getString("model");
    if (path.empty()) throw LmError("parameter 'model' is empty");
    ctx.feedback().setProgress(0, "loading " + path);
    auto loaded = loadModel(path);
    ctx.feedback().throwIfCancelled();
    auto& m = *loaded.model;
    auto summary = m.parameterSummary();
    Json counts = Json::array();
    for (const auto& pc : m.parameterCounts()) counts.push_back(Json{{"name", pc.name}, {"count", pc.count}});
    summary["modules"] = counts;
    summary["format"] = loaded.format;
    const auto file = ctx.run().addArtifact("parameters.json", "json", "parameter counts per block and projection");
    core::writeFileAtomically(file, summary.dump(2) + "\n");
    ctx.run().setSummary("family", toString(m.config().family));
    ctx.run().setSummary("total_params", summary["total"]);
    ctx.run().setSummary("embedding_params", summary["embedding"]);
    ctx.run().setSummary("lm_head_params", summary["lm_head"]);
    std::int64_t attention = 0, mlp = 0;
    for (const auto& b : summary["blocks"]) {
      attention += b["attention"].get<std::int64_t>();
      mlp += b["mlp"].get<std::int64_t>();
    }
    ctx.run().setSummary("attention_params", attention);
    ctx.run().setSummary("mlp_params", mlp);
    ctx.run().setSummary("layers", m.config().nLayers);
    ctx.feedback().info(toString(m.config().family) + ": " + std::to_string(summary["total"].get<std::int64_t>()) +
                        " parameters (attention " + std::to_string(attention) + ", MLP " + std::to_string(mlp) + ")");
    ctx.feedback().setProgress(1.0, "done");
  }
};

// ---------------------------------------------------------------------------------------- lm.eval

class EvalJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"lm.eval", "Evaluate perplexity", "Language models",
            "Perplexity and bits per byte of a model on a text file, with a sliding window: each window holds "
            "`context` tokens and advances by `stride`; every token is scored once, with up to context - stride "
            "tokens of left context from the previous window (the Hugging Face perplexity recipe). Per-token "
            "losses are saved as token_losses.npy.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.add(modelPath());
    s.addOptionalPath("tokenizer", "Tokenizer file or folder. Empty: the one found beside the model.", "Tokenizers (*.bin *.model *.json)");
    s.add(dataPath("A UTF-8 text file, or a token-shard folder made by lm.tokenize, to evaluate on."));
    s.addChoice("split", {"validation", "train"}, "validation", "Which split of token shards to evaluate.");
    s.addInt("context", 0, 0, 1 << 20, "Window length in tokens. 0: the model's context (at most 1024).");
    s.addInt("stride", 0, 0, 1 << 20, "Tokens the window advances by. 0: half the window.");
    s.addInt("max_tokens", 0, 0, std::nullopt, "Evaluate only the first N tokens. 0: all.");
    s.addBool("split_documents", false,
              "Split the text at blank lines (and <|endoftext|>) and start each document with BOS (or end it "
              "with EOS for GPT-2), as models trained on separate stories expect.");
    s.addBool("document_windows", false,
              "With split_documents: windows never cross a document boundary; each document is evaluated on "
              "its own (its first token, BOS, is not scored), in windows of `context` tokens.");
    s.addInt("batch_size", 8, 1, 4096, "Windows evaluated together.");
    s.addChoice("dtype", {"float32", "bfloat16", "float16"}, "float32", "Weights and activations type.");
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    torch::NoGradGuard noGrad;
    auto loaded = loadModelAndTokenizer(ctx, core::torchDtype(p.getString("dtype")), true);
    auto& m = *loaded.model.model;
    const fs::path dataPath = existingData(p);
    const auto maxTokens = p.getInt("max_tokens");
    TokenData data;
    if (isShardData(dataPath)) {
      auto reader = openShards(dataPath, loaded.tokenizer.get(), m.config().vocabSize);
      const auto split = p.getString("split") == "train" ? Split::Train : Split::Validation;
      auto n = reader->numTokens(split);
      if (maxTokens > 0) n = std::min<std::uint64_t>(n, static_cast<std::uint64_t>(maxTokens));
      std::vector<std::int64_t> buf(n);
      if (n > 0) reader->read(split, 0, n, buf.data());
      data.tokens.assign(buf.begin(), buf.end());
      const auto& st = reader->index()["splits"][toString(split)];
      data.bytes = st.contains("text_bytes") ? st["text_bytes"].get<std::uint64_t>() : 0;
      if (n < reader->numTokens(split) || data.bytes == 0) data.bytes = loaded.tokenizer->decode(data.tokens).size();
    } else {
      data = tokensFromText(dataPath, *loaded.tokenizer, p.getBool("split_documents"), fb);
    }
    std::vector<std::int32_t> tokens = data.tokens;
    std::uint64_t bytes = data.bytes;
    if (maxTokens > 0 && static_cast<std::size_t>(maxTokens) < tokens.size()) {
      tokens.resize(static_cast<std::size_t>(maxTokens));
      std::vector<std::int32_t> body = tokens;
      bytes = loaded.tokenizer->decode(body).size();
    }
    const auto N = static_cast<std::int64_t>(tokens.size());
    if (N < 2) throw LmError("'" + p.getString("data") + "' gives fewer than 2 tokens: nothing to evaluate");
    std::int64_t context = p.getInt("context");
    if (context == 0) context = std::min<std::int64_t>(m.config().maxSeqLen, 1024);
    if (m.config().family == ModelFamily::Gpt2 && context > m.config().maxSeqLen)
      throw LmError("context " + std::to_string(context) + " exceeds GPT-2's " + std::to_string(m.config().maxSeqLen) +
                    " positions");
    if (context < 2) throw LmError("context must be at least 2 tokens");
    std::int64_t stride = p.getInt("stride");
    if (stride == 0) stride = std::max<std::int64_t>(1, context / 2);
    if (stride > context) throw LmError("stride " + std::to_string(stride) + " exceeds the context " + std::to_string(context));
    // Windows [begin, end) scoring tokens [scoreFrom, end).
    struct Window {
      std::int64_t begin, end, scoreFrom;
    };
    std::vector<Window> windows;
    // Spans evaluated independently: the whole stream, or each document (document_windows).
    std::vector<std::pair<std::int64_t, std::int64_t>> spans{{0, N}};
    if (p.getBool("document_windows")) {
      if (!p.getBool("split_documents") || data.documentStarts.empty())
        throw LmError("document_windows needs split_documents on a text file");
      spans.clear();
      for (std::size_t d = 0; d < data.documentStarts.size(); ++d) {
        const auto b = data.documentStarts[d];
        const auto e = std::min(N, d + 1 < data.documentStarts.size() ? data.documentStarts[d + 1] : N);
        if (e - b >= 2) spans.emplace_back(b, e);
      }
    }
    for (const auto& [spanBegin, spanEnd] : spans) {
      std::int64_t prevEnd = spanBegin;
      for (std::int64_t begin = spanBegin;; begin += stride) {
        const auto end = std::min(begin + context, spanEnd);
        windows.push_back({begin, end, std::max(prevEnd, begin + 1)});
        prevEnd = end;
        if (end == spanEnd) break;
      }
    }
    // Documents vary in length: equal lengths next to each other batch together.
    if (spans.size() > 1)
      std::stable_sort(windows.begin(), windows.end(), [](const Window& x, const Window& y) { return x.end - x.begin > y.end - y.begin; });
    const auto device = core::toTorchDevice(ctx.device());
    auto all = torch::from_blob(tokens.data(), {N}, torch::kInt32).to(torch::kLong);
    std::vector<float> nll(static_cast<std::size_t>(N - 1), 0.0f);
    const auto batch = p.getInt("batch_size");
    const auto t0 = Clock::now();
    double sum = 0;
    std::int64_t scored = 0;
    fb.setProgress(0, "evaluating " + std::to_string(N) + " tokens in " + std::to_string(windows.size()) + " windows");
    for (std::size_t w = 0; w < windows.size();) {
      fb.throwIfCancelled();
      // A batch of equal-length windows.
      const auto len = windows[w].end - windows[w].begin;
      std::size_t e = w;
      std::vector<torch::Tensor> rows;
      while (e < windows.size() && static_cast<std::int64_t>(rows.size()) < batch &&
             windows[e].end - windows[e].begin == len) {
        rows.push_back(all.narrow(0, windows[e].begin, len));
        ++e;
      }
      auto ids = torch::stack(rows).to(device);
      auto logp = torch::log_softmax(m.forward(ids).to(torch::kFloat32), -1);  // [b, len, V]
      auto target = ids.narrow(1, 1, len - 1).unsqueeze(-1);
      auto tokNll = -logp.narrow(1, 0, len - 1).gather(-1, target).squeeze(-1).to(torch::kCPU).contiguous();
      for (std::size_t r = 0; r < rows.size(); ++r) {
        const auto& win = windows[w + r];
        const float* row = tokNll[static_cast<std::int64_t>(r)].data_ptr<float>();
        for (std::int64_t j = win.scoreFrom; j < win.end; ++j) {
          const float v = row[j - 1 - win.begin];
          nll[static_cast<std::size_t>(j - 1)] = v;
          sum += v;
          ++scored;
        }
      }
      w = e;
      fb.reportMetrics(static_cast<long long>(w), {{"loss", sum / static_cast<double>(scored)},
                                                   {"perplexity", std::exp(sum / static_cast<double>(scored))},
                                                   {"tokens_per_s", static_cast<double>(scored) / std::max(1e-9, secondsSince(t0))}});
      fb.setProgress(static_cast<double>(w) / static_cast<double>(windows.size()),
                     "window " + std::to_string(w) + " of " + std::to_string(windows.size()));
    }
    const double mean = sum / static_cast<double>(scored);
    const double ppl = std::exp(mean);
    const double bpb = sum / std::log(2.0) / static_cast<double>(std::max<std::uint64_t>(1, bytes));
    const auto file = ctx.run().addArtifact("token_losses.npy", "npy",
                                            "negative log-likelihood (nats) of tokens 1..N-1, float32");
    core::saveNpy(file, torch::from_blob(nll.data(), {N - 1}, torch::kFloat32).clone());
    ctx.run().setSummary("perplexity", ppl);
    ctx.run().setSummary("loss", mean);
    ctx.run().setSummary("bits_per_byte", bpb);
    ctx.run().setSummary("tokens", scored);
    ctx.run().setSummary("bytes", static_cast<std::int64_t>(bytes));
    ctx.run().setSummary("context", context);
    ctx.run().setSummary("stride", stride);
    fb.info("perplexity " + std::to_string(ppl) + " (" + std::to_string(scored) + " tokens, " + std::to_string(bpb) +
            " bits per byte)");
    fb.setProgress(1.0, "done");
  }
};

// ------------------------------------------------------------------------------------ lm.generate

class GenerateJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"lm.generate", "Generate text", "Language models",
            "Continues a prompt with a language model, greedily (temperature 0) or by sampling with temperature, "
            "top-k and top-p. Tokens stream into the log as they come; the text is saved as generation.txt.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.add(modelPath());
    s.addOptionalPath("tokenizer", "Tokenizer file or folder. Empty: the one found beside the model.", "Tokenizers (*.bin *.model *.json)");
    s.addString("prompt", "", "Text to continue. Empty: start from BOS alone.");
    s.addInt("max_new_tokens", 128, 1, 1 << 20, "Tokens to generate at most.");
    s.addFloat("temperature", 0.0, 0.0, 100.0, "0: greedy. Higher: more random.");
    s.addInt("top_k", 0, 0, std::nullopt, "Sample among the k most likely tokens. 0: off.");
    s.addFloat("top_p", 1.0, 0.0, 1.0, "Sample within the smallest set of tokens holding this probability. 1: off.");
    s.addString("stop", "", "Stop strings, separated by '|'. Generation ends before the first one found.");
    s.addInt("num_samples", 1, 1, 1024, "Continuations generated together as one batch.");
    s.addBool("add_bos", true, "Start the prompt with the tokenizer's BOS token (SentencePiece / llama2.c models).");
    s.addChoice("dtype", {"float32", "bfloat16", "float16"}, "float32", "Weights and activations type.");
    addAdvanced(s, [] {
      ParamSpec b;
      b.name = "stream_tokens";
      b.type = ParamType::Bool;
      b.defaultValue = false;
      b.help = "Also log every generated piece of the first sample as a debug line 'token: <JSON string>' "
               "(for front ends that show tokens as they come).";
      return b;
    }());
    s.addChoice("decoding", {"auto", "dynamic", "static", "cuda-graph"}, "auto",
                "How each new token is computed: auto replays one CUDA graph per token on CUDA (fastest) and "
                "grows the KV cache elsewhere; dynamic always grows it; static uses the graph's fixed-size cache "
                "without capture (for checks).")
        .markAdvanced();
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    auto loaded = loadModelAndTokenizer(ctx, core::torchDtype(p.getString("dtype")), true);
    auto& m = *loaded.model.model;
    const auto& tok = *loaded.tokenizer;
    const bool streamTokens = p.getBool("stream_tokens");
    const auto prompt = p.getString("prompt");
    auto ids = tok.encode(prompt, p.getBool("add_bos") && tok.kind() != "gpt2-bpe", false);
    if (ids.empty()) {
      if (tok.bosId()) ids.push_back(*tok.bosId());
      else if (tok.eosId()) ids.push_back(*tok.eosId());  // GPT-2 starts unconditioned text from <|endoftext|>
      else throw LmError("the prompt is empty and the tokenizer has no BOS or EOS token to start from");
    }
    GenerationOptions o;
    o.maxNewTokens = p.getInt("max_new_tokens");
    o.temperature = p.getFloat("temperature");
    o.topK = p.getInt("top_k");
    o.topP = p.getFloat("top_p");
    o.decoding = p.getString("decoding");
    o.seed = ctx.seed();
    const auto stop = p.getString("stop");
    for (std::size_t a = 0; a < stop.size();) {
      auto b = stop.find('|', a);
      if (b == std::string::npos) b = stop.size();
      if (b > a) o.stopStrings.push_back(stop.substr(a, b - a));
      a = b + 1;
    }
    const auto samples = static_cast<std::size_t>(p.getInt("num_samples"));
    std::vector<std::vector<std::int32_t>> prompts(samples, ids);
    const auto t0 = Clock::now();
    std::int64_t produced = 0;
    std::string line;  // row 0's text not yet logged
    auto lastCheck = Clock::now();
    fb.setProgress(0, "generating");
    auto results = generate(
        m, prompts, o, &tok,
        [&](std::size_t row, std::int32_t token, const std::string& piece) {
          ++produced;
          if (row == 0) {
            if (streamTokens) fb.log(core::LogLevel::Debug, "token: " + Json(piece).dump(-1, ' ', false, Json::error_handler_t::replace));
            line += piece;
            const auto nl = line.rfind('\n');
            if (nl != std::string::npos) {
              fb.info(line.substr(0, nl));
              line = line.substr(nl + 1);
            }
            const auto n = static_cast<long long>(produced / static_cast<std::int64_t>(samples)) + 1;
            fb.reportMetrics(n, {{"token_id", static_cast<double>(token)},
                                 {"tokens_per_s", static_cast<double>(produced) / std::max(1e-9, secondsSince(t0))}});
            fb.setProgress(std::min(1.0, static_cast<double>(n) / static_cast<double>(o.maxNewTokens)),
                           "token " + std::to_string(n));
          }
          return true;
        },
        [&] {
          lastCheck = Clock::now();
          return fb.isCancelled();
        });
    fb.throwIfCancelled();
    if (!line.empty()) fb.info(line);
    const double seconds = secondsSince(t0);
    const auto file = ctx.run().addArtifact("generation.txt", "text", "prompt and generated text");
    std::ostringstream os;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results.size() > 1) os << "=== sample " << (i + 1) << " (" << results[i].stopReason << ")\n";
      os << prompt << results[i].text << "\n";
    }
    core::writeFileAtomically(file, os.str());
    std::int64_t total = 0;
    for (const auto& r : results) total += static_cast<std::int64_t>(r.tokens.size());
    ctx.run().setSummary("generated_tokens", total);
    ctx.run().setSummary("tokens_per_s", static_cast<double>(total) / std::max(1e-9, seconds));
    ctx.run().setSummary("stop_reason", results.front().stopReason);
    ctx.run().setSummary("text", results.front().text.substr(0, 2000));
    fb.setProgress(1.0, "done");
  }
};

// ------------------------------------------------------------------------------------------ lm.train

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Rows of T+1 consecutive tokens at offsets drawn from (seed, step, micro): a batch depends only
// on these, so a resumed run sees the same data as an uninterrupted one.
torch::Tensor sampleBatch(const TokenSource& tokens, std::int64_t B, std::int64_t T, std::uint64_t seed,
                          std::int64_t step, std::int64_t micro) {
  const auto span = static_cast<std::int64_t>(tokens.size()) - (T + 1);
  auto out = torch::empty({B, T + 1}, torch::kLong);
  auto* o = out.data_ptr<std::int64_t>();
  std::uint64_t state = mix(seed ^ mix(static_cast<std::uint64_t>(step) * 1000003ULL + static_cast<std::uint64_t>(micro)));
  for (std::int64_t b = 0; b < B; ++b) {
    state = mix(state);
    const auto off = span > 0 ? state % static_cast<std::uint64_t>(span + 1) : 0;
    tokens.read(off, static_cast<std::uint64_t>(T + 1), o + b * (T + 1));
  }
  return out;
}

class TrainJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"lm.train", "Train a language model", "Language models",
            "Trains a Llama or GPT-2 model from scratch (size from the parameters, vocabulary from the tokenizer) "
            "or continues a model, on a text file. AdamW with linear warm-up then cosine decay, gradient clipping "
            "and accumulation, bf16 autocast on CUDA. Writes checkpoints (resumable), reports the training loss "
            "every step and the validation loss every val_every steps, stops on a NaN/inf loss keeping the last "
            "good checkpoint, and exports the final model as a Hugging Face folder. Data-parallel over several "
            "processes with --nproc (each takes its share of every batch; the result equals one process's).",
            true, true};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.add(dataPath(
        "A UTF-8 text file (its last val_fraction is held out for validation) or a token-shard folder made "
        "by lm.tokenize (its train and validation splits)."));
    s.addOptionalPath("tokenizer", "Tokenizer file or folder. Empty: the one found beside the model.", "Tokenizers (*.bin *.model *.json)");
    s.addOptionalPath("model", "Continue this model (HF folder or llama2.c .bin). Empty: a new model from the "
              "architecture parameters.", "Models (*.bin)");
    s.addChoice("family", {"llama", "gpt2"}, "llama", "Architecture of a new model.");
    s.addInt("dim", 64, 8, 65536, "Hidden size of a new model.");
    s.addInt("n_layers", 2, 1, 1024, "Blocks of a new model.");
    s.addInt("n_heads", 4, 1, 1024, "Attention heads of a new model.");
    s.addInt("n_kv_heads", 0, 0, 1024, "Key/value heads (grouped-query attention, Llama). 0: n_heads.");
    s.addInt("hidden_dim", 0, 0, 1 << 20, "MLP inner size. 0: 4 dim (GPT-2) or 8/3 dim rounded up to 32 (Llama).");
    {
      std::vector<std::string> names;
      std::string help = "Attention of a new model:";
      for (const auto& v : attentionVariants()) {
        names.push_back(v.name);
        help += " " + v.name + ": " + v.help;
      }
      s.addChoice("attention", names, "dense", help);
    }
    s.addInt("atoms", 0, 0, 1 << 16, "Matrix atoms per projection type (MASA). 0: a third of the layers.");
    s.addInt("rank", 0, 0, 1 << 20, "Rank of each projection (low-rank attention). 0: a third of dim.");
    s.addInt("groups", 0, 0, 1 << 16, "Distinct attention weight sets (sequential, repeat-all-over). 0: a third of the layers.");
    s.addChoice("coefficient_init", {"random", "sequential", "repeat"}, "random",
                "MASA: start each layer's coefficients as a random mixture of the atoms (the paper), at sequential "
                "sharing (layer l uses atom floor(l S / L) alone) or at repeat-all-over (atom l mod S), from which "
                "training mixes.");
    s.addBool("coefficient_decay", true,
              "MASA: weight decay also on the coefficient generator (per-layer embeddings and MLP), as on every "
              "matrix. Off: only the atoms decay, so decay cannot shrink a layer's mixture.");
    s.addInt("context", 128, 2, 1 << 20, "Training sequence length (and a new model's context).");
    s.addInt("batch_size", 8, 1, 1 << 16, "Sequences per micro-batch.");
    s.addInt("grad_accum", 1, 1, 4096, "Micro-batches accumulated per optimizer step.");
    s.addInt("steps", 100, 1, std::nullopt, "Optimizer steps.");
    s.add(floatSpec("lr", 1e-3, 0.0, std::nullopt, "Peak learning rate."));
    s.add(floatSpec("min_lr_ratio", 0.1, 0.0, 1.0, "Final learning rate as a fraction of the peak (cosine decay)."));
    s.addInt("warmup_steps", 10, 0, std::nullopt, "Linear warm-up steps.");
    s.addFloat("weight_decay", 0.1, 0.0, 10.0, "AdamW weight decay (matrices only; not norms or biases).");
    addAdvanced(s, floatSpec("beta1", 0.9, 0.0, 1.0, "AdamW beta1."));
    addAdvanced(s, floatSpec("beta2", 0.95, 0.0, 1.0, "AdamW beta2."));
    s.addFloat("grad_clip", 1.0, 0.0, 1e6, "Clip the global gradient norm to this. 0: off.");
    s.addInt("checkpoint_every", 50, 1, std::nullopt, "Write a resumable checkpoint every N steps.");
    s.addInt("val_every", 25, 1, std::nullopt, "Validation loss every N steps.");
    s.addInt("val_batches", 4, 1, 10000, "Micro-batches in each validation.");
    s.addFloat("val_fraction", 0.1, 0.0, 0.9, "Share of the tokens (at the end) held out for validation.");
    s.addBool("split_documents", true,
              "Split the text at blank lines and <|endoftext|>, marking each document with BOS (or EOS for GPT-2).");
    s.addChoice("autocast", {"auto", "off", "bf16"}, "auto", "bf16 autocast: auto = on for CUDA, off on the CPU.");
    s.addBool("export", true, "Export the final model as a Hugging Face folder artifact.");
    return s;
  }

  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    // Data parallel: this process's place, its device, and the process group.
    const auto dist = core::DistributedEnv::fromEnvironment();
    const auto device = core::deviceForRank(core::toTorchDevice(ctx.device()), dist);
    const bool lead = dist.rank == 0;  // writes checkpoints and the exported model
    std::shared_ptr<core::Communicator> comm;
    if (dist.active()) {
      comm = core::Communicator::create(dist, device);
      fb.info("data parallel: rank " + std::to_string(dist.rank) + " of " + std::to_string(dist.worldSize) + " (" +
              comm->backend() + ")");
    }
    torch::manual_seed(ctx.seed());
    // Model and tokenizer.
    std::optional<fs::path> tokPath;
    if (!p.getString("tokenizer").empty()) tokPath = fs::path(p.getString("tokenizer"));
    CausalLM model;
    const auto modelPath = p.getString("model");
    const auto& attention = attentionVariant(p.getString("attention"));
    const Json attentionOptions{{"atoms", p.getInt("atoms")}, {"rank", p.getInt("rank")}, {"groups", p.getInt("groups")},
                                {"coefficient_init", p.getString("coefficient_init")},
                                {"coefficient_decay", p.getBool("coefficient_decay")}};
    if (!modelPath.empty() && attention.name != "dense")
      throw LmError("attention '" + attention.name + "' builds a new model; it cannot continue " + modelPath +
                    " (leave 'model' empty, or use attention 'dense')");
    if (!modelPath.empty()) {
      fb.setProgress(0, "loading " + modelPath);
      auto loaded = loadModel(modelPath, LoadOptions{torch::kFloat32, device, {}});
      model = loaded.model;
      if (!tokPath) tokPath = loaded.tokenizer;
    }
    if (!tokPath) throw LmError("lm.train needs a tokenizer: set the 'tokenizer' parameter");
    auto tok = openTokenizer(*tokPath);
    const auto T = p.getInt("context");
    if (!model) {
      ModelConfig c;
      c.family = modelFamilyFromString(p.getString("family"));
      c.vocabSize = tok->vocabSize();
      c.dim = p.getInt("dim");
      c.nLayers = p.getInt("n_layers");
      c.nHeads = p.getInt("n_heads");
      c.nKvHeads = p.getInt("n_kv_heads") > 0 ? p.getInt("n_kv_heads") : c.nHeads;
      c.hiddenDim = p.getInt("hidden_dim");
      if (c.hiddenDim == 0)
        c.hiddenDim = c.family == ModelFamily::Gpt2 ? 4 * c.dim : ((8 * c.dim / 3 + 31) / 32) * 32;
      c.maxSeqLen = T;
      c.tiedEmbeddings = true;
      if (tok->bosId()) c.bosId = *tok->bosId();
      if (tok->eosId()) c.eosId = *tok->eosId();
      model = attention.build(c, attentionOptions);
      model->to(device);
    }
    const auto& cfg = model->config();
    if (tok->vocabSize() > cfg.vocabSize)
      throw LmError("the tokenizer has " + std::to_string(tok->vocabSize()) + " tokens but the model only " +
                    std::to_string(cfg.vocabSize));
    if (cfg.family == ModelFamily::Gpt2 && T > cfg.maxSeqLen)
      throw LmError("context " + std::to_string(T) + " exceeds the model's " + std::to_string(cfg.maxSeqLen) + " positions");
    fb.info("model: " + toString(cfg.family) + ", " + std::to_string(model->numParameters()) + " parameters");

    // Data: a text file split into train and validation here, or lm.tokenize's shards.
    const fs::path dataPath = existingData(p);
    std::shared_ptr<TokenSource> train, val;
    if (isShardData(dataPath)) {
      auto reader = openShards(dataPath, tok.get(), cfg.vocabSize);
      train = std::make_shared<ShardSource>(reader, Split::Train);
      val = std::make_shared<ShardSource>(reader, Split::Validation);
    } else {
      auto data = tokensFromText(dataPath, *tok, p.getBool("split_documents"), fb);
      const auto total = data.tokens.size();
      const auto nVal = static_cast<std::size_t>(static_cast<double>(total) * p.getFloat("val_fraction"));
      train = std::make_shared<VectorSource>(
          std::vector<std::int32_t>(data.tokens.begin(), data.tokens.end() - static_cast<std::ptrdiff_t>(nVal)));
      val = std::make_shared<VectorSource>(
          std::vector<std::int32_t>(data.tokens.end() - static_cast<std::ptrdiff_t>(nVal), data.tokens.end()));
    }
    if (static_cast<std::int64_t>(train->size()) < T + 1)
      throw LmError("'" + dataPath.string() + "' gives " + std::to_string(train->size()) +
                    " training tokens, fewer than one sequence of context + 1 = " + std::to_string(T + 1));
    fb.info("data: " + std::to_string(train->size()) + " training and " + std::to_string(val->size()) +
            " validation tokens");
    if (static_cast<std::int64_t>(val->size()) < T + 1) {
      fb.warn("the validation split is shorter than one sequence: validating on training data");
      val = train;
    }

    // Optimizer: weight decay on matrices only, less those the attention variant exempts.
    std::set<const void*> exempt;
    if (attention.undecayed)
      for (const auto& t : attention.undecayed(*model)) exempt.insert(t.unsafeGetTensorImpl());
    std::vector<torch::Tensor> decay, noDecay;
    for (auto& prm : model->parameters())
      (prm.dim() >= 2 && !exempt.count(prm.unsafeGetTensorImpl()) ? decay : noDecay).push_back(prm);
    if (!exempt.empty())
      fb.info("weight decay: " + std::to_string(exempt.size()) + " matrices exempted by attention '" + attention.name + "'");
    const double lr = p.getFloat("lr");
    auto groupOptions = [&](double wd) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(lr).betas({p.getFloat("beta1"), p.getFloat("beta2")}).eps(1e-8).weight_decay(wd));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, groupOptions(p.getFloat("weight_decay")));
    groups.emplace_back(noDecay, groupOptions(0.0));
    torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(lr));

    long long step = 0;
    double resumedLoss = std::nan(""), resumedVal = std::nan("");
    if (ctx.resumeCheckpoint()) {
      fb.setProgress(0, "resuming from " + ctx.resumeCheckpoint()->filename().string());
      torch::serialize::InputArchive in;
      in.load_from(ctx.resumeCheckpoint()->string(), device);
      model->load(in);
      torch::serialize::InputArchive opt;
      in.read("optimizer", opt);
      optimizer.load(opt);
      torch::Tensor s;
      in.read("step", s);
      step = s.item<std::int64_t>();
      // The losses of the checkpoint's step: a run killed after its last checkpoint (while exporting)
      // resumes with no step left to run and still reports them.
      torch::Tensor l;
      if (in.try_read("loss", l)) resumedLoss = l.item<double>();
      if (in.try_read("val_loss", l)) resumedVal = l.item<double>();
      fb.info("resumed at step " + std::to_string(step));
    }

    const auto steps = p.getInt("steps");
    const auto B = p.getInt("batch_size"), accum = p.getInt("grad_accum");
    // Each rank takes rows [rank B / N, (rank + 1) B / N) of every batch: the global batch, and so the
    // result, do not depend on the number of processes.
    const std::int64_t world = dist.worldSize, share = B / world, first = dist.rank * share;
    if (B % world != 0)
      throw LmError("batch_size " + std::to_string(B) + " does not split evenly over " + std::to_string(world) +
                    " processes; use a multiple of " + std::to_string(world));
    std::unique_ptr<core::GradientSynchronizer> sync;
    if (comm) {
      comm->broadcastParameters(model->parameters());
      sync = std::make_unique<core::GradientSynchronizer>(comm, model->parameters());
    }
    const auto warmup = p.getInt("warmup_steps");
    const double minLr = lr * p.getFloat("min_lr_ratio");
    const double clip = p.getFloat("grad_clip");
    const auto every = p.getInt("checkpoint_every"), valEvery = p.getInt("val_every");
    const bool autocast = p.getString("autocast") == "bf16" || (p.getString("autocast") == "auto" && device.is_cuda());
    if (autocast && !device.is_cuda()) throw LmError("bf16 autocast is available on CUDA devices only");
    const auto seed = ctx.seed();
    auto lrAt = [&](long long s) {
      if (warmup > 0 && s <= warmup) return lr * static_cast<double>(s) / static_cast<double>(warmup);
      const double progress = steps > warmup ? static_cast<double>(s - warmup) / static_cast<double>(steps - warmup) : 1.0;
      return minLr + 0.5 * (lr - minLr) * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
    };
    auto validate = [&]() {
      torch::NoGradGuard g;
      model->eval();
      CudaAutocast ac(autocast);
      double sum = 0;
      const auto nb = p.getInt("val_batches");
      for (std::int64_t i = 0; i < nb; ++i) {
        if (!comm) fb.throwIfCancelled();  // distributed: every rank stops at the same step instead
        auto ids = sampleBatch(*val, B, T, seed ^ 0x5A17ULL, 0, i).narrow(0, first, share).to(device);
        sum += languageModelLoss(*model, ids).item<double>();
      }
      model->train();
      if (comm) sum = comm->sum({sum})[0] / static_cast<double>(world);
      return sum / static_cast<double>(nb);
    };
    double lastLoss = resumedLoss, lastVal = resumedVal;  // checkpoints keep them
    auto saveCheckpoint = [&](long long s) {
      torch::NoGradGuard g;
      for (const auto& prm : model->parameters())
        if (!torch::isfinite(prm).all().item<bool>()) return false;  // never checkpoint a broken model
      torch::serialize::OutputArchive out;
      model->save(out);
      torch::serialize::OutputArchive opt;
      optimizer.save(opt);
      out.write("optimizer", opt);
      out.write("step", torch::tensor(static_cast<std::int64_t>(s)));
      out.write("loss", torch::tensor(lastLoss, torch::kFloat64));
      out.write("val_loss", torch::tensor(lastVal, torch::kFloat64));
      const auto path = ctx.run().checkpointPath(s);
      const auto tmp = path.string() + ".tmp";
      out.save_to(tmp);
      fs::rename(tmp, path);
      return true;
    };

    model->train();
    AdamWStepper stepper(optimizer);  // fused AdamW on CUDA
    const auto t0 = Clock::now();
    std::int64_t tokensSeen = 0;
    long long lastGood = step;
    while (step < steps) {
      ++step;
      const double stepLr = lrAt(step);
      for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(stepLr);
      optimizer.zero_grad();
      double loss = 0;
      for (std::int64_t micro = 0; micro < accum; ++micro) {
        if (!comm && fb.isCancelled()) {
          // The weights are those after step - 1: keep the steps since the last checkpoint, so a
          // cancelled run resumes from here.
          if (lead && step - 1 > lastGood) saveCheckpoint(step - 1);
          throw core::Cancelled();
        }
        auto ids = sampleBatch(*train, B, T, seed, step, micro).narrow(0, first, share).to(device);
        torch::Tensor l;
        {
          CudaAutocast ac(autocast);
          l = languageModelLoss(*model, ids) / static_cast<double>(accum);
        }
        if (sync && micro == accum - 1) sync->arm();  // the last micro-batch's backward reduces as it goes
        l.backward();
        loss += l.item<double>();
        tokensSeen += B * T;
      }
      if (comm) {
        // The mean loss over ranks, and a cancel on any rank stops every rank at this step.
        const auto s = sync->finishAndSum({loss, fb.isCancelled() ? 1.0 : 0.0});
        loss = s[0] / static_cast<double>(world);
        if (s[1] > 0) throw core::Cancelled();
      }
      const double gradNorm = clipGradNorm(model->parameters(), clip > 0 ? clip : 1e30).item<double>();
      if (!std::isfinite(loss) || !std::isfinite(gradNorm)) {
        const auto last = ctx.run().latestCheckpoint();
        const std::string what = std::isfinite(loss) ? "gradient norm is " + std::to_string(gradNorm)
                                                     : "loss is " + std::to_string(loss);
        throw core::Error("training stopped at step " + std::to_string(step) + ": the " + what + " (NaN or inf). " +
                          (last ? "The last good checkpoint is " + last->filename().string() +
                                      " (resume continues from it); "
                                : std::string("No checkpoint was written yet; ")) +
                          "lower the learning rate (" + std::to_string(lr) + ") or lengthen the warm-up.");
      }
      stepper.step();
      lastLoss = loss;
      std::map<std::string, double> metrics{{"loss", loss}, {"lr", stepLr}, {"grad_norm", gradNorm},
                                            {"tokens_per_s", static_cast<double>(tokensSeen) / std::max(1e-9, secondsSince(t0))}};
      if (step % valEvery == 0 || step == steps) {
        lastVal = validate();
        metrics["val_loss"] = lastVal;
      }
      fb.reportMetrics(step, metrics);
      if (lead && (step % every == 0 || step == steps)) {
        if (saveCheckpoint(step)) lastGood = step;
      }
      fb.setProgress(static_cast<double>(step) / static_cast<double>(steps),
                     "step " + std::to_string(step) + " of " + std::to_string(steps) + ", loss " + std::to_string(loss));
    }
    ctx.run().setSummary("final_loss", lastLoss);
    if (!std::isnan(lastVal)) ctx.run().setSummary("final_val_loss", lastVal);
    ctx.run().setSummary("steps", steps);
    ctx.run().setSummary("params", model->numParameters());
    ctx.run().setSummary("tokens_per_s", static_cast<double>(tokensSeen) / std::max(1e-9, secondsSince(t0)));
    if (attention.finalize) attention.finalize(*model);
    if (attention.describe) {
      const Json counts = attention.describe(*model);
      for (const auto& [k, v] : counts.items()) ctx.run().setSummary(k, v);
    }
    if (comm) {
      ctx.run().setSummary("processes", dist.worldSize);
      ctx.run().setSummary("backend", comm->backend());
    }
    if (p.getBool("export") && lead) {
      fb.setStage("exporting");
      const auto dir = ctx.run().addArtifact("model", "hf_model", "the trained model as a Hugging Face folder");
      saveHfModel(*model, dir, SaveOptions{torch::kFloat32, tokPath});
    }
    fb.setProgress(1.0, "done");
  }
};


// ----------------------------------------------------------------------------------- lm.attention

class AttentionJob : public core::Job {
 public:
  JobInfo info() const override {
    return {"lm.attention", "Attention maps", "Language models",
            "Runs a prompt through a model and saves the attention probabilities of every layer and head as "
            "attention.npy [layers, heads, T, T] (float32; row i is query token i, causal) and the token texts as "
            "tokens.json.",
            false};
  }
  ParamSchema schema() const override {
    ParamSchema s;
    s.addDevice();
    s.add(modelPath());
    s.addOptionalPath("tokenizer", "Tokenizer file or folder. Empty: the one found beside the model.", "Tokenizers (*.bin *.model *.json)");
    s.addString("prompt", "Once upon a time, there was a little girl.", "Text whose attention is computed.");
    s.addBool("add_bos", true, "Start the prompt with the tokenizer's BOS token (SentencePiece / llama2.c models).");
    s.addInt("max_tokens", 256, 1, 4096, "Keep only the first N tokens of the prompt.");
    return s;
  }
  void run(Context& ctx) override {
    auto& fb = ctx.feedback();
    const auto& p = ctx.params();
    torch::NoGradGuard noGrad;
    auto loaded = loadModelAndTokenizer(ctx, torch::kFloat32, true);
    auto& m = *loaded.model.model;
    const auto& tok = *loaded.tokenizer;
    auto ids = tok.encode(p.getString("prompt"), p.getBool("add_bos") && tok.kind() != "gpt2-bpe", false);
    if (ids.empty()) throw LmError("the prompt gives no tokens: write some text");
    const auto limit = std::min<std::int64_t>(p.getInt("max_tokens"), m.config().maxSeqLen);
    if (static_cast<std::int64_t>(ids.size()) > limit) ids.resize(static_cast<std::size_t>(limit));
    fb.throwIfCancelled();
    fb.setProgress(0.2, "forward pass over " + std::to_string(ids.size()) + " tokens");
    const auto T = static_cast<std::int64_t>(ids.size());
    auto input = torch::from_blob(ids.data(), {1, T}, torch::kInt32).to(torch::kLong).to(core::toTorchDevice(ctx.device()));
    AttentionRecorder recorder;
    m.forward(input);
    if (recorder.probabilities.empty()) throw LmError("the model recorded no attention");
    auto probs = torch::stack(recorder.probabilities).select(1, 0).to(torch::kCPU).to(torch::kFloat32).contiguous();
    const auto file = ctx.run().addArtifact("attention.npy", "npy",
                                            "attention probabilities [layers, heads, T, T], float32, row = query");
    core::saveNpy(file, probs);
    Json texts = Json::array(), tokenIds = Json::array();
    for (auto id : ids) {
      texts.push_back(tok.tokenText(id));
      tokenIds.push_back(id);
    }
    const auto tokFile = ctx.run().addArtifact("tokens.json", "json", "token ids and texts of the prompt");
    core::writeFileAtomically(tokFile, Json{{"ids", tokenIds}, {"texts", texts}}.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
    ctx.run().setSummary("layers", probs.size(0));
    ctx.run().setSummary("heads", probs.size(1));
    ctx.run().setSummary("tokens", T);
    fb.info("attention of " + std::to_string(probs.size(0)) + " layers x " + std::to_string(probs.size(1)) +
            " heads over " + std::to_string(T) + " tokens");
    fb.setProgress(1.0, "done");
  }
};
}  // namespace

void registerLmJobs(core::JobRegistry& registry) {
  if (!registry.contains("lm.inspect")) registry.add([] { return std::make_unique<InspectJob>(); });
  if (!registry.contains("lm.eval")) registry.add([] { return std::make_unique<EvalJob>(); });
  if (!registry.contains("lm.generate")) registry.add([] { return std::make_unique<GenerateJob>(); });
  if (!registry.contains("lm.train")) registry.add([] { return std::make_unique<TrainJob>(); });
  if (!registry.contains("lm.attention")) registry.add([] { return std::make_unique<AttentionJob>(); });
}

}  // namespace atomscope::lm
