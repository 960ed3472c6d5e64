// Token shards: writer statistics and split, reader windows across shards, the lm.tokenize job,
// bad inputs.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "atomscope/core/runner.h"
#include "atomscope/lm/bpe_tokenizer.h"
#include "atomscope/lm/data_jobs.h"
#include "atomscope/lm/token_shards.h"
#include "atomscope/lm/tokenizer_llama2c.h"
#include "test_tokenizer_common.h"

using namespace atomscope;
using namespace atomscope::lm;
using namespace atomscope::lm::test;
namespace fs = std::filesystem;

namespace {

const fs::path kSample5 = sharedData() / "text/tinystories/tinystories_sample5.txt";
const fs::path kValHead = sharedData() / "text/tinystories/tinystories_val_head.txt";

const Llama2cTokenizer& tok512() {
  static const Llama2cTokenizer t = Llama2cTokenizer::load(lmData() / "tok512.bin");
  return t;
}

std::vector<std::int64_t> readAll(const TokenShardReader& r, Split s) {
  std::vector<std::int64_t> v(r.numTokens(s));
  r.read(s, 0, v.size(), v.data());
  return v;
}

// Splits a token sequence at BOS (1) into documents and decodes each.
std::vector<std::string> documentsOf(const std::vector<std::int64_t>& ids, const Tokenizer& t, std::int32_t bos) {
  std::vector<std::string> docs;
  std::vector<std::int32_t> cur;
  for (std::size_t i = 0; i <= ids.size(); ++i) {
    if (i == ids.size() || ids[i] == bos) {
      if (!cur.empty()) docs.push_back(t.decode(cur));
      cur.clear();
      if (i == ids.size()) break;
    }
    cur.push_back(static_cast<std::int32_t>(ids[i]));
  }
  return docs;
}

}  // namespace

TEST(TokenShards, SplitDocumentsRules) {
  EXPECT_EQ(splitDocuments("a\n\n  \nb c\nd\n\n", "blank-line"), (std::vector<std::string_view>{"a", "b c\nd"}));
  EXPECT_EQ(splitDocuments("a\r\n\r\nb\r\n", "blank-line"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(splitDocuments("x<|endoftext|>\ny <|endoftext|><|endoftext|>", "auto"), (std::vector<std::string_view>{"x", "y"}));
  EXPECT_EQ(splitDocuments("one\ntwo\n\nthree", "line"), (std::vector<std::string_view>{"one", "two", "three"}));
  EXPECT_EQ(splitDocuments("  all\n\nof it ", "file"), (std::vector<std::string_view>{"all\n\nof it"}));
  EXPECT_EQ(splitDocuments("a###b###", "###"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_TRUE(splitDocuments(" \n\n\t", "auto").empty());
}

TEST(TokenShards, WritesLlama2cShardsThatDecodeToTheDocuments) {
  TempDir dir("shards5");
  ShardWriteOptions o;
  o.validationFraction = 0.2;
  o.seed = 7;
  const Json index = writeTokenShards(kSample5, tok512(), dir.path, o);
  // tinystories_sample5.txt holds 5 stories separated by <|endoftext|>.
  const std::string sampleText = readFile(kSample5);
  const auto docs = splitDocuments(sampleText, "auto");
  ASSERT_EQ(docs.size(), 5u);
  EXPECT_EQ(index["statistics"]["documents"], 5);
  EXPECT_EQ(index["splits"]["validation"]["documents"], 1);  // round(0.2 * 5)
  EXPECT_EQ(index["splits"]["train"]["documents"], 4);
  EXPECT_EQ(index["dtype"], "uint16");
  EXPECT_EQ(index["boundary"], "bos");  // llama2.c: BOS before each story, no EOS
  EXPECT_EQ(index["tokenizer"]["kind"], "llama2c");

  const auto reader = TokenShardReader::open(dir.path);
  EXPECT_EQ(reader.dtype(), TokenDtype::UInt16);
  EXPECT_EQ(reader.vocabSize(), 512);
  reader.validateTokens();
  // Token counts: each document's encoding plus its BOS, exactly.
  std::uint64_t expectedTokens = 0, contentTokens = 0, bytes = 0;
  std::multiset<std::string> expectedDocs;
  for (auto d : docs) {
    const auto ids = tok512().encode(std::string(d));
    expectedTokens += ids.size() + 1;
    contentTokens += ids.size();
    bytes += d.size();
    expectedDocs.insert(std::string(d));
  }
  EXPECT_EQ(reader.numTokens(Split::Train) + reader.numTokens(Split::Validation), expectedTokens);
  EXPECT_EQ(index["statistics"]["content_tokens"], contentTokens);
  EXPECT_DOUBLE_EQ(index["statistics"]["bytes_per_token"].get<double>(), double(bytes) / double(contentTokens));
  // Decoding the shards gives back the documents, each exactly once.
  std::multiset<std::string> got;
  for (Split s : {Split::Train, Split::Validation}) {
    const auto ids = readAll(reader, s);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), 1);
    for (auto& d : documentsOf(ids, tok512(), 1)) got.insert(d);
  }
  EXPECT_EQ(got, expectedDocs);
  // The histogram counts every document once; edges are powers of two.
  const auto& h = index["statistics"]["document_tokens"]["histogram"];
  std::uint64_t total = 0;
  for (auto& c : h["counts"]) total += c.get<std::uint64_t>();
  EXPECT_EQ(total, 5u);
  EXPECT_EQ(h["edges"].size(), h["counts"].size() + 1);
  EXPECT_LE(index["statistics"]["document_tokens"]["min"].get<double>(), index["statistics"]["document_tokens"]["median"].get<double>());
}

TEST(TokenShards, SeededSplitIsReproducibleAndFractionIsExact) {
  TempDir dir("seed");
  ShardWriteOptions o;
  o.validationFraction = 0.1;
  o.separator = "blank-line";
  auto valDocs = [&](std::uint64_t seed, const std::string& name) {
    o.seed = seed;
    const Json index = writeTokenShards(kValHead, tok512(), dir.path / name, o);
    const auto r = TokenShardReader::open(dir.path / name);
    const auto docs = documentsOf(readAll(r, Split::Validation), tok512(), 1);
    EXPECT_EQ(docs.size(), index["splits"]["validation"]["documents"].get<std::size_t>());
    const auto total = index["statistics"]["documents"].get<double>();
    EXPECT_EQ(index["splits"]["validation"]["documents"].get<double>(), std::round(0.1 * total));
    return docs;
  };
  const auto a = valDocs(1, "a"), b = valDocs(1, "b"), c = valDocs(2, "c");
  EXPECT_GT(a.size(), 100u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Byte-identical shards for the same seed.
  EXPECT_EQ(readFile(dir.path / "a/train_000.bin"), readFile(dir.path / "b/train_000.bin"));
}

TEST(TokenShards, Gpt2Uint32ShardsAcrossFilesAndWindows) {
  TempDir dir("gpt2");
  const auto gpt2 = Gpt2BpeTokenizer::fromFiles(lmData() / "fake_gpt2_random/vocab.json",
                                                lmData() / "fake_gpt2_random/merges.txt");
  // A folder of two files, one of them nested, plus a file that is not text.
  fs::create_directories(dir.path / "in/sub");
  const std::string t1 = readFile(kValHead, 60000), t2 = readFile(sharedData() / "text/tinyshakespeare_input.txt", 40000);
  writeFile(dir.path / "in/a.txt", t1);
  writeFile(dir.path / "in/sub/b.txt", t2);
  writeFile(dir.path / "in/ignored.bin", "\x01\x02");
  ShardWriteOptions o;
  o.dtype = "uint32";
  o.shardTokens = 4096;  // many shard files
  o.validationFraction = 0.05;
  o.threads = 3;
  const Json index = writeTokenShards(dir.path / "in", *gpt2, dir.path / "out", o);
  EXPECT_EQ(index["boundary"], "eos");  // GPT-2: <|endoftext|> after each document
  EXPECT_EQ(index["input_files"], 2);
  EXPECT_GT(index["splits"]["train"]["shards"].size(), 3u);
  const auto r = TokenShardReader::open(dir.path / "out" / "index.json");
  EXPECT_EQ(r.dtype(), TokenDtype::UInt32);
  EXPECT_EQ(fs::file_size(dir.path / "out/train_000.bin"), 4096u * 4u);
  r.validateTokens();

  // The split is the concatenation of the documents' tokens, in input order, each followed by EOS.
  std::vector<std::int64_t> expectedTrain;
  std::size_t doc = 0;
  std::vector<std::string> docTexts;
  for (const std::string* t : {&t1, &t2})
    for (auto d : splitDocuments(*t, "auto")) docTexts.emplace_back(d);
  const auto all = readAll(r, Split::Train);
  const auto val = readAll(r, Split::Validation);
  std::vector<std::int64_t> concat;
  for (const auto& d : docTexts) {
    auto ids = gpt2->encode(d);
    ids.push_back(50256);
    concat.insert(concat.end(), ids.begin(), ids.end());
    ++doc;
  }
  EXPECT_EQ(all.size() + val.size(), concat.size());
  // Train tokens are the concatenation with the validation documents removed: check as multisets of docs.
  std::string decodedTrain = gpt2->decode(std::vector<std::int32_t>(all.begin(), all.end()));
  std::string decodedVal = gpt2->decode(std::vector<std::int32_t>(val.begin(), val.end()));
  std::size_t found = 0;
  for (const auto& d : docTexts)
    if (decodedTrain.find(d + "<|endoftext|>") != std::string::npos || decodedVal.find(d + "<|endoftext|>") != std::string::npos) ++found;
  EXPECT_EQ(found, docTexts.size());

  // Windows crossing shard boundaries equal the concatenated sequence.
  const int context = 100;
  std::vector<std::int64_t> w(context + 1);
  for (std::uint64_t k = 0; k < r.numSequentialWindows(Split::Train, context); k += 7) {
    r.sequentialWindow(Split::Train, k, context, w.data());
    for (int i = 0; i <= context; ++i) ASSERT_EQ(w[i], all[k * context + i]);
  }
  EXPECT_EQ(r.numSequentialWindows(Split::Train, context), (all.size() - 1) / context);
  // Random batches: reproducible per (seed, step), different across steps, rows are real windows.
  const int batch = 8;
  std::vector<std::int64_t> b1(batch * (context + 1)), b2(b1.size()), b3(b1.size());
  r.randomBatch(Split::Train, batch, context, 42, 5, b1.data());
  r.randomBatch(Split::Train, batch, context, 42, 5, b2.data());
  r.randomBatch(Split::Train, batch, context, 42, 6, b3.data());
  EXPECT_EQ(b1, b2);
  EXPECT_NE(b1, b3);
  for (int row = 0; row < batch; ++row) {
    const auto off = r.randomOffset(Split::Train, context, 42, 5, row);
    ASSERT_LE(off + context + 1, all.size());
    for (int i = 0; i <= context; ++i) ASSERT_EQ(b1[row * (context + 1) + i], all[off + i]);
  }
  std::vector<std::int32_t> small(10);
  r.read(Split::Validation, 0, 10, small.data());
  EXPECT_EQ(small[0], val[0]);
  EXPECT_THROW(r.read(Split::Train, all.size() - 5, 10, w.data()), LmError);
  EXPECT_THROW(r.sequentialWindow(Split::Train, r.numSequentialWindows(Split::Train, context), context, w.data()), LmError);
}

TEST(TokenShards, BadInputsAndDamagedShards) {
  TempDir dir("bad");
  fs::create_directories(dir.path / "empty");
  try {
    writeTokenShards(dir.path / "empty", tok512(), dir.path / "o1");
    FAIL();
  } catch (const LmError& e) {
    EXPECT_NE(std::string(e.what()).find("no text files"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find((dir.path / "empty").string()), std::string::npos) << e.what();
  }
  fs::create_directories(dir.path / "blank");
  writeFile(dir.path / "blank/a.txt", "  \n\n \t\n");
  EXPECT_THROW(writeTokenShards(dir.path / "blank", tok512(), dir.path / "o2"), LmError);
  EXPECT_THROW(writeTokenShards(dir.path / "missing", tok512(), dir.path / "o3"), LmError);
  ShardWriteOptions o;
  o.validationFraction = 1.0;
  EXPECT_THROW(writeTokenShards(kSample5, tok512(), dir.path / "o4", o), LmError);
  o = {};
  o.boundary = "sometimes";
  EXPECT_THROW(writeTokenShards(kSample5, tok512(), dir.path / "o5", o), LmError);

  // Damaged output: a shard cut short, a missing index.
  writeTokenShards(kSample5, tok512(), dir.path / "ok");
  EXPECT_NO_THROW(TokenShardReader::open(dir.path / "ok"));
  const auto shard = dir.path / "ok/train_000.bin";
  const auto size = fs::file_size(shard);
  fs::resize_file(shard, size - 2);
  try {
    TokenShardReader::open(dir.path / "ok");
    FAIL();
  } catch (const LmError& e) {
    EXPECT_NE(std::string(e.what()).find(shard.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(TokenShardReader::open(dir.path / "o4"), LmError);
  // Ids beyond the vocabulary (a shard written for another tokenizer) are found by validateTokens.
  writeTokenShards(kSample5, tok512(), dir.path / "v");
  {
    std::fstream f(dir.path / "v/train_000.bin", std::ios::in | std::ios::out | std::ios::binary);
    const char big[2] = {'\xFF', '\x7F'};
    f.seekp(6);
    f.write(big, 2);
  }
  const auto r = TokenShardReader::open(dir.path / "v");
  EXPECT_THROW(r.validateTokens(), LmError);
  EXPECT_EQ(r.token(Split::Train, 3), 0x7FFFu);
}

namespace {

core::JobRegistry& dataJobs() {
  static core::JobRegistry r;
  if (!r.contains("lm.tokenize")) registerDataJobs(r);
  return r;
}

class CancelOnProgress : public core::FeedbackSink {
 public:
  explicit CancelOnProgress(core::Feedback& fb) : fb_(fb) {}
  void onProgress(double fraction, const std::string&) override {
    if (fraction > 0.05) fb_.requestCancel();
  }

 private:
  core::Feedback& fb_;
};

}  // namespace

TEST(TokenizeJob, WritesShardsAsRunArtifacts) {
  TempDir dir("job");
  core::Feedback fb;
  core::RunRequest req;
  req.job = "lm.tokenize";
  req.params = {{"input", kSample5.string()}, {"tokenizer", (lmData() / "tok512.bin").string()}, {"validation_fraction", 0.2}};
  req.device = "cpu";
  req.seed = 1;
  req.runsRoot = dir.path;
  const auto out = core::runJob(dataJobs(), req, fb);
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto run = core::RunDir::open(out.runDir);
  const auto reader = TokenShardReader::open(run.artifactsDir() / "token_shards");
  EXPECT_EQ(run.record()["summary"]["documents"], 5);
  EXPECT_EQ(run.record()["summary"]["train_tokens"], reader.numTokens(Split::Train));
  bool hasIndex = false;
  for (const auto& a : run.record()["artifacts"]) hasIndex |= a["path"] == "artifacts/token_shards/index.json";
  EXPECT_TRUE(hasIndex);
  EXPECT_DOUBLE_EQ(fb.progress(), 1.0);

  // An external output folder, GPT-2 tokenizer given as a folder.
  req.params = {{"input", kSample5.string()}, {"tokenizer", (lmData() / "fake_gpt2_random").string()},
                {"output", (dir.path / "ext").string()}, {"dtype", "uint32"}};
  core::Feedback fb2;
  const auto out2 = core::runJob(dataJobs(), req, fb2);
  ASSERT_EQ(out2.status, core::RunStatus::Completed) << out2.error;
  EXPECT_EQ(TokenShardReader::open(dir.path / "ext").dtype(), TokenDtype::UInt32);

  // Bad params fail before a run exists; a missing tokenizer path is named.
  req.params = {{"input", kSample5.string()}};
  core::Feedback fb3;
  EXPECT_THROW(core::runJob(dataJobs(), req, fb3), core::ParamError);
}

TEST(TokenizeJob, CancelLeavesACancelledRunWithoutIndex) {
  TempDir dir("cancel");
  core::Feedback fb;
  fb.addSink(std::make_shared<CancelOnProgress>(fb));
  core::RunRequest req;
  req.job = "lm.tokenize";
  req.params = {{"input", (sharedData() / "text/english").string()}, {"tokenizer", (lmData() / "tok512.bin").string()},
                {"threads", 1}};
  req.device = "cpu";
  req.seed = 1;
  req.runsRoot = dir.path;
  const auto out = core::runJob(dataJobs(), req, fb);
  EXPECT_EQ(out.status, core::RunStatus::Cancelled);
  EXPECT_FALSE(fs::exists(core::RunDir::open(out.runDir).artifactsDir() / "token_shards/index.json"));
}
