// Issue 11 items 4 and 5 for the language-model loaders: a pickle given as a model (a pickle written
// by /usr/bin/python3's pickle module here, as a bare .bin and as a Hugging Face folder's
// pytorch_model.bin in torch.save's zip layout) is refused with how to convert it, and a model
// larger than the memory available (capped with ATOMSCOPE_MEMORY_LIMIT) is refused from its header
// before any weight is read. The models are the shared stories260K (llama2.c) and tiny GPT-2 (HF).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "atomscope/core/memory_limits.h"
#include "atomscope/lm/model_io.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(ATOMSCOPE_SHARED_DATA_DIR) / "lm";

template <class F>
std::string lmErrorOf(F f) {
  try {
    f();
  } catch (const lm::LmError& e) {
    return e.what();
  }
  return "(no LmError)";
}

}  // namespace

TEST(ModelFileSafety, PicklesAreRefusedWithHowToConvert) {
  test::ScopedTempDir dir("lm_pickle");
  const auto bin = dir / "model.bin";
  std::string cmd = "/usr/bin/python3 -c \"import pickle; pickle.dump({'tok_embeddings.weight': [0.0] * 64}, open('" +
                    bin.string() + "', 'wb'), protocol=2)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto msg = lmErrorOf([&] { lm::loadModel(bin); });
  EXPECT_NE(msg.find(bin.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("Python pickle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("safetensors"), std::string::npos) << msg;

  const auto hf = dir / "hf";
  fs::create_directories(hf);
  fs::copy_file(kData / "tiny_gpt2_random_vocab21/config.json", hf / "config.json");
  cmd = "/usr/bin/python3 -c \"import pickle, zipfile; z = zipfile.ZipFile('" + (hf / "pytorch_model.bin").string() +
        "', 'w'); z.writestr('archive/data.pkl', pickle.dumps({'w': 1}, protocol=2)); z.writestr('archive/version', '3'); "
        "z.close()\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  msg = lmErrorOf([&] { lm::loadModel(hf); });
  EXPECT_NE(msg.find("pytorch_model.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("torch.save"), std::string::npos) << msg;
  EXPECT_NE(msg.find("save_pretrained"), std::string::npos) << msg;
}

TEST(ModelFileSafety, ModelsLargerThanMemoryAreRefusedFromTheirHeaders) {
  const auto stories = kData / "stories260K.bin";
  const auto weights = fs::file_size(stories) - 28;  // llama2.c: a 28-byte header, then float32 weights
  ::setenv("ATOMSCOPE_MEMORY_LIMIT", std::to_string(weights - 1).c_str(), 1);
  auto msg = lmErrorOf([&] { lm::loadModel(stories); });
  EXPECT_NE(msg.find(stories.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs " + core::bytesText(weights) + " of memory"), std::string::npos) << msg;
  const auto gpt2 = kData / "tiny_gpt2_random_vocab21";
  ::setenv("ATOMSCOPE_MEMORY_LIMIT", "1000", 1);
  msg = lmErrorOf([&] { lm::loadModel(gpt2); });
  EXPECT_NE(msg.find(gpt2.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("of memory but only 1000 bytes are available"), std::string::npos) << msg;
  ::unsetenv("ATOMSCOPE_MEMORY_LIMIT");
  EXPECT_EQ(lm::loadModel(stories).model->config().dim, 64);  // stories260K: dim 64 (llama2.c's model card)
  EXPECT_EQ(lm::loadModel(gpt2).model->config().vocabSize, 21);  // the folder's name and config.json
}
