// Inputs the fuzz targets of issue 11 found crashing, replayed through the same entry points after
// the fix (tests/core/data/regressions/job_params_*, in fuzz_job_params' format: the first byte
// picks JSON (even) or name=value (odd)). Each must now be refused with a ParamError.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "atomscope/core/error.h"
#include "atomscope/core/params.h"

using namespace atomscope;
using namespace atomscope::core;
namespace fs = std::filesystem;

namespace {

ParamSchema schemaWithEveryType() {  // as fuzz_job_params.cpp declares it
  ParamSchema p;
  p.addInt("steps", 100, 1, 1e9, "steps");
  p.addFloat("lr", 3e-4, 0.0, 10.0, "learning rate");
  p.addBool("export", true, "export");
  p.addString("name", "", "text");
  p.addChoice("family", {"llama", "gpt2"}, "llama", "family");
  p.addOptionalPath("tokenizer", "a file");
  p.addDevice();
  return p;
}

}  // namespace

TEST(FuzzRegressions, JobParamsInputsAreRefusedCleanly) {
  const fs::path dir = fs::path(ATOMSCOPE_SOURCE_DIR) / "tests/core/data/regressions";
  const auto schema = schemaWithEveryType();
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("job_params_", 0) != 0) continue;
    ++n;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    ASSERT_FALSE(bytes.empty());
    const std::string text = bytes.substr(1);
    if (bytes[0] % 2 == 0) {
      EXPECT_THROW(schema.validate(Json::parse(text)), ParamError) << e.path();
    } else {
      const auto eq = text.find('=');
      ASSERT_NE(eq, std::string::npos) << e.path();
      EXPECT_THROW(schema.valueFromText(text.substr(0, eq), text.substr(eq + 1)), ParamError) << e.path();
    }
  }
  EXPECT_GE(n, 1);  // the invalid UTF-8 device name found on 2026-11-29
  // The same fault with a path: a Latin-1 file name given on the command line.
  EXPECT_THROW(schema.valueFromText("tokenizer", "caf\xe9.bin"), ParamError);
  EXPECT_EQ(schema.valueFromText("tokenizer", "caf\xc3\xa9.bin"), Json("caf\xc3\xa9.bin"));
}
