// lm.attention (and lm.generate's token stream) through the job runner on stories260K (llama2.c's tinyllamas model, see
// ../shared/data/README.md): shape, rows summing to 1, causality, and layer 0 recomputed by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "atomscope/core/runner.h"
#include "atomscope/core/tensor_io.h"
#include "atomscope/lm/lm_jobs.h"
#include "atomscope/lm/model.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/lm/tokenizer.h"
#include "test_util.h"

using namespace atomscope;
using namespace atomscope::core;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(ATOMSCOPE_SHARED_DATA_DIR);
const std::string kStories = (kData / "lm" / "stories260K.bin").string();
const std::string kTok512 = (kData / "lm" / "tok512.bin").string();
const std::string kPrompt = "Once upon a time, there was a little girl named Lily.";

JobRegistry& registry() {
  static JobRegistry r;
  if (!r.contains("lm.attention")) lm::registerLmJobs(r);
  return r;
}

// Not std::filesystem::remove_all (see tests/common/test_util.h).
fs::path freshDir(const std::string& name) { return atomscope::test::freshTempDir("lmattn-" + name); }

fs::path artifact(const RunDir& run, const std::string& name) {
  for (const auto& a : run.record()["artifacts"])
    if (fs::path(a["path"].get<std::string>()).filename() == name) return run.path() / a["path"].get<std::string>();
  return {};
}

torch::Tensor param(lm::CausalLMImpl& m, const std::string& name) {
  for (const auto& p : m.named_parameters())
    if (p.key() == name) return p.value();
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

torch::Tensor rotateHalf(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

TEST(LmAttention, Stories260KProbabilitiesAreCausalRowsOfOneAndMatchLayer0ByHand) {
  Feedback fb;
  const auto out = runJob(registry(),
                          RunRequest{"lm.attention", Json{{"model", kStories}, {"prompt", kPrompt}}, "cpu", 1,
                                     freshDir("stories")},
                          fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto run = RunDir::open(out.runDir);
  const auto& summary = run.record()["summary"];
  // stories260K: 5 layers, 8 heads (README of ../shared/data, llama2.c's header).
  EXPECT_EQ(summary["layers"], 5);
  EXPECT_EQ(summary["heads"], 8);

  auto tok = lm::openTokenizer(kTok512);
  const auto ids = tok->encode(kPrompt, true, false);
  const auto T = static_cast<std::int64_t>(ids.size());
  EXPECT_EQ(summary["tokens"], T);

  const auto probs = loadNpy(artifact(run, "attention.npy"));
  ASSERT_EQ(probs.sizes().vec(), (std::vector<std::int64_t>{5, 8, T, T}));
  ASSERT_EQ(probs.scalar_type(), torch::kFloat32);
  // Rows are distributions.
  EXPECT_LT((probs.sum(-1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_GE(probs.min().item<double>(), 0.0);
  // Causal: nothing above the diagonal.
  auto upper = torch::triu(torch::ones({T, T}, torch::kBool), 1);
  EXPECT_EQ(probs.masked_select(upper).abs().max().item<double>(), 0.0);

  // tokens.json: one text per token, ids as the tokenizer gives them.
  std::ifstream in(artifact(run, "tokens.json"));
  const auto tj = Json::parse(in);
  ASSERT_EQ(tj["texts"].size(), static_cast<std::size_t>(T));
  for (std::int64_t i = 0; i < T; ++i) EXPECT_EQ(tj["ids"][i].get<int>(), ids[static_cast<std::size_t>(i)]);
  EXPECT_EQ(tj["texts"][1].get<std::string>(), tok->tokenText(ids[1]));

  // Layer 0 by hand: RMSNorm of the embeddings, q/k projections, rotary (rotate-half, theta from
  // the config), grouped-query heads (head h reads kv head h / 2), scaled causal softmax.
  torch::NoGradGuard g;
  auto m = lm::loadModel(kStories).model;
  const auto& c = m->config();
  const auto hd = c.dim / c.nHeads;
  auto idsT = torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), torch::kLong);
  auto x = param(*m, "embed_tokens.weight").index_select(0, idsT);  // [T, dim]
  auto xn = x * torch::rsqrt(x.pow(2).mean(-1, true) + c.normEps) * param(*m, "layers.0.input_layernorm.weight");
  auto q = torch::matmul(xn, param(*m, "layers.0.self_attn.q_proj.weight").t()).view({T, c.nHeads, hd}).transpose(0, 1);
  auto k = torch::matmul(xn, param(*m, "layers.0.self_attn.k_proj.weight").t()).view({T, c.nKvHeads, hd}).transpose(0, 1);
  auto invFreq = 1.0 / torch::pow(torch::tensor(c.ropeTheta), torch::arange(0, hd, 2).to(torch::kFloat32) / double(hd));
  auto freqs = torch::arange(T).to(torch::kFloat32).unsqueeze(1) * invFreq.to(torch::kFloat32);
  auto emb = torch::cat({freqs, freqs}, -1);
  q = q * emb.cos() + rotateHalf(q) * emb.sin();
  k = k * emb.cos() + rotateHalf(k) * emb.sin();
  k = k.repeat_interleave(c.nHeads / c.nKvHeads, 0);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(hd));
  scores = scores.masked_fill(upper, -INFINITY);
  auto expected = torch::softmax(scores, -1);
  EXPECT_LT((probs[0] - expected).abs().max().item<double>(), 1e-5);
  // Later layers differ from layer 0 (the test compares something real).
  EXPECT_GT((probs[1] - probs[0]).abs().max().item<double>(), 1e-2);
}

TEST(LmAttention, RecorderLeavesLogitsUnchanged) {
  torch::NoGradGuard g;
  auto m = lm::loadModel(kStories).model;
  auto tok = lm::openTokenizer(kTok512);
  const auto ids = tok->encode(kPrompt, true, false);
  auto input = torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), torch::kLong).unsqueeze(0);
  auto plain = m->forward(input);
  torch::Tensor recorded;
  {
    lm::AttentionRecorder rec;
    recorded = m->forward(input);
    EXPECT_EQ(rec.probabilities.size(), 5u);
    EXPECT_EQ(lm::AttentionRecorder::current(), &rec);
  }
  EXPECT_EQ(lm::AttentionRecorder::current(), nullptr);
  EXPECT_LT((plain - recorded).abs().max().item<double>(), 1e-4);
}

TEST(LmAttention, EmptyPromptWithoutBosIsAnError) {
  Feedback fb;
  const auto out = runJob(registry(),
                          RunRequest{"lm.attention", Json{{"model", kStories}, {"prompt", ""}, {"add_bos", false}}, "cpu",
                                     1, freshDir("empty")},
                          fb);
  EXPECT_EQ(out.status, RunStatus::Failed);
  EXPECT_NE(out.error.find("no tokens"), std::string::npos) << out.error;
}

// lm.generate's stream_tokens side channel (used by the Models plugin): one debug line
// "token: <JSON string>" per generated piece; the pieces add up to the saved text.
TEST(LmGenerateStream, TokenLinesAddUpToTheGeneratedText) {
  class Capture : public FeedbackSink {
   public:
    void onLog(LogLevel level, const std::string& message) override {
      if (level == LogLevel::Debug && message.rfind("token: ", 0) == 0) pieces.push_back(Json::parse(message.substr(7)));
    }
    std::vector<std::string> pieces;
  };
  Feedback fb;
  auto capture = std::make_shared<Capture>();
  fb.addSink(capture);
  const auto out = runJob(registry(),
                          RunRequest{"lm.generate", Json{{"model", kStories}, {"max_new_tokens", 20}, {"stream_tokens", true}},
                                     "cpu", 1, freshDir("stream")},
                          fb);
  ASSERT_EQ(out.status, RunStatus::Completed) << out.error;
  const auto run = RunDir::open(out.runDir);
  ASSERT_EQ(capture->pieces.size(), 20u);
  std::string joined;
  for (const auto& p : capture->pieces) joined += p;
  EXPECT_EQ(joined, run.record()["summary"]["text"].get<std::string>());
  // The known greedy story of stories260K (../shared/data/README.md).
  EXPECT_EQ(joined.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << joined;

  // Off by default: no token lines.
  Feedback quiet;
  auto none = std::make_shared<Capture>();
  quiet.addSink(none);
  ASSERT_EQ(runJob(registry(), RunRequest{"lm.generate", Json{{"model", kStories}, {"max_new_tokens", 5}}, "cpu", 1,
                                          freshDir("quiet")},
                   quiet)
                .status,
            RunStatus::Completed);
  EXPECT_TRUE(none->pieces.empty());
}
