// SentencePiece .model wrapper (libsentencepiece when found at build time).
#include "atomscope/lm/tokenizer_sentencepiece.h"

#ifdef ATOMSCOPE_HAVE_SENTENCEPIECE
#include <dlfcn.h>
#include <sentencepiece_processor.h>
#endif

#include <fstream>

namespace atomscope::lm {

#ifdef ATOMSCOPE_HAVE_SENTENCEPIECE

// Why dlopen: Debian's libsentencepiece carries its own copy of protobuf-lite with exported symbols, and
// LibTorch loads the system libprotobuf. Linked normally, libprotobuf's start-up code binds to
// libsentencepiece's copies and the process crashes before main(). So libsentencepiece is opened at
// run time with RTLD_LOCAL (its symbols stay private) and RTLD_DEEPBIND (it binds to its own protobuf
// first). Only virtual member functions are called (through the vtable, no link-time symbols); the
// constructor and util::Status's destructor and message come from dlsym.
namespace {

struct SpApi {
  void* handle = nullptr;
  void (*ctor)(void*) = nullptr;
  void (*statusDtor)(void*) = nullptr;
  const char* (*statusMessage)(const void*) = nullptr;
  std::string error;
};

const SpApi& spApi() {
  static const SpApi api = [] {
    SpApi a;
#if defined(__SANITIZE_ADDRESS__)
    a.error = "libsentencepiece is not opened in AddressSanitizer builds (RTLD_DEEPBIND is incompatible with ASan)";
    return a;
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    a.error = "libsentencepiece is not opened in AddressSanitizer builds (RTLD_DEEPBIND is incompatible with ASan)";
    return a;
#endif
#endif
    for (const char* name : {"libsentencepiece.so.0", "libsentencepiece.so"}) {
      a.handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (a.handle) break;
    }
    if (!a.handle) {
      const char* e = ::dlerror();
      a.error = std::string("cannot load libsentencepiece: ") + (e ? e : "not found");
      return a;
    }
    a.ctor = reinterpret_cast<void (*)(void*)>(::dlsym(a.handle, "_ZN13sentencepiece22SentencePieceProcessorC1Ev"));
    a.statusDtor = reinterpret_cast<void (*)(void*)>(::dlsym(a.handle, "_ZN13sentencepiece4util6StatusD1Ev"));
    a.statusMessage =
        reinterpret_cast<const char* (*)(const void*)>(::dlsym(a.handle, "_ZNK13sentencepiece4util6Status13error_messageEv"));
    if (!a.ctor || !a.statusDtor || !a.statusMessage) {
      a.error = "libsentencepiece lacks the expected C++ symbols (a different version than the headers?)";
      a.ctor = nullptr;
    }
    return a;
#endif
  }();
  return api;
}

// The layout of sentencepiece::util::Status (one unique_ptr to its Rep). A user-provided destructor makes
// it non-trivial, so it is returned through a hidden pointer exactly like util::Status.
struct StatusBox {
  void* rep = nullptr;
  StatusBox() = default;
  StatusBox(const StatusBox&) = delete;
  StatusBox& operator=(const StatusBox&) = delete;
  ~StatusBox() {
    if (rep) spApi().statusDtor(this);
  }
  bool ok() const { return rep == nullptr; }
  std::string message() const { return rep ? std::string(spApi().statusMessage(this)) : std::string(); }
};
static_assert(sizeof(StatusBox) == sizeof(sentencepiece::util::Status));

using Sp = sentencepiece::SentencePieceProcessor;
using LoadFn = StatusBox (Sp::*)(absl::string_view);
using EncodeFn = StatusBox (Sp::*)(absl::string_view, std::vector<int>*) const;
using DecodeFn = StatusBox (Sp::*)(const std::vector<int>&, std::string*) const;

// Virtual member pointers hold a vtable slot, not an address: these compile to vtable calls.
LoadFn loadFn() {
  return reinterpret_cast<LoadFn>(static_cast<sentencepiece::util::Status (Sp::*)(absl::string_view)>(&Sp::Load));
}
EncodeFn encodeFn() {
  return reinterpret_cast<EncodeFn>(
      static_cast<sentencepiece::util::Status (Sp::*)(absl::string_view, std::vector<int>*) const>(&Sp::Encode));
}
DecodeFn decodeFn() {
  return reinterpret_cast<DecodeFn>(
      static_cast<sentencepiece::util::Status (Sp::*)(const std::vector<int>&, std::string*) const>(&Sp::Decode));
}

}  // namespace

bool haveSentencePiece() { return spApi().ctor != nullptr; }

struct SentencePieceTokenizer::Impl {
  Sp* sp = nullptr;
  ~Impl() { delete sp; }  // virtual destructor: through the vtable
};

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<Impl> impl, std::filesystem::path path)
    : impl_(std::move(impl)), path_(std::move(path)) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::filesystem::path& modelFile) {
  {
    std::ifstream in(modelFile, std::ios::binary);
    if (!in) throw LmError("cannot open SentencePiece model '" + modelFile.string() + "'");
  }
  const auto& api = spApi();
  if (!api.ctor)
    throw LmError("cannot open SentencePiece model '" + modelFile.string() + "': " + api.error +
                  " (libsentencepiece is needed for .model files; the llama2.c tokenizer.bin of the same vocabulary works without it)");
  auto impl = std::make_unique<Impl>();
  void* mem = ::operator new(sizeof(Sp));
  api.ctor(mem);
  impl->sp = static_cast<Sp*>(mem);
  const std::string file = modelFile.string();
  StatusBox status = (impl->sp->*loadFn())(absl::string_view(file));
  if (!status.ok())
    throw LmError("SentencePiece model '" + modelFile.string() + "' could not be loaded: " + status.message());
  if (impl->sp->GetPieceSize() <= 0) throw LmError("SentencePiece model '" + modelFile.string() + "' has no pieces");
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(std::move(impl), modelFile));
}

int SentencePieceTokenizer::vocabSize() const { return impl_->sp->GetPieceSize(); }

void SentencePieceTokenizer::checkId(std::int32_t id) const {
  if (id < 0 || id >= vocabSize()) {
    throw LmError("token id " + std::to_string(id) + " is out of range for SentencePiece model '" + path_.string() +
                  "' (vocabulary of " + std::to_string(vocabSize()) + ")");
  }
}

std::vector<std::int32_t> SentencePieceTokenizer::encode(const std::string& text, bool addBos, bool addEos) const {
  std::vector<int> ids;
  StatusBox status = (impl_->sp->*encodeFn())(absl::string_view(text), &ids);
  if (!status.ok()) throw LmError("SentencePiece '" + path_.string() + "': encode failed: " + status.message());
  std::vector<std::int32_t> out;
  out.reserve(ids.size() + 2);
  if (addBos && bosId()) out.push_back(*bosId());
  out.insert(out.end(), ids.begin(), ids.end());
  if (addEos && eosId()) out.push_back(*eosId());
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::vector<int> v(ids.begin(), ids.end());
  for (int id : v) checkId(id);
  std::string out;
  StatusBox status = (impl_->sp->*decodeFn())(v, &out);
  if (!status.ok()) throw LmError("SentencePiece '" + path_.string() + "': decode failed: " + status.message());
  return out;
}

std::string SentencePieceTokenizer::piece(std::int32_t id) const {
  checkId(id);
  return impl_->sp->IdToPiece(id);
}

std::string SentencePieceTokenizer::tokenText(std::int32_t id) const {
  checkId(id);
  if (impl_->sp->IsControl(id)) return {};
  const std::string& p = impl_->sp->IdToPiece(id);
  if (impl_->sp->IsByte(id) && p.size() == 6) return std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
  if (impl_->sp->IsUnknown(id)) return " \xE2\x81\x87 ";  // SentencePiece's default unk surface " ⁇ "
  std::string out;
  static const std::string kSpace = "\xE2\x96\x81";  // U+2581
  for (std::size_t i = 0; i < p.size();) {
    if (p.compare(i, 3, kSpace) == 0) {
      out.push_back(' ');
      i += 3;
    } else {
      out.push_back(p[i++]);
    }
  }
  return out;
}

std::optional<std::int32_t> SentencePieceTokenizer::bosId() const {
  const int id = impl_->sp->bos_id();
  return id >= 0 && id < vocabSize() ? std::optional<std::int32_t>(id) : std::nullopt;
}

std::optional<std::int32_t> SentencePieceTokenizer::eosId() const {
  const int id = impl_->sp->eos_id();
  return id >= 0 && id < vocabSize() ? std::optional<std::int32_t>(id) : std::nullopt;
}

std::optional<std::int32_t> SentencePieceTokenizer::pieceId(const std::string& piece) const {
  const int id = impl_->sp->PieceToId(absl::string_view(piece));
  if (id < 0 || id >= vocabSize() || impl_->sp->IdToPiece(id) != piece) return std::nullopt;
  return id;
}

#else  // no libsentencepiece

bool haveSentencePiece() { return false; }

struct SentencePieceTokenizer::Impl {};

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<Impl> impl, std::filesystem::path path)
    : impl_(std::move(impl)), path_(std::move(path)) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::filesystem::path& modelFile) {
  throw LmError("cannot open SentencePiece model '" + modelFile.string() +
                "': this build of Atomscope has no libsentencepiece (install libsentencepiece-dev and rebuild), "
                "or use the llama2.c tokenizer.bin or Hugging Face files of the same vocabulary");
}

namespace {
[[noreturn]] void unavailable() { throw LmError("SentencePiece is not available in this build"); }
}  // namespace

int SentencePieceTokenizer::vocabSize() const { unavailable(); }
void SentencePieceTokenizer::checkId(std::int32_t) const { unavailable(); }
std::vector<std::int32_t> SentencePieceTokenizer::encode(const std::string&, bool, bool) const { unavailable(); }
std::string SentencePieceTokenizer::decode(const std::vector<std::int32_t>&) const { unavailable(); }
std::string SentencePieceTokenizer::piece(std::int32_t) const { unavailable(); }
std::string SentencePieceTokenizer::tokenText(std::int32_t) const { unavailable(); }
std::optional<std::int32_t> SentencePieceTokenizer::bosId() const { unavailable(); }
std::optional<std::int32_t> SentencePieceTokenizer::eosId() const { unavailable(); }
std::optional<std::int32_t> SentencePieceTokenizer::pieceId(const std::string&) const { unavailable(); }

#endif

}  // namespace atomscope::lm
