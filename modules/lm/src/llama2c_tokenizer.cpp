// llama2.c tokenizer.bin reader and run.c's encoder/decoder (see tokenizer_llama2c.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <queue>
#include <sstream>

#include "atomscope/lm/tokenizer_llama2c.h"
#include "pair_key.h"

namespace atomscope::lm {

namespace {

constexpr std::int32_t kBos = 1;  // run.c hard-codes these
constexpr std::int32_t kEos = 2;
constexpr float kNoMergeScore = -1e10f;  // run.c's initial best_score: pairs at or below never merge
constexpr std::size_t kMaxSplitPiece = 1024;  // longer pieces are never the result of a merge here

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xHH>" -> HH, else -1.
int byteOfPiece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  int hi = hexDigit(p[3]), lo = hexDigit(p[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

std::int32_t readI32(const unsigned char* p) {
  std::uint32_t v = static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
                    (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  std::int32_t r;
  std::memcpy(&r, &v, 4);
  return r;
}

float readF32(const unsigned char* p) {
  std::uint32_t v = static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
                    (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  float r;
  std::memcpy(&r, &v, 4);
  return r;
}

}  // namespace

Llama2cTokenizer Llama2cTokenizer::load(const std::filesystem::path& path, std::optional<int> expectedVocabSize) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LmError("cannot open llama2.c tokenizer '" + path.string() + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw LmError("cannot read llama2.c tokenizer '" + path.string() + "'");
  auto t = fromBytes(ss.str(), path.string(), expectedVocabSize);
  t.path_ = path;
  return t;
}

Llama2cTokenizer Llama2cTokenizer::fromBytes(std::string_view bytes, const std::string& name,
                                             std::optional<int> expectedVocabSize) {
  Llama2cTokenizer t;
  t.name_ = name;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  auto where = [&](std::size_t off) { return "llama2.c tokenizer '" + name + "' (byte " + std::to_string(off) + ")"; };
  if (n < 4) throw LmError(where(0) + ": truncated: the 4-byte max_token_length header is missing");
  t.maxTokenLength_ = readI32(p);
  if (t.maxTokenLength_ < 0) throw LmError(where(0) + ": negative max_token_length " + std::to_string(t.maxTokenLength_));
  if (expectedVocabSize && *expectedVocabSize <= 0)
    throw LmError("llama2.c tokenizer '" + name + "': expected vocabulary size must be positive");
  std::size_t off = 4;
  while (expectedVocabSize ? t.pieces_.size() < static_cast<std::size_t>(*expectedVocabSize) : off < n) {
    const std::size_t i = t.pieces_.size();
    if (n - off < 8) {
      throw LmError(where(off) + ": truncated in the record of token " + std::to_string(i) + ": " +
                    std::to_string(n - off) + " bytes left where a score and a length (8 bytes) were expected" +
                    (expectedVocabSize ? " (the model expects " + std::to_string(*expectedVocabSize) + " tokens)" : ""));
    }
    const float score = readF32(p + off);
    const std::int32_t len = readI32(p + off + 4);
    if (len < 0) throw LmError(where(off + 4) + ": token " + std::to_string(i) + " has negative length " + std::to_string(len));
    off += 8;
    if (len > t.maxTokenLength_) {
      // run.c sizes its merge buffer from max_token_length: a longer piece means a damaged file.
      throw LmError(where(off - 4) + ": token " + std::to_string(i) + " is " + std::to_string(len) +
                    " bytes long, more than the header's max_token_length " + std::to_string(t.maxTokenLength_));
    }
    if (static_cast<std::size_t>(len) > n - off) {
      throw LmError(where(off) + ": truncated: token " + std::to_string(i) + " needs " + std::to_string(len) +
                    " bytes, only " + std::to_string(n - off) + " left");
    }
    t.pieces_.emplace_back(reinterpret_cast<const char*>(p + off), static_cast<std::size_t>(len));
    t.scores_.push_back(score);
    off += static_cast<std::size_t>(len);
  }
  if (t.pieces_.empty()) throw LmError("llama2.c tokenizer '" + name + "': no tokens after the header");
  t.index();
  return t;
}

void Llama2cTokenizer::index() {
  const auto n = static_cast<std::int32_t>(pieces_.size());
  lookup_.reserve(pieces_.size() * 2);
  for (std::int32_t i = 0; i < n; ++i) lookup_.emplace(pieces_[i], i);  // first (lowest) id wins
  canonical_.resize(pieces_.size());
  byteValue_.assign(pieces_.size(), -1);
  for (std::int32_t i = 0; i < n; ++i) {
    canonical_[i] = lookup_.at(pieces_[i]);
    byteValue_[i] = byteOfPiece(pieces_[i]);
  }
  hasByteTokens_ = n >= 259;
  for (int b = 0; hasByteTokens_ && b < 256; ++b) hasByteTokens_ = byteValue_[b + 3] == b;
  if (auto it = lookup_.find(" "); it != lookup_.end()) spaceId_ = it->second;
  // Every way of writing a piece as the concatenation of two pieces is a possible merge.
  for (const auto& [s, id] : lookup_) {
    if (s.size() > kMaxSplitPiece) continue;  // keeps loading linear; no real vocabulary has such pieces
    for (std::size_t k = 1; k < s.size(); ++k) {
      auto a = lookup_.find(s.substr(0, k));
      if (a == lookup_.end()) continue;
      auto b = lookup_.find(s.substr(k));
      if (b == lookup_.end()) continue;
      pairs_.emplace(detail::tokenPairKey(a->second, b->second), id);
    }
  }
}

void Llama2cTokenizer::checkId(std::int32_t id) const {
  if (id < 0 || id >= vocabSize()) {
    throw LmError("token id " + std::to_string(id) + " is out of range for llama2.c tokenizer '" + name_ +
                  "' (vocabulary of " + std::to_string(vocabSize()) + ")");
  }
}

const std::string& Llama2cTokenizer::piece(std::int32_t id) const {
  checkId(id);
  return pieces_[static_cast<std::size_t>(id)];
}

float Llama2cTokenizer::score(std::int32_t id) const {
  checkId(id);
  return scores_[static_cast<std::size_t>(id)];
}

std::optional<std::int32_t> Llama2cTokenizer::bosId() const {
  return vocabSize() > kBos ? std::optional<std::int32_t>(kBos) : std::nullopt;
}

std::optional<std::int32_t> Llama2cTokenizer::eosId() const {
  return vocabSize() > kEos ? std::optional<std::int32_t>(kEos) : std::nullopt;
}

std::optional<std::int32_t> Llama2cTokenizer::pieceId(const std::string& piece) const {
  if (auto it = lookup_.find(piece); it != lookup_.end()) return it->second;
  if (piece == "<s>") return bosId();  // stored as "\n<s>\n" by llama2.c's export
  if (piece == "</s>") return eosId();
  return std::nullopt;
}

std::vector<std::int32_t> Llama2cTokenizer::encode(const std::string& text, bool addBos, bool addEos) const {
  std::vector<std::int32_t> tokens;
  tokens.reserve(text.size() + 3);
  if (addBos && bosId()) tokens.push_back(*bosId());
  if (!text.empty() && spaceId_) tokens.push_back(*spaceId_);  // add_dummy_prefix

  // Code points as pieces, else their bytes as byte tokens (run.c's loop, including its handling of
  // malformed UTF-8: a sequence ends at a non-continuation byte or after 4 bytes).
  const std::size_t n = text.size();
  std::size_t start = 0, len = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) {
      start = i;
      len = 0;
    } else if (len == 0) {
      start = i;
    }
    ++len;
    const unsigned char next = i + 1 < n ? static_cast<unsigned char>(text[i + 1]) : 0;
    if ((next & 0xC0) == 0x80 && len < 4) continue;
    const std::string_view cp(text.data() + start, len);
    auto it = lookup_.find(std::string(cp));
    if (it != lookup_.end() && !(len == 1 && cp[0] == '\0')) {
      tokens.push_back(it->second);
    } else if (hasByteTokens_) {
      for (unsigned char b : cp) tokens.push_back(static_cast<std::int32_t>(b) + 3);
    } else if (!pieces_.empty() && pieces_[0] == "<unk>") {
      tokens.push_back(0);
    } else {
      throw LmError("llama2.c tokenizer '" + name_ + "' has no byte tokens and no <unk>: cannot encode byte " +
                    std::to_string(static_cast<unsigned char>(cp[0])) + " at offset " + std::to_string(start));
    }
    len = 0;
  }

  // Merges: the highest-scoring adjacent pair first, the leftmost on ties. A heap of candidate pairs
  // keyed by (score, left position) with lazy deletion gives exactly run.c's sequence of merges.
  const std::size_t m = tokens.size();
  if (m >= 2) {
    std::vector<std::int32_t> prev(m), next(m);
    std::vector<char> alive(m, 1);
    for (std::size_t i = 0; i < m; ++i) {
      prev[i] = static_cast<std::int32_t>(i) - 1;
      next[i] = i + 1 < m ? static_cast<std::int32_t>(i + 1) : -1;
    }
    struct Cand {
      float score;
      std::int32_t left, right, leftTok, rightTok, merged;
    };
    auto worse = [](const Cand& a, const Cand& b) {
      if (a.score != b.score) return a.score < b.score;
      return a.left > b.left;
    };
    std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> heap(worse);
    auto consider = [&](std::int32_t l, std::int32_t r) {
      if (l < 0 || r < 0) return;
      auto it = pairs_.find(detail::tokenPairKey(canonical_[tokens[l]], canonical_[tokens[r]]));
      if (it == pairs_.end()) return;
      const float s = scores_[it->second];
      if (!(s > kNoMergeScore)) return;
      heap.push({s, l, r, tokens[l], tokens[r], it->second});
    };
    for (std::size_t i = 0; i + 1 < m; ++i) consider(static_cast<std::int32_t>(i), static_cast<std::int32_t>(i + 1));
    while (!heap.empty()) {
      const Cand c = heap.top();
      heap.pop();
      if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right || tokens[c.left] != c.leftTok ||
          tokens[c.right] != c.rightTok) {
        continue;  // stale
      }
      tokens[c.left] = c.merged;
      alive[c.right] = 0;
      next[c.left] = next[c.right];
      if (next[c.right] >= 0) prev[next[c.right]] = c.left;
      consider(prev[c.left], c.left);
      consider(c.left, next[c.left]);
    }
    std::size_t w = 0;
    for (std::int32_t i = 0; i >= 0; i = next[i]) tokens[w++] = tokens[i];
    tokens.resize(w);
  }
  if (addEos && eosId()) tokens.push_back(*eosId());
  return tokens;
}

std::string Llama2cTokenizer::tokenText(std::int32_t id) const {
  checkId(id);
  if (id == kBos || id == kEos) return {};
  const int b = byteValue_[id];
  if (b >= 0) return std::string(1, static_cast<char>(b));
  return pieces_[id];
}

std::string Llama2cTokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  bool atStart = true;  // start of the sequence or just after BOS: strip one leading space
  for (std::int32_t id : ids) {
    checkId(id);
    if (id == kBos) {
      atStart = true;
      continue;
    }
    if (id == kEos) continue;
    const int b = byteValue_[id];
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      const std::string& p = pieces_[id];
      out.append(atStart && !p.empty() && p[0] == ' ' ? p.substr(1) : p);
    }
    atStart = false;
  }
  return out;
}

}  // namespace atomscope::lm
