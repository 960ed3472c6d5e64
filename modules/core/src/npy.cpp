#include "atomscope/core/npy.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string_view>

#include "atomscope/core/mapped_file.h"
#include "atomscope/core/memory_limits.h"

#if defined(ATOMSCOPE_HAVE_ZLIB)
#include <zlib.h>
#endif

namespace atomscope::core {

namespace {

constexpr std::size_t kMaxHeaderBytes = 1 << 20;  // numpy itself refuses > 10000 unless told otherwise
constexpr std::size_t kMaxDims = 64;              // NPY_MAXDIMS in numpy 2

bool mulOverflow(std::uint64_t a, std::uint64_t b, std::uint64_t& out) { return __builtin_mul_overflow(a, b, &out); }

std::string printable(std::string_view s, std::size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 32 && u < 127) {
      out += c;
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

// --- the Python literal of the header -----------------------------------------------------

struct HeaderValue {
  enum Kind { Str, Bool, Tuple, Other } kind = Other;
  std::string str;
  bool boolean = false;
  std::vector<std::uint64_t> ints;
  bool intNotTuple = false;  // "(3)" is the int 3 in Python, not a tuple
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string where) : s_(text), where_(std::move(where)) {}

  std::map<std::string, HeaderValue> parseDict() {
    std::map<std::string, HeaderValue> out;
    skipWs();
    expect('{');
    skipWs();
    while (peek() != '}') {
      const std::string key = parseString();
      skipWs();
      expect(':');
      skipWs();
      HeaderValue v = parseValue(key);
      if (!out.emplace(key, std::move(v)).second) fail("key '" + key + "' appears twice");
      skipWs();
      if (peek() == ',') {
        ++i_;
        skipWs();
        continue;
      }
      if (peek() != '}') fail(std::string("expected ',' or '}' at offset ") + std::to_string(i_));
    }
    expect('}');
    skipWs();
    if (i_ != s_.size()) fail("unexpected text after the header dict at offset " + std::to_string(i_));
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw NpyError(where_ + ": malformed .npy header: " + what + " (header: \"" + printable(s_) + "\")");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skipWs() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c || i_ >= s_.size()) fail(std::string("expected '") + c + "' at offset " + std::to_string(i_));
    ++i_;
  }
  std::string parseString() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string at offset " + std::to_string(i_));
    ++i_;
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == q) break;
      if (c == '\\' || c == '\n') fail("escape sequences and newlines are not supported in header strings");
      out += c;
    }
    return out;
  }
  std::uint64_t parseInt() {
    if (peek() == '-') fail("negative dimension at offset " + std::to_string(i_));
    if (peek() < '0' || peek() > '9') fail("expected an integer at offset " + std::to_string(i_));
    std::uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(peek() - '0');
      if (mulOverflow(v, 10, v) || __builtin_add_overflow(v, digit, &v)) fail("integer too large");
      ++i_;
    }
    if (peek() == 'L' || peek() == 'l') ++i_;  // Python 2 long literal, as old numpy wrote
    return v;
  }
  HeaderValue parseValue(const std::string& key) {
    HeaderValue v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = HeaderValue::Str;
      v.str = parseString();
    } else if (s_.substr(i_, 4) == "True") {
      v.kind = HeaderValue::Bool;
      v.boolean = true;
      i_ += 4;
    } else if (s_.substr(i_, 5) == "False") {
      v.kind = HeaderValue::Bool;
      i_ += 5;
    } else if (c == '(') {
      v.kind = HeaderValue::Tuple;
      ++i_;
      skipWs();
      bool sawComma = false;
      while (peek() != ')') {
        if (v.ints.size() >= kMaxDims) fail("more than " + std::to_string(kMaxDims) + " dimensions");
        v.ints.push_back(parseInt());
        skipWs();
        if (peek() == ',') {
          ++i_;
          sawComma = true;
          skipWs();
        } else if (peek() != ')') {
          fail("expected ',' or ')' in the shape tuple at offset " + std::to_string(i_));
        }
      }
      ++i_;
      v.intNotTuple = v.ints.size() == 1 && !sawComma;
    } else if (c == '[' ) {
      v.kind = HeaderValue::Other;
      if (key == "descr") fail("structured dtypes (a list descr) are not supported");
      fail("value of '" + key + "' is a list");
    } else {
      fail("unexpected value for '" + key + "' at offset " + std::to_string(i_));
    }
    return v;
  }

  std::string_view s_;
  std::string where_;
  std::size_t i_ = 0;
};

struct DescrInfo {
  DType dtype;
  bool bigEndian;
};

std::optional<DescrInfo> parseDescr(const std::string& d) {
  if (d.size() < 3) return std::nullopt;
  const char order = d[0];
  const std::string code = d.substr(1);
  struct Row {
    const char* code;
    DType type;
  };
  static constexpr Row rows[] = {{"f2", DType::F16}, {"f4", DType::F32}, {"f8", DType::F64}, {"i1", DType::I8},
                                 {"i2", DType::I16}, {"i4", DType::I32}, {"i8", DType::I64}, {"u1", DType::U8},
                                 {"u2", DType::U16}, {"u4", DType::U32}, {"u8", DType::U64}, {"b1", DType::BOOL}};
  for (const auto& r : rows) {
    if (code != r.code) continue;
    const bool oneByte = dtypeSize(r.type) == 1;
    if (order == '<') return DescrInfo{r.type, false};
    if (order == '>') return DescrInfo{r.type, !oneByte};
    if (order == '|' && oneByte) return DescrInfo{r.type, false};
    return std::nullopt;
  }
  return std::nullopt;
}

void byteSwap(std::vector<std::uint8_t>& bytes, std::size_t itemSize) {
  if (itemSize <= 1) return;
  for (std::size_t i = 0; i + itemSize <= bytes.size(); i += itemSize) std::reverse(bytes.begin() + i, bytes.begin() + i + itemSize);
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::uint16_t rd16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t rd32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t rd64(const std::uint8_t* p) { return static_cast<std::uint64_t>(rd32(p)) | (static_cast<std::uint64_t>(rd32(p + 4)) << 32); }

void atomicWrite(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path tmp = path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw NpyError("npy writer: cannot create '" + tmp.string() + "' (for '" + path.string() + "'): " + std::strerror(errno));
  const std::uint8_t* p = bytes.data();
  std::size_t left = bytes.size();
  int err = 0;
  while (left > 0) {
    const ssize_t w = ::write(fd, p, std::min<std::size_t>(left, std::size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw NpyError("npy writer: writing '" + tmp.string() + "' failed: " + std::strerror(err));
  }
  // POSIX rename rather than std::filesystem (the pip LibTorch interposes some of its symbols).
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    throw NpyError("npy writer: cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + std::strerror(err));
  }
}

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) as zip uses it.
std::uint32_t crc32Of(const std::uint8_t* data, std::size_t size) {
#if defined(ATOMSCOPE_HAVE_ZLIB)
  uLong crc = ::crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
    crc = ::crc32(crc, data, chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
#else
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
#endif
}

}  // namespace

std::uint64_t NpyArray::numel() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

std::string npyDescr(DType dtype) {
  switch (dtype) {
    case DType::F64: return "<f8";
    case DType::F32: return "<f4";
    case DType::F16: return "<f2";
    case DType::I64: return "<i8";
    case DType::I32: return "<i4";
    case DType::I16: return "<i2";
    case DType::I8: return "|i1";
    case DType::U8: return "|u1";
    case DType::U16: return "<u2";
    case DType::U32: return "<u4";
    case DType::U64: return "<u8";
    case DType::BOOL: return "|b1";
    case DType::BF16: break;
  }
  throw NpyError("npy: numpy has no bfloat16 dtype; convert BF16 to F32 before writing .npy");
}

NpyArray readNpy(const void* data, std::size_t size, const std::string& sourceName) {
  const std::string where = "npy file '" + sourceName + "'";
  auto fail = [&](const std::string& what) -> void { throw NpyError(where + ": " + what); };
  const auto* p = static_cast<const std::uint8_t*>(data);
  static constexpr std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(p, magic, 6) != 0) {
    if (size >= 4 && p[0] == 'P' && p[1] == 'K') fail("this is a zip archive (.npz?), not a .npy file; use readNpz");
    fail("not a .npy file (missing the \\x93NUMPY magic)");
  }
  const int major = p[6], minor = p[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    fail("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
         " (supported: 1.0, 2.0, 3.0)");
  std::size_t headerLen = 0, headerStart = 0;
  if (major == 1) {
    headerLen = rd16(p + 8);
    headerStart = 10;
  } else {
    if (size < 12) fail("file too short for a version " + std::to_string(major) + ".0 header length");
    headerLen = rd32(p + 8);
    headerStart = 12;
  }
  if (headerLen > kMaxHeaderBytes) fail("header length " + std::to_string(headerLen) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes));
  if (headerLen > size - headerStart)
    fail("header length " + std::to_string(headerLen) + " runs past the end of the file (" + std::to_string(size) + " bytes; truncated?)");
  const std::string_view text(reinterpret_cast<const char*>(p + headerStart), headerLen);

  HeaderParser parser(text, where);
  auto dict = parser.parseDict();
  const std::set<std::string> expected = {"descr", "fortran_order", "shape"};
  for (const auto& [k, v] : dict)
    if (!expected.count(k)) fail("header has unexpected key '" + printable(k) + "' (expected descr, fortran_order, shape)");
  for (const auto& k : expected)
    if (!dict.count(k)) fail("header lacks the key '" + k + "'");
  const HeaderValue& descr = dict["descr"];
  const HeaderValue& fortran = dict["fortran_order"];
  const HeaderValue& shape = dict["shape"];
  if (descr.kind != HeaderValue::Str) fail("'descr' is not a string");
  if (fortran.kind != HeaderValue::Bool) fail("'fortran_order' is not True or False");
  if (shape.kind != HeaderValue::Tuple || shape.intNotTuple) fail("'shape' is not a tuple of integers");

  auto info = parseDescr(descr.str);
  if (!info)
    fail("unsupported dtype descr '" + printable(descr.str) +
         "' (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, little- or big-endian; object, structured, "
         "complex, string and datetime arrays are refused)");

  NpyArray out;
  out.descr = descr.str;
  out.dtype = info->dtype;
  out.fortranOrder = fortran.boolean;
  std::uint64_t numel = 1;
  bool overflow = false;
  for (auto d : shape.ints) {
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail("dimension " + std::to_string(d) + " is too large");
    out.shape.push_back(static_cast<std::int64_t>(d));
    if (mulOverflow(numel, d, numel)) overflow = true;
  }
  std::uint64_t nbytes = 0;
  if (overflow || mulOverflow(numel, dtypeSize(out.dtype), nbytes))
    fail("shape " + shapeText(out.shape) + " overflows 64-bit byte counts");
  const std::size_t dataStart = headerStart + headerLen;
  const std::uint64_t have = size - dataStart;
  if (have < nbytes)
    fail("shape " + shapeText(out.shape) + " of '" + descr.str + "' needs " + std::to_string(nbytes) + " data bytes but the file has " +
         std::to_string(have) + " (truncated?)");
  if (have > nbytes)
    fail("shape " + shapeText(out.shape) + " of '" + descr.str + "' needs " + std::to_string(nbytes) + " data bytes but the file has " +
         std::to_string(have) + " (" + std::to_string(have - nbytes) + " trailing bytes)");
  if (!fitsInMemory(nbytes))
    fail("shape " + shapeText(out.shape) + " of '" + descr.str + "' needs " + bytesText(nbytes) + " of memory but only " +
         bytesText(availableMemoryBytes()) + " are available; nothing was allocated");
  out.bytes.assign(p + dataStart, p + dataStart + nbytes);
  if (info->bigEndian) byteSwap(out.bytes, dtypeSize(out.dtype));
  return out;
}

NpyArray readNpy(const std::filesystem::path& path) {
  MappedFile file;
  try {
    file = MappedFile(path);
  } catch (const MappedFileError& e) {
    throw NpyError(std::string("npy: ") + e.what());
  }
  return readNpy(file.data(), file.size(), path.string());
}

std::vector<std::uint8_t> encodeNpy(const NpyArray& a) {
  const std::string descr = npyDescr(a.dtype);
  std::uint64_t numel = 1, nbytes = 0;
  for (auto d : a.shape) {
    if (d < 0) throw NpyError("npy writer: negative dimension in shape " + shapeText(a.shape));
    if (mulOverflow(numel, static_cast<std::uint64_t>(d), numel)) throw NpyError("npy writer: shape overflows");
  }
  if (mulOverflow(numel, dtypeSize(a.dtype), nbytes) || nbytes != a.bytes.size())
    throw NpyError("npy writer: shape " + shapeText(a.shape) + " of '" + descr + "' needs " + std::to_string(nbytes) +
                   " bytes but the array has " + std::to_string(a.bytes.size()));
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (a.fortranOrder ? "True" : "False") +
                     ", 'shape': " + shapeText(a.shape) + ", }";
  // numpy.lib.format._wrap_header: pad with spaces so that magic + length + header is a multiple of
  // 64 (ARRAY_ALIGN), ending with '\n'.
  int major = 1;
  std::size_t prefix = 10;
  auto padded = [&](std::size_t pre) {
    const std::size_t unpadded = pre + dict.size() + 1;
    return dict.size() + 1 + (64 - unpadded % 64) % 64;
  };
  std::size_t hlen = padded(prefix);
  if (hlen > 0xFFFF) {
    major = 2;
    prefix = 12;
    hlen = padded(prefix);
  }
  std::vector<std::uint8_t> out(prefix + hlen + a.bytes.size());
  std::uint8_t* o = out.data();
  const std::uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  std::memcpy(o, magic, 8);
  for (std::size_t i = 0; i < prefix - 8; ++i) o[8 + i] = static_cast<std::uint8_t>((hlen >> (8 * i)) & 0xFF);
  std::memcpy(o + prefix, dict.data(), dict.size());
  std::memset(o + prefix + dict.size(), ' ', hlen - dict.size() - 1);
  o[prefix + hlen - 1] = '\n';
  if (!a.bytes.empty()) std::memcpy(o + prefix + hlen, a.bytes.data(), a.bytes.size());
  return out;
}

void writeNpy(const std::filesystem::path& path, const NpyArray& array) { atomicWrite(path, encodeNpy(array)); }

bool npzDeflateSupported() {
#if defined(ATOMSCOPE_HAVE_ZLIB)
  return true;
#else
  return false;
#endif
}

// --- npz --------------------------------------------------------------------------------------

std::map<std::string, NpyArray> readNpz(const void* data, std::size_t size, const std::string& sourceName,
                                        const NpzOptions& options) {
  const std::string where = "npz file '" + sourceName + "'";
  auto fail = [&](const std::string& what) -> void { throw NpyError(where + ": " + what); };
  const auto* p = static_cast<const std::uint8_t*>(data);

  // End of central directory: the last signature that leaves room for its comment.
  constexpr std::size_t kEocd = 22;
  if (size < kEocd) {
    if (size >= 6 && p[0] == 0x93 && std::memcmp(p + 1, "NUMPY", 5) == 0) fail("this is a .npy file, not an .npz archive; use readNpy");
    fail("file is " + std::to_string(size) + " bytes, too short for a zip archive");
  }
  std::optional<std::size_t> eocd;
  const std::size_t lowest = size >= kEocd + 0xFFFF ? size - kEocd - 0xFFFF : 0;
  for (std::size_t pos = size - kEocd + 1; pos-- > lowest;) {
    if (rd32(p + pos) == 0x06054b50 && pos + kEocd + rd16(p + pos + 20) <= size) {
      eocd = pos;
      break;
    }
  }
  if (!eocd) {
    if (p[0] == 0x93 && size >= 6 && std::memcmp(p + 1, "NUMPY", 5) == 0) fail("this is a .npy file, not an .npz archive; use readNpy");
    fail("not a zip archive (no end-of-central-directory record; truncated?)");
  }
  const std::uint8_t* e = p + *eocd;
  std::uint64_t diskNo = rd16(e + 4), cdDisk = rd16(e + 6);
  std::uint64_t entries = rd16(e + 10);
  std::uint64_t cdSize = rd32(e + 12), cdOffset = rd32(e + 16);
  std::uint64_t cdLimit = *eocd;  // the central directory must end before this
  if (*eocd >= 20 && rd32(p + *eocd - 20) == 0x07064b50) {  // ZIP64 end-of-central-directory locator
    const std::uint8_t* loc = p + *eocd - 20;
    const std::uint64_t z64 = rd64(loc + 8);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1) fail("multi-disk zip archives are not supported");
    if (z64 > *eocd - 20 || *eocd - 20 - z64 < 56) fail("ZIP64 end-of-central-directory record offset " + std::to_string(z64) + " is out of range");
    const std::uint8_t* z = p + z64;
    if (rd32(z) != 0x06064b50) fail("ZIP64 end-of-central-directory record has a bad signature");
    diskNo = rd32(z + 16);
    cdDisk = rd32(z + 20);
    entries = rd64(z + 32);
    cdSize = rd64(z + 40);
    cdOffset = rd64(z + 48);
    cdLimit = z64;
  } else if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF) {
    fail("the end-of-central-directory record needs ZIP64 but no ZIP64 locator is present");
  }
  if (diskNo != 0 || cdDisk != 0) fail("multi-disk zip archives are not supported");
  if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset)
    fail("central directory [" + std::to_string(cdOffset) + ", +" + std::to_string(cdSize) + ") lies outside the archive");
  if (entries > cdSize / 46) fail("central directory declares " + std::to_string(entries) + " entries, more than fit in " + std::to_string(cdSize) + " bytes");

  std::map<std::string, NpyArray> out;
  std::uint64_t total = 0;
  std::uint64_t cur = cdOffset;
  const std::uint64_t cdEnd = cdOffset + cdSize;
  for (std::uint64_t k = 0; k < entries; ++k) {
    if (cdEnd - cur < 46) fail("central directory entry " + std::to_string(k) + " is truncated");
    const std::uint8_t* c = p + cur;
    if (rd32(c) != 0x02014b50) fail("central directory entry " + std::to_string(k) + " has a bad signature");
    const std::uint16_t flags = rd16(c + 8), method = rd16(c + 10);
    const std::uint32_t crc = rd32(c + 16);
    std::uint64_t csize = rd32(c + 20), usize = rd32(c + 24);
    const std::uint16_t nameLen = rd16(c + 28), extraLen = rd16(c + 30), commentLen = rd16(c + 32);
    std::uint64_t disk = rd16(c + 34);
    std::uint64_t localOff = rd32(c + 42);
    if (cdEnd - cur - 46 < std::uint64_t{nameLen} + extraLen + commentLen) fail("central directory entry " + std::to_string(k) + " is truncated");
    const std::string name(reinterpret_cast<const char*>(c + 46), nameLen);
    const std::string mw = "member '" + printable(name) + "': ";
    // ZIP64 extended information (header id 0x0001): only the fields that are saturated, in order.
    const std::uint8_t* x = c + 46 + nameLen;
    const std::uint8_t* xEnd = x + extraLen;
    while (xEnd - x >= 4) {
      const std::uint16_t id = rd16(x), len = rd16(x + 2);
      if (xEnd - x - 4 < len) fail(mw + "extra field runs past its entry");
      if (id == 0x0001) {
        const std::uint8_t* f = x + 4;
        std::size_t left = len;
        auto take = [&](std::uint64_t& field, std::uint64_t saturated, std::size_t width) {
          if (field != saturated) return;
          if (left < width) fail(mw + "ZIP64 extra field is too short");
          field = width == 8 ? rd64(f) : rd32(f);
          f += width;
          left -= width;
        };
        take(usize, 0xFFFFFFFF, 8);
        take(csize, 0xFFFFFFFF, 8);
        take(localOff, 0xFFFFFFFF, 8);
        take(disk, 0xFFFF, 4);
      }
      x += 4 + len;
    }
    cur += 46 + std::uint64_t{nameLen} + extraLen + commentLen;

    if (disk != 0) fail(mw + "multi-disk zip archives are not supported");
    if (flags & 0x0001) fail(mw + "is encrypted");
    if (method != 0 && method != 8) fail(mw + "compression method " + std::to_string(method) + " is not supported (numpy writes stored or deflate)");
    if (!name.empty() && name.back() == '/' && usize == 0) continue;  // a directory entry
    if (name.size() < 5 || name.compare(name.size() - 4, 4, ".npy") != 0) fail(mw + "is not a .npy member");
    const std::string key = name.substr(0, name.size() - 4);
    if (out.count(key)) fail(mw + "appears twice");

    if (usize > options.maxEntryBytes)
      fail(mw + "declares " + std::to_string(usize) + " uncompressed bytes, over the limit of " + std::to_string(options.maxEntryBytes));
    if (usize > options.maxTotalBytes - std::min(total, options.maxTotalBytes))
      fail(mw + "brings the archive's uncompressed size over the limit of " + std::to_string(options.maxTotalBytes) + " bytes");
    if (!fitsInMemory(total + usize))
      fail(mw + "brings the archive to " + bytesText(total + usize) + " uncompressed, more than the " +
           bytesText(availableMemoryBytes()) + " of memory available; nothing was allocated");
    if (method == 0 && csize != usize) fail(mw + "is stored but its compressed size " + std::to_string(csize) + " differs from its size " + std::to_string(usize));
    if (method == 8 && usize > 0 && (csize == 0 || static_cast<double>(usize) / static_cast<double>(csize) > options.maxCompressionRatio))
      fail(mw + "declares " + std::to_string(usize) + " bytes from " + std::to_string(csize) + " compressed bytes, a ratio over the limit of " +
           std::to_string(static_cast<long long>(options.maxCompressionRatio)) + " (zip bomb?)");

    // Local header, then the data.
    if (localOff > cdOffset || cdOffset - localOff < 30) fail(mw + "local header offset " + std::to_string(localOff) + " is out of range");
    const std::uint8_t* l = p + localOff;
    if (rd32(l) != 0x04034b50) fail(mw + "local header has a bad signature");
    const std::uint16_t lNameLen = rd16(l + 26), lExtraLen = rd16(l + 28);
    const std::uint64_t dataOff = localOff + 30 + lNameLen + lExtraLen;
    if (dataOff > cdOffset || csize > cdOffset - dataOff)
      fail(mw + "data [" + std::to_string(dataOff) + ", +" + std::to_string(csize) + ") runs past the start of the central directory");
    if (lNameLen != nameLen || std::memcmp(l + 30, c + 46, nameLen) != 0) fail(mw + "local header names a different file");
    const std::uint8_t* src = p + dataOff;

    std::vector<std::uint8_t> inflated;
    const std::uint8_t* member = src;
    if (method == 8) {
#if defined(ATOMSCOPE_HAVE_ZLIB)
      inflated.resize(usize);
      z_stream zs{};
      if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) fail(mw + "zlib inflateInit2 failed");
      std::uint64_t inLeft = csize, outLeft = usize;
      zs.next_in = const_cast<Bytef*>(src);
      zs.next_out = inflated.data();
      int rc = Z_OK;
      while (true) {
        const uInt inChunk = static_cast<uInt>(std::min<std::uint64_t>(inLeft, UINT_MAX));
        const uInt outChunk = static_cast<uInt>(std::min<std::uint64_t>(outLeft, UINT_MAX));
        zs.avail_in = inChunk;
        zs.avail_out = outChunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        const std::uint64_t consumed = inChunk - zs.avail_in, produced = outChunk - zs.avail_out;
        inLeft -= consumed;
        outLeft -= produced;
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) break;
        if (outLeft == 0) {  // full before the end of the stream: is there more output than declared?
          std::uint8_t probe = 0;
          zs.next_out = &probe;
          zs.avail_out = 1;
          zs.avail_in = static_cast<uInt>(std::min<std::uint64_t>(inLeft, UINT_MAX));
          rc = inflate(&zs, Z_NO_FLUSH);
          if (zs.avail_out == 0) {
            inflateEnd(&zs);
            fail(mw + "inflates to more than its declared " + std::to_string(usize) + " bytes");
          }
          break;  // Z_STREAM_END is success; anything else is reported as corrupt below
        }
        if (consumed == 0 && produced == 0) break;  // no progress: input exhausted or stuck
      }
      const std::string zmsg = zs.msg ? zs.msg : "";
      inflateEnd(&zs);
      if (rc != Z_STREAM_END)
        fail(mw + "deflate stream is corrupt or truncated" + (zmsg.empty() ? std::string() : " (" + zmsg + ")"));
      if (outLeft != 0)
        fail(mw + "inflates to " + std::to_string(usize - outLeft) + " bytes, not its declared " + std::to_string(usize));
      member = inflated.data();
#else
      fail(mw + "is deflate-compressed (np.savez_compressed) but this build has no zlib; rebuild with zlib (Debian zlib1g-dev)");
#endif
    }
    const std::uint32_t actualCrc = crc32Of(member, usize);
    if (actualCrc != crc) fail(mw + "CRC-32 mismatch (corrupt archive)");
    total += usize;
    out.emplace(key, readNpy(member, usize, sourceName + ":" + name));
  }
  return out;
}

std::map<std::string, NpyArray> readNpz(const std::filesystem::path& path, const NpzOptions& options) {
  MappedFile file;
  try {
    file = MappedFile(path);
  } catch (const MappedFileError& e) {
    throw NpyError(std::string("npz: ") + e.what());
  }
  return readNpz(file.data(), file.size(), path.string(), options);
}

}  // namespace atomscope::core
