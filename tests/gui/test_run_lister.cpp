// RunLister: the runs browser lists on the GUI thread after every job, so a finished run whose run.json
// has not changed is taken from the cache; running runs, changed records, new and removed runs are read.
#include <gtest/gtest.h>

#include <QTemporaryDir>
#include <filesystem>
#include <fstream>
#include <thread>

#include "atomscope/core/run_dir.h"
#include "atomscope/gui/run_lister.h"

using atomscope::core::RunDir;
using atomscope::core::RunStatus;
using atomscope::gui::RunLister;
namespace fs = std::filesystem;

namespace {
const atomscope::gui::RunSummary* find(const std::vector<atomscope::gui::RunSummary>& runs, const std::string& dir) {
  for (const auto& r : runs)
    if (r.path.toStdString() == fs::absolute(dir).string()) return &r;
  return nullptr;
}
}  // namespace

TEST(RunLister, FinishedRunsAreReadOnceAndChangesAreSeen) {
  QTemporaryDir tmp;
  ASSERT_TRUE(tmp.isValid());
  const fs::path root = tmp.path().toStdString();
  std::vector<std::string> done;
  for (int i = 0; i < 5; ++i) {
    auto run = RunDir::create(root, "core.test_job");
    run.setStatus(RunStatus::Completed);
    done.push_back(run.path().string());
  }
  auto running = RunDir::create(root, "core.test_job");
  running.setStatus(RunStatus::Running);
  fs::create_directories(root / "not-a-run");  // no run.json: not listed

  RunLister lister(tmp.path());
  auto runs = lister.list();
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(lister.readsInLastList(), 6);

  // Nothing changed: only the running run is read again (its heartbeat can make it stale).
  runs = lister.list();
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(lister.readsInLastList(), 1);
  EXPECT_EQ(find(runs, done[0])->status, QStringLiteral("completed"));

  // A finished run's record changes (a summary written later): it is read again and shows the change.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a new modification time
  auto reopened = RunDir::open(done[2]);
  reopened.setSummary("note", "written after the run");
  // The running run finishes; a new run appears; a finished one is deleted.
  running.setStatus(RunStatus::Failed, "stopped by the test");
  auto fresh = RunDir::create(root, "core.other_job");
  fresh.setStatus(RunStatus::Cancelled);
  fs::remove_all(done[4]);
  runs = lister.list();
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(lister.readsInLastList(), 3);  // the changed record, the one that was running, the new one
  EXPECT_EQ(find(runs, done[2])->record.at("summary").at("note"), "written after the run");
  EXPECT_EQ(find(runs, running.path().string())->status, QStringLiteral("failed"));
  EXPECT_EQ(find(runs, running.path().string())->error, QStringLiteral("stopped by the test"));
  EXPECT_EQ(find(runs, fresh.path().string())->status, QStringLiteral("cancelled"));
  EXPECT_EQ(find(runs, done[4]), nullptr);

  // Every run settled: a further listing reads nothing.
  runs = lister.list();
  EXPECT_EQ(lister.readsInLastList(), 0);
  EXPECT_EQ(runs.size(), 6u);
}

TEST(RunLister, AnUnreadableRecordIsListedAndReReadOnceRepaired) {
  QTemporaryDir tmp;
  ASSERT_TRUE(tmp.isValid());
  const fs::path root = tmp.path().toStdString();
  auto run = RunDir::create(root, "core.test_job");
  run.setStatus(RunStatus::Completed);
  const std::string good = [&] {
    std::ifstream in(run.path() / "run.json");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  std::ofstream(run.path() / "run.json") << "{\"format\": \"atomscope.run/1\", truncated";

  RunLister lister(tmp.path());
  auto runs = lister.list();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, QStringLiteral("unreadable"));
  EXPECT_FALSE(runs[0].error.isEmpty());

  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::ofstream(run.path() / "run.json") << good;
  runs = lister.list();
  EXPECT_EQ(lister.readsInLastList(), 1);
  EXPECT_EQ(runs[0].status, QStringLiteral("completed"));
}
