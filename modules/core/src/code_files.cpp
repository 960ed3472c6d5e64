#include "atomscope/core/code_files.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <cstdint>
#include <set>
#include <string_view>
#include <vector>

#include "atomscope/core/mapped_file.h"

#ifdef ATOMSCOPE_HAVE_ZLIB
#include <zlib.h>
#endif

namespace fs = std::filesystem;

namespace atomscope::core {

namespace {

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

struct TrustState {
  std::mutex mutex;
  bool all = false;
  std::set<std::string> files;
};
TrustState& trust() {
  static TrustState s;
  return s;
}

std::string canonicalText(const fs::path& p) {
  std::error_code ec;
  const auto c = fs::weakly_canonical(p, ec);
  return ec ? fs::absolute(p).lexically_normal().string() : c.string();
}

}  // namespace

namespace {

std::uint64_t readLe(std::string_view b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(k)]);
  return v;
}

bool definesMethods(std::string_view code) {
  return code.rfind("def ", 0) == 0 || contains(code, "\n  def ") || contains(code, "\ndef ");
}

// A deflated zip entry's text (raw deflate), at most `limit` bytes; nullopt when it cannot be inflated
// (no zlib in this build, or a damaged stream).
std::optional<std::string> inflateEntry(std::string_view packed, std::size_t limit) {
#ifdef ATOMSCOPE_HAVE_ZLIB
  // In 64 KiB steps: a buffer of `limit` zeroed up front cost ~10 ms of page faults per entry, on the GUI
  // thread when a job starts (TrustStore sniffs its model files), where a torch archive has several entries.
  std::string out;
  char chunk[1 << 16];
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(packed.size(), 0x7FFFFFFF));
  int rc = Z_OK;
  while (rc == Z_OK && out.size() <= limit) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - zs.avail_out);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) rc = Z_DATA_ERROR;  // input ended mid-stream
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || out.size() > limit) return std::nullopt;  // damaged, or longer than any TorchScript source
  return out;
#else
  (void)packed;
  (void)limit;
  return std::nullopt;
#endif
}

// The zip's verdict from its central directory; nullopt when the directory cannot be followed.
std::optional<CodeFileKind> sniffZipDirectory(std::string_view b) {
  const std::size_t n = b.size();
  if (n < 22) return std::nullopt;
  // End of central directory: the last "PK\5\6" within the final 22 + 65535 bytes.
  std::size_t eocd = std::string_view::npos;
  for (std::size_t at = n - 22 + 1; at-- > (n > 22 + 65535 ? n - 22 - 65535 : 0);)
    if (b.compare(at, 4, std::string_view("PK\x05\x06", 4)) == 0) {
      eocd = at;
      break;
    }
  if (eocd == std::string_view::npos) return std::nullopt;
  std::uint64_t entries = readLe(b, eocd + 10, 2), dirOffset = readLe(b, eocd + 16, 4);
  if (entries == 0xFFFF || dirOffset == 0xFFFFFFFF) {  // zip64: the locator sits just before
    if (eocd < 20 || b.compare(eocd - 20, 4, std::string_view("PK\x06\x07", 4)) != 0) return std::nullopt;
    const auto rec = readLe(b, eocd - 20 + 8, 8);
    if (rec > n || n - rec < 56 || b.compare(rec, 4, std::string_view("PK\x06\x06", 4)) != 0) return std::nullopt;
    entries = readLe(b, rec + 32, 8);
    dirOffset = readLe(b, rec + 48, 8);
  }
  if (dirOffset > n || entries > n / 46) return std::nullopt;
  bool data = false, constants = false;
  struct CodeEntry {
    std::uint64_t local, size;
    bool deflated;
  };
  std::vector<CodeEntry> code;  // code/*.py: TorchScript source, stored or deflated
  bool unreadableCode = false;
  std::size_t at = dirOffset;
  for (std::uint64_t e = 0; e < entries; ++e) {
    if (n - at < 46 || b.compare(at, 4, std::string_view("PK\x01\x02", 4)) != 0) return std::nullopt;
    const auto method = readLe(b, at + 10, 2);
    std::uint64_t size = readLe(b, at + 20, 4);
    const auto nameLen = readLe(b, at + 28, 2), extraLen = readLe(b, at + 30, 2), commentLen = readLe(b, at + 32, 2);
    std::uint64_t local = readLe(b, at + 42, 4);
    if (n - at - 46 < nameLen + extraLen + commentLen) return std::nullopt;
    const auto name = b.substr(at + 46, nameLen);
    // Zip64 extra field: 8-byte values for the fields that read 0xFFFFFFFF, in the order
    // uncompressed size, compressed size, local header offset.
    std::size_t x = at + 46 + nameLen;
    const std::size_t xEnd = x + extraLen;
    while (xEnd - x >= 4) {
      const auto id = readLe(b, x, 2), len = readLe(b, x + 2, 2);
      if (xEnd - x - 4 < len) return std::nullopt;
      if (id == 0x0001) {
        std::size_t f = x + 4;
        auto take = [&](std::uint64_t& v) {
          if (v != 0xFFFFFFFF) return true;
          if (f + 8 > x + 4 + len) return false;
          v = readLe(b, f, 8);
          f += 8;
          return true;
        };
        std::uint64_t uncompressed = readLe(b, at + 24, 4);
        if (!take(uncompressed) || !take(size) || !take(local)) return std::nullopt;
      }
      x += 4 + len;
    }
    auto ends = [&](std::string_view tail) { return name.size() >= tail.size() && name.substr(name.size() - tail.size()) == tail; };
    if (ends("/data.pkl")) data = true;
    if (ends("/constants.pkl")) constants = true;
    if (contains(name, "/code/") && ends(".py")) {
      if (method == 0 || method == 8) code.push_back({local, size, method == 8});
      else unreadableCode = true;
    }
    at += 46 + nameLen + extraLen + commentLen;
  }
  if (!data) return CodeFileKind::None;
  if (!constants) return CodeFileKind::TorchPickle;  // Python's torch.save
  // torch.jit.save and C++ torch::save archives both have code/; only scripted modules define methods.
  // Code that cannot be read here counts as code: ask rather than guess.
  if (unreadableCode) return CodeFileKind::TorchScript;
  for (const auto& c : code) {
    if (c.local > n || n - c.local < 30 || b.compare(c.local, 4, std::string_view("PK\x03\x04", 4)) != 0)
      return std::nullopt;
    const auto start = c.local + 30 + readLe(b, c.local + 26, 2) + readLe(b, c.local + 28, 2);
    if (start > n || n - start < c.size) return std::nullopt;
    const auto bytes = b.substr(start, c.size);
    if (!c.deflated) {
      if (definesMethods(bytes)) return CodeFileKind::TorchScript;
      continue;
    }
    const auto text = inflateEntry(bytes, std::size_t{16} << 20);  // TorchScript source files are KBs
    if (!text || definesMethods(*text)) return CodeFileKind::TorchScript;
  }
  return CodeFileKind::None;
}

}  // namespace

CodeFileKind sniffCodeBytes(std::string_view bytes) {
  if (bytes.size() < 2) return CodeFileKind::None;
  // PROTO opcode 0x80 with protocol 2..5 (every pickle Python 3 and torch.save write).
  if (static_cast<unsigned char>(bytes[0]) == 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return CodeFileKind::Pickle;
  if (bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4)) return CodeFileKind::None;
  if (const auto kind = sniffZipDirectory(bytes)) return *kind;
  // A zip whose directory we cannot follow: torch archives store entries uncompressed, so names and
  // TorchScript source are visible as bytes anywhere in the file.
  if (!contains(bytes, "/data.pkl")) return CodeFileKind::None;
  if (!contains(bytes, "/constants.pkl")) return CodeFileKind::TorchPickle;
  if (contains(bytes, "\n  def ") || contains(bytes, "\ndef ")) return CodeFileKind::TorchScript;
  return CodeFileKind::None;
}

CodeFileKind sniffCodeFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) < 2 || ec) return CodeFileKind::None;
  MappedFile map;
  try {
    map = MappedFile(path);
  } catch (const Error&) {
    return CodeFileKind::None;
  }
  return sniffCodeBytes(std::string_view(reinterpret_cast<const char*>(map.data()), map.size()));
}

std::string toString(CodeFileKind kind) {
  switch (kind) {
    case CodeFileKind::None: return "data";
    case CodeFileKind::Pickle: return "Python pickle";
    case CodeFileKind::TorchPickle: return "PyTorch pickle archive (torch.save)";
    case CodeFileKind::TorchScript: return "TorchScript model";
  }
  return "unknown";
}

void refusePickle(const fs::path& path, const std::string& what) {
  const auto kind = sniffCodeFile(path);
  if (kind != CodeFileKind::Pickle && kind != CodeFileKind::TorchPickle) return;
  throw Error(
      "'" + path.string() + "' is a " + toString(kind) + ", not a " + what +
      " file Atomscope reads: unpickling runs code stored in the file, so pickles are never loaded. "
      "Convert it where you trust it, in Python: for a state dict, safetensors.torch.save_file(torch.load(f), "
      "'model.safetensors'); for a Hugging Face model, AutoModel.from_pretrained(dir).save_pretrained(out, "
      "safe_serialization=True)");
}

void CodeTrust::trustAll(bool on) {
  std::lock_guard lock(trust().mutex);
  trust().all = on;
}

void CodeTrust::trustFile(const fs::path& path) {
  std::lock_guard lock(trust().mutex);
  trust().files.insert(canonicalText(path));
}

bool CodeTrust::isTrusted(const fs::path& path) {
  std::lock_guard lock(trust().mutex);
  return trust().all || trust().files.count(canonicalText(path)) > 0;
}

void CodeTrust::reset() {
  std::lock_guard lock(trust().mutex);
  trust().all = false;
  trust().files.clear();
}

void CodeTrust::require(const fs::path& path, const std::string& what) {
  if (isTrusted(path)) return;
  throw Error("'" + path.string() + "' is a " + what +
              ": TorchScript models are code and run with your permissions. Load it only if you trust "
              "where it came from: on the command line add --trust (atomscope-cli --trust run ...); in the "
              "workbench, confirm the question shown when it is loaded.");
}

void checkCodeFileParams(const Json& params) {
  if (!params.is_object()) return;
  for (auto it = params.begin(); it != params.end(); ++it) {
    std::vector<std::string> values;
    if (it->is_string()) values.push_back(it->get<std::string>());
    else if (it->is_array())
      for (const auto& v : *it)
        if (v.is_string()) values.push_back(v.get<std::string>());
    for (const auto& v : values) {
      if (v.empty() || v.size() > 4096) continue;
      std::error_code ec;
      if (!fs::is_regular_file(v, ec)) continue;
      const auto kind = sniffCodeFile(v);
      if (kind == CodeFileKind::TorchScript) CodeTrust::require(v, "TorchScript model (parameter '" + it.key() + "')");
      else refusePickle(v, "model or data (parameter '" + it.key() + "')");
    }
  }
}

}  // namespace atomscope::core
