// Token shards: writer (text -> uint16/uint32 shards + index.json) and memory-mapped reader.
#include "atomscope/lm/token_shards.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/text.h"

namespace atomscope::lm {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "atomscope.token_shards/1";
constexpr const char* kEndOfText = "<|endoftext|>";

std::uint64_t splitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, n) without modulo bias worth speaking of (n << 2^64).
std::uint64_t below(std::uint64_t& state, std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(splitMix64(state)) * n) >> 64);
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  std::size_t a = 0, b = s.size();
  while (a < b && isSpace(s[a])) ++a;
  while (b > a && isSpace(s[b - 1])) --b;
  return s.substr(a, b - a);
}

std::string resolveSeparator(const std::string& separator, std::string_view text) {
  if (separator == "auto") return text.find(kEndOfText) != std::string_view::npos ? kEndOfText : "blank-line";
  return separator;
}

struct Boundary {
  std::string name;
  bool bos = false, eos = false;
};

Boundary resolveBoundary(const std::string& rule, const Tokenizer& tok) {
  const auto bos = tok.bosId(), eos = tok.eosId();
  Boundary b;
  std::string r = rule;
  if (r == "auto") r = (bos && (!eos || *bos != *eos)) ? "bos" : eos ? "eos" : "none";
  b.name = r;
  if (r == "bos") b.bos = true;
  else if (r == "eos") b.eos = true;
  else if (r == "bos+eos") b.bos = b.eos = true;
  else if (r != "none") throw LmError("boundary must be auto, bos, eos, bos+eos or none, not '" + rule + "'");
  if (b.bos && !bos) throw LmError("boundary '" + r + "': the " + tok.kind() + " tokenizer has no BOS token");
  if (b.eos && !eos) throw LmError("boundary '" + r + "': the " + tok.kind() + " tokenizer has no EOS token");
  return b;
}

// Appends tokens to a split's shard files, cutting a new file every shardTokens tokens.
class SplitSink {
 public:
  SplitSink(fs::path dir, std::string prefix, TokenDtype dtype, std::uint64_t shardTokens)
      : dir_(std::move(dir)), prefix_(std::move(prefix)), dtype_(dtype), shardTokens_(std::max<std::uint64_t>(1, shardTokens)) {}

  void append(const std::vector<std::int32_t>& ids) {
    std::size_t i = 0;
    while (i < ids.size()) {
      if (!out_.is_open() || inShard_ == shardTokens_) openNext();
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(ids.size() - i, shardTokens_ - inShard_));
      buffer_.clear();
      if (dtype_ == TokenDtype::UInt16) {
        buffer_.resize(take * 2);
        for (std::size_t k = 0; k < take; ++k) {
          const auto v = static_cast<std::uint16_t>(ids[i + k]);
          buffer_[2 * k] = static_cast<char>(v & 0xFF);
          buffer_[2 * k + 1] = static_cast<char>(v >> 8);
        }
      } else {
        buffer_.resize(take * 4);
        for (std::size_t k = 0; k < take; ++k) {
          const auto v = static_cast<std::uint32_t>(ids[i + k]);
          for (int b = 0; b < 4; ++b) buffer_[4 * k + b] = static_cast<char>((v >> (8 * b)) & 0xFF);
        }
      }
      out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
      if (!out_) throw LmError("cannot write token shard '" + (dir_ / files_.back()).string() + "' (disk full?)");
      inShard_ += take;
      counts_.back() += take;
      total_ += take;
      i += take;
    }
  }

  void close() {
    if (out_.is_open()) {
      out_.close();
      if (out_.fail()) throw LmError("cannot close token shard '" + (dir_ / files_.back()).string() + "'");
    }
  }

  Json shardsJson() const {
    Json a = Json::array();
    for (std::size_t k = 0; k < files_.size(); ++k) a.push_back({{"file", files_[k]}, {"tokens", counts_[k]}});
    return a;
  }
  std::uint64_t total() const { return total_; }

 private:
  void openNext() {
    close();
    char name[64];
    std::snprintf(name, sizeof name, "%s_%03zu.bin", prefix_.c_str(), files_.size());
    files_.emplace_back(name);
    counts_.push_back(0);
    inShard_ = 0;
    out_.open(dir_ / name, std::ios::binary | std::ios::trunc);
    if (!out_) throw LmError("cannot create token shard '" + (dir_ / name).string() + "'");
  }

  fs::path dir_;
  std::string prefix_;
  TokenDtype dtype_;
  std::uint64_t shardTokens_;
  std::ofstream out_;
  std::vector<std::string> files_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t inShard_ = 0, total_ = 0;
  std::string buffer_;
};

}  // namespace

std::string toString(TokenDtype dtype) { return dtype == TokenDtype::UInt16 ? "uint16" : "uint32"; }

TokenDtype tokenDtypeFromString(const std::string& name) {
  if (name == "uint16") return TokenDtype::UInt16;
  if (name == "uint32") return TokenDtype::UInt32;
  throw LmError("token dtype must be uint16 or uint32, not '" + name + "'");
}

std::size_t itemSize(TokenDtype dtype) { return dtype == TokenDtype::UInt16 ? 2 : 4; }

std::string toString(Split split) { return split == Split::Train ? "train" : "validation"; }

std::vector<fs::path> listTextFiles(const fs::path& input, const std::vector<std::string>& extensions) {
  std::error_code ec;
  if (!fs::exists(input, ec)) throw LmError("text input '" + input.string() + "' does not exist");
  std::vector<fs::path> files;
  if (fs::is_regular_file(input, ec)) {
    files.push_back(input);
    return files;
  }
  if (!fs::is_directory(input, ec)) throw LmError("text input '" + input.string() + "' is neither a file nor a folder");
  for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string ext = core::asciiLower(it->path().extension().string());
    if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end()) files.push_back(it->path());
  }
  if (ec) throw LmError("cannot list folder '" + input.string() + "': " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::string exts;
    for (const auto& e : extensions) exts += (exts.empty() ? "" : " ") + ("*" + e);
    throw LmError("no text files (" + exts + ") in folder '" + input.string() + "'");
  }
  return files;
}

std::vector<std::string_view> splitDocuments(std::string_view text, const std::string& separatorRule) {
  const std::string sep = resolveSeparator(separatorRule, text);
  std::vector<std::string_view> docs;
  auto push = [&](std::string_view d) {
    d = trim(d);
    if (!d.empty()) docs.push_back(d);
  };
  if (sep == "file") {
    push(text);
  } else if (sep == "line" || sep == "blank-line") {
    const bool each = sep == "line";
    std::size_t docStart = 0, pos = 0;
    while (pos < text.size()) {
      std::size_t eol = text.find('\n', pos);
      const std::size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
      const std::string_view line = text.substr(pos, next - pos);
      if (each) {
        push(line);
      } else if (trim(line).empty()) {
        push(text.substr(docStart, pos - docStart));
        docStart = next;
      }
      pos = next;
    }
    if (!each) push(text.substr(docStart));
  } else {
    if (sep.empty()) throw LmError("the document separator is empty");
    std::size_t pos = 0;
    while (true) {
      const std::size_t f = text.find(sep, pos);
      if (f == std::string_view::npos) {
        push(text.substr(pos));
        break;
      }
      push(text.substr(pos, f - pos));
      pos = f + sep.size();
    }
  }
  return docs;
}

Json writeTokenShards(const fs::path& input, const Tokenizer& tokenizer, const fs::path& outputDir,
                            const ShardWriteOptions& options) {
  auto progress = [&](double f, const std::string& stage) {
    if (options.progress) options.progress(f, stage);
  };
  auto checkCancel = [&] {
    if (options.cancelled && options.cancelled()) throw core::Cancelled();
  };
  if (!(options.validationFraction >= 0 && options.validationFraction < 1))
    throw LmError("validation fraction must be in [0, 1), not " + std::to_string(options.validationFraction));
  TokenDtype dtype;
  if (options.dtype == "auto") {
    dtype = tokenizer.vocabSize() <= 65536 ? TokenDtype::UInt16 : TokenDtype::UInt32;
  } else {
    dtype = tokenDtypeFromString(options.dtype);
    if (dtype == TokenDtype::UInt16 && tokenizer.vocabSize() > 65536)
      throw LmError("uint16 shards cannot hold the " + std::to_string(tokenizer.vocabSize()) +
                    " token ids of this tokenizer: use uint32 or auto");
  }
  const Boundary boundary = resolveBoundary(options.boundary, tokenizer);

  // Pass 1: files and document counts (needed for an exact, seeded validation split).
  progress(0, "listing text files");
  const auto files = listTextFiles(input, options.extensions);
  std::vector<std::uint64_t> fileDocs(files.size()), fileBytes(files.size());
  std::vector<std::string> fileSeparators(files.size());
  std::uint64_t totalDocs = 0, totalInputBytes = 0;
  for (std::size_t f = 0; f < files.size(); ++f) {
    checkCancel();
    core::MappedFile map;
    try {
      map = core::MappedFile(files[f]);
    } catch (const core::Error& e) {
      throw LmError(std::string("cannot read text file: ") + e.what());
    }
    const std::string_view text(reinterpret_cast<const char*>(map.data()), map.size());
    fileSeparators[f] = resolveSeparator(options.separator, text);
    fileDocs[f] = splitDocuments(text, fileSeparators[f]).size();
    fileBytes[f] = map.size();
    totalDocs += fileDocs[f];
    totalInputBytes += map.size();
  }
  if (totalDocs == 0) throw LmError("no documents in '" + input.string() + "': the text files are empty or whitespace");

  // Validation documents: a seeded partial Fisher-Yates shuffle of the document indices.
  std::uint64_t nVal = 0;
  if (options.validationFraction > 0 && totalDocs >= 2) {
    nVal = static_cast<std::uint64_t>(std::llround(options.validationFraction * static_cast<double>(totalDocs)));
    nVal = std::clamp<std::uint64_t>(nVal, 1, totalDocs - 1);
  }
  std::vector<std::uint8_t> isVal(totalDocs, 0);
  {
    std::vector<std::uint64_t> perm(totalDocs);
    for (std::uint64_t i = 0; i < totalDocs; ++i) perm[i] = i;
    std::uint64_t state = options.seed;
    for (std::uint64_t i = 0; i < nVal; ++i) {
      const std::uint64_t j = i + below(state, totalDocs - i);
      std::swap(perm[i], perm[j]);
      isVal[perm[i]] = 1;
    }
  }

  std::error_code ec;
  fs::create_directories(outputDir, ec);
  if (ec || !fs::is_directory(outputDir)) throw LmError("cannot create output folder '" + outputDir.string() + "'");
  // A stale index from an earlier run would describe shards that are about to be overwritten.
  fs::remove(outputDir / "index.json", ec);
  SplitSink train(outputDir, "train", dtype, options.shardTokens);
  SplitSink val(outputDir, "validation", dtype, options.shardTokens);

  const unsigned threads = options.threads > 0 ? static_cast<unsigned>(options.threads)
                                                : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::uint64_t> docLengths;  // content tokens per document
  docLengths.reserve(totalDocs);
  std::uint64_t docIndex = 0, bytesDone = 0, contentTokens = 0, textBytes = 0;
  std::uint64_t splitDocsCount[2] = {0, 0}, splitBytes[2] = {0, 0};
  Json inputs = Json::array();
  const std::optional<std::int32_t> bos = tokenizer.bosId(), eos = tokenizer.eosId();
  const std::int32_t vocab = tokenizer.vocabSize();
  constexpr std::size_t kChunkBytesPerThread = 64 * 1024;

  for (std::size_t f = 0; f < files.size(); ++f) {
    core::MappedFile map(files[f]);
    const std::string_view text(reinterpret_cast<const char*>(map.data()), map.size());
    const auto docs = splitDocuments(text, fileSeparators[f]);
    if (inputs.size() < 1000) inputs.push_back({{"path", files[f].string()}, {"bytes", fileBytes[f]}, {"documents", docs.size()}});
    std::size_t d = 0;
    while (d < docs.size()) {
      checkCancel();
      // A round: up to `threads` contiguous groups of documents of about kChunkBytesPerThread each.
      std::vector<std::pair<std::size_t, std::size_t>> groups;
      std::size_t g = d;
      while (g < docs.size() && groups.size() < threads) {
        std::size_t e = g, bytes = 0;
        while (e < docs.size() && (e == g || bytes + docs[e].size() <= kChunkBytesPerThread)) bytes += docs[e++].size();
        groups.emplace_back(g, e);
        g = e;
      }
      std::vector<std::vector<std::vector<std::int32_t>>> results(groups.size());
      auto work = [&](std::size_t k) {
        auto& r = results[k];
        for (std::size_t i = groups[k].first; i < groups[k].second; ++i) r.push_back(tokenizer.encode(std::string(docs[i])));
      };
      if (groups.size() == 1) {
        work(0);
      } else {
        std::vector<std::future<void>> futures;
        for (std::size_t k = 1; k < groups.size(); ++k) futures.push_back(std::async(std::launch::async, work, k));
        work(0);
        for (auto& fu : futures) fu.get();
      }
      std::vector<std::int32_t> seq;
      for (std::size_t k = 0; k < groups.size(); ++k) {
        for (std::size_t i = groups[k].first; i < groups[k].second; ++i) {
          const auto& ids = results[k][i - groups[k].first];
          for (std::int32_t id : ids)
            if (id < 0 || id >= vocab)
              throw LmError("the tokenizer produced id " + std::to_string(id) + " outside its vocabulary of " +
                            std::to_string(vocab) + " (file '" + files[f].string() + "')");
          seq.clear();
          if (boundary.bos) seq.push_back(*bos);
          seq.insert(seq.end(), ids.begin(), ids.end());
          if (boundary.eos) seq.push_back(*eos);
          const int s = isVal[docIndex] ? 1 : 0;
          (s ? val : train).append(seq);
          splitDocsCount[s] += 1;
          splitBytes[s] += docs[i].size();
          textBytes += docs[i].size();
          contentTokens += ids.size();
          docLengths.push_back(ids.size());
          ++docIndex;
        }
      }
      d = groups.back().second;
      const std::uint64_t pos = static_cast<std::uint64_t>(docs[d - 1].data() + docs[d - 1].size() - text.data());
      progress(totalInputBytes ? static_cast<double>(bytesDone + pos) / static_cast<double>(totalInputBytes) : 1.0,
               "tokenising " + files[f].filename().string() + " (" + std::to_string(f + 1) + "/" +
                   std::to_string(files.size()) + ")");
    }
    bytesDone += fileBytes[f];
  }
  train.close();
  val.close();

  // Statistics.
  std::vector<std::uint64_t> sorted = docLengths;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (auto v : sorted) mean += static_cast<double>(v);
  mean /= static_cast<double>(sorted.size());
  const double median = sorted.size() % 2 ? static_cast<double>(sorted[sorted.size() / 2])
                                          : 0.5 * static_cast<double>(sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  // Histogram bins [0,1), [1,2), [2,4), [4,8), ... up to the longest document.
  Json edges = Json::array(), counts = Json::array();
  {
    std::vector<std::uint64_t> bins;
    for (auto v : sorted) {
      std::size_t b = 0;
      if (v > 0) {
        b = 1;
        while ((1ull << b) <= v) ++b;
      }
      if (bins.size() <= b) bins.resize(b + 1, 0);
      ++bins[b];
    }
    edges.push_back(0);
    for (std::size_t b = 0; b < bins.size(); ++b) {
      edges.push_back(1ull << b);
      counts.push_back(bins[b]);
    }
  }
  Json tokJson = {{"path", tokenizer.sourcePath().string()},
                        {"kind", tokenizer.kind()},
                        {"vocab_size", tokenizer.vocabSize()},
                        {"bos_id", bos ? Json(*bos) : Json(nullptr)},
                        {"eos_id", eos ? Json(*eos) : Json(nullptr)}};
  Json index = {
      {"format", kFormat},
      {"tokenizer", tokJson},
      {"dtype", toString(dtype)},
      {"boundary", boundary.name},
      {"separator", options.separator},
      {"validation_fraction", options.validationFraction},
      {"seed", options.seed},
      {"splits",
       {{"train", {{"tokens", train.total()}, {"documents", splitDocsCount[0]}, {"text_bytes", splitBytes[0]}, {"shards", train.shardsJson()}}},
        {"validation",
         {{"tokens", val.total()}, {"documents", splitDocsCount[1]}, {"text_bytes", splitBytes[1]}, {"shards", val.shardsJson()}}}}},
      {"statistics",
       {{"documents", totalDocs},
        {"text_bytes", textBytes},
        {"content_tokens", contentTokens},
        {"bytes_per_token", contentTokens ? static_cast<double>(textBytes) / static_cast<double>(contentTokens) : 0.0},
        {"document_tokens",
         {{"min", sorted.front()}, {"max", sorted.back()}, {"mean", mean}, {"median", median},
          {"histogram", {{"edges", edges}, {"counts", counts}}}}}}},
      {"inputs", inputs},
      {"input_files", files.size()},
      {"created", core::isoTimeNow()}};
  core::writeFileAtomically(outputDir / "index.json", index.dump(1) + "\n");
  progress(1, "done");
  return index;
}

// ---------------------------------------------------------------------------------------------- reader

TokenShardReader TokenShardReader::open(const fs::path& dirOrIndex) {
  std::error_code ec;
  const fs::path indexPath = fs::is_directory(dirOrIndex, ec) ? dirOrIndex / "index.json" : dirOrIndex;
  std::ifstream in(indexPath);
  if (!in) throw LmError("token shard index '" + indexPath.string() + "' does not exist (an unfinished or cancelled tokenisation?)");
  TokenShardReader r;
  r.folder_ = indexPath.parent_path();
  try {
    r.index_ = Json::parse(in);
  } catch (const std::exception& e) {
    throw LmError("token shard index '" + indexPath.string() + "' is not valid JSON: " + e.what());
  }
  const std::string where = "token shard index '" + indexPath.string() + "'";
  try {
    if (r.index_.value("format", std::string()) != kFormat)
      throw LmError(where + ": \"format\" must be \"" + std::string(kFormat) + "\"");
    r.dtype_ = tokenDtypeFromString(r.index_.at("dtype").get<std::string>());
    r.vocabSize_ = r.index_.at("tokenizer").at("vocab_size").get<int>();
    for (Split s : {Split::Train, Split::Validation}) {
      auto& sd = s == Split::Train ? r.train_ : r.validation_;
      const auto& js = r.index_.at("splits").at(toString(s));
      for (const auto& sh : js.at("shards")) {
        Shard shard;
        const auto file = sh.at("file").get<std::string>();
        if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
          throw LmError(where + ": shard file name '" + file + "' must be a plain name in the folder");
        shard.path = r.folder_ / file;
        shard.tokens = sh.at("tokens").get<std::uint64_t>();
        shard.start = sd.tokens;
        try {
          shard.map = core::MappedFile(shard.path);
        } catch (const core::Error& e) {
          throw LmError(where + ": cannot open shard: " + e.what());
        }
        if (shard.map.size() != shard.tokens * itemSize(r.dtype_)) {
          throw LmError("token shard '" + shard.path.string() + "' has " + std::to_string(shard.map.size()) +
                        " bytes; the index says " + std::to_string(shard.tokens) + " " + toString(r.dtype_) +
                        " tokens (" + std::to_string(shard.tokens * itemSize(r.dtype_)) + " bytes)");
        }
        sd.tokens += shard.tokens;
        sd.shards.push_back(std::move(shard));
      }
      if (sd.tokens != js.at("tokens").get<std::uint64_t>())
        throw LmError(where + ": the " + toString(s) + " shards hold " + std::to_string(sd.tokens) +
                      " tokens, \"tokens\" says " + js.at("tokens").dump());
    }
  } catch (const Json::exception& e) {
    throw LmError(where + ": missing or wrong field: " + e.what());
  }
  return r;
}

std::uint64_t TokenShardReader::numTokens(Split split) const { return data(split).tokens; }

template <typename T>
void TokenShardReader::readImpl(Split split, std::uint64_t offset, std::uint64_t count, T* out) const {
  const auto& sd = data(split);
  if (offset > sd.tokens || count > sd.tokens - offset) {
    throw LmError("tokens [" + std::to_string(offset) + ", " + std::to_string(offset + count) + ") are outside the " +
                  toString(split) + " split of " + std::to_string(sd.tokens) + " tokens in '" + folder_.string() + "'");
  }
  if (count == 0) return;
  auto it = std::upper_bound(sd.shards.begin(), sd.shards.end(), offset,
                             [](std::uint64_t o, const Shard& s) { return o < s.start; });
  std::size_t k = static_cast<std::size_t>(it - sd.shards.begin()) - 1;
  std::uint64_t done = 0;
  while (done < count) {
    const Shard& s = sd.shards[k];
    const std::uint64_t local = offset + done - s.start;
    const std::uint64_t n = std::min(count - done, s.tokens - local);
    const std::uint8_t* p = s.map.data() + local * itemSize(dtype_);
    if (dtype_ == TokenDtype::UInt16) {
      for (std::uint64_t i = 0; i < n; ++i) out[done + i] = static_cast<T>(p[2 * i] | (p[2 * i + 1] << 8));
    } else {
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint32_t v = static_cast<std::uint32_t>(p[4 * i]) | (static_cast<std::uint32_t>(p[4 * i + 1]) << 8) |
                                (static_cast<std::uint32_t>(p[4 * i + 2]) << 16) |
                                (static_cast<std::uint32_t>(p[4 * i + 3]) << 24);
        out[done + i] = static_cast<T>(v);
      }
    }
    done += n;
    ++k;
  }
}

void TokenShardReader::read(Split split, std::uint64_t offset, std::uint64_t count, std::int64_t* out) const {
  readImpl(split, offset, count, out);
}

void TokenShardReader::read(Split split, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const {
  readImpl(split, offset, count, out);
}

std::uint32_t TokenShardReader::token(Split split, std::uint64_t position) const {
  std::int64_t v;
  readImpl(split, position, 1, &v);
  return static_cast<std::uint32_t>(v);
}

std::uint64_t TokenShardReader::randomOffset(Split split, int context, std::uint64_t seed, std::uint64_t step,
                                             int row) const {
  const auto n = numTokens(split);
  if (context < 1) throw LmError("context length must be at least 1");
  if (n < static_cast<std::uint64_t>(context) + 1) {
    throw LmError("the " + toString(split) + " split of '" + folder_.string() + "' has " + std::to_string(n) +
                  " tokens, fewer than context + 1 = " + std::to_string(context + 1));
  }
  std::uint64_t state = seed ^ (step * 0xD1B54A32D192ED03ull) ^ (static_cast<std::uint64_t>(row) * 0x8CB92BA72F3D8DD7ull);
  splitMix64(state);
  return below(state, n - static_cast<std::uint64_t>(context));  // start in [0, n - context - 1]
}

void TokenShardReader::randomBatch(Split split, int batch, int context, std::uint64_t seed, std::uint64_t step,
                                   std::int64_t* out) const {
  for (int r = 0; r < batch; ++r) {
    const auto off = randomOffset(split, context, seed, step, r);
    readImpl(split, off, static_cast<std::uint64_t>(context) + 1, out + static_cast<std::size_t>(r) * (context + 1));
  }
}

std::uint64_t TokenShardReader::numSequentialWindows(Split split, int context) const {
  if (context < 1) throw LmError("context length must be at least 1");
  const auto n = numTokens(split);
  return n < 2 ? 0 : (n - 1) / static_cast<std::uint64_t>(context);
}

void TokenShardReader::sequentialWindow(Split split, std::uint64_t k, int context, std::int64_t* out) const {
  if (k >= numSequentialWindows(split, context))
    throw LmError("evaluation window " + std::to_string(k) + " is past the last of the " + toString(split) + " split (" +
                  std::to_string(numSequentialWindows(split, context)) + " windows of " + std::to_string(context) + ")");
  readImpl(split, k * static_cast<std::uint64_t>(context), static_cast<std::uint64_t>(context) + 1, out);
}

void TokenShardReader::validateTokens() const {
  for (Split s : {Split::Train, Split::Validation}) {
    for (const auto& shard : data(s).shards) {
      const std::uint8_t* p = shard.map.data();
      for (std::uint64_t i = 0; i < shard.tokens; ++i) {
        std::uint32_t v;
        if (dtype_ == TokenDtype::UInt16) {
          v = static_cast<std::uint32_t>(p[2 * i] | (p[2 * i + 1] << 8));
        } else {
          v = static_cast<std::uint32_t>(p[4 * i]) | (static_cast<std::uint32_t>(p[4 * i + 1]) << 8) |
              (static_cast<std::uint32_t>(p[4 * i + 2]) << 16) | (static_cast<std::uint32_t>(p[4 * i + 3]) << 24);
        }
        if (v >= static_cast<std::uint32_t>(vocabSize_))
          throw LmError("token shard '" + shard.path.string() + "' holds id " + std::to_string(v) + " at position " +
                        std::to_string(i) + ", outside the vocabulary of " + std::to_string(vocabSize_));
      }
    }
  }
}

}  // namespace atomscope::lm
