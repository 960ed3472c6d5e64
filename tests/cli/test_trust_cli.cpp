// Issue 11 item 5 from the command line: a TorchScript model (the shared MACE model, a torch.jit.save
// file) given as a parameter needs --trust, and the refusal says so; a Python pickle (written by
// /usr/bin/python3's pickle module here) is refused even with --trust.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli_runner.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

TEST(CliTrust, TorchScriptNeedsTrustAndPicklesAreRefused) {
  const auto root = test::freshTempDir("cli_trust");
  const std::string mace = std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/mlip_models/mace_toy_test_compiled.model";
  const std::string frames = std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/md_forces/md17_aspirin_15frames.xyz";
  const std::string args = "run ff.predict --device cpu --quiet --out " + root.string() + " --param model=" + mace +
                           " --param structures=" + frames + " --param limit=1";
  auto r = test::cli(args);
  EXPECT_EQ(r.code, 2) << r.out;  // refused before a run folder is made
  EXPECT_NE(r.out.find("TorchScript"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--trust"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::is_empty(root));
  r = test::cli("--trust " + args);
  EXPECT_EQ(r.code, 0) << r.out;

  const auto pickle = root / "model.pt";
  const std::string cmd = "/usr/bin/python3 -c \"import pickle; pickle.dump({'w': 1}, open('" + pickle.string() +
                          "', 'wb'), protocol=2)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  r = test::cli("--trust run ff.predict --device cpu --out " + (root / "p").string() + " --param model=" +
                pickle.string() + " --param structures=" + frames);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("pickle"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("safetensors"), std::string::npos) << r.out;
}
