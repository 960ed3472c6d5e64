#pragma once
// Tokenizers as LM code sees them. Implementations: SentencePiece .model (libsentencepiece),
// llama2.c tokenizer.bin, GPT-2 byte-level BPE (vocab.json + merges.txt, or tokenizer.json).
// No torch here.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/core/error.h"

namespace atomscope::lm {

class LmError : public core::Error {
 public:
  using core::Error::Error;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;  // "sentencepiece", "llama2c", "gpt2-bpe"
  virtual int vocabSize() const = 0;
  // Encodes text; adds BOS/EOS only when asked and when the tokenizer has them.
  virtual std::vector<std::int32_t> encode(const std::string& text, bool addBos = false, bool addEos = false) const = 0;
  virtual std::string decode(const std::vector<std::int32_t>& ids) const = 0;
  // The text of one token as it would appear in decoded output (for streaming and browsers).
  virtual std::string tokenText(std::int32_t id) const = 0;
  virtual std::optional<std::int32_t> bosId() const = 0;
  virtual std::optional<std::int32_t> eosId() const = 0;

  // Added by the tokenizer helper (compatible extensions; defaults keep other implementations valid).
  // The id of a token given its exact piece text as stored in the vocabulary ("<|endoftext|>",
  // "<s>", "\u2581the" for SentencePiece, " the" for llama2.c, "\u0120the" for GPT-2), if any.
  virtual std::optional<std::int32_t> pieceId(const std::string& /*piece*/) const { return std::nullopt; }
  // The file (or folder) it was loaded from.
  virtual std::filesystem::path sourcePath() const { return {}; }
};

// Kinds openTokenizer() can produce, by file name alone (no parsing): "sentencepiece", "llama2c",
// "gpt2-bpe", or empty when the path names none of them. Folders are looked into.
std::string detectTokenizerKind(const std::filesystem::path& path);

// True when this build links libsentencepiece (SentencePiece .model files can be opened).
bool haveSentencePiece();

// Opens a tokenizer from a file or a model folder: *.model (SentencePiece), tokenizer.bin /
// tok*.bin (llama2.c), vocab.json + merges.txt or tokenizer.json (GPT-2 BPE) in a folder.
// Throws LmError naming the file and what was wrong.
std::unique_ptr<Tokenizer> openTokenizer(const std::filesystem::path& path);

}  // namespace atomscope::lm
