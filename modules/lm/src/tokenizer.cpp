// openTokenizer(): picks the tokenizer kind from a file or a model folder.
#include <fstream>

#include "atomscope/lm/bpe_tokenizer.h"
#include "atomscope/lm/tokenizer.h"
#include "atomscope/lm/tokenizer_llama2c.h"
#include "atomscope/lm/tokenizer_sentencepiece.h"
#include "atomscope/core/text.h"

namespace atomscope::lm {

namespace fs = std::filesystem;

namespace {

// Resolves a folder to the tokenizer file inside it, preferring the exact formats.
fs::path resolve(const fs::path& path) {
  if (!fs::is_directory(path)) return path;
  for (const char* name : {"tokenizer.json", "vocab.json", "tokenizer.model", "tokenizer.bin"}) {
    if (fs::is_regular_file(path / name)) return path / name;
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const auto ext = core::asciiLower(e.path().extension().string());
    if (e.is_regular_file() && (ext == ".model" || (ext == ".bin" && core::asciiLower(e.path().filename().string()).rfind("tok", 0) == 0)))
      return e.path();
  }
  return {};
}

}  // namespace

std::string detectTokenizerKind(const fs::path& path) {
  const fs::path file = resolve(path);
  if (file.empty()) return {};
  const std::string name = core::asciiLower(file.filename().string());
  const std::string ext = core::asciiLower(file.extension().string());
  if (ext == ".model") return "sentencepiece";
  if (ext == ".bin") return "llama2c";
  if (ext == ".json" || name == "merges.txt") return "gpt2-bpe";
  return {};
}

std::unique_ptr<Tokenizer> openTokenizer(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw LmError("tokenizer '" + path.string() + "' does not exist");
  const fs::path file = resolve(path);
  if (file.empty()) {
    throw LmError("no tokenizer in folder '" + path.string() +
                  "': expected tokenizer.json, vocab.json + merges.txt, tokenizer.model (SentencePiece) or "
                  "tokenizer.bin (llama2.c)");
  }
  const std::string kind = detectTokenizerKind(file);
  const std::string name = core::asciiLower(file.filename().string());
  if (kind == "sentencepiece") return SentencePieceTokenizer::load(file);
  if (kind == "llama2c") return std::make_unique<Llama2cTokenizer>(Llama2cTokenizer::load(file));
  if (kind == "gpt2-bpe") {
    if (name == "merges.txt" || name == "vocab.json" || core::asciiLower(file.stem().string()).find("vocab") != std::string::npos) {
      const fs::path dir = file.parent_path();
      const fs::path vocab = name == "merges.txt" ? dir / "vocab.json" : file;
      const fs::path merges = dir / "merges.txt";
      if (!fs::is_regular_file(vocab)) throw LmError("'" + file.string() + "' needs vocab.json beside it ('" + vocab.string() + "' is missing)");
      if (!fs::is_regular_file(merges)) throw LmError("'" + vocab.string() + "' needs merges.txt beside it ('" + merges.string() + "' is missing)");
      return Gpt2BpeTokenizer::fromFiles(vocab, merges);
    }
    return Gpt2BpeTokenizer::fromTokenizerJson(file);
  }
  throw LmError("'" + path.string() +
                "' is not a tokenizer this program reads: expected a SentencePiece .model, a llama2.c tokenizer .bin, "
                "vocab.json + merges.txt or tokenizer.json");
}

}  // namespace atomscope::lm
