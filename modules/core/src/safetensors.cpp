#include "atomscope/core/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

static_assert(std::endian::native == std::endian::little,
              "safetensors and npy IO assume a little-endian host");

namespace atomscope::core {

// ---------------------------------------------------------------------------------------------
// DType
namespace {

struct DTypeRow {
  DType type;
  const char* name;
  std::size_t size;
  int rank;  // reference Dtype enum position: BOOL, U8, I8, (F8_E5M2, F8_E4M3), I16, U16, F16,
             // BF16, I32, U32, F32, F64, I64, U64
};

constexpr DTypeRow kDTypes[] = {
    {DType::F64, "F64", 8, 12},  {DType::F32, "F32", 4, 11},  {DType::F16, "F16", 2, 7},
    {DType::BF16, "BF16", 2, 8}, {DType::I64, "I64", 8, 13},  {DType::I32, "I32", 4, 9},
    {DType::I16, "I16", 2, 5},   {DType::I8, "I8", 1, 2},     {DType::U8, "U8", 1, 1},
    {DType::U16, "U16", 2, 6},   {DType::U32, "U32", 4, 10},  {DType::U64, "U64", 8, 14},
    {DType::BOOL, "BOOL", 1, 0},
};

const DTypeRow& row(DType t) {
  for (const auto& r : kDTypes)
    if (r.type == t) return r;
  throw Error("invalid DType value " + std::to_string(static_cast<int>(t)));
}

}  // namespace

const char* dtypeName(DType t) { return row(t).name; }
std::size_t dtypeSize(DType t) { return row(t).size; }
int dtypeAlignmentRank(DType t) { return row(t).rank; }

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const auto& r : kDTypes)
    if (name == r.name) return r.type;
  return std::nullopt;
}

const std::vector<DType>& allDTypes() {
  static const std::vector<DType> all = [] {
    std::vector<DType> v;
    for (const auto& r : kDTypes) v.push_back(r.type);
    return v;
  }();
  return all;
}

std::uint64_t TensorInfo::numel() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);  // validated not to overflow
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reader
namespace {

using JsonDom = nlohmann::json;

std::string supportedDTypeList() {
  std::string s;
  for (const auto& r : kDTypes) {
    if (!s.empty()) s += ", ";
    s += r.name;
  }
  return s;
}

// Multiplies with overflow detection.
bool mulOverflow(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return __builtin_mul_overflow(a, b, &out);
}

}  // namespace

SafetensorsReader SafetensorsReader::open(const std::filesystem::path& path) {
  SafetensorsReader r;
  r.source_ = path.string();
  try {
    r.storage_ = MappedFile(path, MappedFile::Mode::CopyOnWrite);
  } catch (const MappedFileError& e) {
    throw SafetensorsError(std::string("safetensors: ") + e.what());
  }
  r.parse();
  return r;
}

SafetensorsReader SafetensorsReader::fromBytes(std::vector<std::uint8_t> bytes, std::string sourceName) {
  SafetensorsReader r;
  r.source_ = std::move(sourceName);
  r.storage_ = std::move(bytes);
  r.parse();
  return r;
}

const std::uint8_t* SafetensorsReader::base() const {
  if (const auto* m = std::get_if<MappedFile>(&storage_)) return m->data();
  return std::get<std::vector<std::uint8_t>>(storage_).data();
}

std::uint64_t SafetensorsReader::fileSize() const {
  if (const auto* m = std::get_if<MappedFile>(&storage_)) return m->size();
  return std::get<std::vector<std::uint8_t>>(storage_).size();
}

void SafetensorsReader::parse() {
  const std::string where = "safetensors file '" + source_ + "'";
  auto fail = [&](const std::string& what) -> void { throw SafetensorsError(where + ": " + what); };
  const std::uint8_t* p = base();
  const std::uint64_t size = fileSize();

  if (size < 8) fail("file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  std::uint64_t n = 0;
  std::memcpy(&n, p, 8);  // little-endian host (static_assert above)
  if (n > kMaxHeaderBytes)
    fail("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
         " bytes (not a safetensors file, or corrupt)");
  if (n > size - 8)
    fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
         " bytes; truncated?)");
  if (n == 0) fail("header is empty (length 0); expected a JSON object");
  headerSize_ = n;

  const char* h = reinterpret_cast<const char*>(p + 8);
  // Duplicate keys are refused at every level; nesting is capped (the format needs depth 3).
  std::vector<std::set<std::string>> keyStack;
  std::string duplicate;
  constexpr int kMaxDepth = 8;
  auto callback = [&](int depth, JsonDom::parse_event_t event, JsonDom& parsed) -> bool {
    switch (event) {
      case JsonDom::parse_event_t::object_start:
      case JsonDom::parse_event_t::array_start:
        if (depth >= kMaxDepth) throw SafetensorsError(where + ": header JSON nests deeper than " + std::to_string(kMaxDepth) + " levels");
        if (event == JsonDom::parse_event_t::object_start) keyStack.emplace_back();
        break;
      case JsonDom::parse_event_t::object_end:
        if (!keyStack.empty()) keyStack.pop_back();
        break;
      case JsonDom::parse_event_t::key:
        if (!keyStack.empty() && parsed.is_string() &&
            !keyStack.back().insert(parsed.get<std::string>()).second) {
          duplicate = parsed.get<std::string>();
          throw SafetensorsError(where + ": duplicate key '" + duplicate + "' in the header JSON");
        }
        break;
      default:
        break;
    }
    return true;
  };
  JsonDom header;
  try {
    header = JsonDom::parse(h, h + n, callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const JsonDom::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(std::string("header JSON is a ") + header.type_name() + ", expected an object");

  tensors_.clear();
  index_.clear();
  metadata_.clear();
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const JsonDom& v = it.value();
    if (key == "__metadata__") {
      if (v.is_null()) continue;
      if (!v.is_object()) fail(std::string("\"__metadata__\" is a ") + v.type_name() + ", expected an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail("\"__metadata__\" entry '" + m.key() + "' is a " + m.value().type_name() + ", expected a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tw = "tensor '" + key + "': ";
    if (!v.is_object()) fail(tw + "entry is a " + std::string(v.type_name()) + ", expected an object");
    TensorInfo info;
    info.name = key;
    auto dt = v.find("dtype");
    if (dt == v.end()) fail(tw + "missing \"dtype\"");
    if (!dt->is_string()) fail(tw + "\"dtype\" is a " + std::string(dt->type_name()) + ", expected a string");
    auto parsedType = dtypeFromName(dt->get_ref<const std::string&>());
    if (!parsedType)
      fail(tw + "unsupported dtype \"" + dt->get<std::string>() + "\" (supported: " + supportedDTypeList() + ")");
    info.dtype = *parsedType;

    auto sh = v.find("shape");
    if (sh == v.end()) fail(tw + "missing \"shape\"");
    if (!sh->is_array()) fail(tw + "\"shape\" is a " + std::string(sh->type_name()) + ", expected an array of integers");
    std::uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<std::int64_t>() >= 0))
        fail(tw + "\"shape\" entry " + d.dump() + " is not a non-negative integer");
      const std::uint64_t dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(tw + "\"shape\" entry " + std::to_string(dim) + " is too large");
      info.shape.push_back(static_cast<std::int64_t>(dim));
      if (mulOverflow(numel, dim, numel)) overflow = true;
    }
    auto off = v.find("data_offsets");
    if (off == v.end()) fail(tw + "missing \"data_offsets\"");
    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      fail(tw + "\"data_offsets\" is " + off->dump() + ", expected [begin, end] with non-negative integers");
    info.begin = (*off)[0].get<std::uint64_t>();
    info.end = (*off)[1].get<std::uint64_t>();
    if (info.end < info.begin)
      fail(tw + "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "] end before they begin");
    std::uint64_t nbytes = 0;
    if (overflow || mulOverflow(numel, dtypeSize(info.dtype), nbytes))
      fail(tw + "shape " + sh->dump() + " of " + dtypeName(info.dtype) + " overflows 64-bit byte counts");
    if (info.end - info.begin != nbytes)
      fail(tw + "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "] span " +
           std::to_string(info.end - info.begin) + " bytes but shape " + sh->dump() + " of " +
           dtypeName(info.dtype) + " needs " + std::to_string(nbytes));
    tensors_.push_back(std::move(info));
  }

  // Tile check, as the reference does after sorting by offsets.
  std::stable_sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t dataSize = size - 8 - n;
  std::uint64_t cursor = 0;
  for (const auto& t : tensors_) {
    const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
    if (t.begin < cursor)
      fail("tensor '" + t.name + "': data_offsets " + range + " overlap the previous tensor, which ends at " +
           std::to_string(cursor));
    if (t.begin > cursor)
      fail("tensor '" + t.name + "': data_offsets " + range + " leave a gap of " + std::to_string(t.begin - cursor) +
           " bytes after offset " + std::to_string(cursor) + " (tensors must tile the data region)");
    if (t.end > dataSize)
      fail("tensor '" + t.name + "': data_offsets " + range + " run past the data region of " +
           std::to_string(dataSize) + " bytes (truncated file?)");
    cursor = t.end;
  }
  if (cursor != dataSize)
    fail("tensors cover " + std::to_string(cursor) + " bytes but the data region has " + std::to_string(dataSize) +
         " (trailing bytes, or truncated header offsets)");
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

std::vector<std::string> SafetensorsReader::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& t : tensors_) out.push_back(t.name);
  return out;
}

const TensorInfo& SafetensorsReader::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw SafetensorsError("safetensors file '" + source_ + "': no tensor named '" + name + "'");
  return tensors_[it->second];
}

std::span<const std::uint8_t> SafetensorsReader::bytes(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {dataRegion() + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

// ---------------------------------------------------------------------------------------------
// Writer

void SafetensorsWriter::check(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape,
                              std::size_t size) const {
  auto fail = [&](const std::string& what) { throw SafetensorsError("safetensors writer: tensor '" + name + "': " + what); };
  if (name == "__metadata__") fail("the name is reserved for the metadata map");
  if (contains(name)) fail("added twice");
  std::uint64_t numel = 1;
  for (auto d : shape) {
    if (d < 0) fail("negative dimension " + std::to_string(d));
    if (mulOverflow(numel, static_cast<std::uint64_t>(d), numel)) fail("shape overflows");
  }
  std::uint64_t nbytes = 0;
  if (mulOverflow(numel, dtypeSize(dtype), nbytes)) fail("shape overflows");
  if (nbytes != size)
    fail("has " + std::to_string(size) + " bytes but its shape of " + dtypeName(dtype) + " needs " + std::to_string(nbytes));
}

bool SafetensorsWriter::contains(const std::string& name) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
}

void SafetensorsWriter::add(std::string name, DType dtype, std::vector<std::int64_t> shape,
                            std::vector<std::uint8_t> bytes) {
  check(name, dtype, shape, bytes.size());
  Entry e{std::move(name), dtype, std::move(shape), std::move(bytes), nullptr, 0};
  e.size = e.owned.size();
  entries_.push_back(std::move(e));
}

void SafetensorsWriter::addView(std::string name, DType dtype, std::vector<std::int64_t> shape, const void* data,
                                std::size_t size) {
  check(name, dtype, shape, size);
  if (size != 0 && data == nullptr) throw SafetensorsError("safetensors writer: tensor '" + name + "': null data");
  entries_.push_back(Entry{std::move(name), dtype, std::move(shape), {}, static_cast<const std::uint8_t*>(data), size});
}

std::vector<const SafetensorsWriter::Entry*> SafetensorsWriter::ordered() const {
  std::vector<const Entry*> v;
  for (const auto& e : entries_) v.push_back(&e);
  // Reference: data.sort_by(|l, r| r.dtype().cmp(&l.dtype()).then(lname.cmp(rname)))
  std::sort(v.begin(), v.end(), [](const Entry* a, const Entry* b) {
    const int ra = dtypeAlignmentRank(a->dtype), rb = dtypeAlignmentRank(b->dtype);
    if (ra != rb) return ra > rb;
    return a->name < b->name;
  });
  return v;
}

std::string SafetensorsWriter::header(const std::map<std::string, std::string>& metadata) const {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  std::uint64_t offset = 0;
  for (const Entry* e : ordered()) {
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    t["dtype"] = dtypeName(e->dtype);
    t["shape"] = e->shape;
    t["data_offsets"] = {offset, offset + e->size};
    offset += e->size;
    h[e->name] = std::move(t);
  }
  std::string s;
  try {
    s = h.dump();  // compact, like serde_json::to_string
  } catch (const nlohmann::ordered_json::exception& ex) {
    throw SafetensorsError(std::string("safetensors writer: cannot encode the header (names and metadata must be UTF-8): ") + ex.what());
  }
  s.append((8 - s.size() % 8) % 8, ' ');
  return s;
}

std::vector<std::uint8_t> SafetensorsWriter::serialize(const std::map<std::string, std::string>& metadata) const {
  const std::string h = header(metadata);
  std::vector<std::uint8_t> out(8 + h.size());
  const std::uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  for (const Entry* e : ordered()) {
    const std::uint8_t* d = e->owned.empty() ? e->data : e->owned.data();
    out.insert(out.end(), d, d + e->size);
  }
  return out;
}

namespace {

void writeAll(int fd, const void* data, std::size_t size, const std::string& tmp) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (size > 0) {
    const ssize_t w = ::write(fd, p, std::min<std::size_t>(size, std::size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw SafetensorsError("safetensors writer: writing '" + tmp + "' failed: " + std::strerror(errno));
    }
    p += w;
    size -= static_cast<std::size_t>(w);
  }
}

}  // namespace

void SafetensorsWriter::write(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata) const {
  static std::atomic<unsigned> counter{0};
  const std::string h = header(metadata);
  const std::filesystem::path tmp =
      path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw SafetensorsError("safetensors writer: cannot create '" + tmp.string() + "' (for '" + path.string() +
                           "'): " + std::strerror(errno));
  try {
    const std::uint64_t n = h.size();
    writeAll(fd, &n, 8, tmp.string());
    writeAll(fd, h.data(), h.size(), tmp.string());
    for (const Entry* e : ordered()) {
      const std::uint8_t* d = e->owned.empty() ? e->data : e->owned.data();
      writeAll(fd, d, e->size, tmp.string());
    }
    if (::fsync(fd) != 0) throw SafetensorsError("safetensors writer: fsync of '" + tmp.string() + "' failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw SafetensorsError("safetensors writer: closing '" + tmp.string() + "' failed: " + std::strerror(err));
  }
  // POSIX calls rather than std::filesystem: the pip LibTorch exports (and interposes) some
  // std::filesystem symbols of its own.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw SafetensorsError("safetensors writer: cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + std::strerror(err));
  }
}

}  // namespace atomscope::core
