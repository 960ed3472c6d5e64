#include "atomscope/core/code_files.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>
#include <string_view>
#include <vector>

#include "atomscope/core/mapped_file.h"

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

CodeFileKind sniffCodeFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) < 2 || ec) return CodeFileKind::None;
  MappedFile map;
  try {
    map = MappedFile(path);
  } catch (const Error&) {
    return CodeFileKind::None;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(map.data()), map.size());
  // PROTO opcode 0x80 with protocol 2..5 (every pickle Python 3 and torch.save write).
  if (static_cast<unsigned char>(bytes[0]) == 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return CodeFileKind::Pickle;
  if (bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4)) return CodeFileKind::None;
  // Torch zip archives store their entries uncompressed, so names and TorchScript source are
  // visible as bytes: "<archive>/data.pkl", "<archive>/constants.pkl", "<archive>/code/...py".
  if (!contains(bytes, "/data.pkl")) return CodeFileKind::None;
  if (!contains(bytes, "/constants.pkl")) return CodeFileKind::TorchPickle;  // Python's torch.save
  // torch.jit.save and C++ torch::save archives both have code/; only scripted modules define methods.
  if (contains(bytes, "\n  def ") || contains(bytes, "\ndef ")) return CodeFileKind::TorchScript;
  return CodeFileKind::None;
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
