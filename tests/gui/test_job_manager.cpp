// JobManager: jobs run on a worker thread, feedback reaches the GUI thread in throttled batches,
// cancel leaves status "cancelled", bad parameters fail before anything starts.
#include <gtest/gtest.h>

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTimer>
#include <fstream>

#include "atomscope/core/error.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/gui/job_manager.h"
#include "test_util.h"

using namespace atomscope;
using namespace atomscope::gui;

namespace {

int countLines(const QString& path) {
  std::ifstream in(path.toStdString());
  int n = 0;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) ++n;
  return n;
}

}  // namespace

TEST(JobManager, FloodOfMetricsIsDeliveredInFewBatchesWithNothingLost) {
  QTemporaryDir root;
  JobManager jobs;
  jobs.setRunsRoot(root.path());
  long long delivered = 0;
  int batches = 0;
  long long lastStep = 0;
  bool ordered = true;
  QObject::connect(&jobs, &JobManager::metricsArrived, [&](int, const std::vector<core::MetricPoint>& pts) {
    ++batches;
    for (const auto& p : pts) {
      ordered = ordered && p.step == lastStep + 1;
      lastStep = p.step;
    }
    delivered += static_cast<long long>(pts.size());
  });
  QSignalSpy finished(&jobs, &JobManager::jobFinished);
  // 20,000 points in 1 s: 20k metrics/s, twice the rate the GUI must survive.
  const int id = jobs.start("test.flood", {{"points", 20000}, {"seconds", 1.0}, {"log_every", 5000}}, "cpu");
  ASSERT_TRUE(test::waitUntil([&] { return finished.count() == 1; }, 20000));
  const JobState st = jobs.state(id);
  EXPECT_EQ(st.status, core::RunStatus::Completed) << st.error.toStdString();
  EXPECT_EQ(delivered, 20000);
  EXPECT_TRUE(ordered);
  // One batch per update interval (100 ms) over ~1 s plus the final flush, not one per point.
  EXPECT_LE(batches, 40) << "metrics were not batched";
  EXPECT_GE(batches, 3) << "metrics arrived only at the end, not live";
  // The run record agrees: every point is in metrics.jsonl.
  EXPECT_EQ(countLines(st.runDir + "/metrics.jsonl"), 20000);
  EXPECT_DOUBLE_EQ(st.progress, 1.0);
}

TEST(JobManager, CancelStopsTheJobAndRecordsCancelled) {
  QTemporaryDir root;
  JobManager jobs;
  jobs.setRunsRoot(root.path());
  QSignalSpy finished(&jobs, &JobManager::jobFinished);
  const int id = jobs.start("test.flood", {{"points", 1000000}, {"seconds", 100.0}}, "cpu");
  ASSERT_TRUE(test::waitUntil([&] { return jobs.state(id).metricCount > 100; }, 10000));
  QElapsedTimer t;
  t.start();
  jobs.cancel(id);
  ASSERT_TRUE(test::waitUntil([&] { return finished.count() == 1; }, 5000));
  EXPECT_LT(t.elapsed(), 1000);
  const JobState st = jobs.state(id);
  EXPECT_EQ(st.status, core::RunStatus::Cancelled);
  EXPECT_EQ(core::RunDir::open(st.runDir.toStdString()).status(), core::RunStatus::Cancelled);
  EXPECT_EQ(jobs.runningCount(), 0);
}

TEST(JobManager, InvalidParametersThrowBeforeAnythingStarts) {
  QTemporaryDir root;
  JobManager jobs;
  jobs.setRunsRoot(root.path());
  QSignalSpy started(&jobs, &JobManager::jobStarted);
  EXPECT_THROW(jobs.start("test.flood", {{"points", -5}}, "cpu"), core::ParamError);
  EXPECT_THROW(jobs.start("test.flood", {{"no_such_param", 1}}, "cpu"), core::ParamError);
  EXPECT_THROW(jobs.start("test.no_such_job", Json::object(), "cpu"), core::Error);
  EXPECT_THROW(jobs.start("test.flood", Json::object(), "gpu7"), core::Error);
  EXPECT_EQ(started.count(), 0);
  EXPECT_TRUE(QDir(root.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot).isEmpty());
}

TEST(JobManager, FailureCarriesTheJobsMessage) {
  QTemporaryDir root;
  JobManager jobs;
  jobs.setRunsRoot(root.path());
  QSignalSpy finished(&jobs, &JobManager::jobFinished);
  const int id = jobs.start("test.fail", Json::object(), "cpu");
  ASSERT_TRUE(test::waitUntil([&] { return finished.count() == 1; }, 10000));
  const JobState st = jobs.state(id);
  EXPECT_EQ(st.status, core::RunStatus::Failed);
  EXPECT_TRUE(st.error.contains("x.dat line 3")) << st.error.toStdString();
  EXPECT_EQ(core::RunDir::open(st.runDir.toStdString()).status(), core::RunStatus::Failed);
}

TEST(JobManager, DestroyingTheManagerCancelsRunningJobs) {
  QTemporaryDir root;
  QElapsedTimer t;
  {
    JobManager jobs;
    jobs.setRunsRoot(root.path());
    jobs.start("test.flood", {{"points", 1000000}, {"seconds", 100.0}}, "cpu");
    test::waitUntil([] { return false; }, 200);
    t.start();
  }
  EXPECT_LT(t.elapsed(), 2000);
  const QString dir = test::onlyRunDir(root.path());
  ASSERT_FALSE(dir.isEmpty());
  EXPECT_EQ(core::RunDir::open(dir.toStdString()).status(), core::RunStatus::Cancelled);
}
