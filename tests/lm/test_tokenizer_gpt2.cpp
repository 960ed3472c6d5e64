// GPT-2 byte-level BPE: known ids, Hugging Face reference ids (when the fixture exists), the
// pre-tokeniser, tokenizer.json in both merge forms, round trips, bad files.
#include <gtest/gtest.h>

#include <random>

#include "atomscope/lm/bpe_tokenizer.h"
#include "test_tokenizer_common.h"

using namespace atomscope;
using namespace atomscope::lm;
using namespace atomscope::lm::test;

namespace {

const Gpt2BpeTokenizer& gpt2() {
  static const auto t = Gpt2BpeTokenizer::fromFiles(lmData() / "fake_gpt2_random/vocab.json",
                                                    lmData() / "fake_gpt2_random/merges.txt");
  return *t;
}

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (auto p : gpt2Pretokenize(text)) out.emplace_back(p);
  return out;
}

}  // namespace

TEST(Gpt2Bpe, LoadsTheGpt2Vocabulary) {
  const auto& t = gpt2();
  EXPECT_EQ(t.vocabSize(), 50257);  // GPT-2: 256 bytes + 50000 merges + <|endoftext|>
  EXPECT_EQ(t.mergeCount(), 50000u);
  EXPECT_EQ(t.eosId(), 50256);
  EXPECT_EQ(t.bosId(), 50256);
  EXPECT_EQ(t.pieceId("<|endoftext|>"), 50256);
  EXPECT_EQ(t.pieceId("\xC4\xA0the"), 262);  // "Ġthe" = 262 in GPT-2's vocab.json
  EXPECT_EQ(t.kind(), "gpt2-bpe");
}

// Source: Hugging Face GPT2Tokenizer documentation (the example in its docstring):
// tokenizer("Hello world")["input_ids"] == [15496, 995]; tokenizer(" Hello world")["input_ids"] == [18435, 995].
TEST(Gpt2Bpe, WellKnownIds) {
  EXPECT_EQ(gpt2().encode("Hello world"), (std::vector<std::int32_t>{15496, 995}));
  EXPECT_EQ(gpt2().encode(" Hello world"), (std::vector<std::int32_t>{18435, 995}));
  EXPECT_EQ(gpt2().decode({15496, 995}), "Hello world");
  EXPECT_EQ(gpt2().encode("Hello world", true, true), (std::vector<std::int32_t>{50256, 15496, 995, 50256}));
}

// Source: tests/lm/data/gpt2_reference_ids.json, written by make_gpt2_reference.py with Hugging Face
// transformers' GPT2TokenizerFast on lm/fake_gpt2_random/{vocab.json,merges.txt}. Until that fixture is
// committed, WellKnownIds above is the external check.
TEST(Gpt2Bpe, MatchesHuggingFaceReferenceIds) {
  const auto path = fixtures() / "gpt2_reference_ids.json";
  if (!std::filesystem::exists(path)) {
    std::printf("gpt2_reference_ids.json not generated yet (run make_gpt2_reference.py where transformers is)\n");
    EXPECT_EQ(gpt2().encode("Hello world"), (std::vector<std::int32_t>{15496, 995}));
    return;
  }
  const Json ref = readJson(path);
  const auto& cases = ref.at("cases");
  ASSERT_GE(cases.size(), 100u);
  std::size_t withPretokens = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    EXPECT_EQ(gpt2().encode(text), c.at("ids").get<std::vector<std::int32_t>>()) << "text: " << text;
    if (c.contains("pretokens")) {
      EXPECT_EQ(pieces(text), c.at("pretokens").get<std::vector<std::string>>()) << "text: " << text;
      ++withPretokens;
    }
  }
  EXPECT_GE(withPretokens, 100u);
  const auto toy = Gpt2BpeTokenizer::fromFiles(lmData() / "tiny_gpt2_random_vocab21/vocab.json",
                                               lmData() / "tiny_gpt2_random_vocab21/merges.txt");
  for (const auto& c : ref.at("toy_cases")) {
    const std::string text = c.at("text").get<std::string>();
    const auto ids = c.at("ids").get<std::vector<std::int32_t>>();
    // Hugging Face drops characters the toy vocabulary lacks (no unk in the BPE model); this reader
    // maps them to <unk>: compare the texts that the vocabulary covers.
    if (text.find_first_not_of("lowestnrid ") == std::string::npos) EXPECT_EQ(toy->encode(text), ids) << text;
  }
}

// Expected pieces follow the GPT-2 regex; for ASCII they are what Python's re gives for the same pattern
// with \p{L} -> [A-Za-z] and \p{N} -> [0-9] (checked with /usr/bin/python3 when writing this test).
TEST(Gpt2Bpe, PretokenizerFollowsTheGpt2Regex) {
  EXPECT_EQ(pieces("Hello world"), (std::vector<std::string>{"Hello", " world"}));
  EXPECT_EQ(pieces("I'm here, they'll see"), (std::vector<std::string>{"I", "'m", " here", ",", " they", "'ll", " see"}));
  EXPECT_EQ(pieces("HE'S"), (std::vector<std::string>{"HE", "'", "S"}));  // contractions are case-sensitive
  EXPECT_EQ(pieces("a  b"), (std::vector<std::string>{"a", " ", " b"}));
  EXPECT_EQ(pieces("a\n\nb"), (std::vector<std::string>{"a", "\n", "\n", "b"}));
  EXPECT_EQ(pieces("a\n\n b"), (std::vector<std::string>{"a", "\n\n", " b"}));
  EXPECT_EQ(pieces("end   "), (std::vector<std::string>{"end", "   "}));
  EXPECT_EQ(pieces("x 123 4.5 !?"), (std::vector<std::string>{"x", " 123", " 4", ".", "5", " !?"}));
  EXPECT_EQ(pieces("''s"), (std::vector<std::string>{"''", "s"}));
  // Non-ASCII letters and numbers (categories from the Unicode database): é, Cyrillic, CJK, Arabic-Indic digits.
  EXPECT_EQ(pieces("caf\xC3\xA9 \xD0\x9C\xD0\xB8\xD1\x80 \xE4\xBD\xA0\xE5\xA5\xBD \xD9\xA1\xD9\xA2"),
            (std::vector<std::string>{"caf\xC3\xA9", " \xD0\x9C\xD0\xB8\xD1\x80", " \xE4\xBD\xA0\xE5\xA5\xBD", " \xD9\xA1\xD9\xA2"}));
  // Malformed UTF-8 bytes are "other" characters: every byte lands in one piece.
  std::string joined;
  for (const auto& p : pieces("ab\xFF\xFE cd\xC3")) joined += p;
  EXPECT_EQ(joined, "ab\xFF\xFE cd\xC3");
}

// Categories from the Unicode Character Database (Python unicodedata.category on the same code points).
TEST(Gpt2Bpe, UnicodeClassifier) {
  for (char32_t c : {U'A', U'z', U'\u00E9', U'\u00AA', U'\u03BB', U'\u0416', U'\u4E2D', U'\u30FC', U'\uAC00', U'\u05D0',
                     U'\u0628', U'\u0905', U'\U00020000', U'\u02B0'})
    EXPECT_TRUE(isUnicodeLetter(c)) << static_cast<unsigned>(c);
  for (char32_t c : {U'0', U'\u0663', U'\u00BD', U'\u00B2', U'\u216B', U'\uFF11', U'\U0001D7CE'})
    EXPECT_TRUE(isUnicodeNumber(c)) << static_cast<unsigned>(c);
  for (char32_t c : {U'!', U' ', U'\u00A9', U'\u20AC', U'\U0001F600', U'\u0301', U'\u3000', U'\u2603'}) {
    EXPECT_FALSE(isUnicodeLetter(c)) << static_cast<unsigned>(c);
    EXPECT_FALSE(isUnicodeNumber(c)) << static_cast<unsigned>(c);
  }
  for (char32_t c : {U' ', U'\t', U'\n', U'\u00A0', U'\u2003', U'\u3000', U'\u0085'}) EXPECT_TRUE(isUnicodeWhitespace(c));
  EXPECT_FALSE(isUnicodeWhitespace(U'\u001C'));  // str.isspace() says yes; \s (White_Space) says no
  EXPECT_FALSE(isUnicodeWhitespace(U'\u200B'));  // zero-width space is not White_Space
}

TEST(Gpt2Bpe, BytesToUnicodeTable) {
  // GPT-2's bytes_to_unicode(): printable Latin-1 maps to itself, the rest to 256.. in byte order.
  const auto& t = gpt2ByteToUnicode();
  EXPECT_EQ(t['A'], U'A');
  EXPECT_EQ(t[' '], U'\u0120');   // "Ġ"
  EXPECT_EQ(t['\n'], U'\u010A');  // "Ċ"
  EXPECT_EQ(t[0], U'\u0100');
  EXPECT_EQ(t[0xAD], U'\u0143');  // the soft hyphen is the last remapped byte
  EXPECT_EQ(t[0xFF], U'\u00FF');
}

TEST(Gpt2Bpe, SpecialTokensInText) {
  auto& t = const_cast<Gpt2BpeTokenizer&>(gpt2());
  // Hugging Face splits added tokens out of the text before pre-tokenising: "a" = 64, "b" = 65.
  EXPECT_EQ(t.encode("a<|endoftext|>b"), (std::vector<std::int32_t>{64, 50256, 65}));
  EXPECT_EQ(t.decode({64, 50256, 65}), "a<|endoftext|>b");
  t.setSplitSpecialTokens(false);
  const auto plain = t.encode("a<|endoftext|>b");
  t.setSplitSpecialTokens(true);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_EQ(t.decode(plain), "a<|endoftext|>b");
}

TEST(Gpt2Bpe, RoundTripsEverySharedTextFileAndRandomBytes) {
  // Byte-level BPE is exact for any byte string. Sample: the first 200 KB of each file.
  std::size_t bytes = 0, tokens = 0;
  double seconds = 0;
  for (const auto& f : sharedTextFiles()) {
    const std::string text = readFile(f, kSampleBytes);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = gpt2().encode(text);
    seconds += secondsSince(t0);
    bytes += text.size();
    tokens += ids.size();
    EXPECT_EQ(gpt2().decode(ids), text) << f;
  }
  std::printf("[gpt2-bpe] encoded %.2f MB into %zu tokens in %.3f s: %.2f MB/s, %.2f bytes/token\n", bytes / 1e6,
              tokens, seconds, bytes / 1e6 / seconds, static_cast<double>(bytes) / tokens);
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(gpt2().decode(gpt2().encode(s)), s);
  }
}

TEST(Gpt2Bpe, TinyVocabulary) {
  const auto toy = Gpt2BpeTokenizer::fromFiles(lmData() / "tiny_gpt2_random_vocab21/vocab.json",
                                               lmData() / "tiny_gpt2_random_vocab21/merges.txt");
  EXPECT_EQ(toy->vocabSize(), 21);
  // By the BPE algorithm on its 4 merges (Ġ l, Ġl o, Ġlo w, e r): " lowest" -> Ġlow e s t,
  // " newer" -> Ġ n e w er.
  EXPECT_EQ(toy->encode(" lowest"), (std::vector<std::int32_t>{14, 3, 5, 6}));
  EXPECT_EQ(toy->encode(" newer"), (std::vector<std::int32_t>{10, 9, 3, 2, 15}));
  EXPECT_EQ(toy->encode("x"), (std::vector<std::int32_t>{19}));  // not in the vocabulary: <unk>
}

TEST(Gpt2Bpe, TokenizerJsonInBothMergeFormsEqualsVocabAndMerges) {
  // Build tokenizer.json files from the real vocabulary (Hugging Face layout), once with "a b" merges
  // (tokenizers < 0.20) and once with ["a", "b"] pairs (tokenizers >= 0.20).
  const Json vocab = readJson(lmData() / "fake_gpt2_random/vocab.json");
  const std::string mergesText = readFile(lmData() / "fake_gpt2_random/merges.txt");
  Json asStrings = Json::array(), asPairs = Json::array();
  std::size_t pos = 0;
  while (pos < mergesText.size()) {
    std::size_t eol = mergesText.find('\n', pos);
    if (eol == std::string::npos) eol = mergesText.size();
    const std::string line = mergesText.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    asStrings.push_back(line);
    asPairs.push_back(Json::array({line.substr(0, line.find(' ')), line.substr(line.find(' ') + 1)}));
  }
  TempDir dir("tokjson");
  const std::string sample = readFile(sharedData() / "text/tinystories/tinystories_sample5.txt");
  const auto expected = gpt2().encode(sample);
  for (int form = 0; form < 2; ++form) {
    Json j = {{"version", "1.0"},
              {"added_tokens", Json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}}})},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", form == 0 ? asStrings : asPairs}}}};
    const auto path = dir.path / ("tokenizer" + std::to_string(form) + ".json");
    writeFile(path, j.dump());
    const auto t = Gpt2BpeTokenizer::fromTokenizerJson(path);
    EXPECT_EQ(t->vocabSize(), 50257);
    EXPECT_EQ(t->encode(sample), expected) << "merge form " << form;
    EXPECT_EQ(t->encode("Hello world<|endoftext|>"), (std::vector<std::int32_t>{15496, 995, 50256}));
  }
  // An added token beyond model.vocab extends the vocabulary and is split out of text.
  Json j = {{"added_tokens", Json::array({{{"id", 50257}, {"content", "<|pad|>"}, {"special", true}}})},
            {"pre_tokenizer", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", asPairs}}}};
  const auto t = Gpt2BpeTokenizer::fromTokenizerJsonString(j.dump(), "extended.json");
  EXPECT_EQ(t->vocabSize(), 50258);
  EXPECT_EQ(t->encode("Hello<|pad|>"), (std::vector<std::int32_t>{15496, 50257}));
  EXPECT_EQ(t->decode({15496, 50257}), "Hello<|pad|>");
}

TEST(Gpt2Bpe, TokenizerJsonWrittenByHuggingFace) {
  // tiny_gpt2_tokenizer.json is the toy vocabulary saved by Hugging Face tokenizers
  // (make_gpt2_reference.py); without it, the test checks the same reader on a hand-made file.
  const auto path = fixtures() / "tiny_gpt2_tokenizer.json";
  std::unique_ptr<Gpt2BpeTokenizer> t;
  if (std::filesystem::exists(path)) {
    t = Gpt2BpeTokenizer::fromTokenizerJson(path);
  } else {
    const Json vocab = readJson(lmData() / "tiny_gpt2_random_vocab21/vocab.json");
    Json j = {{"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"\xC4\xA0 l", "\xC4\xA0l o", "\xC4\xA0lo w", "e r"}}}}};
    t = Gpt2BpeTokenizer::fromTokenizerJsonString(j.dump(), "tiny.json");
  }
  EXPECT_EQ(t->vocabSize(), 21);
  EXPECT_EQ(t->encode(" lowest"), (std::vector<std::int32_t>{14, 3, 5, 6}));
}

TEST(Gpt2Bpe, BadFilesGiveErrorsNamingFileAndLine) {
  const std::string vocab = readFile(lmData() / "tiny_gpt2_random_vocab21/vocab.json");
  auto expectError = [](auto&& fn, std::vector<std::string> parts) {
    try {
      fn();
      ADD_FAILURE() << "no error";
    } catch (const LmError& e) {
      for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
    }
  };
  expectError([&] { Gpt2BpeTokenizer::fromStrings("[1, 2, 3]", "", "bad_vocab.json", "m.txt"); },
              {"bad_vocab.json", "object"});
  expectError([&] { Gpt2BpeTokenizer::fromStrings("{\"a\": \"x\"}", "", "v.json", "m.txt"); }, {"v.json", "integer"});
  expectError([&] { Gpt2BpeTokenizer::fromStrings("{\"a\": 1", "", "cut.json", "m.txt"); }, {"cut.json", "JSON"});
  expectError([&] { Gpt2BpeTokenizer::fromStrings("{\"a\": 0, \"b\": 0}", "", "dup.json", "m.txt"); }, {"dup.json", "id 0"});
  expectError([&] { Gpt2BpeTokenizer::fromStrings(vocab, "#version: 0.2\n\xC4\xA0 l\nq z\n", "v.json", "bad_merges.txt"); },
              {"bad_merges.txt", "line 3", "'q'"});
  expectError([&] { Gpt2BpeTokenizer::fromStrings(vocab, "#version: 0.2\ne r\nl o w\n", "v.json", "three.txt"); },
              {"three.txt", "line 3"});
  expectError([&] { Gpt2BpeTokenizer::fromStrings(vocab, "e s\n", "v.json", "nomerged.txt"); },
              {"nomerged.txt", "line 1", "'es'"});
  expectError([&] { Gpt2BpeTokenizer::fromTokenizerJsonString("{\"model\": {\"type\": \"WordPiece\"}}", "wp.json"); },
              {"wp.json", "BPE"});
  expectError([&] { Gpt2BpeTokenizer::fromTokenizerJsonString(
                        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                        "\"merges\": [[\"a\"]]}}", "pairs.json"); },
              {"pairs.json", "merges[0]"});
  expectError([&] { Gpt2BpeTokenizer::fromFiles("/nonexistent/vocab.json", "/nonexistent/merges.txt"); },
              {"/nonexistent/vocab.json"});
  expectError([&] { gpt2().decode({15496, 50257}); }, {"50257", "out of range"});
  expectError([&] { gpt2().decode({-3}); }, {"-3"});
}
