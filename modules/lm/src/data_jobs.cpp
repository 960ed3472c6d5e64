// lm.tokenize: text -> token shards, as a core::Job (progress, cancel, artifacts).
#include "atomscope/lm/data_jobs.h"

#include <fstream>

#include "atomscope/lm/token_shards.h"

namespace atomscope::lm {

namespace {

namespace fs = std::filesystem;

class TokenizeJob : public core::Job {
 public:
  core::JobInfo info() const override {
    return {"lm.tokenize", "Tokenise text into token shards", "Language models",
            "Cuts text files (a file or a folder of *.txt) into documents, tokenises them with a SentencePiece "
            ".model, a llama2.c tokenizer.bin or GPT-2 vocab.json + merges.txt / tokenizer.json, and writes "
            "uint16 or uint32 token shards with index.json (train/validation split by document, bytes per token, "
            "document-length histogram) for training and evaluation.",
            false};
  }

  core::ParamSchema schema() const override {
    core::ParamSchema s;
    core::ParamSpec input;
    input.name = "input";
    input.type = core::ParamType::Path;  // no default: required
    input.help = "A text file, or a folder searched recursively for *.txt, *.text and *.md files.";
    input.fileFilter = "Text (*.txt *.text *.md)";
    input.mustExist = false;  // a file or a folder: checked by the job, which names what is missing
    s.add(input);
    core::ParamSpec tok;
    tok.name = "tokenizer";
    tok.type = core::ParamType::Path;
    tok.help = "Tokenizer: a SentencePiece .model, a llama2.c tokenizer .bin, vocab.json (with merges.txt beside it), "
               "tokenizer.json, or a model folder holding one of them.";
    tok.fileFilter = "Tokenizers (*.model *.bin *.json)";
    tok.mustExist = false;  // a file or a model folder: openTokenizer() names what is missing
    s.add(tok);
    core::ParamSpec output;
    output.name = "output";
    output.type = core::ParamType::Path;
    output.defaultValue = "";  // optional: empty means the run's artifacts
    output.help = "Folder for the shards; empty: the run's artifacts/token_shards.";
    output.directory = true;
    output.mustExist = false;
    s.add(output);
    s.addFloat("validation_fraction", 0.1, 0.0, 0.9, "Fraction of the documents held out for validation.");
    s.addInt("seed", 1234, 0, 9007199254740991.0, "Seed of the validation split (same seed, same split).");
    s.addChoice("dtype", {"auto", "uint16", "uint32"}, "auto",
                "Token element type; auto takes uint16 when the vocabulary has at most 65536 tokens.");
    s.addString("separator", "auto",
                "How files are cut into documents: auto (<|endoftext|> if present, else blank lines), blank-line, "
                "line, file, or a literal separator text.")
        .markAdvanced();
    s.addChoice("boundary", {"auto", "bos", "eos", "bos+eos", "none"}, "auto",
                "Tokens between documents: auto puts BOS before each (llama2.c) or, when BOS and EOS are one "
                "token, EOS after each (GPT-2).")
        .markAdvanced();
    s.addInt("shard_tokens", static_cast<long long>(1) << 28, 1024, 4.0e9, "Maximum number of tokens per shard file.")
        .markAdvanced();
    s.addInt("threads", 0, 0, 1024, "Tokenising threads; 0 uses every core.").markAdvanced();
    return s;
  }

  void run(core::Context& ctx) override {
    auto& fb = ctx.feedback();
    auto& run = ctx.run();
    const auto& p = ctx.params();
    const fs::path input = p.getString("input");
    const fs::path tokPath = p.getString("tokenizer");
    fb.setProgress(0, "loading tokenizer " + tokPath.filename().string());
    const auto tokenizer = openTokenizer(tokPath);
    fb.info("tokenizer: " + tokenizer->kind() + ", " + std::to_string(tokenizer->vocabSize()) + " tokens, from " +
            tokPath.string());

    const std::string outParam = p.getString("output");
    const bool inArtifacts = outParam.empty();
    const fs::path outDir = inArtifacts ? run.artifactsDir() / "token_shards" : fs::path(outParam);

    ShardWriteOptions o;
    o.dtype = p.getString("dtype");
    o.validationFraction = p.getFloat("validation_fraction");
    o.seed = static_cast<std::uint64_t>(p.getInt("seed"));
    o.separator = p.getString("separator");
    o.boundary = p.getString("boundary");
    o.shardTokens = static_cast<std::uint64_t>(p.getInt("shard_tokens"));
    o.threads = static_cast<int>(p.getInt("threads"));
    o.progress = [&fb](double f, const std::string& stage) { fb.setProgress(0.02 + 0.97 * f, stage); };
    o.cancelled = [&fb] { return fb.isCancelled(); };

    const double t0 = fb.elapsedSeconds();
    const Json index = writeTokenShards(input, *tokenizer, outDir, o);
    const double seconds = fb.elapsedSeconds() - t0;

    const auto& st = index["statistics"];
    const double textBytes = st["text_bytes"].get<double>();
    fb.reportMetrics(0, {{"train_tokens", index["splits"]["train"]["tokens"].get<double>()},
                         {"validation_tokens", index["splits"]["validation"]["tokens"].get<double>()},
                         {"bytes_per_token", st["bytes_per_token"].get<double>()},
                         {"megabytes_per_second", seconds > 0 ? textBytes / 1e6 / seconds : 0.0}});
    if (inArtifacts) {
      run.addArtifact("token_shards/index.json", "token_shards", "Token shard index (open it with lm train/eval jobs)");
      for (const char* split : {"train", "validation"})
        for (const auto& sh : index["splits"][split]["shards"])
          run.addArtifact("token_shards/" + sh["file"].get<std::string>(), "token_shard",
                          std::string(split) + " tokens (" + index["dtype"].get<std::string>() + ")");
    } else {
      // The shards live elsewhere; the run keeps a copy of the index as its record.
      const fs::path copy = run.addArtifact("token_shards_index.json", "token_shards_index",
                                            "Index of the token shards written to " + outDir.string());
      std::ofstream(copy) << index.dump(1) << "\n";
    }
    run.setSummary("output", outDir.string());
    run.setSummary("documents", st["documents"]);
    run.setSummary("train_tokens", index["splits"]["train"]["tokens"]);
    run.setSummary("validation_tokens", index["splits"]["validation"]["tokens"]);
    run.setSummary("bytes_per_token", st["bytes_per_token"]);
    run.setSummary("dtype", index["dtype"]);
    run.setSummary("seconds", seconds);
    fb.setProgress(1, "wrote " + index["splits"]["train"]["tokens"].dump() + " train and " +
                          index["splits"]["validation"]["tokens"].dump() + " validation tokens");
  }
};

}  // namespace

void registerDataJobs(core::JobRegistry& registry) {
  registry.add([] { return std::make_unique<TokenizeJob>(); });
}

}  // namespace atomscope::lm
