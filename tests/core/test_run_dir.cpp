#include <gtest/gtest.h>

#include "test_util.h"

#include <filesystem>
#include <fstream>

#include "atomscope/core/error.h"
#include "atomscope/core/run_dir.h"

using namespace atomscope;
using namespace atomscope::core;
namespace fs = std::filesystem;

namespace {
fs::path freshDir(const std::string& name) { return test::freshTempDir("rundir" + name); }
}  // namespace

TEST(RunDir, CreateWritesARecordThatOpensAgain) {
  const auto root = freshDir("create");
  auto run = RunDir::create(root, "lm.train");
  EXPECT_TRUE(fs::is_directory(run.artifactsDir()));
  EXPECT_TRUE(fs::is_directory(run.checkpointsDir()));
  EXPECT_NE(run.path().filename().string().find("-lm.train-"), std::string::npos);
  run.setSummary("loss", 1.5);
  const auto art = run.addArtifact("model/model.safetensors", "model", "weights");
  EXPECT_EQ(art, run.artifactsDir() / "model/model.safetensors");
  const auto again = RunDir::open(run.path());
  EXPECT_EQ(again.jobName(), "lm.train");
  EXPECT_EQ(again.status(), RunStatus::Created);
  EXPECT_EQ(again.record()["summary"]["loss"], 1.5);
  EXPECT_EQ(again.record()["artifacts"][0]["path"], "artifacts/model/model.safetensors");
  EXPECT_THROW(run.addArtifact("../escape.txt", "x", ""), Error);
}

TEST(RunDir, TwoRunsCreatedAtOnceGetDistinctFolders) {
  const auto root = freshDir("distinct");
  auto a = RunDir::create(root, "x");
  auto b = RunDir::create(root, "x");
  EXPECT_NE(a.path(), b.path());
}

TEST(RunDir, MetricsSurviveATornLastLine) {
  auto run = RunDir::create(freshDir("torn"), "job");
  run.appendMetrics({1, 0.1, {{"loss", 3.0}}});
  run.appendMetrics({2, 0.2, {{"loss", 2.5}, {"lr", 1e-3}}});
  std::ofstream(run.metricsPath(), std::ios::app) << "{\"step\": 3, \"loss\": 2.";  // crash mid-write
  const auto m = run.readMetrics();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1].step, 2);
  EXPECT_DOUBLE_EQ(m[1].values.at("lr"), 1e-3);
}

TEST(RunDir, BadRecordsGiveErrorsNamingTheFile) {
  const auto root = freshDir("bad");
  fs::create_directories(root / "a");
  EXPECT_THROW(RunDir::open(root / "a"), Error);  // no run.json
  std::ofstream(root / "a" / "run.json") << "{not json";
  try {
    RunDir::open(root / "a");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run.json: not valid JSON"), std::string::npos) << e.what();
  }
  std::ofstream(root / "a" / "run.json", std::ios::trunc) << R"({"id":"a","job":"x","status":"exploded"})";
  EXPECT_THROW(RunDir::open(root / "a"), Error);
}

TEST(RunDir, LatestCheckpointIgnoresPartialWrites) {
  auto run = RunDir::create(freshDir("ckpt"), "job");
  EXPECT_FALSE(run.latestCheckpoint());
  std::ofstream(run.checkpointPath(5)) << "a";
  std::ofstream(run.checkpointPath(20)) << "b";
  std::ofstream(run.checkpointPath(30).string() + ".tmp") << "partial";
  ASSERT_TRUE(run.latestCheckpoint());
  EXPECT_EQ(*run.latestCheckpoint(), run.checkpointPath(20));
  EXPECT_EQ(RunDir::checkpointStep(run.checkpointPath(20)), 20);
  EXPECT_FALSE(RunDir::checkpointStep("model.pt"));
}

TEST(RunDir, IsoTimesRoundTrip) {
  EXPECT_LT(std::abs(secondsSinceIso(isoTimeNow())), 1.0);
  EXPECT_GT(secondsSinceIso("2020-01-01T00:00:00.000Z"), 1e8);
  EXPECT_THROW(secondsSinceIso("yesterday"), Error);
}
