#include <gtest/gtest.h>

#include <filesystem>

#include "atomscope/core/error.h"
#include "atomscope/core/params.h"

using namespace atomscope;
using namespace atomscope::core;

namespace {
ParamSchema sampleSchema() {
  ParamSchema s;
  s.addInt("steps", 100, 1, 1000, "training steps");
  s.addFloat("lr", 3e-4, 0.0, 1.0, "learning rate");
  s.addBool("bf16", false, "use bfloat16");
  s.addChoice("optimizer", {"adamw", "sgd"}, "adamw", "optimizer");
  s.addString("name", "run", "a name");
  s.addPath("data", "", "input file", "Text (*.txt)", false, true);
  s.addDevice();
  return s;
}
}  // namespace

TEST(ParamSchema, FillsDefaultsAndKeepsGivenValues) {
  const auto s = sampleSchema();
  const Json v = s.validate(Json{{"steps", 7}, {"data", ATOMSCOPE_SHARED_DATA_DIR "/README.md"}});
  EXPECT_EQ(v["steps"], 7);
  EXPECT_DOUBLE_EQ(v["lr"].get<double>(), 3e-4);
  EXPECT_EQ(v["optimizer"], "adamw");
  EXPECT_EQ(v["device"], "auto");
}

TEST(ParamSchema, ReportsEveryProblemAtOnce) {
  const auto s = sampleSchema();
  try {
    s.validate(Json{{"steps", 5000}, {"lr", "fast"}, {"optimizer", "adam"}, {"colour", 1}, {"device", "gpu:0"}});
    FAIL() << "validation passed";
  } catch (const ParamError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'steps': 5000 is out of range"), std::string::npos) << m;
    EXPECT_NE(m.find("in [1, 1000]"), std::string::npos) << m;
    EXPECT_NE(m.find("'lr': expected a number"), std::string::npos) << m;
    EXPECT_NE(m.find("'adam' is not one of adamw, sgd"), std::string::npos) << m;
    EXPECT_NE(m.find("unknown parameter 'colour'"), std::string::npos) << m;
    EXPECT_NE(m.find("'gpu:0' is not a device"), std::string::npos) << m;
    EXPECT_NE(m.find("'data' is required"), std::string::npos) << m;
  }
}

TEST(ParamSchema, MissingPathIsNamed) {
  const auto s = sampleSchema();
  try {
    s.validate(Json{{"data", "/no/such/file.txt"}});
    FAIL();
  } catch (const ParamError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/file.txt does not exist"), std::string::npos);
  }
}

TEST(ParamSchema, JsonRoundTripPreservesEverything) {
  const auto s = sampleSchema();
  const Json j = s.toJson();
  const auto back = ParamSchema::fromJson(j);
  EXPECT_EQ(back.toJson(), j);
  ASSERT_EQ(back.specs().size(), 7u);
  EXPECT_EQ(back.find("optimizer")->choices, (std::vector<std::string>{"adamw", "sgd"}));
  EXPECT_EQ(*back.find("steps")->max, 1000);
}

TEST(ParamSchema, ValueFromTextConvertsByType) {
  const auto s = sampleSchema();
  EXPECT_EQ(s.valueFromText("steps", "12"), 12);
  EXPECT_DOUBLE_EQ(s.valueFromText("lr", "1e-3").get<double>(), 1e-3);
  EXPECT_EQ(s.valueFromText("bf16", "true"), true);
  EXPECT_EQ(s.valueFromText("optimizer", "sgd"), "sgd");
  EXPECT_THROW(s.valueFromText("steps", "12x"), ParamError);
  EXPECT_THROW(s.valueFromText("bf16", "maybe"), ParamError);
  EXPECT_THROW(s.valueFromText("nope", "1"), ParamError);
}

TEST(ParamSchema, RejectsBadDeclarations) {
  ParamSchema s;
  s.addInt("a", 1, 0, 2, "");
  EXPECT_THROW(s.addInt("a", 1, 0, 2, ""), ParamError);
  EXPECT_THROW(s.addInt("b", 5, 0, 2, ""), ParamError);  // default out of its own range
  EXPECT_THROW(s.addChoice("c", {}, "x", ""), ParamError);
  EXPECT_THROW(ParamSchema::fromJson(Json{{"params", Json::array({Json{{"name", "x"}, {"type", "complex"}}})}}),
               ParamError);
}

TEST(Params, TypedAccess) {
  const auto s = sampleSchema();
  Params p(s.validate(Json{{"data", ATOMSCOPE_SHARED_DATA_DIR "/README.md"}}));
  EXPECT_EQ(p.getInt("steps"), 100);
  EXPECT_FALSE(p.getBool("bf16"));
  EXPECT_EQ(p.getString("optimizer"), "adamw");
  EXPECT_THROW(p.getInt("missing"), ParamError);
}

TEST(ParamSchema, OptionalPathsAndAdvancedMarks) {
  ParamSchema s;
  s.addOptionalPath("tokenizer", "beside the model when empty").markAdvanced();
  s.addInt("steps", 1, 1, 10, "");
  EXPECT_FALSE(s.find("tokenizer")->required());
  EXPECT_TRUE(s.find("tokenizer")->advanced);
  EXPECT_FALSE(s.find("steps")->advanced);
  EXPECT_EQ(s.validate(Json::object())["tokenizer"], "");  // left empty: valid, not "required"
  EXPECT_THROW(ParamSchema().markAdvanced(), ParamError);
}
