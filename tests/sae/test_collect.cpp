// sae.collect on stories260K: the captured sites reproduce lm's own forward pass, the shards hold
// exactly the planned activations with the right tokens, cancel leaves a marked partial folder, and
// damaged folders give clear errors.
#include <gtest/gtest.h>

#include "atomscope/lm/token_shards.h"
#include "atomscope/lm/tokenizer.h"
#include "atomscope/sae/collect.h"
#include "atomscope/sae/train.h"
#include "sae_test_util.h"

namespace atomscope::sae_test {

namespace {
torch::Tensor sentenceIds(const lm::Tokenizer& tok) {
  auto ids = tok.encode("Once upon a time, there was a little dog named Max. He liked to play in the park.", true, false);
  return torch::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), torch::kLong).unsqueeze(0);
}
}  // namespace

// The residual stream after the last block, through the final RMSNorm (computed here by hand from
// norm.weight and the config's eps, as transformers' LlamaRMSNorm does) and the tied head, gives
// the logits lm's forward returns; and every block's residual is the previous one plus its
// attention and MLP outputs.
TEST(SaeCollect, SitesReproduceLmForward) {
  auto loaded = lm::loadModel(storiesModel());
  auto& model = *loaded.model;
  auto tok = lm::openTokenizer(storiesTokenizer());
  const auto ids = sentenceIds(*tok);
  const auto L = model.config().nLayers;
  std::vector<Site> sites;
  for (std::int64_t l = 0; l < L; ++l)
    for (auto k : {lm::ActivationSite::AttnOut, lm::ActivationSite::MlpOut, lm::ActivationSite::ResidPost})
      sites.push_back({k, l});
  torch::Tensor logits;
  auto acts = captureSites(model, ids, sites, &logits);
  ASSERT_EQ(acts.size(), sites.size());
  torch::NoGradGuard g;
  const auto reference = model.forward(ids);
  EXPECT_TRUE(torch::equal(logits, reference));  // the recorder does not change the computation
  torch::Tensor normW, head;
  for (const auto& p : model.named_parameters()) {
    if (p.key() == "norm.weight") normW = p.value();
    if (p.key() == (model.config().tiedEmbeddings ? "embed_tokens.weight" : "lm_head.weight")) head = p.value();
  }
  ASSERT_TRUE(normW.defined() && head.defined());
  auto x = acts.at("resid_post." + std::to_string(L - 1));
  auto h = x * torch::rsqrt(x.pow(2).mean(-1, true) + model.config().normEps) * normW;
  EXPECT_TRUE(torch::allclose(torch::matmul(h, head.t()), reference, 1e-4, 1e-5));
  auto embed = model.named_parameters()["embed_tokens.weight"].index_select(0, ids.squeeze(0)).unsqueeze(0);
  auto prev = embed;
  for (std::int64_t l = 0; l < L; ++l) {
    const auto s = std::to_string(l);
    EXPECT_TRUE(torch::allclose(acts.at("resid_post." + s), prev + acts.at("attn_out." + s) + acts.at("mlp_out." + s), 1e-5, 1e-6));
    prev = acts.at("resid_post." + s);
  }
  // Stopping early (no logits wanted) gives the same activations.
  auto early = captureSites(model, ids, {{lm::ActivationSite::MlpOut, 1}});
  EXPECT_TRUE(torch::equal(early.at("mlp_out.1"), acts.at("mlp_out.1")));
  EXPECT_THROW(captureSites(model, ids, {{lm::ActivationSite::ResidPost, L}}), SaeError);
}

TEST(SaeCollect, JobWritesThePlannedShards) {
  test::ScopedTempDir dir("sae_collect");
  auto out = runJob("sae.collect",
                    Json{{"model", storiesModel().string()}, {"tokenizer", storiesTokenizer().string()},
                         {"data", sampleText().string()}, {"layers", "1,3"}, {"site", "mlp_out"}, {"context", 64},
                         {"shard_rows", 1024}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto sum = summary(out);
  auto reader = ActivationReader::open(out.runDir / "artifacts" / "activations");
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(reader.sites(), (std::vector<std::string>{"mlp_out.1", "mlp_out.3"}));
  EXPECT_EQ(reader.d(), 64);
  // Size known before the run = what was written: rows x (2 sites x 64 x 4 bytes + 8).
  EXPECT_EQ(sum["planned_rows"].get<std::int64_t>(), reader.rows());
  EXPECT_EQ(sum["planned_bytes"].get<std::int64_t>(), reader.rows() * (2 * 64 * 4 + 8));
  // The text's tokens without the BOS of each document (tinystories_sample5.txt: 5 stories separated by <|endoftext|>).
  auto tok = lm::openTokenizer(storiesTokenizer());
  std::ifstream in(sampleText());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();  // splitDocuments returns views into it
  std::int64_t expected = 0;
  for (auto doc : lm::splitDocuments(text, "<|endoftext|>")) expected += tok->encode(std::string(doc), false, false).size();
  EXPECT_EQ(reader.rows(), expected);
  // The rows of the longest window (collected first) equal a direct forward pass over it.
  std::vector<std::int64_t> window{*tok->bosId()};  // the first story's first window: BOS + 63 rows
  for (std::int64_t r = 0; r < 63; ++r) window.push_back(reader.token(r));
  EXPECT_EQ(reader.position(63), 0);  // the next window (the story's continuation) has no BOS
  auto loaded = lm::loadModel(storiesModel());
  auto direct = captureSites(*loaded.model, torch::tensor(window).unsqueeze(0), {Site::parse("mlp_out.3")});
  {
    const auto got = reader.rows("mlp_out.3", 0, 63), want = direct.at("mlp_out.3")[0].narrow(0, 1, 63);
    const double diff = (got - want).abs().max().item<double>(), scale = want.abs().max().item<double>();
    std::cout << "collected against direct: largest difference " << diff << " of " << scale << "\n";
    // The same float32 products, blocked differently for a batch than for one window (and by the BLAS the CPU
    // gets): rounding-level differences, measured at 1.2e-6 of the largest activation on an AVX-512 EPYC.
    EXPECT_LT(diff, 1e-5 * scale);
  }
  for (std::int64_t r = 0; r < 63; ++r) EXPECT_EQ(reader.position(r), r + 1);
  // Random batches are reproducible and come from the rows.
  auto b1 = reader.randomBatch("mlp_out.1", 32, 0, reader.rows(), 9, 4);
  EXPECT_TRUE(torch::equal(b1, reader.randomBatch("mlp_out.1", 32, 0, reader.rows(), 9, 4)));
  EXPECT_FALSE(torch::equal(b1, reader.randomBatch("mlp_out.1", 32, 0, reader.rows(), 9, 5)));
  auto all = reader.rows("mlp_out.1", 0, reader.rows());
  for (std::int64_t i = 0; i < 32; ++i) EXPECT_TRUE((all - b1[i]).abs().sum(1).min().item<float>() == 0.0f);
  // Shards of at most 1024 rows, windows whole.
  EXPECT_GE(reader.manifest()["shards"].size(), 2u);
  for (const auto& s : reader.manifest()["shards"]) EXPECT_LE(s["rows"].get<std::int64_t>(), 1024);
}

namespace {
// Cancels once the job reports progress past `after` activations.
class CancelAfter : public core::FeedbackSink {
 public:
  CancelAfter(core::Feedback& fb, int after) : fb_(fb), after_(after) {}
  void onProgress(double, const std::string& stage) override {
    if (stage.find(" of ") != std::string::npos && stage.find("activations") != std::string::npos && ++seen_ >= after_)
      fb_.requestCancel();
  }

 private:
  core::Feedback& fb_;
  int after_;
  int seen_ = 0;
};
}  // namespace

TEST(SaeCollect, CancelLeavesAMarkedPartialFolder) {
  test::ScopedTempDir dir("sae_cancel");
  core::Feedback fb;
  fb.addSink(std::make_shared<CancelAfter>(fb, 3));
  auto out = runJob("sae.collect",
                    Json{{"model", storiesModel().string()}, {"tokenizer", storiesTokenizer().string()},
                         {"data", valText().string()}, {"layers", "0"}, {"context", 128}, {"batch_size", 4},
                         {"shard_rows", 1024}, {"max_activations", 20000}},
                    dir.path(), &fb);
  ASSERT_EQ(out.status, core::RunStatus::Cancelled);
  auto reader = ActivationReader::open(out.runDir / "artifacts" / "activations");
  EXPECT_FALSE(reader.complete());
  EXPECT_TRUE(reader.manifest()["cancelled"].get<bool>());
  EXPECT_GT(reader.rows(), 0);
  EXPECT_LT(reader.rows(), 20000);
  // Whatever is listed is readable to the last row.
  EXPECT_EQ(reader.rows("resid_post.0", reader.rows() - 1, 1).size(0), 1);
}

TEST(SaeCollect, DamagedFoldersGiveClearErrors) {
  test::ScopedTempDir dir("sae_damaged");
  auto out = runJob("sae.collect",
                    Json{{"model", storiesModel().string()}, {"tokenizer", storiesTokenizer().string()},
                         {"data", sampleText().string()}, {"layers", "2"}},
                    dir.path());
  ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
  const auto folder = out.runDir / "artifacts" / "activations";
  auto expectError = [&](const std::string& part) {
    try {
      ActivationReader::open(folder);
      ADD_FAILURE() << "no error";
    } catch (const SaeError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto reader = ActivationReader::open(folder);
  // Site not there.
  try {
    reader.rows("resid_post.4", 0, 1);
    ADD_FAILURE();
  } catch (const SaeError& e) {
    EXPECT_NE(std::string(e.what()).find("hold no site 'resid_post.4' (they hold: resid_post.2)"), std::string::npos) << e.what();
  }
  // An SAE of another width.
  auto sae = Sae(SaeKind::JumpRelu, 32, 64);
  try {
    evaluateSae(*sae, reader, "resid_post.2", 0, reader.rows(), 0);
    ADD_FAILURE();
  } catch (const SaeError& e) {
    EXPECT_NE(std::string(e.what()).find("width 32"), std::string::npos) << e.what();
  }
  // A truncated shard.
  const auto shard = folder / "resid_post.2_000.bin";
  const auto size = fs::file_size(shard);
  fs::resize_file(shard, size - 4);
  expectError("resid_post.2_000.bin' holds " + std::to_string(size - 4) + " bytes, expected " + std::to_string(size));
  // A missing shard.
  fs::remove(shard);
  expectError("resid_post.2_000.bin' is missing");
  // A width that is not an integer (fuzz_sae_formats found a float out of range; nlohmann's
  // get<int64_t> on it was undefined behaviour).
  {
    auto j = reader.manifest();
    j["d"] = 6.4e51;
    core::writeFileAtomically(folder / "manifest.json", j.dump());
    expectError("field 'd' is not an integer");
    j["d"] = 64;
    j["shards"][0]["tokens"] = "../../run.json";
    core::writeFileAtomically(folder / "manifest.json", j.dump());
    expectError("must be a plain name inside the folder");
  }
  // A manifest that is not JSON.
  core::writeFileAtomically(folder / "manifest.json", "{not json");
  expectError("is not valid JSON");
  EXPECT_THROW(ActivationReader::open(dir / "nowhere"), SaeError);
  // A job with a layer the model lacks fails with a message naming it.
  auto bad = runJob("sae.collect", Json{{"model", storiesModel().string()}, {"tokenizer", storiesTokenizer().string()},
                                        {"data", sampleText().string()}, {"layers", "7"}},
                    dir.path());
  EXPECT_EQ(bad.status, core::RunStatus::Failed);
  EXPECT_NE(bad.error.find("layer 7 does not exist"), std::string::npos) << bad.error;
}

}  // namespace atomscope::sae_test
