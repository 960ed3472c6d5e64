// llama2.c tokenizer.bin: loading, encoding against SentencePiece's ids, run.c equivalence, round trips,
// bad files.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "atomscope/lm/tokenizer_llama2c.h"
#include "test_tokenizer_common.h"

using namespace atomscope;
using namespace atomscope::lm;
using namespace atomscope::lm::test;

namespace {

const Llama2cTokenizer& llamaTok512() {
  static const Llama2cTokenizer t = Llama2cTokenizer::load(lmData() / "tok512.bin");
  return t;
}

const Llama2cTokenizer& tok32000() {
  static const Llama2cTokenizer t = Llama2cTokenizer::load(lmData() / "llama2_tokenizer32000.bin");
  return t;
}

// A literal port of llama2.c run.c's encode() (quadratic merge loop, C-string lookups) to check the
// heap-based encoder against, merge for merge.
std::vector<int> runcEncode(const Llama2cTokenizer& t, const std::string& text, bool bos, bool eos) {
  auto lookup = [&](const std::string& s) -> int {
    auto id = t.pieceId(s);
    return id && t.piece(*id) == s ? *id : -1;
  };
  std::vector<int> tokens;
  if (bos) tokens.push_back(1);
  if (!text.empty()) tokens.push_back(lookup(" "));
  std::string buf;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c & 0xC0) != 0x80) buf.clear();
    buf.push_back(c);
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if ((next & 0xC0) == 0x80 && buf.size() < 4) continue;
    const int id = lookup(buf);
    if (id != -1) tokens.push_back(id);
    else
      for (unsigned char b : buf) tokens.push_back(b + 3);
    buf.clear();
  }
  while (true) {
    float best = -1e10f;
    int bestId = -1, bestIdx = -1;
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int id = lookup(t.piece(tokens[i]) + t.piece(tokens[i + 1]));
      if (id != -1 && t.score(id) > best) {
        best = t.score(id);
        bestId = id;
        bestIdx = static_cast<int>(i);
      }
    }
    if (bestIdx == -1) break;
    tokens[bestIdx] = bestId;
    tokens.erase(tokens.begin() + bestIdx + 1);
  }
  if (eos) tokens.push_back(2);
  return tokens;
}

}  // namespace

TEST(Llama2cTokenizer, LoadsTok512) {
  const auto& t = llamaTok512();
  EXPECT_EQ(t.vocabSize(), 512);      // stories260K's vocabulary (config vocab_size 512)
  EXPECT_EQ(t.maxTokenLength(), 7);   // header of tok512.bin
  EXPECT_TRUE(t.hasByteTokens());
  EXPECT_EQ(t.piece(0), "<unk>");
  EXPECT_EQ(t.piece(1), "\n<s>\n");   // llama2.c's export writes BOS/EOS this way
  EXPECT_EQ(t.piece(259), " t");      // tok512.model: id 259 is "\u2581t" (python3-sentencepiece id_to_piece)
  EXPECT_EQ(t.piece(260), "he");
  EXPECT_FLOAT_EQ(t.score(260), -1.0f);
  EXPECT_EQ(t.bosId(), 1);
  EXPECT_EQ(t.eosId(), 2);
  EXPECT_EQ(t.pieceId("<s>"), 1);
  EXPECT_EQ(t.kind(), "llama2c");
}

// Source: tests/lm/data/tok512_reference_ids.json, written by make_sentencepiece_reference.py with
// Debian's python3-sentencepiece 0.1.97 on lm/tok512.model (the same vocabulary as tok512.bin).
TEST(Llama2cTokenizer, MatchesSentencePieceIdsOnTinyStoriesSentences) {
  const Json ref = readJson(fixtures() / "tok512_reference_ids.json");
  const auto& cases = ref.at("cases");
  ASSERT_GE(cases.size(), 600u);
  std::size_t checked = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<std::int32_t>>();
    EXPECT_EQ(llamaTok512().encode(text), expected) << "text: " << text;
    ++checked;
  }
  EXPECT_EQ(checked, cases.size());
}

// Source: README of the shared data: stories260K's greedy output begins with this sentence; ids from
// python3-sentencepiece on tok512.model: sp.encode("Once upon a time, there was a little girl named Lily.").
TEST(Llama2cTokenizer, KnownSentenceWithBosAndEos) {
  const std::vector<std::int32_t> expected = {1,   403, 407, 261, 378, 432, 383, 286, 261,
                                              376, 298, 315, 421, 395, 317, 426, 2};
  EXPECT_EQ(llamaTok512().encode("Once upon a time, there was a little girl named Lily.", true, true), expected);
  EXPECT_EQ(llamaTok512().decode(expected), "Once upon a time, there was a little girl named Lily.");
  EXPECT_TRUE(llamaTok512().encode("").empty());
  EXPECT_EQ(llamaTok512().encode("", true, true), (std::vector<std::int32_t>{1, 2}));
}

// Source: the Llama 2 tokenizer (meta-llama/Llama-2-7b-hf, SentencePiece): "Hello world" -> [1, 15043, 3186]
// ("\u2581Hello" = 15043, "\u2581world" = 3186), as printed in many Llama 2 tokenizer walkthroughs.
TEST(Llama2cTokenizer, Llama2VocabularyKnownIds) {
  const auto& t = tok32000();
  EXPECT_EQ(t.vocabSize(), 32000);
  EXPECT_EQ(t.piece(15043), " Hello");
  EXPECT_EQ(t.piece(3186), " world");
  EXPECT_EQ(t.encode("Hello world", true), (std::vector<std::int32_t>{1, 15043, 3186}));
  EXPECT_EQ(t.piece(13), "<0x0A>");  // newline byte token
  EXPECT_EQ(t.decode({1, 15043, 3186, 13}), "Hello world\n");
}

TEST(Llama2cTokenizer, HeapEncoderEqualsRunCOnRandomText) {
  // Random strings of ASCII, common letters, multi-byte characters outside tok512 and malformed UTF-8.
  const std::vector<std::string> alphabet = {"a", "e", "t", "h", " ", "  ", "the", "Once", ".", ",", "\n", "\xC3\xA9",
                                             "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "\x80", "\xC3", "\xFF", "\t", "ing", "Lily"};
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
    const bool bos = rng() % 2, eos = rng() % 2;
    for (const Llama2cTokenizer* t : {&llamaTok512(), &tok32000()}) {
      const auto expected = runcEncode(*t, s, bos, eos);
      const auto got = t->encode(s, bos, eos);
      ASSERT_EQ(std::vector<int>(got.begin(), got.end()), expected) << "text: " << s;
    }
  }
}

TEST(Llama2cTokenizer, RoundTripsEverySharedTextFile) {
  // decode(encode(x)) == x exactly: byte fallback covers every byte but NUL (none in these files).
  // Sample: the first 200 KB of each file.
  for (const Llama2cTokenizer* t : {&llamaTok512(), &tok32000()}) {
    std::size_t bytes = 0, tokens = 0;
    double seconds = 0;
    for (const auto& f : sharedTextFiles()) {
      const std::string text = readFile(f, kSampleBytes);
      ASSERT_EQ(text.find('\0'), std::string::npos);
      const auto t0 = std::chrono::steady_clock::now();
      const auto ids = t->encode(text, true, true);
      seconds += secondsSince(t0);
      bytes += text.size();
      tokens += ids.size();
      EXPECT_EQ(t->decode(ids), text) << f;
    }
    std::printf("[llama2c %d] encoded %.2f MB into %zu tokens in %.3f s: %.2f MB/s, %.2f bytes/token\n",
                t->vocabSize(), bytes / 1e6, tokens, seconds, bytes / 1e6 / seconds,
                static_cast<double>(bytes) / tokens);
  }
}

TEST(Llama2cTokenizer, DecodeStripsTheDummyPrefixAfterBos) {
  const auto& t = llamaTok512();
  const auto a = t.encode("One day.", true);
  const auto b = t.encode("Two days.", true);
  std::vector<std::int32_t> both = a;
  both.insert(both.end(), b.begin(), b.end());
  EXPECT_EQ(t.decode(both), "One day.Two days.");  // each BOS restarts: its leading space goes
  EXPECT_EQ(t.decode(t.encode(" leading space")), " leading space");
  EXPECT_EQ(t.tokenText(1), "");
  EXPECT_EQ(t.tokenText(13), "\n");  // <0x0A>
  EXPECT_EQ(t.tokenText(259), " t");
}

TEST(Llama2cTokenizer, BadFilesAndIdsGiveErrorsNamingTheFile) {
  const std::string bytes = readFile(lmData() / "tok512.bin");
  TempDir dir("llama2c");
  // Truncated at many places: inside the header, inside a record's score/length, inside its bytes.
  for (std::size_t cut : {std::size_t(0), std::size_t(2), std::size_t(6), std::size_t(13), std::size_t(15), bytes.size() - 1}) {
    const auto path = dir.path / ("cut_" + std::to_string(cut) + ".bin");
    writeFile(path, bytes.substr(0, cut));
    try {
      Llama2cTokenizer::load(path);
      FAIL() << "no error for a file cut at " << cut;
    } catch (const LmError& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(cut == 0 || cut == 2 ? "header" : "truncated"), std::string::npos) << e.what();
    }
  }
  // Cut at a record boundary: readable alone, but not as the model's 512-token vocabulary.
  const auto short8 = dir.path / "short.bin";
  std::size_t off = 4;
  for (int i = 0; i < 300; ++i) {
    std::int32_t len;
    std::memcpy(&len, bytes.data() + off + 4, 4);
    off += 8 + len;
  }
  writeFile(short8, bytes.substr(0, off));
  EXPECT_EQ(Llama2cTokenizer::load(short8).vocabSize(), 300);
  EXPECT_THROW(Llama2cTokenizer::load(short8, 512), LmError);
  EXPECT_EQ(Llama2cTokenizer::load(lmData() / "tok512.bin", 512).vocabSize(), 512);
  // Negative length.
  std::string neg = bytes;
  const std::int32_t minus = -5;
  std::memcpy(neg.data() + 8, &minus, 4);
  writeFile(dir.path / "neg.bin", neg);
  EXPECT_THROW(Llama2cTokenizer::load(dir.path / "neg.bin"), LmError);
  EXPECT_THROW(Llama2cTokenizer::load(dir.path / "missing.bin"), LmError);
  // Ids out of range.
  EXPECT_THROW(llamaTok512().decode({5, 512}), LmError);
  EXPECT_THROW(llamaTok512().decode({-1}), LmError);
  EXPECT_THROW(llamaTok512().tokenText(100000), LmError);
}
