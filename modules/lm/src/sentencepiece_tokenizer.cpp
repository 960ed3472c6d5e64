// SentencePiece .model wrapper (libsentencepiece when found at build time).
#include "atomscope/lm/tokenizer_sentencepiece.h"

#ifdef ATOMSCOPE_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

#include <fstream>

namespace atomscope::lm {

#ifdef ATOMSCOPE_HAVE_SENTENCEPIECE

bool haveSentencePiece() { return true; }

struct SentencePieceTokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<Impl> impl, std::filesystem::path path)
    : impl_(std::move(impl)), path_(std::move(path)) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::filesystem::path& modelFile) {
  {
    std::ifstream in(modelFile, std::ios::binary);
    if (!in) throw LmError("cannot open SentencePiece model '" + modelFile.string() + "'");
  }
  auto impl = std::make_unique<Impl>();
  const auto status = impl->sp.Load(modelFile.string());
  if (!status.ok()) {
    throw LmError("SentencePiece model '" + modelFile.string() + "' could not be loaded: " +
                  std::string(status.message()));
  }
  if (impl->sp.GetPieceSize() <= 0) throw LmError("SentencePiece model '" + modelFile.string() + "' has no pieces");
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(std::move(impl), modelFile));
}

int SentencePieceTokenizer::vocabSize() const { return impl_->sp.GetPieceSize(); }

void SentencePieceTokenizer::checkId(std::int32_t id) const {
  if (id < 0 || id >= vocabSize()) {
    throw LmError("token id " + std::to_string(id) + " is out of range for SentencePiece model '" + path_.string() +
                  "' (vocabulary of " + std::to_string(vocabSize()) + ")");
  }
}

std::vector<std::int32_t> SentencePieceTokenizer::encode(const std::string& text, bool addBos, bool addEos) const {
  std::vector<int> ids;
  const auto status = impl_->sp.Encode(text, &ids);
  if (!status.ok()) throw LmError("SentencePiece '" + path_.string() + "': encode failed: " + std::string(status.message()));
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
  const auto status = impl_->sp.Decode(v, &out);
  if (!status.ok()) throw LmError("SentencePiece '" + path_.string() + "': decode failed: " + std::string(status.message()));
  return out;
}

std::string SentencePieceTokenizer::piece(std::int32_t id) const {
  checkId(id);
  return impl_->sp.IdToPiece(id);
}

std::string SentencePieceTokenizer::tokenText(std::int32_t id) const {
  checkId(id);
  if (impl_->sp.IsControl(id)) return {};
  std::string p = impl_->sp.IdToPiece(id);
  if (impl_->sp.IsByte(id) && p.size() == 6) return std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
  if (impl_->sp.IsUnknown(id)) return " \xE2\x81\x87 ";  // SentencePiece's default unk surface " ⁇ "
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
  const int id = impl_->sp.bos_id();
  return id >= 0 && id < vocabSize() ? std::optional<std::int32_t>(id) : std::nullopt;
}

std::optional<std::int32_t> SentencePieceTokenizer::eosId() const {
  const int id = impl_->sp.eos_id();
  return id >= 0 && id < vocabSize() ? std::optional<std::int32_t>(id) : std::nullopt;
}

std::optional<std::int32_t> SentencePieceTokenizer::pieceId(const std::string& piece) const {
  const int id = impl_->sp.PieceToId(piece);
  if (id < 0 || id >= vocabSize() || impl_->sp.IdToPiece(id) != piece) return std::nullopt;
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
