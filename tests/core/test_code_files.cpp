// Trust (issue 11 item 5): pickles are never loaded, TorchScript needs trust. The pickles are made
// by Debian's /usr/bin/python3 pickle module in the test (a plain pickle at protocols 2 to 5, and a
// zip laid out like torch.save's: <name>/data.pkl, <name>/data/0, <name>/version, no constants.pkl);
// the TorchScript file is the shared MACE model (torch.jit.save, from aiida-mlip's tests).
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "atomscope/core/code_files.h"
#include "test_util.h"

using namespace atomscope;
using core::CodeFileKind;
namespace fs = std::filesystem;

namespace {

const fs::path kData = ATOMSCOPE_SHARED_DATA_DIR;

void python(const std::string& script) {
  const std::string cmd = "/usr/bin/python3 -c \"" + script + "\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(CodeFiles, PicklesFromPythonAreRefusedWithHowToConvert) {
  test::ScopedTempDir dir("codefiles");
  for (int protocol = 2; protocol <= 5; ++protocol) {
    const auto file = dir / ("state_p" + std::to_string(protocol) + ".pt");
    python("import pickle; pickle.dump({'w': [1.0, 2.0]}, open('" + file.string() + "', 'wb'), protocol=" +
           std::to_string(protocol) + ")");
    EXPECT_EQ(core::sniffCodeFile(file), CodeFileKind::Pickle) << protocol;
    const auto msg = errorOf([&] { core::refusePickle(file, "language model"); });
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("pickle"), std::string::npos) << msg;
    EXPECT_NE(msg.find("safetensors"), std::string::npos) << msg;  // how to convert
  }
  // torch.save's zip layout around a real pickle.
  const auto zip = dir / "pytorch_model.bin";
  python("import pickle, zipfile; z = zipfile.ZipFile('" + zip.string() +
         "', 'w', zipfile.ZIP_STORED); z.writestr('archive/data.pkl', pickle.dumps({'w': 1}, protocol=2)); "
         "z.writestr('archive/data/0', bytes(16)); z.writestr('archive/version', '3'); z.close()");
  EXPECT_EQ(core::sniffCodeFile(zip), CodeFileKind::TorchPickle);
  EXPECT_NE(errorOf([&] { core::refusePickle(zip, "model"); }).find("torch.save"), std::string::npos);
  // A front end's parameter check refuses it too, naming the parameter.
  const auto msg = errorOf([&] { core::checkCodeFileParams(Json{{"model", zip.string()}}); });
  EXPECT_NE(msg.find("parameter 'model'"), std::string::npos) << msg;
}

TEST(CodeFiles, DataFilesAndOurCheckpointsAreNotCode) {
  test::ScopedTempDir dir("codefiles");
  EXPECT_EQ(core::sniffCodeFile(kData / "lm/stories260K.bin"), CodeFileKind::None);  // llama2.c floats
  EXPECT_EQ(core::sniffCodeFile(kData / "lm/tiny_gpt2_random_vocab21/model.safetensors"), CodeFileKind::None);
  EXPECT_EQ(core::sniffCodeFile(dir / "missing.pt"), CodeFileKind::None);
  // A checkpoint as lm.train writes it (torch::serialize, a TorchScript-format archive with no methods).
  torch::serialize::OutputArchive out;
  out.write("step", torch::tensor(7));
  out.write("w", torch::randn({4, 4}));
  const auto ckpt = dir / "step-7.pt";
  out.save_to(ckpt.string());
  EXPECT_EQ(core::sniffCodeFile(ckpt), CodeFileKind::None);
  EXPECT_NO_THROW(core::refusePickle(ckpt, "checkpoint"));
  EXPECT_NO_THROW(core::checkCodeFileParams(Json{{"model", ckpt.string()}}));
}

TEST(CodeFiles, TorchScriptNeedsTrustPerFileOrForAll) {
  const auto mace = kData / "mlip_models/mace_toy_test_compiled.model";
  ASSERT_EQ(core::sniffCodeFile(mace), CodeFileKind::TorchScript);
  core::CodeTrust::reset();
  const auto msg = errorOf([&] { core::checkCodeFileParams(Json{{"model", mace.string()}, {"steps", 3}}); });
  EXPECT_NE(msg.find(mace.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("--trust"), std::string::npos) << msg;  // says how to pass it
  EXPECT_NE(msg.find("parameter 'model'"), std::string::npos) << msg;
  // Trusting one file (the GUI's confirmation) trusts that file, reached by any spelling of its path.
  core::CodeTrust::trustFile(mace);
  EXPECT_TRUE(core::CodeTrust::isTrusted(kData / "mlip_models/../mlip_models/mace_toy_test_compiled.model"));
  EXPECT_FALSE(core::CodeTrust::isTrusted(kData / "mlip_models/other.model"));
  EXPECT_NO_THROW(core::checkCodeFileParams(Json{{"model", mace.string()}}));
  core::CodeTrust::reset();
  EXPECT_THROW(core::checkCodeFileParams(Json{{"models", Json::array({mace.string()})}}), core::Error);
  core::CodeTrust::trustAll(true);  // atomscope-cli --trust
  EXPECT_NO_THROW(core::checkCodeFileParams(Json{{"model", mace.string()}}));
  core::CodeTrust::reset();
}

// A zip is judged from its directory and its code/ entries (made here by Python's zipfile, the layout of
// torch.jit.save's archives): "def" in a data entry is not code; deflated code entries are inflated and
// read (the shared MACE model's are all deflated); and a file whose directory is cut off falls back to
// scanning every byte.
TEST(CodeFiles, ZipArchivesAreJudgedByTheirCodeEntries) {
  test::ScopedTempDir dir("codefiles");
  const auto layout = [&](const std::string& name, const std::string& codeText, const std::string& mode) {
    const auto file = dir / name;
    python("import pickle, zipfile; z = zipfile.ZipFile('" + file.string() +
           "', 'w', zipfile.ZIP_STORED); z.writestr('m/data.pkl', pickle.dumps({'w': 1}, protocol=2)); "
           "z.writestr('m/constants.pkl', pickle.dumps((), protocol=2)); "
           "z.writestr('m/data/0', b'\\ndef not_code_but_weights(self):'); "
           "z.writestr('m/code/__torch__.py', '" + codeText + "', compress_type=zipfile." + mode + "); z.close()");
    return file;
  };
  EXPECT_EQ(core::sniffCodeFile(layout("no_methods.pt", "class M(Module):\\n  __parameters__ = []\\n", "ZIP_STORED")),
            CodeFileKind::None);
  EXPECT_EQ(core::sniffCodeFile(layout("scripted.pt", "class M(Module):\\n  def forward(self, x):\\n    return x\\n", "ZIP_STORED")),
            CodeFileKind::TorchScript);
  // torch 2.x deflates the longer code files (PONITA models written on the GPU machine do): inflated, read.
  EXPECT_EQ(core::sniffCodeFile(layout("deflated.pt", "class M(Module):\\n  __parameters__ = []\\n", "ZIP_DEFLATED")),
            CodeFileKind::None);
  EXPECT_EQ(core::sniffCodeFile(layout("deflated_scripted.pt", "class M(Module):\\n  def forward(self, x):\\n    return x\\n", "ZIP_DEFLATED")),
            CodeFileKind::TorchScript);

  const auto mace = kData / "mlip_models/mace_toy_test_compiled.model";
  std::ifstream in(mace, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 4096u);
  EXPECT_EQ(core::sniffCodeBytes(bytes), CodeFileKind::TorchScript);
  EXPECT_EQ(core::sniffCodeBytes(bytes.substr(0, bytes.size() - 100)), CodeFileKind::TorchScript);  // no directory
  EXPECT_EQ(core::sniffCodeBytes(bytes.substr(0, 3)), CodeFileKind::None);
}
