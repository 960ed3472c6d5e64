// SentencePiece .model (libsentencepiece) against python3-sentencepiece ids; agreement with the llama2.c
// encoder on ordinary text; openTokenizer() dispatch.
#include <gtest/gtest.h>

#include <regex>

#include "atomscope/lm/tokenizer_llama2c.h"
#include "atomscope/lm/tokenizer_sentencepiece.h"
#include "test_tokenizer_common.h"

using namespace atomscope;
using namespace atomscope::lm;
using namespace atomscope::lm::test;

namespace {

// tok512.model's normaliser (trained by llama2.c with the identity rule) removes extra spaces:
// runs of ' ' become one, leading and trailing ' ' go. Other whitespace (\n, \t) is kept.
std::string collapseSpaces(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

TEST(SentencePiece, LoadsTok512OrSaysItIsNotBuiltIn) {
  const auto path = lmData() / "tok512.model";
  if (!haveSentencePiece()) {
    // Builds without libsentencepiece (the GPU machine) must refuse with an actionable message.
    try {
      SentencePieceTokenizer::load(path);
      FAIL() << "load succeeded without libsentencepiece";
    } catch (const LmError& e) {
      EXPECT_NE(std::string(e.what()).find("libsentencepiece"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
    return;
  }
  const auto sp = SentencePieceTokenizer::load(path);
  EXPECT_EQ(sp->vocabSize(), 512);
  EXPECT_EQ(sp->bosId(), 1);
  EXPECT_EQ(sp->eosId(), 2);
  EXPECT_EQ(sp->piece(259), "\xE2\x96\x81t");  // "▁t" (python3-sentencepiece id_to_piece(259))
  EXPECT_EQ(sp->tokenText(259), " t");
  EXPECT_EQ(sp->tokenText(13), "\n");          // <0x0A>
  EXPECT_EQ(sp->tokenText(1), "");
  EXPECT_EQ(sp->pieceId("\xE2\x96\x81t"), 259);
  EXPECT_FALSE(sp->pieceId("no such piece").has_value());
  EXPECT_THROW(sp->decode({512}), LmError);
  EXPECT_THROW(SentencePieceTokenizer::load(lmData() / "tok512.bin"), LmError);  // not a model proto
}

// Source: tests/lm/data/tok512_reference_ids.json (python3-sentencepiece 0.1.97 on tok512.model).
TEST(SentencePiece, MatchesPythonSentencePieceIds) {
  if (!haveSentencePiece()) {
    EXPECT_THROW(SentencePieceTokenizer::load(lmData() / "tok512.model"), LmError);
    return;
  }
  const auto sp = SentencePieceTokenizer::load(lmData() / "tok512.model");
  const Json ref = readJson(fixtures() / "tok512_reference_ids.json");
  for (const auto& c : ref.at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    EXPECT_EQ(sp->encode(text), c.at("ids").get<std::vector<std::int32_t>>()) << text;
  }
}

// The llama2.c encoder on tok512.bin against libsentencepiece on tok512.model, live, on every line of
// the first 200 KB of each shared text file (spaces collapsed: "ordinary text"), plus round trips.
TEST(SentencePiece, AgreesWithLlama2cEncoderAndRoundTrips) {
  if (!haveSentencePiece()) {
    EXPECT_THROW(SentencePieceTokenizer::load(lmData() / "tok512.model"), LmError);
    return;
  }
  const auto sp = SentencePieceTokenizer::load(lmData() / "tok512.model");
  const auto bin = Llama2cTokenizer::load(lmData() / "tok512.bin");
  std::size_t lines = 0, bytes = 0, mismatches = 0;
  double seconds = 0;
  for (const auto& f : sharedTextFiles()) {
    const std::string text = readFile(f, kSampleBytes);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = sp->encode(text);
    seconds += secondsSince(t0);
    bytes += text.size();
    // SentencePiece round trip: exact up to its normaliser (byte fallback covers every character).
    EXPECT_EQ(sp->decode(ids), collapseSpaces(text)) << f;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t eol = text.find('\n', pos);
      if (eol == std::string::npos) eol = text.size();
      const std::string line = collapseSpaces(text.substr(pos, eol - pos));
      pos = eol + 1;
      if (line.empty()) continue;
      ++lines;
      const auto a = sp->encode(line);
      const auto b = bin.encode(line);
      if (a != b) {
        ++mismatches;
        ADD_FAILURE() << f << ": " << line;
      }
    }
  }
  EXPECT_GT(lines, 20000u);
  EXPECT_EQ(mismatches, 0u);
  std::printf("[sentencepiece tok512] %zu lines agree with the llama2.c encoder; encode %.2f MB/s\n", lines,
              bytes / 1e6 / seconds);
}

TEST(OpenTokenizer, PicksTheKindFromFileOrFolder) {
  EXPECT_EQ(detectTokenizerKind(lmData() / "tok512.bin"), "llama2c");
  EXPECT_EQ(detectTokenizerKind(lmData() / "tok512.model"), "sentencepiece");
  EXPECT_EQ(detectTokenizerKind(lmData() / "fake_gpt2_random"), "gpt2-bpe");
  EXPECT_EQ(detectTokenizerKind(lmData() / "fake_gpt2_random/merges.txt"), "gpt2-bpe");
  const auto t = openTokenizer(lmData() / "tok512.bin");
  EXPECT_EQ(t->kind(), "llama2c");
  EXPECT_EQ(t->sourcePath(), lmData() / "tok512.bin");
  const auto g = openTokenizer(lmData() / "fake_gpt2_random");
  EXPECT_EQ(g->kind(), "gpt2-bpe");
  EXPECT_EQ(g->encode("Hello world"), (std::vector<std::int32_t>{15496, 995}));  // HF GPT2Tokenizer docs
  EXPECT_EQ(openTokenizer(lmData() / "fake_gpt2_random/merges.txt")->vocabSize(), 50257);
  if (haveSentencePiece()) EXPECT_EQ(openTokenizer(lmData() / "tok512.model")->kind(), "sentencepiece");
  else EXPECT_THROW(openTokenizer(lmData() / "tok512.model"), LmError);
  EXPECT_THROW(openTokenizer(lmData() / "no_such_file.bin"), LmError);
  EXPECT_THROW(openTokenizer(sharedData() / "text"), LmError);  // a folder without a tokenizer
  EXPECT_THROW(openTokenizer(lmData() / "fake_gpt2_random/config.json"), LmError);
}
