#pragma once
// SentencePiece .model files through libsentencepiece (Debian's libsentencepiece-dev). When the
// library was not found at build time (the GPU machine), load() throws LmError saying so, and
// haveSentencePiece() is false; llama2.c tokenizer.bin files of the same vocabulary still work.
// encode() is SentencePieceProcessor::Encode (the model's normaliser applies: e.g. llama2.c-trained
// models collapse runs of spaces and drop leading/trailing spaces); decode() is Decode; BOS/EOS are
// the model's bos_id/eos_id when defined.
#include <filesystem>
#include <memory>

#include "atomscope/lm/tokenizer.h"

namespace atomscope::lm {

class SentencePieceTokenizer : public Tokenizer {
 public:
  static std::unique_ptr<SentencePieceTokenizer> load(const std::filesystem::path& modelFile);
  ~SentencePieceTokenizer() override;

  std::string kind() const override { return "sentencepiece"; }
  int vocabSize() const override;
  std::vector<std::int32_t> encode(const std::string& text, bool addBos = false, bool addEos = false) const override;
  std::string decode(const std::vector<std::int32_t>& ids) const override;
  std::string tokenText(std::int32_t id) const override;
  std::optional<std::int32_t> bosId() const override;
  std::optional<std::int32_t> eosId() const override;
  std::optional<std::int32_t> pieceId(const std::string& piece) const override;
  std::filesystem::path sourcePath() const override { return path_; }

  std::string piece(std::int32_t id) const;  // the raw piece ("\u2581the", "<0x0A>")

 private:
  struct Impl;
  explicit SentencePieceTokenizer(std::unique_ptr<Impl> impl, std::filesystem::path path);
  void checkId(std::int32_t id) const;
  std::unique_ptr<Impl> impl_;
  std::filesystem::path path_;
};

}  // namespace atomscope::lm
