// Activation shards: writer and memory-mapped reader.
#include "atomscope/sae/activations.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "atomscope/core/run_dir.h"

namespace atomscope::sae {

namespace fs = std::filesystem;

std::string siteKindName(lm::ActivationSite kind) {
  switch (kind) {
    case lm::ActivationSite::AttnOut: return "attn_out";
    case lm::ActivationSite::MlpOut: return "mlp_out";
    case lm::ActivationSite::ResidPost: return "resid_post";
  }
  return "resid_post";
}

lm::ActivationSite siteKindFromName(const std::string& name) {
  if (name == "resid_post") return lm::ActivationSite::ResidPost;
  if (name == "attn_out") return lm::ActivationSite::AttnOut;
  if (name == "mlp_out") return lm::ActivationSite::MlpOut;
  throw SaeError("unknown activation site '" + name + "': expected resid_post, attn_out or mlp_out");
}

std::string Site::name() const { return siteKindName(kind) + "." + std::to_string(layer); }

Site Site::parse(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot + 1 >= name.size())
    throw SaeError("site '" + name + "' must read <kind>.<layer>, e.g. resid_post.3");
  Site s;
  s.kind = siteKindFromName(name.substr(0, dot));
  const auto num = name.substr(dot + 1);
  if (!std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; }) || num.size() > 6)
    throw SaeError("site '" + name + "': layer '" + num + "' is not a non-negative integer");
  s.layer = std::stoll(num);
  return s;
}

// ------------------------------------------------------------------------------------------ writer

namespace {

std::string shardName(const std::string& stem, std::size_t k) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "_%03zu.bin", k);
  return stem + buf;
}

std::size_t itemSize(const std::string& dtype) { return dtype == "bfloat16" ? 2 : 4; }

torch::Dtype storeDtype(const std::string& dtype) { return dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32; }

void writeAll(std::ofstream& f, const void* data, std::size_t bytes, const fs::path& path) {
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!f) throw SaeError("cannot write activation shard '" + path.string() + "' (disk full?)");
}

}  // namespace

ActivationWriter::ActivationWriter(fs::path folder, std::vector<std::string> sites, std::int64_t d, std::string dtype,
                                   std::int64_t plannedRows, Json source)
    : folder_(std::move(folder)), sites_(std::move(sites)), d_(d), dtype_(std::move(dtype)),
      plannedRows_(plannedRows), source_(std::move(source)) {
  if (dtype_ != "float32" && dtype_ != "bfloat16")
    throw SaeError("activation dtype '" + dtype_ + "' is not float32 or bfloat16");
  if (sites_.empty()) throw SaeError("no activation site to collect");
  if (fs::exists(folder_) && !fs::is_empty(folder_))
    throw SaeError("activation folder '" + folder_.string() + "' exists and is not empty");
  fs::create_directories(folder_);
  writeManifest(false, false);
}

ActivationWriter::~ActivationWriter() {
  if (!finished_) {
    try {
      finish(false);
    } catch (...) {  // a destructor during unwinding must not throw; the manifest of the last shard stays
    }
  }
}

void ActivationWriter::openShard() {
  const auto k = shards_.size();
  currentShard_ = Json{{"rows", 0}, {"tokens", shardName("tokens", k)}, {"positions", shardName("positions", k)},
                       {"acts", Json::object()}};
  for (const auto& s : sites_) {
    const auto name = shardName(s, k);
    currentShard_["acts"][s] = name;
    actFiles_[s].open(folder_ / name, std::ios::binary | std::ios::trunc);
    if (!actFiles_[s]) throw SaeError("cannot create activation shard '" + (folder_ / name).string() + "'");
  }
  tokenFile_.open(folder_ / currentShard_["tokens"].get<std::string>(), std::ios::binary | std::ios::trunc);
  positionFile_.open(folder_ / currentShard_["positions"].get<std::string>(), std::ios::binary | std::ios::trunc);
  if (!tokenFile_ || !positionFile_) throw SaeError("cannot create token files in '" + folder_.string() + "'");
  currentRows_ = 0;
  open_ = true;
}

void ActivationWriter::append(const std::map<std::string, torch::Tensor>& acts, const std::vector<std::int32_t>& tokens,
                              const std::vector<std::int32_t>& positions) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (static_cast<std::int64_t>(positions.size()) != n) throw SaeError("tokens and positions differ in length");
  if (n == 0) return;
  if (!open_) openShard();
  for (const auto& s : sites_) {
    auto it = acts.find(s);
    if (it == acts.end()) throw SaeError("no activations given for site '" + s + "'");
    const auto& t = it->second;
    if (t.dim() != 2 || t.size(0) != n || t.size(1) != d_)
      throw SaeError("activations of site '" + s + "' must be [" + std::to_string(n) + ", " + std::to_string(d_) + "]");
    auto c = t.detach().to(torch::kCPU).to(storeDtype(dtype_)).contiguous();
    writeAll(actFiles_[s], c.data_ptr(), static_cast<std::size_t>(n * d_) * itemSize(dtype_), folder_ / s);
  }
  writeAll(tokenFile_, tokens.data(), tokens.size() * 4, folder_ / "tokens");
  writeAll(positionFile_, positions.data(), positions.size() * 4, folder_ / "positions");
  currentRows_ += n;
  rows_ += n;
}

void ActivationWriter::endShard() {
  if (!open_) return;
  for (auto& [s, f] : actFiles_) {
    f.close();
    if (!f) throw SaeError("cannot close activation shard of site '" + s + "' in '" + folder_.string() + "'");
  }
  actFiles_.clear();
  tokenFile_.close();
  positionFile_.close();
  open_ = false;
  if (currentRows_ > 0) {
    currentShard_["rows"] = currentRows_;
    shards_.push_back(currentShard_);
  } else {  // nothing was written: remove the empty files
    for (const auto& [s, name] : currentShard_["acts"].items()) fs::remove(folder_ / name.get<std::string>());
    fs::remove(folder_ / currentShard_["tokens"].get<std::string>());
    fs::remove(folder_ / currentShard_["positions"].get<std::string>());
  }
  writeManifest(false, false);
}

void ActivationWriter::finish(bool complete) {
  finished_ = true;
  endShard();
  writeManifest(complete, !complete);
}

void ActivationWriter::writeManifest(bool complete, bool cancelled) {
  Json m{{"format", "atomscope.activations/1"},
         {"d", d_},
         {"dtype", dtype_},
         {"sites", sites_},
         {"rows", rows_ - (open_ ? currentRows_ : 0)},
         {"planned_rows", plannedRows_},
         {"complete", complete},
         {"cancelled", cancelled},
         {"shards", shards_},
         {"source", source_}};
  core::writeFileAtomically(folder_ / "manifest.json", m.dump(1, ' ', false, Json::error_handler_t::replace) + "\n");
}

// ------------------------------------------------------------------------------------------ reader

namespace {

core::MappedFile mapChecked(const fs::path& path, std::uint64_t expectedBytes) {
  if (!fs::exists(path)) throw SaeError("activation shard '" + path.string() + "' is missing");
  core::MappedFile map(path);
  if (map.size() != expectedBytes)
    throw SaeError("activation shard '" + path.string() + "' holds " + std::to_string(map.size()) + " bytes, expected " +
                   std::to_string(expectedBytes) + " (rows x width from manifest.json)");
  return map;
}

}  // namespace

ActivationReader ActivationReader::open(const fs::path& folderOrManifest) {
  ActivationReader r;
  const fs::path file = fs::is_directory(folderOrManifest) ? folderOrManifest / "manifest.json" : folderOrManifest;
  r.folder_ = file.parent_path();
  if (!fs::exists(file)) throw SaeError("activation manifest '" + file.string() + "' does not exist");
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw SaeError("cannot read activation manifest '" + file.string() + "'");
  auto m = parseActivationManifest(text.str(), file);
  r.manifest_ = std::move(m.json);
  r.d_ = m.d;
  r.dtype_ = m.dtype;
  r.sites_ = m.sites;
  r.complete_ = m.complete;
  std::int64_t start = 0;
  for (const auto& ms : m.shards) {
    Shard s;
    s.start = start;
    s.rows = ms.rows;
    s.tokens = mapChecked(r.folder_ / ms.tokens, static_cast<std::uint64_t>(s.rows) * 4);
    s.positions = mapChecked(r.folder_ / ms.positions, static_cast<std::uint64_t>(s.rows) * 4);
    for (const auto& [site, name] : ms.acts)
      s.acts.emplace(site, mapChecked(r.folder_ / name, static_cast<std::uint64_t>(s.rows) *
                                                            static_cast<std::uint64_t>(r.d_) * m.itemSize));
    start += s.rows;
    r.shards_.push_back(std::move(s));
  }
  r.rows_ = start;
  return r;
}

void ActivationReader::requireSite(const std::string& site) const {
  if (std::find(sites_.begin(), sites_.end(), site) != sites_.end()) return;
  std::string list;
  for (const auto& s : sites_) list += (list.empty() ? "" : ", ") + s;
  throw SaeError("activations in '" + folder_.string() + "' hold no site '" + site + "' (they hold: " + list + ")");
}

const ActivationReader::Shard& ActivationReader::shardOf(std::int64_t row) const {
  if (row < 0 || row >= rows_)
    throw SaeError("activation row " + std::to_string(row) + " is out of range (" + std::to_string(rows_) + " rows)");
  auto it = std::upper_bound(shards_.begin(), shards_.end(), row, [](std::int64_t r, const Shard& s) { return r < s.start; });
  return *(it - 1);
}

torch::Tensor ActivationReader::view(const Shard& s, const std::string& site) const {
  requireSite(site);
  const auto& map = s.acts.at(site);
  // Read-only pages: torch never writes to a tensor that is only read (narrow, index_select, to).
  return torch::from_blob(const_cast<std::uint8_t*>(map.data()), {s.rows, d_},
                          torch::TensorOptions().dtype(storeDtype(dtype_)));
}

torch::Tensor ActivationReader::rows(const std::string& site, std::int64_t start, std::int64_t count) const {
  requireSite(site);
  if (start < 0 || count < 0 || start + count > rows_)
    throw SaeError("activation rows [" + std::to_string(start) + ", " + std::to_string(start + count) + ") out of range (" +
                   std::to_string(rows_) + " rows in '" + folder_.string() + "')");
  auto out = torch::empty({count, d_}, torch::kFloat32);
  std::int64_t done = 0;
  while (done < count) {
    const auto& s = shardOf(start + done);
    const auto off = start + done - s.start;
    const auto n = std::min(count - done, s.rows - off);
    out.narrow(0, done, n).copy_(view(s, site).narrow(0, off, n));
    done += n;
  }
  return out;
}

torch::Tensor ActivationReader::gather(const std::string& site, const torch::Tensor& indices) const {
  requireSite(site);
  auto idx = indices.to(torch::kCPU).to(torch::kLong).contiguous();
  const auto n = idx.numel();
  auto out = torch::empty({n, d_}, torch::kFloat32);
  if (n == 0) return out;
  if (idx.min().item<std::int64_t>() < 0 || idx.max().item<std::int64_t>() >= rows_)
    throw SaeError("activation index out of range (" + std::to_string(rows_) + " rows in '" + folder_.string() + "')");
  if (shards_.size() == 1) return view(shards_[0], site).index_select(0, idx).to(torch::kFloat32);
  for (const auto& s : shards_) {
    auto mask = (idx >= s.start) & (idx < s.start + s.rows);
    auto where = mask.nonzero().squeeze(1);
    if (where.numel() == 0) continue;
    out.index_copy_(0, where, view(s, site).index_select(0, idx.index_select(0, where) - s.start).to(torch::kFloat32));
  }
  return out;
}

torch::Tensor ActivationReader::randomBatch(const std::string& site, std::int64_t batch, std::int64_t begin,
                                            std::int64_t end, std::uint64_t seed, std::uint64_t step) const {
  if (begin < 0 || end > rows_ || end <= begin)
    throw SaeError("row range [" + std::to_string(begin) + ", " + std::to_string(end) + ") is empty or outside the " +
                   std::to_string(rows_) + " rows");
  auto idx = torch::empty({batch}, torch::kLong);
  auto* p = idx.data_ptr<std::int64_t>();
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + step * 0xD1B54A32D192ED03ull + 1;
  const auto span = static_cast<std::uint64_t>(end - begin);
  for (std::int64_t i = 0; i < batch; ++i) {  // SplitMix64
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    p[i] = begin + static_cast<std::int64_t>(z % span);
  }
  return gather(site, idx);
}

std::int32_t ActivationReader::token(std::int64_t row) const {
  const auto& s = shardOf(row);
  std::int32_t v;
  std::memcpy(&v, s.tokens.data() + (row - s.start) * 4, 4);
  return v;
}

std::int32_t ActivationReader::position(std::int64_t row) const {
  const auto& s = shardOf(row);
  std::int32_t v;
  std::memcpy(&v, s.positions.data() + (row - s.start) * 4, 4);
  return v;
}

}  // namespace atomscope::sae
