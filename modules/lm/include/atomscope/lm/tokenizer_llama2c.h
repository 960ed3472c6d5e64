#pragma once
// llama2.c's tokenizer.bin (Karpathy's run.c): int32 max_token_length, then per token a float32 score,
// an int32 byte length and the piece bytes (little-endian). The file does not store the vocabulary
// size; it is read to the end unless the model's size is given.
//
// encode() is run.c's algorithm, byte for byte: optional BOS (id 1); the dummy-prefix token " " for
// non-empty text; each UTF-8 code point looked up as a piece, else its bytes as byte tokens (byte + 3,
// the <0xXX> pieces); then the adjacent pair whose concatenated piece has the highest score is
// merged (leftmost on ties, scores <= -1e10 never merge) until no pair is a piece; optional EOS (2).
// run.c rescans all pairs per merge (quadratic); this does the same merges with a heap (n log n).
// Differences from run.c, for text run.c cannot take: a NUL byte (run.c's C strings stop there) is
// encoded as its byte token <0x00>; a duplicated piece string resolves to its lowest id.
//
// decode() maps byte pieces <0xXX> to bytes, drops BOS/EOS, and strips the leading space of the first
// piece of the sequence and of the piece after BOS (run.c does the latter; SentencePiece does both),
// so decode(encode(x)) == x for all text without NUL bytes.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "atomscope/lm/tokenizer.h"

namespace atomscope::lm {

class Llama2cTokenizer : public Tokenizer {
 public:
  // Throws LmError naming the file: missing, truncated header or token record, negative length.
  // expectedVocabSize (the model's vocab_size): read exactly that many tokens, error if fewer.
  static Llama2cTokenizer load(const std::filesystem::path& path, std::optional<int> expectedVocabSize = {});
  // The same from bytes in memory; name is used in messages (fuzzing, tests).
  static Llama2cTokenizer fromBytes(std::string_view bytes, const std::string& name,
                                    std::optional<int> expectedVocabSize = {});

  std::string kind() const override { return "llama2c"; }
  int vocabSize() const override { return static_cast<int>(pieces_.size()); }
  std::vector<std::int32_t> encode(const std::string& text, bool addBos = false, bool addEos = false) const override;
  std::string decode(const std::vector<std::int32_t>& ids) const override;
  std::string tokenText(std::int32_t id) const override;
  std::optional<std::int32_t> bosId() const override;
  std::optional<std::int32_t> eosId() const override;
  std::optional<std::int32_t> pieceId(const std::string& piece) const override;
  std::filesystem::path sourcePath() const override { return path_; }

  const std::string& piece(std::int32_t id) const;  // raw piece bytes; throws LmError when out of range
  float score(std::int32_t id) const;
  int maxTokenLength() const { return maxTokenLength_; }
  bool hasByteTokens() const { return hasByteTokens_; }  // ids 3..258 are <0x00>..<0xFF>

 private:
  Llama2cTokenizer() = default;
  void index();
  void checkId(std::int32_t id) const;

  std::filesystem::path path_;
  std::string name_;
  int maxTokenLength_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, std::int32_t> lookup_;  // piece -> lowest id
  std::vector<std::int32_t> canonical_;                    // id -> lowest id with the same piece
  // (canonical left, canonical right) -> lowest id of the concatenated piece
  std::unordered_map<std::uint64_t, std::int32_t> pairs_;
  std::vector<int> byteValue_;  // id -> 0..255 for <0xXX> pieces, else -1
  bool hasByteTokens_ = false;
  std::optional<std::int32_t> spaceId_;
};

}  // namespace atomscope::lm
