// GPT-2 byte-level BPE: vocab.json + merges.txt or tokenizer.json (see bpe_tokenizer.h).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <queue>
#include <sstream>

#include "atomscope/lm/bpe_tokenizer.h"
#include "pair_key.h"

namespace atomscope::lm {

namespace {

using PlainJson = nlohmann::json;  // std::map objects: fast for 50k-entry vocabularies

constexpr std::int64_t kMaxVocab = 16'000'000;

void appendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Inverse of bytes_to_unicode: code point -> byte (code points 0..0x143 only), else -1.
const std::array<int, 0x144>& unicodeToByte() {
  static const std::array<int, 0x144> table = [] {
    std::array<int, 0x144> t;
    t.fill(-1);
    const auto& fwd = gpt2ByteToUnicode();
    for (int b = 0; b < 256; ++b) t[fwd[b]] = b;
    return t;
  }();
  return table;
}

// Decodes a vocabulary string's next code point (JSON strings are valid UTF-8; a stray byte is
// returned as itself so that nothing is lost).
void nextCodePoint(const std::string& s, std::size_t& i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const std::size_t len = b0 < 0xC0 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
  if (len == 1 || i + len > s.size()) {
    cp = b0 < 0x80 ? b0 : 0xFFFD;
    i += 1;
    return;
  }
  cp = b0 & (0xFF >> (len + 1));
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
}

std::string readFile(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LmError(std::string("cannot open ") + what + " '" + path.string() + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw LmError(std::string("cannot read ") + what + " '" + path.string() + "'");
  return ss.str();
}

PlainJson parseJson(const std::string& text, const std::string& name) {
  try {
    return PlainJson::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw LmError("'" + name + "' is not valid JSON: " + e.what());
  }
}

std::string printable(const std::string& s) {
  std::string r = s.size() > 60 ? s.substr(0, 60) + "..." : s;
  return r;
}

}  // namespace

void Gpt2BpeTokenizer::buildVocab(std::vector<std::pair<std::string, std::int64_t>> entries, const std::string& where) {
  std::int64_t maxId = -1;
  for (const auto& [tok, id] : entries) {
    if (id < 0 || id >= kMaxVocab) {
      throw LmError(where + ": token '" + printable(tok) + "' has id " + std::to_string(id) + ", expected 0.." +
                    std::to_string(kMaxVocab - 1));
    }
    maxId = std::max(maxId, id);
  }
  if (maxId < 0) throw LmError(where + ": the vocabulary is empty");
  idToToken_.assign(static_cast<std::size_t>(maxId + 1), {});
  std::vector<char> used(static_cast<std::size_t>(maxId + 1), 0);
  tokenToId_.reserve(entries.size() * 2);
  for (auto& [tok, id] : entries) {
    if (used[id]) {
      throw LmError(where + ": id " + std::to_string(id) + " is given to both '" + printable(idToToken_[id]) +
                    "' and '" + printable(tok) + "'");
    }
    used[id] = 1;
    tokenToId_[tok] = static_cast<std::int32_t>(id);
    idToToken_[id] = std::move(tok);
  }
  vocabSize_ = static_cast<int>(maxId + 1);
  isSpecial_.assign(idToToken_.size(), 0);
}

void Gpt2BpeTokenizer::addMerge(const std::string& a, const std::string& b, const std::string& where) {
  auto ia = tokenToId_.find(a);
  if (ia == tokenToId_.end()) throw LmError(where + ": merge symbol '" + printable(a) + "' is not in the vocabulary");
  auto ib = tokenToId_.find(b);
  if (ib == tokenToId_.end()) throw LmError(where + ": merge symbol '" + printable(b) + "' is not in the vocabulary");
  auto im = tokenToId_.find(a + b);
  if (im == tokenToId_.end())
    throw LmError(where + ": merged token '" + printable(a + b) + "' is not in the vocabulary");
  // A later duplicate replaces the earlier rank, as in encoder.py's dict and Hugging Face's map.
  merges_[detail::tokenPairKey(ia->second, ib->second)] = {static_cast<std::int32_t>(merges_.size()), im->second};
}

void Gpt2BpeTokenizer::finish() {
  const auto& b2u = gpt2ByteToUnicode();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    appendUtf8(s, b2u[b]);
    auto it = tokenToId_.find(s);
    byteId_[b] = it == tokenToId_.end() ? -1 : it->second;
  }
  // Special tokens of vocab.json files: <|...|> entries (GPT-2's <|endoftext|>).
  for (std::size_t id = 0; id < idToToken_.size(); ++id) {
    const auto& t = idToToken_[id];
    if (t.size() >= 5 && t.compare(0, 2, "<|") == 0 && t.compare(t.size() - 2, 2, "|>") == 0 && !isSpecial_[id]) {
      isSpecial_[id] = 1;
      specialTexts_.push_back(t);
      specialIds_.push_back(static_cast<std::int32_t>(id));
    }
  }
  if (auto it = tokenToId_.find("<|endoftext|>"); it != tokenToId_.end()) endOfText_ = it->second;
  if (auto it = tokenToId_.find("<unk>"); it != tokenToId_.end()) unkId_ = it->second;
  else unkId_ = endOfText_;  // GPT2Tokenizer's default unk_token
  // Longest special first, so that a special that is a prefix of another never wins.
  std::vector<std::size_t> order(specialTexts_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return specialTexts_[a].size() > specialTexts_[b].size(); });
  std::vector<std::string> texts;
  std::vector<std::int32_t> ids;
  for (auto i : order) {
    if (specialTexts_[i].empty()) continue;
    texts.push_back(specialTexts_[i]);
    ids.push_back(specialIds_[i]);
  }
  specialTexts_ = std::move(texts);
  specialIds_ = std::move(ids);
  // The bytes each token decodes to.
  const auto& u2b = unicodeToByte();
  decoded_.assign(idToToken_.size(), {});
  for (std::size_t id = 0; id < idToToken_.size(); ++id) {
    const std::string& t = idToToken_[id];
    if (isSpecial_[id]) {
      decoded_[id] = t;
      continue;
    }
    std::string& out = decoded_[id];
    for (std::size_t i = 0; i < t.size();) {
      char32_t cp;
      nextCodePoint(t, i, cp);
      if (cp < u2b.size() && u2b[cp] >= 0) out.push_back(static_cast<char>(u2b[cp]));
      else appendUtf8(out, cp);  // not a byte symbol: keep the character
    }
  }
}

std::unique_ptr<Gpt2BpeTokenizer> Gpt2BpeTokenizer::fromStrings(const std::string& vocabJson,
                                                                const std::string& mergesTxt,
                                                                const std::string& vocabName,
                                                                const std::string& mergesName) {
  std::unique_ptr<Gpt2BpeTokenizer> t(new Gpt2BpeTokenizer());
  t->name_ = vocabName;
  const PlainJson v = parseJson(vocabJson, vocabName);
  if (!v.is_object()) {
    throw LmError("'" + vocabName + "' must be a JSON object mapping token strings to ids, found a " +
                  std::string(v.type_name()));
  }
  std::vector<std::pair<std::string, std::int64_t>> entries;
  entries.reserve(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer()) {
      throw LmError("'" + vocabName + "': the id of token '" + printable(it.key()) + "' must be an integer, found " +
                    it.value().dump());
    }
    entries.emplace_back(it.key(), it.value().get<std::int64_t>());
  }
  t->buildVocab(std::move(entries), "'" + vocabName + "'");

  std::size_t lineNo = 0, pos = 0;
  while (pos < mergesTxt.size()) {
    std::size_t eol = mergesTxt.find('\n', pos);
    if (eol == std::string::npos) eol = mergesTxt.size();
    std::string line = mergesTxt.substr(pos, eol - pos);
    pos = eol + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const std::string where = "'" + mergesName + "' line " + std::to_string(lineNo);
    const std::size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos) {
      throw LmError(where + ": expected two symbols separated by one space, found '" + printable(line) + "'");
    }
    t->addMerge(line.substr(0, sp), line.substr(sp + 1), where);
  }
  t->finish();
  return t;
}

std::unique_ptr<Gpt2BpeTokenizer> Gpt2BpeTokenizer::fromFiles(const std::filesystem::path& vocabJson,
                                                              const std::filesystem::path& mergesTxt) {
  const std::string vocab = readFile(vocabJson, "GPT-2 vocabulary");  // vocabulary first: errors name it first
  const std::string merges = readFile(mergesTxt, "GPT-2 merges");
  auto t = fromStrings(vocab, merges, vocabJson.string(), mergesTxt.string());
  t->path_ = vocabJson.parent_path();
  return t;
}

std::unique_ptr<Gpt2BpeTokenizer> Gpt2BpeTokenizer::fromTokenizerJsonString(const std::string& json,
                                                                            const std::string& name) {
  try {
    return fromTokenizerJsonImpl(json, name);
  } catch (const nlohmann::json::exception& e) {  // a field of an unexpected type
    throw LmError("'" + name + "': unexpected content: " + e.what());
  }
}

std::unique_ptr<Gpt2BpeTokenizer> Gpt2BpeTokenizer::fromTokenizerJsonImpl(const std::string& json,
                                                                          const std::string& name) {
  const PlainJson j = parseJson(json, name);
  const std::string where = "'" + name + "'";
  if (!j.is_object()) throw LmError(where + ": expected a JSON object (a Hugging Face tokenizer.json)");
  auto model = j.find("model");
  if (model == j.end() || !model->is_object()) throw LmError(where + ": no \"model\" object");
  if (auto type = model->find("type"); type != model->end() && *type != "BPE") {
    throw LmError(where + ": model.type is " + type->dump() + "; only byte-level \"BPE\" (GPT-2 style) is supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (auto f = model->find(key); f != model->end() && f->is_string() && !f->get<std::string>().empty())
      throw LmError(where + ": model." + key + " is set; only GPT-2 byte-level BPE is supported");
  }
  if (auto f = model->find("byte_fallback"); f != model->end() && f->is_boolean() && f->get<bool>())
    throw LmError(where + ": model.byte_fallback is true (a SentencePiece-style BPE); open its tokenizer.model instead");
  if (auto f = j.find("normalizer"); f != j.end() && !f->is_null())
    throw LmError(where + ": a normalizer is set; only GPT-2 byte-level BPE (no normalizer) is supported");
  // The pre-tokenizer must be GPT-2's ByteLevel (alone or as the only member of a Sequence).
  bool addPrefixSpace = false;
  {
    auto pre = j.find("pre_tokenizer");
    const PlainJson* bl = nullptr;
    if (pre != j.end() && pre->is_object()) {
      if (pre->value("type", "") == "ByteLevel") bl = &*pre;
      else if (pre->value("type", "") == "Sequence" && pre->contains("pretokenizers") &&
               (*pre)["pretokenizers"].is_array() && (*pre)["pretokenizers"].size() == 1 &&
               (*pre)["pretokenizers"][0].is_object() && (*pre)["pretokenizers"][0].value("type", "") == "ByteLevel")
        bl = &(*pre)["pretokenizers"][0];
    }
    if (!bl) {
      throw LmError(where + ": pre_tokenizer must be GPT-2's ByteLevel, found " +
                    (pre == j.end() ? std::string("none") : pre->dump().substr(0, 200)));
    }
    if (auto r = bl->find("use_regex"); r != bl->end() && r->is_boolean() && !r->get<bool>())
      throw LmError(where + ": ByteLevel use_regex false (a custom split) is not supported");
    if (auto a = bl->find("add_prefix_space"); a != bl->end() && a->is_boolean()) addPrefixSpace = a->get<bool>();
  }
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object())
    throw LmError(where + ": model.vocab must be an object mapping token strings to ids");
  std::vector<std::pair<std::string, std::int64_t>> entries;
  entries.reserve(vocab->size() + 8);
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer())
      throw LmError(where + ": model.vocab: the id of '" + printable(it.key()) + "' must be an integer");
    entries.emplace_back(it.key(), it.value().get<std::int64_t>());
  }
  // Added tokens not in model.vocab extend it.
  std::vector<std::pair<std::string, std::int64_t>> added;
  if (auto at = j.find("added_tokens"); at != j.end() && !at->is_null()) {
    if (!at->is_array()) throw LmError(where + ": added_tokens must be an array");
    for (std::size_t k = 0; k < at->size(); ++k) {
      const auto& a = (*at)[k];
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        throw LmError(where + ": added_tokens[" + std::to_string(k) + "] needs an integer \"id\" and a string \"content\"");
      added.emplace_back(a["content"].get<std::string>(), a["id"].get<std::int64_t>());
    }
  }
  for (const auto& [content, id] : added) {
    bool present = false;
    for (const auto& [tok, tid] : entries) {
      if (tid == id) {
        if (tok != content)
          throw LmError(where + ": added token '" + printable(content) + "' has id " + std::to_string(id) +
                        ", which model.vocab gives to '" + printable(tok) + "'");
        present = true;
        break;
      }
    }
    if (!present) entries.emplace_back(content, id);
  }
  std::unique_ptr<Gpt2BpeTokenizer> t(new Gpt2BpeTokenizer());
  t->name_ = name;
  t->addPrefixSpace_ = addPrefixSpace;
  t->buildVocab(std::move(entries), where);
  for (const auto& [content, id] : added) {
    if (!t->isSpecial_[id]) {
      t->isSpecial_[id] = 1;
      t->specialTexts_.push_back(content);
      t->specialIds_.push_back(static_cast<std::int32_t>(id));
    }
  }
  auto merges = model->find("merges");
  if (merges == model->end() || !merges->is_array()) throw LmError(where + ": model.merges must be an array");
  for (std::size_t k = 0; k < merges->size(); ++k) {
    const auto& m = (*merges)[k];
    const std::string mw = where + ": model.merges[" + std::to_string(k) + "]";
    if (m.is_string()) {
      const auto s = m.get<std::string>();
      const std::size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
        throw LmError(mw + ": expected \"a b\", found '" + printable(s) + "'");
      t->addMerge(s.substr(0, sp), s.substr(sp + 1), mw);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      t->addMerge(m[0].get<std::string>(), m[1].get<std::string>(), mw);
    } else {
      throw LmError(mw + ": expected \"a b\" or [\"a\", \"b\"], found " + m.dump().substr(0, 100));
    }
  }
  t->finish();
  return t;
}

std::unique_ptr<Gpt2BpeTokenizer> Gpt2BpeTokenizer::fromTokenizerJson(const std::filesystem::path& tokenizerJson) {
  auto t = fromTokenizerJsonString(readFile(tokenizerJson, "tokenizer.json"), tokenizerJson.string());
  t->path_ = tokenizerJson;
  return t;
}

std::optional<std::int32_t> Gpt2BpeTokenizer::pieceId(const std::string& piece) const {
  if (auto it = tokenToId_.find(piece); it != tokenToId_.end()) return it->second;
  return std::nullopt;
}

void Gpt2BpeTokenizer::checkId(std::int32_t id) const {
  if (id < 0 || id >= vocabSize_) {
    throw LmError("token id " + std::to_string(id) + " is out of range for GPT-2 tokenizer '" + name_ +
                  "' (vocabulary of " + std::to_string(vocabSize_) + ")");
  }
}

std::vector<std::int32_t> Gpt2BpeTokenizer::encodePretoken(std::string_view piece) const {
  std::vector<std::int32_t> out;
  appendPretoken(piece, out);
  return out;
}

void Gpt2BpeTokenizer::appendPretoken(std::string_view piece, std::vector<std::int32_t>& out) const {
  if (piece.empty()) return;
  const std::string key(piece);
  auto& shard = (*cache_)[std::hash<std::string>{}(key) % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (auto it = shard.map.find(key); it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // Symbols: one per byte (-1 where the vocabulary lacks that byte's symbol: it never merges).
  const std::size_t n = piece.size();
  std::vector<std::int32_t> sym(n), next(n), prev(n);
  std::vector<char> alive(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    sym[i] = byteId_[static_cast<unsigned char>(piece[i])];
    prev[i] = static_cast<std::int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1;
  }
  // Merge the lowest-ranked pair first, the leftmost on ties (Hugging Face's Word::merge_all).
  struct Cand {
    std::int32_t rank, left, right, leftSym, rightSym, merged;
  };
  auto worse = [](const Cand& a, const Cand& b) { return a.rank != b.rank ? a.rank > b.rank : a.left > b.left; };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> heap(worse);
  auto consider = [&](std::int32_t l, std::int32_t r) {
    if (l < 0 || r < 0 || sym[l] < 0 || sym[r] < 0) return;
    auto it = merges_.find(detail::tokenPairKey(sym[l], sym[r]));
    if (it == merges_.end()) return;
    heap.push({it->second.first, l, r, sym[l], sym[r], it->second.second});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) consider(static_cast<std::int32_t>(i), static_cast<std::int32_t>(i + 1));
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right || sym[c.left] != c.leftSym ||
        sym[c.right] != c.rightSym)
      continue;
    sym[c.left] = c.merged;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    consider(prev[c.left], c.left);
    consider(c.left, next[c.left]);
  }
  std::vector<std::int32_t> ids;
  for (std::int32_t i = 0; i >= 0; i = next[i]) {
    if (sym[i] >= 0) {
      ids.push_back(sym[i]);
    } else if (unkId_) {
      ids.push_back(*unkId_);
    } else {
      throw LmError("GPT-2 tokenizer '" + name_ + "' has no symbol for byte " +
                    std::to_string(static_cast<unsigned char>(piece[i])) + " and no <unk> token");
    }
  }
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(shard.mutex);
  if (shard.map.size() >= kCacheShardLimit) shard.map.clear();
  shard.map.emplace(key, std::move(ids));
}

std::vector<std::int32_t> Gpt2BpeTokenizer::encode(const std::string& input, bool addBos, bool addEos) const {
  std::vector<std::int32_t> out;
  out.reserve(input.size() / 3 + 2);
  if (addBos && bosId()) out.push_back(*bosId());
  std::string prefixed;
  const std::string* textPtr = &input;
  if (addPrefixSpace_ && !input.empty() && input[0] != ' ') {
    prefixed = " " + input;
    textPtr = &prefixed;
  }
  const std::string_view text(*textPtr);
  auto encodePlain = [&](std::string_view part) {
    for (auto piece : gpt2Pretokenize(part)) appendPretoken(piece, out);
  };
  std::size_t pos = 0;
  if (splitSpecial_ && !specialTexts_.empty()) {
    while (pos < text.size()) {
      std::size_t best = std::string_view::npos, bestK = 0;
      for (std::size_t k = 0; k < specialTexts_.size(); ++k) {
        const std::size_t f = text.find(specialTexts_[k], pos);
        if (f < best) {  // earliest; on equal starts the longer (earlier in the list) stays
          best = f;
          bestK = k;
        }
      }
      if (best == std::string_view::npos) break;
      encodePlain(text.substr(pos, best - pos));
      out.push_back(specialIds_[bestK]);
      pos = best + specialTexts_[bestK].size();
    }
  }
  encodePlain(text.substr(pos));
  if (addEos && eosId()) out.push_back(*eosId());
  return out;
}

std::string Gpt2BpeTokenizer::tokenText(std::int32_t id) const {
  checkId(id);
  return decoded_[id];
}

std::string Gpt2BpeTokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::size_t total = 0;
  for (std::int32_t id : ids) {
    checkId(id);
    total += decoded_[id].size();
  }
  std::string out;
  out.reserve(total);
  for (std::int32_t id : ids) out += decoded_[id];
  return out;
}

}  // namespace atomscope::lm
