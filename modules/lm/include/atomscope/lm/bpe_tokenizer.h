#pragma once
// GPT-2 byte-level BPE (OpenAI's encoder.py; Hugging Face GPT2Tokenizer/ByteLevel BPE):
//   1. the text is split by the GPT-2 pre-tokenisation regex
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (implemented by hand over UTF-8 code points; see gpt2Pretokenize);
//   2. each piece's bytes are mapped to printable code points by the bytes-to-unicode table;
//   3. the symbols are merged by merge rank (lowest first) until no ranked pair is left;
//   4. the resulting strings are looked up in the vocabulary.
// Added/special tokens (<|endoftext|> ...) found in the text are split out first and encoded as
// their ids, as Hugging Face tokenizers do. decode() maps the code points back to bytes, so
// decode(encode(x)) == x for every byte string (a vocabulary holding all 256 byte symbols assumed).
// Files: vocab.json + merges.txt, or tokenizer.json (model.type "BPE", model.vocab, model.merges as
// "a b" strings or ["a","b"] pairs, added_tokens, a ByteLevel pre-tokenizer).
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "atomscope/lm/tokenizer.h"

namespace atomscope::lm {

// Unicode classes used by the GPT-2 regex. Letters (\p{L}: Lu Ll Lt Lm Lo) and numbers (\p{N}: Nd Nl
// No) come from tables generated from Python's unicodedata (Unicode 14.0, all planes; see
// tests/lm/data/make_unicode_tables.py). Not covered: code points assigned after Unicode 14.0
// (treated as neither letter nor number), and differences between Unicode versions of the reference
// library. Whitespace (\s) is the Unicode White_Space property (as Rust's regex, Oniguruma and Python's
// `regex` use it: \t \n \v \f \r, space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
// U+202F, U+205F, U+3000), not Python str.isspace() (which adds U+001C..U+001F).
bool isUnicodeLetter(char32_t cp);
bool isUnicodeNumber(char32_t cp);
bool isUnicodeWhitespace(char32_t cp);

// Splits text into GPT-2 pre-tokens (byte ranges into text). Malformed UTF-8 bytes count as single
// "other" code points (so every byte lands in exactly one piece).
std::vector<std::string_view> gpt2Pretokenize(std::string_view text);

// GPT-2's bytes_to_unicode(): byte -> code point (printable bytes map to themselves, the rest to 256+).
const std::array<char32_t, 256>& gpt2ByteToUnicode();

class Gpt2BpeTokenizer : public Tokenizer {
 public:
  // Throws LmError naming the file (and the line for merges.txt).
  static std::unique_ptr<Gpt2BpeTokenizer> fromFiles(const std::filesystem::path& vocabJson,
                                                     const std::filesystem::path& mergesTxt);
  static std::unique_ptr<Gpt2BpeTokenizer> fromTokenizerJson(const std::filesystem::path& tokenizerJson);
  // The same from text in memory; names are used in messages (fuzzing, tests).
  static std::unique_ptr<Gpt2BpeTokenizer> fromStrings(const std::string& vocabJson, const std::string& mergesTxt,
                                                       const std::string& vocabName = "vocab.json",
                                                       const std::string& mergesName = "merges.txt");
  static std::unique_ptr<Gpt2BpeTokenizer> fromTokenizerJsonString(const std::string& json,
                                                                   const std::string& name = "tokenizer.json");

  std::string kind() const override { return "gpt2-bpe"; }
  int vocabSize() const override { return vocabSize_; }
  std::vector<std::int32_t> encode(const std::string& text, bool addBos = false, bool addEos = false) const override;
  std::string decode(const std::vector<std::int32_t>& ids) const override;
  std::string tokenText(std::int32_t id) const override;
  std::optional<std::int32_t> bosId() const override { return endOfText_; }
  std::optional<std::int32_t> eosId() const override { return endOfText_; }
  std::optional<std::int32_t> pieceId(const std::string& piece) const override;
  std::filesystem::path sourcePath() const override { return path_; }

  // When false, "<|endoftext|>" in the text is encoded as ordinary characters (default true).
  void setSplitSpecialTokens(bool on) { splitSpecial_ = on; }
  const std::vector<std::string>& specialTokens() const { return specialTexts_; }
  std::size_t mergeCount() const { return merges_.size(); }
  // The BPE of one pre-token (no special-token handling); for tests and tools.
  std::vector<std::int32_t> encodePretoken(std::string_view piece) const;

 private:
  Gpt2BpeTokenizer() = default;
  static std::unique_ptr<Gpt2BpeTokenizer> fromTokenizerJsonImpl(const std::string& json, const std::string& name);
  void buildVocab(std::vector<std::pair<std::string, std::int64_t>> entries, const std::string& where);
  void addMerge(const std::string& a, const std::string& b, const std::string& where);
  void finish();
  void appendPretoken(std::string_view piece, std::vector<std::int32_t>& out) const;
  void checkId(std::int32_t id) const;

  std::filesystem::path path_;
  std::string name_;
  int vocabSize_ = 0;
  std::vector<std::string> idToToken_;                      // vocabulary strings (byte-unicode form)
  std::unordered_map<std::string, std::int32_t> tokenToId_;
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merges_;  // (a,b) -> (rank, id)
  std::array<std::int32_t, 256> byteId_{};                  // id of each single byte symbol, or -1
  std::optional<std::int32_t> unkId_;
  std::optional<std::int32_t> endOfText_;
  std::vector<std::string> specialTexts_;                   // raw text of added/special tokens
  std::vector<std::int32_t> specialIds_;
  std::vector<char> isSpecial_;                             // id -> decodes as raw text
  std::vector<std::string> decoded_;                        // id -> the bytes it decodes to
  bool addPrefixSpace_ = false;
  bool splitSpecial_ = true;

  // Pre-token -> ids cache, sharded so that threads encoding at once rarely wait for each other.
  static constexpr std::size_t kCacheShards = 64;
  static constexpr std::size_t kCacheShardLimit = 16384;
  struct CacheShard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<std::int32_t>> map;
  };
  mutable std::unique_ptr<std::array<CacheShard, kCacheShards>> cache_ =
      std::make_unique<std::array<CacheShard, kCacheShards>>();
};

}  // namespace atomscope::lm
