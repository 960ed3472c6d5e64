#pragma once
// Token shards: text files or folders tokenised into flat little-endian uint16/uint32 arrays
// (llama2.c / nanoGPT style .bin shards) plus index.json, split into train and validation by
// document, and a memory-mapped reader that serves training windows. No torch here (see
// token_batches.h for a tensor helper).
//
// Folder layout written by writeTokenShards():
//   index.json         {"format":"atomscope.token_shards/1", "tokenizer":{path,kind,vocab_size,bos_id,eos_id},
//                       "dtype":"uint16"|"uint32", "boundary":"bos"|"eos"|"bos+eos"|"none", "separator",
//                       "validation_fraction", "seed",
//                       "splits":{"train"|"validation":{"tokens","documents","text_bytes",
//                                 "shards":[{"file","tokens"}]}},
//                       "statistics":{"documents","text_bytes","content_tokens","bytes_per_token",
//                                     "document_tokens":{"min","max","mean","median",
//                                                        "histogram":{"edges","counts"}}},
//                       "inputs":[{"path","bytes","documents"}], "created"}
//   train_000.bin ...  tokens of the training documents, in input order, boundaries included
//   validation_000.bin ...
// A split is the concatenation of its shards; windows may cross shard files.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "atomscope/core/json.h"
#include "atomscope/core/mapped_file.h"
#include "atomscope/lm/tokenizer.h"

namespace atomscope::lm {

enum class TokenDtype { UInt16, UInt32 };
std::string toString(TokenDtype dtype);
TokenDtype tokenDtypeFromString(const std::string& name);  // "uint16" | "uint32"; throws LmError
std::size_t itemSize(TokenDtype dtype);

enum class Split { Train, Validation };
std::string toString(Split split);  // "train" | "validation"

struct ShardWriteOptions {
  std::string dtype = "auto";        // auto (uint16 when the vocabulary has at most 65536 tokens) | uint16 | uint32
  double validationFraction = 0.1;   // of the documents, in [0, 1); at least one when > 0 and there are two or more
  std::uint64_t seed = 1234;         // chooses the validation documents (SplitMix64 + Fisher-Yates: same on every platform)
  // How files are cut into documents: "auto" (<|endoftext|> when the file contains it, else blank lines),
  // "blank-line" (one or more empty or whitespace-only lines), "line", "file" (a file is one document),
  // or any other text: a literal separator. Documents are trimmed of surrounding whitespace; empty ones skipped.
  std::string separator = "auto";
  // Tokens between documents: "auto" (BOS before each document when the tokenizer has a BOS distinct
  // from its EOS, as llama2.c does; else EOS after each, as GPT-2's <|endoftext|>), "bos", "eos", "bos+eos", "none".
  std::string boundary = "auto";
  std::uint64_t shardTokens = 1ull << 28;  // at most this many tokens per shard file
  int threads = 0;                          // 0: all hardware threads
  std::vector<std::string> extensions = {".txt", ".text", ".md"};  // files taken from folders (recursively)
  // Optional feedback: progress in [0, 1] with a stage text; when cancelled() returns true the writer
  // throws core::Cancelled (shards written so far stay, index.json is not written).
  std::function<void(double, const std::string&)> progress;
  std::function<bool()> cancelled;
};

// Text files under input (a file, or a folder searched recursively), sorted; throws LmError when none.
std::vector<std::filesystem::path> listTextFiles(const std::filesystem::path& input,
                                                 const std::vector<std::string>& extensions = {".txt", ".text", ".md"});

// Cuts text into documents by the separator rule of ShardWriteOptions (after resolving "auto").
std::vector<std::string_view> splitDocuments(std::string_view text, const std::string& separator);

// Tokenises input (file or folder) into shards and index.json under outputDir (created). Returns the
// index. Throws LmError (no text files, no documents, uint16 too small for the vocabulary, cannot write).
Json writeTokenShards(const std::filesystem::path& input, const Tokenizer& tokenizer,
                            const std::filesystem::path& outputDir, const ShardWriteOptions& options = {});

// Memory-mapped reader of a shard folder.
class TokenShardReader {
 public:
  // dirOrIndex: the folder or its index.json. Throws LmError naming the file: missing/invalid index,
  // missing shard, shard size not matching its token count.
  static TokenShardReader open(const std::filesystem::path& dirOrIndex);

  const Json& index() const { return index_; }
  const std::filesystem::path& folder() const { return folder_; }
  TokenDtype dtype() const { return dtype_; }
  int vocabSize() const { return vocabSize_; }
  std::uint64_t numTokens(Split split) const;
  std::uint32_t token(Split split, std::uint64_t position) const;  // throws LmError out of range

  // Copies count tokens starting at offset (crossing shard files as needed); throws LmError out of range.
  void read(Split split, std::uint64_t offset, std::uint64_t count, std::int64_t* out) const;
  void read(Split split, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const;

  // Training batch: `batch` windows of context+1 tokens (inputs = [0, context), targets = [1, context]),
  // at uniformly random offsets that depend only on (seed, step, row): reproducible and resumable.
  // out holds batch * (context + 1) values. Throws LmError when the split is shorter than context + 1.
  void randomBatch(Split split, int batch, int context, std::uint64_t seed, std::uint64_t step, std::int64_t* out) const;
  std::uint64_t randomOffset(Split split, int context, std::uint64_t seed, std::uint64_t step, int row) const;

  // Evaluation: windows k = 0 .. numSequentialWindows-1 start at k * context and hold context + 1 tokens,
  // so every token after the first is a target exactly once.
  std::uint64_t numSequentialWindows(Split split, int context) const;
  void sequentialWindow(Split split, std::uint64_t k, int context, std::int64_t* out) const;

  // Scans every token; throws LmError naming the shard and position of the first id >= vocab size.
  void validateTokens() const;

 private:
  struct Shard {
    std::filesystem::path path;
    core::MappedFile map;
    std::uint64_t start = 0;  // first position in the split
    std::uint64_t tokens = 0;
  };
  struct SplitData {
    std::vector<Shard> shards;
    std::uint64_t tokens = 0;
  };
  const SplitData& data(Split split) const { return split == Split::Train ? train_ : validation_; }
  template <typename T>
  void readImpl(Split split, std::uint64_t offset, std::uint64_t count, T* out) const;

  std::filesystem::path folder_;
  Json index_;
  TokenDtype dtype_ = TokenDtype::UInt16;
  int vocabSize_ = 0;
  SplitData train_, validation_;
};

}  // namespace atomscope::lm
