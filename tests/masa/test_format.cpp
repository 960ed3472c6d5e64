// The compact MASA folder and the dense Hugging Face export: round trips through our loaders
// give the compressed model's logits; bad folders give errors naming the file and the tensor.
#include <gtest/gtest.h>

#include <fstream>

#include "atomscope/masa/masa_format.h"
#include "masa_jobs_util.h"

using namespace atomscope;
using namespace atomscope::masa;
namespace fs = std::filesystem;

namespace {

torch::Tensor formatLogits(lm::CausalLMImpl& m) {
  torch::NoGradGuard g;
  // A real prompt's ids: the stories260K tokenizer on the first line of the validation head.
  auto tok = lm::openTokenizer(masa_test::storiesTokenizer());
  std::ifstream in(masa_test::valText());
  std::string line;
  std::getline(in, line);
  auto ids = tok->encode(line, true, false);
  std::vector<std::int64_t> v(ids.begin(), ids.end());
  return m.forward(torch::tensor(v, torch::kLong).unsqueeze(0));
}

}  // namespace

// Source: the format stores exactly the factors the compression produced, so the rebuilt model
// must give the logits of the in-memory compressed model (float32 rounding only).
TEST(MasaFormat, RoundTripGivesTheCompressedModelsLogits) {
  for (const std::string method : {"matrix-pca-refined", "matrix-pca-grouped", "svd-llm"}) {
    atomscope::test::ScopedTempDir dir("masa_fmt");
    auto cm = masa_test::calibratedStories(2048);
    core::Feedback fb;
    CompressOptions o;
    o.method = method;
    o.ratio = 0.4;
    auto r = compressAttention(*cm.loaded.model, o, cm.recorder.get(), fb);
    saveMasaFolder(*cm.loaded.model, r, dir / "masa", {torch::kFloat32, masa_test::storiesTokenizer()});
    applyCompression(*cm.loaded.model, r);
    auto expected = formatLogits(*cm.loaded.model);
    ASSERT_TRUE(isMasaFolder(dir / "masa"));
    auto m = loadMasaFolder(dir / "masa");
    EXPECT_EQ(m.attentionParameters, r.attentionStored()) << method;
    EXPECT_LT((formatLogits(*m.model) - expected).abs().max().item<double>(), 1e-5) << method;
    ASSERT_TRUE(m.tokenizer.has_value());
    // The dense Hugging Face folder, read back by our loader.
    lm::saveHfModel(*m.model, dir / "hf");
    auto hf = lm::loadModel(dir / "hf");
    EXPECT_EQ(hf.format, "hf");
    EXPECT_LT((formatLogits(*hf.model) - expected).abs().max().item<double>(), 1e-5) << method;
    // Fewer stored numbers than the dense attention they replace (61440 weights).
    std::int64_t files = 0;
    for (const auto& t : core::loadSafetensors(dir / "masa" / "masa.safetensors")) files += t.second.numel();
    auto dense = core::loadSafetensors(dir / "hf" / "model.safetensors");
    std::int64_t denseCount = 0;
    for (const auto& t : dense) denseCount += t.second.numel();
    EXPECT_EQ(denseCount - files, 61440 - r.attentionStored()) << method;
  }
}

// masa.export through the registry: the HF folder it writes loads and matches the MASA folder.
TEST(MasaFormat, ExportJobWritesALoadableDenseFolder) {
  atomscope::test::ScopedTempDir dir("masa_export");
  auto cm = masa_test::calibratedStories(1024);
  core::Feedback fb;
  CompressOptions o;
  o.method = "matrix-pca";
  o.atoms = 3;
  auto r = compressAttention(*cm.loaded.model, o, nullptr, fb);
  saveMasaFolder(*cm.loaded.model, r, dir / "masa");
  auto run = masa_test::runJob("masa.export", {{"masa", (dir / "masa").string()}}, dir.path());
  ASSERT_EQ(run.status, core::RunStatus::Completed) << run.error;
  auto hf = lm::loadModel(masa_test::artifact(run, "hf_model"));
  auto m = loadMasaFolder(dir / "masa");
  EXPECT_LT((formatLogits(*hf.model) - formatLogits(*m.model)).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(masa_test::summary(run)["attention_params"].get<std::int64_t>(), r.attentionStored());
}

TEST(MasaFormat, BadFoldersNameTheProblem) {
  atomscope::test::ScopedTempDir dir("masa_badfmt");
  auto expectError = [](const fs::path& folder, const std::string& part) {
    try {
      loadMasaFolder(folder);
      FAIL() << "no error; expected one mentioning '" << part << "'";
    } catch (const core::Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expectError(dir / "missing", "masa_config.json is missing");
  auto cm = masa_test::calibratedStories(512);
  core::Feedback fb;
  CompressOptions o;
  o.atoms = 2;
  auto r = compressAttention(*cm.loaded.model, o, nullptr, fb);
  saveMasaFolder(*cm.loaded.model, r, dir / "m");
  // Drop one atom tensor: the error names it.
  auto tensors = core::loadSafetensors(dir / "m" / "masa.safetensors");
  tensors.erase("masa.k.0.atoms");
  core::saveSafetensors(dir / "m" / "masa.safetensors", tensors);
  expectError(dir / "m", "masa.k.0.atoms");
  std::ofstream(dir / "m" / "masa_config.json") << "{ not json";
  expectError(dir / "m", "masa_config.json");
}

// GPT-2's layout (fused c_attn, Conv1D c_proj, biases kept): no pretrained multi-layer GPT-2 is in
// the shared data (fake_gpt2_random has 1 layer), so a 4-layer model made by createModel with a fixed
// seed is compressed, written, read back and must give the in-memory compressed logits.
TEST(MasaFormat, Gpt2RoundTrip) {
  atomscope::test::ScopedTempDir dir("masa_gpt2");
  lm::ModelConfig c;
  c.family = lm::ModelFamily::Gpt2;
  c.vocabSize = 50;
  c.dim = 32;
  c.nLayers = 4;
  c.nHeads = 4;
  c.nKvHeads = 4;
  c.hiddenDim = 64;
  c.maxSeqLen = 64;
  c.tiedEmbeddings = true;
  torch::manual_seed(5);
  auto ids = torch::randint(0, 50, {1, 20}, torch::kLong);
  for (const std::string method : {"matrix-pca", "svd"}) {
    torch::manual_seed(11);
    auto model = lm::createModel(c);
    core::Feedback fb;
    CompressOptions o;
    o.method = method;
    o.atoms = 2;
    auto r = compressAttention(*model, o, nullptr, fb);
    saveMasaFolder(*model, r, dir / method);
    applyCompression(*model, r);
    torch::NoGradGuard g;
    auto expected = model->forward(ids);
    auto m = loadMasaFolder(dir / method);
    EXPECT_EQ(m.model->config().family, lm::ModelFamily::Gpt2);
    EXPECT_LT((m.model->forward(ids) - expected).abs().max().item<double>(), 1e-5) << method;
  }
}
