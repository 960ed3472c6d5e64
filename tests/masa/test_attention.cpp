// MASA attention and its baselines (attention.h): exact parameter counts from the paper's formula
// (S d h + L S per type instead of L d h), equivalence with the dense model they export to, the
// frozen-coefficient inference form, and training through lm.train on TinyStories text.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "atomscope/all_jobs.h"
#include "atomscope/core/runner.h"
#include "atomscope/lm/attention_variants.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/masa/attention.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(ATOMSCOPE_SHARED_DATA_DIR);

lm::ModelConfig smallLlama(std::int64_t layers = 6) {
  lm::ModelConfig c;
  c.family = lm::ModelFamily::Llama;
  c.dim = 48;
  c.nLayers = layers;
  c.nHeads = 4;
  c.nKvHeads = 4;
  c.hiddenDim = 128;
  c.vocabSize = 512;
  c.maxSeqLen = 64;
  return c;
}

torch::Tensor logits(lm::CausalLMImpl& m) {
  torch::NoGradGuard g;
  m.eval();
  auto ids = torch::tensor({1, 403, 407, 261, 378, 432, 383, 286}, torch::kLong).unsqueeze(0);
  return m.forward(ids);
}

core::JobRegistry& registry() {
  static core::JobRegistry r;
  registerAllJobs(r);
  return r;
}

}  // namespace

TEST(MasaAttention, ParameterCountsFollowThePapersFormula) {
  const auto c = smallLlama(6);
  const std::int64_t d = c.dim, L = c.nLayers, S = 2;  // S = L / 3: the paper's 66.7% setting
  torch::manual_seed(0);
  auto m = masa::createSharedAttentionModel(c, {"masa-qkvo", S});
  masa::freezeCoefficients(*m);
  auto info = masa::describeAttention(*m);
  EXPECT_EQ(info["dense_attention_parameters"], 4 * L * d * d);
  EXPECT_EQ(info["attention_parameters"], 4 * (S * d * d + L * S));  // paper: S d h + L S per projection type
  EXPECT_NEAR(info["attention_reduction"].get<double>(), 1.0 - (S * d * d + L * S) / double(L * d * d), 1e-12);
  EXPECT_NEAR(info["attention_reduction"].get<double>(), 2.0 / 3.0, 0.01);
  EXPECT_EQ(info["attention_variant"], "masa-qkvo");

  auto qkv = masa::createSharedAttentionModel(c, {"masa-qkv", S});
  masa::freezeCoefficients(*qkv);
  // Sharing q, k, v only: 3 of 4 matrices shrink by 2/3 -> 50% (the paper's MASA-QKV).
  EXPECT_NEAR(masa::describeAttention(*qkv)["attention_reduction"].get<double>(), 0.5, 0.01);

  auto lowRank = masa::createSharedAttentionModel(c, {"low-rank", 0, 16});
  EXPECT_EQ(masa::describeAttention(*lowRank)["attention_parameters"], 4 * L * (d * 16 + 16 * d));
  auto seq = masa::createSharedAttentionModel(c, {"sequential", 0, 0, 2});
  EXPECT_EQ(masa::describeAttention(*seq)["attention_parameters"], 4 * 2 * d * d);
  auto gqa = masa::createSharedAttentionModel(c, {"gqa"});
  EXPECT_EQ(gqa->config().nKvHeads, 1);  // 4 heads / 4
  EXPECT_EQ(masa::describeAttention(*gqa)["attention_parameters"], L * (2 * d * d + 2 * d * (d / 4)));
  // Total parameters: the model's own count, each shared tensor once.
  EXPECT_EQ(info["total_parameters"], m->numParameters());
}

TEST(MasaAttention, EveryVariantEqualsTheDenseModelItExportsTo) {
  for (const std::string v : {"masa-qkvo", "masa-qkv", "low-rank", "sequential", "repeat-all-over"}) {
    torch::manual_seed(1);
    auto m = masa::createSharedAttentionModel(smallLlama(6), {v});
    const auto before = logits(*m);
    masa::freezeCoefficients(*m);
    EXPECT_TRUE(torch::allclose(logits(*m), before, 1e-5, 1e-5)) << v << ": freezing changed the model";
    test::ScopedTempDir dir("masa-dense-" + v);
    lm::saveHfModel(*m, dir.path());
    auto dense = lm::loadHfModel(dir.path());
    EXPECT_TRUE(torch::allclose(logits(*dense), logits(*m), 1e-5, 1e-5)) << v;
  }
  // Sequential: layers 0-1, 2-3, 4-5 share; repeat-all-over: 0,2,4 and 1,3,5.
  torch::manual_seed(2);
  auto seq = masa::createSharedAttentionModel(smallLlama(6), {"sequential", 0, 0, 3});
  auto rep = masa::createSharedAttentionModel(smallLlama(6), {"repeat-all-over", 0, 0, 2});
  auto q = [](lm::CausalLMImpl& m, int l) { return lm::attentionProjections(m).at(4 * l).second->denseWeight(); };
  EXPECT_TRUE(torch::equal(q(*seq, 0), q(*seq, 1)));
  EXPECT_FALSE(torch::equal(q(*seq, 1), q(*seq, 2)));
  EXPECT_TRUE(torch::equal(q(*rep, 0), q(*rep, 4)));
  EXPECT_FALSE(torch::equal(q(*rep, 0), q(*rep, 1)));
}

TEST(MasaAttention, InferenceCacheFollowsWeightChanges) {
  torch::manual_seed(3);
  auto m = masa::createSharedAttentionModel(smallLlama(3), {"masa-qkvo", 1});
  masa::freezeCoefficients(*m);
  const auto a = logits(*m);
  const auto dicts = masa::dictionariesOf(*m);
  ASSERT_EQ(dicts.size(), 4u);
  EXPECT_EQ(dicts[0].coefficients.sizes(), (std::vector<std::int64_t>{3, 1}));
  {
    torch::NoGradGuard g;
    for (auto& p : m->named_parameters())
      if (p.key() == "masa.q.atoms") p.value().mul_(3.0);
  }
  EXPECT_FALSE(torch::allclose(logits(*m), a, 1e-4, 1e-4));  // W_l recomputed after the change
}

// One-atom starts: layer l begins as one atom alone (sequential: atom floor(l S / L), the
// sequential-sharing model; repeat: atom l mod S, the repeat-all-over model) plus a mixture 10x smaller
// than the paper's random start; the paper's start mixes all atoms at RMS 1/sqrt(S).
TEST(MasaAttention, OneAtomStartsBeginAtLayerSharing) {
  const std::int64_t L = 6, S = 2;
  for (const std::string start : {"sequential", "repeat"}) {
    masa::SharingOptions o{"masa-qkvo", S};
    o.coefficientInit = start;
    torch::manual_seed(4);
    auto m = masa::createSharedAttentionModel(smallLlama(L), o);
    // sequential: layers 0-2 use atom 0, layers 3-5 atom 1; repeat: layers 0, 2, 4 atom 0, the others atom 1.
    auto expectedAtom = [&](std::int64_t l) { return start == "repeat" ? l % S : l * S / L; };
    for (const auto& d : masa::dictionariesOf(*m)) {
      ASSERT_EQ(d.coefficients.sizes(), (std::vector<std::int64_t>{L, S}));
      auto base = torch::zeros({L, S}, torch::kDouble);
      for (std::int64_t l = 0; l < L; ++l) {
        base[l][expectedAtom(l)] = 1.0;
        for (std::int64_t s = 0; s < S; ++s)
          EXPECT_NEAR(d.coefficients[l][s].item<double>(), s == expectedAtom(l) ? 1.0 : 0.0, 0.5 / std::sqrt(double(S)))
              << start << " " << d.role << " layer " << l << " atom " << s;
      }
      // The mixture around the one-hot start has RMS 0.1 / sqrt(S), as set.
      const double rms = (d.coefficients.to(torch::kDouble) - base).pow(2).mean().sqrt().item<double>();
      EXPECT_NEAR(rms, 0.1 / std::sqrt(double(S)), 1e-6) << start << " " << d.role;
    }
    // Freezing keeps the coefficients the model uses (the one-hot part included), and the frozen model
    // gives the same logits.
    const auto before = logits(*m);
    masa::freezeCoefficients(*m);
    EXPECT_TRUE(torch::allclose(logits(*m), before, 1e-5, 1e-5)) << start;
  }
  EXPECT_THROW(masa::SharingOptions::fromJson("masa-qkvo", Json{{"coefficient_init", "orthogonal"}}), lm::LmError);
}

TEST(MasaAttention, BadSettingsAreRefused) {
  EXPECT_THROW(masa::createSharedAttentionModel(smallLlama(3), {"masa-qkvo", 4}), lm::LmError);  // S > L
  auto gpt2 = smallLlama(3);
  gpt2.family = lm::ModelFamily::Gpt2;
  EXPECT_THROW(masa::createSharedAttentionModel(gpt2, {"gqa"}), lm::LmError);
  EXPECT_THROW(masa::createSharedAttentionModel(smallLlama(3), {"tensor-train"}), lm::LmError);
  EXPECT_THROW(lm::attentionVariant("no-such"), lm::LmError);
}

// From scratch through lm.train (GPT-2 and Llama): the loss falls, the summary carries the exact
// attention counts, and the exported dense model gives the trained model's logits.
TEST(MasaAttention, TrainsFromScratchInLmTrain) {
  auto& r = registry();
  for (const std::string family : {"llama", "gpt2"}) {
    test::ScopedTempDir dir("masa-train-" + family);
    Json p{{"data", (kData / "text" / "tinystories" / "tinystories_sample5.txt").string()},
           {"tokenizer", (kData / "lm" / "tok512.bin").string()}, {"family", family}, {"dim", 48}, {"n_layers", 6},
           {"n_heads", 4}, {"context", 32}, {"batch_size", 8}, {"steps", 40}, {"lr", 3e-3}, {"warmup_steps", 4},
           {"checkpoint_every", 20}, {"val_every", 20}, {"attention", "masa-qkvo"}, {"atoms", 2}};
    core::Feedback fb;
    const auto out = core::runJob(r, core::RunRequest{"lm.train", p, "cpu", 7, dir.path()}, fb);
    ASSERT_EQ(out.status, core::RunStatus::Completed) << out.error;
    const auto run = core::RunDir::open(out.runDir);
    const auto summary = run.record()["summary"];
    const auto metrics = run.readMetrics();
    EXPECT_LT(summary["final_loss"].get<double>(), metrics.front().values.at("loss") - 1.0) << family;
    EXPECT_EQ(summary["attention_variant"], "masa-qkvo");
    const std::int64_t d = 48, L = 6, S = 2;
    const std::int64_t biases = family == "gpt2" ? L * 4 * d : 0;
    EXPECT_EQ(summary["attention_parameters"], 4 * (S * d * d + L * S) + biases) << family;
    // The dense export loads as a plain model.
    fs::path exported;
    for (const auto& a : run.record()["artifacts"])
      if (fs::path(a["path"].get<std::string>()).filename() == "model") exported = run.path() / a["path"].get<std::string>();
    ASSERT_TRUE(fs::exists(exported / "config.json"));
    auto dense = lm::loadHfModel(exported);
    EXPECT_EQ(dense->config().nLayers, 6);
  }
  // Continuing an existing model with a sharing variant is refused with a clear message.
  test::ScopedTempDir dir("masa-train-bad");
  core::Feedback fb;
  const auto bad = core::runJob(
      r,
      core::RunRequest{"lm.train",
                       Json{{"data", (kData / "text" / "tinystories" / "tinystories_sample5.txt").string()},
                            {"model", (kData / "lm" / "stories260K.bin").string()}, {"attention", "low-rank"}},
                       "cpu", 7, dir.path()},
      fb);
  EXPECT_EQ(bad.status, core::RunStatus::Failed);
  EXPECT_NE(bad.error.find("cannot continue"), std::string::npos) << bad.error;
}

// coefficient_decay off (beyond the paper): AdamW leaves MASA's coefficient generator (per-layer
// embeddings, MLP) undecayed and still decays the atoms. Unit level: exactly the generator's
// matrices are exempt, and only while it exists. Through lm.train: with a weight decay so strong that
// it halves every decayed matrix in 10 steps, the layer embedding keeps its N(0, 1) start only when
// its decay is off.
TEST(MasaAttention, CoefficientDecayOffExemptsOnlyTheGenerator) {
  masa::SharingOptions o{"masa-qkvo", 2};
  torch::manual_seed(5);
  EXPECT_TRUE(masa::undecayedParameters(*masa::createSharedAttentionModel(smallLlama(4), o)).empty());
  o.coefficientDecay = false;
  auto m = masa::createSharedAttentionModel(smallLlama(4), o);
  std::set<const void*> exempt;
  for (const auto& t : masa::undecayedParameters(*m)) exempt.insert(t.unsafeGetTensorImpl());
  std::size_t generators = 0;
  for (const auto& p : m->named_parameters()) {
    const bool generator = p.key().find("masa.") == 0 && p.key().find(".weight") != std::string::npos &&
                           (p.key().find("layer_embedding") != std::string::npos || p.key().find("mlp_") != std::string::npos);
    generators += generator;
    EXPECT_EQ(exempt.count(p.value().unsafeGetTensorImpl()) == 1, generator) << p.key();
  }
  EXPECT_EQ(generators, 12u);  // 4 types x (embedding, mlp_in, mlp_out)
  EXPECT_EQ(exempt.size(), 12u);
  masa::freezeCoefficients(*m);
  EXPECT_TRUE(masa::undecayedParameters(*m).empty());  // frozen coefficients are a plain parameter
  auto seq = o;
  seq.variant = "sequential";
  EXPECT_TRUE(masa::undecayedParameters(*masa::createSharedAttentionModel(smallLlama(4), seq)).empty());

  auto embeddingNorm = [](bool decayCoefficients) {
    test::ScopedTempDir dir(std::string("masa-decay-") + (decayCoefficients ? "on" : "off"));
    const std::int64_t steps = 10;
    Json p{{"data", (kData / "text" / "tinystories" / "tinystories_sample5.txt").string()},
           {"tokenizer", (kData / "lm" / "tok512.bin").string()}, {"dim", 32}, {"n_layers", 4}, {"n_heads", 4},
           {"context", 32}, {"batch_size", 4}, {"steps", steps}, {"lr", 1e-2}, {"warmup_steps", 0},
           {"min_lr_ratio", 1.0}, {"weight_decay", 10.0}, {"checkpoint_every", steps}, {"val_every", steps},
           {"export", false}, {"attention", "masa-qkvo"}, {"atoms", 2}, {"coefficient_decay", decayCoefficients}};
    core::Feedback fb;
    const auto out = core::runJob(registry(), core::RunRequest{"lm.train", p, "cpu", 7, dir.path()}, fb);
    EXPECT_EQ(out.status, core::RunStatus::Completed) << out.error;
    const auto ckpt = core::RunDir::open(out.runDir).checkpointPath(steps);
    torch::serialize::InputArchive in, masaArchive, q, embedding;
    in.load_from(ckpt.string());
    in.read("masa", masaArchive);
    masaArchive.read("q", q);
    q.read("layer_embedding", embedding);
    torch::Tensor w;
    embedding.read("weight", w);
    return w.norm().item<double>() / std::sqrt(static_cast<double>(w.numel()));  // RMS; N(0, 1) start: 1
  };
  const double off = embeddingNorm(false), on = embeddingNorm(true);
  // Decay: x (1 - 0.01 x 10) per step = 0.35 after 10 steps; Adam moves each entry by at most ~0.1.
  EXPECT_NEAR(off, 1.0, 0.25);
  EXPECT_LT(on, 0.5);
}
