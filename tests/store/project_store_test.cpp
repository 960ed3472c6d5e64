// Tests of the SQLite project store against real run directories written by core::RunDir.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "atomscope/core/job.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/core/runner.h"
#include "atomscope/store/project_store.h"

namespace fs = std::filesystem;
using atomscope::Json;
using atomscope::core::MetricPoint;
using atomscope::core::RunDir;
using atomscope::core::RunStatus;
using namespace atomscope::store;

namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    root_ = fs::temp_directory_path() /
            ("atomscope_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    fs::create_directories(root_ / "runs");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path runsRoot() const { return root_ / "runs"; }
  fs::path dbPath() const { return root_ / "project.sqlite"; }

  // A finished run: params, seed, device, `steps` metric lines (loss = 1/(step+1), acc = step/1000),
  // one artifact and a summary. `created` orders runs in listings.
  RunDir makeRun(const std::string& job, const std::string& created, int steps,
                 RunStatus status = RunStatus::Completed, const std::string& error = {}) {
    RunDir run = RunDir::create(runsRoot(), job);
    run.mutableRecord()["created"] = created;
    run.mutableRecord()["params"] = Json{{"size", 256}, {"dtype", "bf16"}, {"lr", 3e-4}};
    run.mutableRecord()["seed"] = 18446744073709551615ULL;  // largest seed: does not fit int64
    run.mutableRecord()["device"] = "cpu";
    run.save();
    for (int s = 0; s < steps; ++s) run.appendMetrics(point(s));
    const fs::path art = run.addArtifact("report.md", "report", "a short report");
    std::ofstream(art) << "# report\n";
    run.setSummary("final_loss", 1.0 / steps);
    run.setStatus(status, error);
    run.mutableRecord()["created"] = created;  // setStatus keeps it; make sure
    run.save();
    return run;
  }

  static MetricPoint point(long long step) {
    MetricPoint p;
    p.step = step;
    p.seconds = 0.01 * static_cast<double>(step);
    p.values = {{"loss", 1.0 / static_cast<double>(step + 1)}, {"acc", static_cast<double>(step) / 1000.0}};
    return p;
  }

  static void removeDb(const fs::path& db) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  }

  fs::path root_;
};

// Everything a user can see of a store, to compare a rebuilt store with the original.
std::string snapshot(const ProjectStore& store) {
  std::ostringstream os;
  for (const RunRow& r : store.listRuns()) {
    os << r.id << '|' << r.dir.string() << '|' << r.job << '|' << r.status << '|' << r.created << '|' << r.updated
       << '|' << r.finished << '|' << (r.seed ? std::to_string(*r.seed) : "-") << '|' << r.device << '|' << r.error
       << '|' << r.summary.dump() << '|' << store.params(r.id).dump() << "\n tags:";
    for (const auto& t : r.tags) os << ' ' << t;
    os << "\n notes:";
    for (const auto& n : store.notes(r.id)) os << " [" << n.text << " @" << n.created << ']';
    os << "\n artifacts:";
    for (const auto& a : store.artifacts(r.id)) os << ' ' << a.path << ':' << a.kind << ':' << a.description;
    for (const auto& name : store.metricNames(r.id)) {
      const MetricSeries s = store.metricSeries(r.id, name);
      os << "\n " << name << ':' << s.steps.size();
      for (std::size_t i = 0; i < s.steps.size(); ++i) os << ' ' << s.steps[i] << '=' << s.values[i] << '@' << s.seconds[i];
    }
    os << '\n';
  }
  return os.str();
}

void writeText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

TEST_F(StoreTest, NewDatabaseIsFilledFromRunFoldersAndAnswersQueries) {
  RunDir a = makeRun("core.gemm_benchmark", "2026-01-01T10:00:00.000Z", 50);
  RunDir b = makeRun("masa.compress", "2026-01-02T10:00:00.000Z", 20, RunStatus::Failed, "out of memory");
  RunDir c = makeRun("core.gemm_benchmark", "2026-01-03T10:00:00.000Z", 10);

  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  EXPECT_TRUE(store.openInfo().created);
  EXPECT_FALSE(store.openInfo().rebuilt);
  EXPECT_EQ(store.openInfo().migratedFromVersion, 0);
  EXPECT_EQ(store.schemaVersion(), ProjectStore::currentSchemaVersion());
  EXPECT_TRUE(store.openInfo().warnings.empty());

  const auto runs = store.listRuns();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].id, c.id());  // newest first
  EXPECT_EQ(runs[1].id, b.id());
  EXPECT_EQ(runs[2].id, a.id());
  EXPECT_EQ(runs[0].dir, fs::absolute(c.path()).lexically_normal());

  const auto failed = store.run(b.id());
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->job, "masa.compress");
  EXPECT_EQ(failed->status, "failed");
  EXPECT_EQ(failed->error, "out of memory");
  EXPECT_EQ(failed->device, "cpu");
  ASSERT_TRUE(failed->seed.has_value());
  EXPECT_EQ(*failed->seed, 18446744073709551615ULL);
  EXPECT_FALSE(failed->finished.empty());
  EXPECT_DOUBLE_EQ(failed->summary.at("final_loss").get<double>(), 1.0 / 20);
  EXPECT_FALSE(store.run("no-such-run").has_value());

  const Json params = store.params(a.id());
  EXPECT_EQ(params.dump(), R"({"size":256,"dtype":"bf16","lr":0.0003})");  // run.json order kept

  EXPECT_EQ(store.metricNames(a.id()), (std::vector<std::string>{"acc", "loss"}));
  const MetricSeries loss = store.metricSeries(a.id(), "loss");
  ASSERT_EQ(loss.steps.size(), 50u);
  for (int s = 0; s < 50; ++s) {
    EXPECT_EQ(loss.steps[s], s);
    EXPECT_DOUBLE_EQ(loss.values[s], 1.0 / (s + 1));  // written by makeRun
    EXPECT_DOUBLE_EQ(loss.seconds[s], 0.01 * s);
  }
  EXPECT_TRUE(store.metricSeries(a.id(), "nope").steps.empty());

  const auto arts = store.artifacts(a.id());
  ASSERT_EQ(arts.size(), 1u);
  EXPECT_EQ(arts[0].path, "artifacts/report.md");
  EXPECT_EQ(arts[0].kind, "report");
  EXPECT_EQ(arts[0].description, "a short report");

  // Filters
  RunFilter byJob;
  byJob.job = "core.gemm_benchmark";
  EXPECT_EQ(store.listRuns(byJob).size(), 2u);
  RunFilter byStatus;
  byStatus.status = "failed";
  ASSERT_EQ(store.listRuns(byStatus).size(), 1u);
  EXPECT_EQ(store.listRuns(byStatus)[0].id, b.id());
  RunFilter limited;
  limited.limit = 2;
  EXPECT_EQ(store.listRuns(limited).size(), 2u);
  EXPECT_EQ(store.jobNames(), (std::vector<std::string>{"core.gemm_benchmark", "masa.compress"}));

  // A second sync finds nothing new.
  const SyncReport again = store.sync();
  EXPECT_EQ(again.unchanged, 3);
  EXPECT_EQ(again.added + again.updated + again.removed, 0);
  EXPECT_EQ(again.metricPoints, 0);
  EXPECT_TRUE(again.problems.empty());
}

TEST_F(StoreTest, ChangedRunIsReindexedAndRemovedRunLeavesTheIndex) {
  RunDir a = makeRun("job.a", "2026-01-01T10:00:00.000Z", 5);
  RunDir b = makeRun("job.b", "2026-01-02T10:00:00.000Z", 5);
  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  ASSERT_EQ(store.listRuns().size(), 2u);

  a.setSummary("extra", "value");  // run.json replaced
  fs::remove_all(b.path());
  const SyncReport r = store.sync();
  EXPECT_EQ(r.removed, 1);
  EXPECT_EQ(r.updated, 1);
  const auto runs = store.listRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].summary.at("extra"), "value");
  EXPECT_FALSE(store.run(b.id()).has_value());
  EXPECT_TRUE(store.metricNames(b.id()).empty());  // cascaded
}

TEST_F(StoreTest, MetricsAreReadIncrementallyAndATornLastLineWaits) {
  RunDir run = makeRun("job.inc", "2026-01-01T10:00:00.000Z", 10);
  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  ASSERT_EQ(store.metricSeries(run.id(), "loss").steps.size(), 10u);

  for (int s = 10; s < 15; ++s) run.appendMetrics(point(s));
  {  // a writer died (or is) in the middle of a line
    std::ofstream out(run.metricsPath(), std::ios::app | std::ios::binary);
    out << R"({"step":15,"seconds":0.15,"loss":0.0625,"ac)";
  }
  SyncReport r = store.indexRun(run.path());
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  EXPECT_EQ(r.metricPoints, 10);  // 5 new lines x 2 values; the torn line is not read
  MetricSeries loss = store.metricSeries(run.id(), "loss");
  ASSERT_EQ(loss.steps.size(), 15u);
  EXPECT_EQ(loss.steps.back(), 14);

  {  // the line is completed
    std::ofstream out(run.metricsPath(), std::ios::app | std::ios::binary);
    out << R"(c":0.015}
)";
  }
  r = store.indexRun(run.path());
  EXPECT_EQ(r.metricPoints, 2);
  loss = store.metricSeries(run.id(), "loss");
  ASSERT_EQ(loss.steps.size(), 16u);
  EXPECT_EQ(loss.steps.back(), 15);
  EXPECT_DOUBLE_EQ(loss.values.back(), 0.0625);

  // A bad line in the middle is reported and skipped; a null (non-finite) value is kept as NaN.
  {
    std::ofstream out(run.metricsPath(), std::ios::app | std::ios::binary);
    out << "garbage that is not json\n" << R"({"step":16,"seconds":0.16,"loss":null,"acc":0.016})" << "\n";
  }
  r = store.indexRun(run.path());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("metrics.jsonl"), std::string::npos);
  loss = store.metricSeries(run.id(), "loss");
  ASSERT_EQ(loss.steps.size(), 17u);
  EXPECT_TRUE(std::isnan(loss.values.back()));

  // A rewritten (shorter) file is indexed again from the start.
  writeText(run.metricsPath(), R"({"step":0,"seconds":0,"loss":5})" "\n");
  store.indexRun(run.path());
  loss = store.metricSeries(run.id(), "loss");
  ASSERT_EQ(loss.steps.size(), 1u);
  EXPECT_DOUBLE_EQ(loss.values[0], 5.0);
  EXPECT_TRUE(store.metricSeries(run.id(), "acc").steps.empty());
}

TEST_F(StoreTest, MalformedRunJsonIsReportedAndSkipped) {
  RunDir good = makeRun("job.good", "2026-01-01T10:00:00.000Z", 3);
  fs::create_directories(runsRoot() / "broken-json");
  writeText(runsRoot() / "broken-json" / "run.json", "{\"id\": \"x\", \"job\": ");
  fs::create_directories(runsRoot() / "no-job");
  writeText(runsRoot() / "no-job" / "run.json", R"({"id":"no-job","status":"completed"})");
  fs::create_directories(runsRoot() / "bad-status");
  writeText(runsRoot() / "bad-status" / "run.json", R"({"id":"bad-status","job":"j","status":"exploded"})");
  fs::create_directories(runsRoot() / "not-a-run");  // no run.json: not a run, not a problem

  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  // The initial fill reports them as warnings...
  EXPECT_EQ(store.openInfo().warnings.size(), 3u);
  // ... and every sync as problems; the good run is indexed.
  const SyncReport r = store.sync();
  ASSERT_EQ(r.problems.size(), 3u);
  std::string all;
  for (const auto& p : r.problems) all += p + "\n";
  EXPECT_NE(all.find((runsRoot() / "broken-json" / "run.json").string()), std::string::npos) << all;
  EXPECT_NE(all.find("'job'"), std::string::npos) << all;
  EXPECT_NE(all.find("exploded"), std::string::npos) << all;
  EXPECT_EQ(r.unchanged, 1);
  const auto runs = store.listRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].id, good.id());

  // Fixed by hand: indexed on the next sync.
  writeText(runsRoot() / "no-job" / "run.json", R"({"id":"no-job","job":"j","status":"completed"})");
  const SyncReport r2 = store.sync();
  EXPECT_EQ(r2.added, 1);
  EXPECT_EQ(r2.problems.size(), 2u);
  EXPECT_TRUE(store.run("no-job").has_value());
}

TEST_F(StoreTest, DeletedDatabaseIsRebuiltWithTagsAndNotes) {
  RunDir a = makeRun("job.a", "2026-01-01T10:00:00.000Z", 30);
  RunDir b = makeRun("job.b", "2026-01-02T10:00:00.000Z", 40, RunStatus::Cancelled);
  std::string before;
  {
    ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
    store.addTag(a.id(), "baseline");
    store.addTag(a.id(), "  paper-figure-3 ");  // trimmed
    store.addTag(b.id(), "baseline");
    store.addTag(b.id(), "baseline");  // twice: once
    store.addNote(a.id(), "lr too high after step 20");
    store.addNote(a.id(), "rerun with warmup");
    store.removeTag(b.id(), "baseline");
    store.addTag(b.id(), "cancelled-by-hand");
    EXPECT_EQ(store.tags(a.id()), (std::vector<std::string>{"baseline", "paper-figure-3"}));
    EXPECT_EQ(store.allTags(), (std::vector<std::string>{"baseline", "cancelled-by-hand", "paper-figure-3"}));
    RunFilter tagged;
    tagged.tag = "baseline";
    ASSERT_EQ(store.listRuns(tagged).size(), 1u);
    EXPECT_EQ(store.listRuns(tagged)[0].id, a.id());
    EXPECT_THROW(store.addTag(a.id(), "   "), StoreError);
    EXPECT_THROW(store.addTag("no-such-run", "x"), StoreError);
    before = snapshot(store);
  }
  // The user data is in the run folder.
  const Json user = Json::parse(readText(a.path() / "user.json"));
  EXPECT_EQ(user.at("format"), "atomscope.user/1");
  EXPECT_EQ(user.at("tags"), Json::array({"baseline", "paper-figure-3"}));
  ASSERT_EQ(user.at("notes").size(), 2u);
  EXPECT_EQ(user.at("notes")[0].at("text"), "lr too high after step 20");

  removeDb(dbPath());
  ProjectStore rebuilt = ProjectStore::open(dbPath(), runsRoot());
  EXPECT_TRUE(rebuilt.openInfo().created);
  EXPECT_EQ(snapshot(rebuilt), before);
  EXPECT_NE(before.find("lr too high"), std::string::npos);

  // user.json edited outside the store (e.g. synced from another machine) is picked up.
  Json edited = user;
  edited["tags"] = Json::array({"imported"});
  atomscope::core::writeFileAtomically(a.path() / "user.json", edited.dump());
  const SyncReport r = rebuilt.sync();
  EXPECT_EQ(r.updated, 1);
  EXPECT_EQ(rebuilt.tags(a.id()), (std::vector<std::string>{"imported"}));
}

TEST_F(StoreTest, CorruptDatabaseIsMovedAsideAndRebuilt) {
  RunDir a = makeRun("job.a", "2026-01-01T10:00:00.000Z", 4000);
  RunDir b = makeRun("job.b", "2026-01-02T10:00:00.000Z", 4000);
  std::string before;
  {
    ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
    store.addTag(b.id(), "keep-me");
    store.addNote(b.id(), "a note that must survive");
    before = snapshot(store);
  }  // last connection closed: WAL checkpointed into the main file
  ASSERT_FALSE(fs::exists(dbPath().string() + "-wal"));
  const auto size = fs::file_size(dbPath());
  ASSERT_GT(size, 200000u) << "the database should span many pages";
  std::string bytes = readText(dbPath());
  for (std::size_t i = size / 2 - 16384; i < size / 2 + 16384; ++i) bytes[i] = static_cast<char>(0xA5);
  const std::string corrupted = bytes;
  writeText(dbPath(), bytes);

  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  const OpenInfo& info = store.openInfo();
  EXPECT_TRUE(info.rebuilt);
  EXPECT_FALSE(info.created);
  ASSERT_FALSE(info.warnings.empty());
  EXPECT_NE(info.warnings[0].find("integrity"), std::string::npos) << info.warnings[0];
  EXPECT_NE(info.warnings[0].find(info.movedAsidePath.string()), std::string::npos);
  // Moved aside, never deleted: the corrupt bytes are still there under the new name.
  ASSERT_TRUE(fs::exists(info.movedAsidePath));
  EXPECT_EQ(info.movedAsidePath.parent_path(), dbPath().parent_path());
  EXPECT_EQ(info.movedAsidePath.filename().string().rfind("project.sqlite.corrupt-", 0), 0u);
  EXPECT_EQ(readText(info.movedAsidePath), corrupted);
  EXPECT_EQ(snapshot(store), before);
  EXPECT_EQ(store.tags(b.id()), (std::vector<std::string>{"keep-me"}));
}

TEST_F(StoreTest, EmptyDatabaseFileIsFilled) {
  RunDir a = makeRun("job.a", "2026-01-01T10:00:00.000Z", 3);
  writeText(dbPath(), "");  // a zero-byte file is a valid, empty SQLite database
  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  EXPECT_FALSE(store.openInfo().created);
  EXPECT_FALSE(store.openInfo().rebuilt);
  EXPECT_EQ(store.openInfo().migratedFromVersion, 0);
  ASSERT_EQ(store.listRuns().size(), 1u);
  EXPECT_EQ(store.metricSeries(a.id(), "acc").steps.size(), 3u);
}

TEST_F(StoreTest, GarbageFileIsMovedAsideToo) {
  RunDir a = makeRun("job.a", "2026-01-01T10:00:00.000Z", 3);
  writeText(dbPath(), std::string(8192, 'x'));
  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  EXPECT_TRUE(store.openInfo().rebuilt);
  EXPECT_EQ(readText(store.openInfo().movedAsidePath), std::string(8192, 'x'));
  EXPECT_EQ(store.listRuns().size(), 1u);
}

// A version-1 database as Atomscope wrote it before notes existed (schema copied from migration 1).
TEST_F(StoreTest, Version1DatabaseIsMigrated) {
  RunDir a = makeRun("job.old", "2026-01-01T10:00:00.000Z", 3);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dbPath().c_str(), &db), SQLITE_OK);
    const std::string sql = R"sql(
      PRAGMA journal_mode=WAL;
      CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied TEXT NOT NULL, description TEXT NOT NULL DEFAULT '');
      INSERT INTO schema_version VALUES(1, '2025-12-01T00:00:00.000Z', 'runs, params, metrics, artifacts, tags');
      CREATE TABLE runs(id TEXT PRIMARY KEY, dir TEXT NOT NULL UNIQUE, job TEXT NOT NULL, status TEXT NOT NULL,
        created TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL DEFAULT '', finished TEXT NOT NULL DEFAULT '',
        seed TEXT, device TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL DEFAULT '{}',
        record_mtime INTEGER NOT NULL DEFAULT 0, record_size INTEGER NOT NULL DEFAULT -1,
        record_inode INTEGER NOT NULL DEFAULT 0, metrics_offset INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX runs_created ON runs(created);
      CREATE INDEX runs_job_created ON runs(job, created);
      CREATE INDEX runs_status_created ON runs(status, created);
      CREATE TABLE params(run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, name TEXT NOT NULL, value TEXT NOT NULL);
      CREATE UNIQUE INDEX params_run_name ON params(run_id, name);
      CREATE TABLE metrics(run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
        seconds REAL, name TEXT NOT NULL, value REAL);
      CREATE INDEX metrics_run_step ON metrics(run_id, step);
      CREATE TABLE artifacts(run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, path TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '', PRIMARY KEY(run_id, path)) WITHOUT ROWID;
      CREATE TABLE tags(run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, tag TEXT NOT NULL,
        PRIMARY KEY(run_id, tag)) WITHOUT ROWID;
      CREATE INDEX tags_tag ON tags(tag);
    )sql";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    const std::string id = a.id();
    const std::string rows =
        "INSERT INTO runs(id, dir, job, status, created) VALUES('" + id + "', '" + a.path().filename().string() +
        "', 'job.old', 'completed', '2026-01-01T10:00:00.000Z');"
        "INSERT INTO params VALUES('" + id + "', 'size', '256');"
        "INSERT INTO metrics VALUES('" + id + "', 0, 0.0, 'loss', 1.0), ('" + id + "', 1, 0.01, 'loss', 0.5);"
        "INSERT INTO tags VALUES('" + id + "', 'from-v1');";
    ASSERT_EQ(sqlite3_exec(db, rows.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  {
    ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
    const OpenInfo& info = store.openInfo();
    EXPECT_EQ(info.migratedFromVersion, 1);
    EXPECT_EQ(info.schemaVersion, 2);
    EXPECT_EQ(store.schemaVersion(), 2);
    ASSERT_FALSE(info.warnings.empty());
    EXPECT_NE(info.warnings[0].find("upgraded from schema version 1 to 2"), std::string::npos) << info.warnings[0];
    // Old rows survive; the v1 tag is now mirrored to user.json; notes (new in v2) work.
    ASSERT_TRUE(store.run(a.id()).has_value());
    EXPECT_EQ(store.tags(a.id()), (std::vector<std::string>{"from-v1"}));
    EXPECT_EQ(store.metricSeries(a.id(), "loss").values, (std::vector<double>{1.0, 0.5}));
    EXPECT_EQ(Json::parse(readText(a.path() / "user.json")).at("tags"), Json::array({"from-v1"}));
    store.addNote(a.id(), "written after the upgrade");
    EXPECT_EQ(store.notes(a.id()).size(), 1u);
    // The first sync re-reads the run folder (the v1 row had no file stamps).
    const SyncReport r = store.sync();
    EXPECT_EQ(r.updated, 1);
    EXPECT_EQ(store.metricSeries(a.id(), "loss").steps.size(), 2u + 3u);  // v1 rows + the file's 3 lines
  }
  // The migration is recorded: a second open migrates nothing.
  ProjectStore again = ProjectStore::open(dbPath(), runsRoot());
  EXPECT_EQ(again.openInfo().migratedFromVersion, 2);
  EXPECT_TRUE(again.openInfo().warnings.empty());
  // And the v1 tag now survives a rebuild.
  removeDb(dbPath());
  ProjectStore rebuilt = ProjectStore::open(dbPath(), runsRoot());
  EXPECT_EQ(rebuilt.tags(a.id()), (std::vector<std::string>{"from-v1"}));
  EXPECT_EQ(rebuilt.notes(a.id()).size(), 1u);
}

TEST_F(StoreTest, NewerSchemaIsRefusedAndLeftAlone) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dbPath().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied TEXT NOT NULL);"
                           "INSERT INTO schema_version VALUES(99, 'future');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  try {
    ProjectStore::open(dbPath(), runsRoot());
    FAIL() << "a schema from the future must not be opened";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
    EXPECT_EQ(e.databasePath(), fs::absolute(dbPath()).lexically_normal());
  }
  EXPECT_TRUE(fs::exists(dbPath()));
}

TEST_F(StoreTest, ErrorsNameTheDatabaseAndSqliteMessage) {
  fs::create_directories(root_ / "a-folder.sqlite");  // a folder where the file should be
  try {
    ProjectStore::open(root_ / "a-folder.sqlite", runsRoot());
    FAIL() << "opening a folder as a database must fail";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("a-folder.sqlite"), std::string::npos) << e.what();
    EXPECT_FALSE(e.sqliteMessage().empty());
    EXPECT_NE(e.sqliteCode(), 0);
  }
  // Some other application's SQLite file is not taken over.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((root_ / "other.sqlite").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE contacts(name TEXT);", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  EXPECT_THROW(ProjectStore::open(root_ / "other.sqlite", runsRoot()), StoreError);
  EXPECT_TRUE(fs::exists(root_ / "other.sqlite"));
}

TEST_F(StoreTest, RunningRunWithOldHeartbeatShowsAsStale) {
  RunDir dead = RunDir::create(runsRoot(), "job.dead");
  dead.setStatus(RunStatus::Running);
  dead.mutableRecord()["updated"] = "2020-01-01T00:00:00.000Z";  // heartbeat long ago: process died
  dead.save();
  RunDir alive = RunDir::create(runsRoot(), "job.alive");
  alive.setStatus(RunStatus::Running);  // heartbeat now

  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  EXPECT_EQ(store.run(dead.id())->status, "stale");
  EXPECT_EQ(store.run(dead.id())->recordedStatus, "running");
  EXPECT_EQ(store.run(alive.id())->status, "running");
  RunFilter stale;
  stale.status = "stale";
  ASSERT_EQ(store.listRuns(stale).size(), 1u);
  EXPECT_EQ(store.listRuns(stale)[0].id, dead.id());
  RunFilter running;
  running.status = "running";
  ASSERT_EQ(store.listRuns(running).size(), 1u);
  EXPECT_EQ(store.listRuns(running)[0].id, alive.id());
}

// One thread indexes a run whose job appends metrics (as the GUI does while a job runs); another
// connection reads at the same time. Each indexing commits 50 complete lines at once, so every
// snapshot a reader sees holds a multiple of 50 points. A second writer (say, the CLI indexing
// after its own job) syncs the same runs at the same time: lock waits must not surface as errors.
TEST_F(StoreTest, ReaderSeesConsistentSnapshotsWhileWriterIndexes) {
  RunDir run = RunDir::create(runsRoot(), "job.live");
  run.setStatus(RunStatus::Running);
  const std::string id = run.id();
  ProjectStore first = ProjectStore::open(dbPath(), runsRoot());  // creates the database
  ASSERT_TRUE(first.run(id).has_value());

  constexpr int kBatches = 120;
  constexpr int kPerBatch = 50;
  std::atomic<bool> done{false};
  std::string writerError;
  std::thread writer([&] {
    try {
      ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
      for (int b = 0; b < kBatches; ++b) {
        std::string batch;  // appended with one write(), as a job flushes its lines
        for (int i = 0; i < kPerBatch; ++i) {
          const int s = b * kPerBatch + i;
          batch += R"({"step":)" + std::to_string(s) + R"(,"seconds":)" + std::to_string(s * 0.001) +
                   R"(,"loss":)" + std::to_string(0.5 * s) + R"(,"acc":)" + std::to_string(s) + "}\n";
        }
        const int fd = ::open(run.metricsPath().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || ::write(fd, batch.data(), batch.size()) != static_cast<ssize_t>(batch.size()))
          throw std::runtime_error("cannot append to metrics.jsonl");
        ::close(fd);
        if (b % 10 == 0) run.heartbeat();  // run.json replaced now and then
        store.indexRun(run.path());
      }
    } catch (const std::exception& e) {
      writerError = e.what();
    }
    done = true;
  });

  std::string syncError;
  int syncs = 0;
  std::thread syncer([&] {
    try {
      ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
      while (!done) {
        const SyncReport r = store.sync();
        if (!r.problems.empty()) syncError = r.problems.front();
        ++syncs;
      }
    } catch (const std::exception& e) {
      syncError = e.what();
    }
  });

  std::string readerError;
  long long reads = 0;
  std::size_t lastSize = 0;
  std::size_t inconsistent = 0;
  std::thread reader([&] {
    try {
      ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
      while (!done) {
        const auto runs = store.listRuns();
        if (runs.size() != 1 || runs[0].status != "running") ++inconsistent;
        const MetricSeries loss = store.metricSeries(id, "loss");
        if (loss.steps.size() % kPerBatch != 0 || loss.steps.size() < lastSize) ++inconsistent;
        for (std::size_t i = 0; i < loss.steps.size(); ++i)
          if (loss.steps[i] != static_cast<long long>(i) || loss.values[i] != 0.5 * static_cast<double>(i))
            ++inconsistent;
        lastSize = loss.steps.size();
        ++reads;
      }
    } catch (const std::exception& e) {
      readerError = e.what();
    }
  });
  writer.join();
  reader.join();
  syncer.join();
  EXPECT_EQ(writerError, "");
  EXPECT_EQ(syncError, "");
  EXPECT_EQ(readerError, "");  // no SQLITE_BUSY (or anything else) surfaced
  EXPECT_EQ(inconsistent, 0u);
  EXPECT_GT(reads, 0);
  std::printf("[ reader ] %lld consistent reads while one writer indexed %d batches and another synced %d times\n",
              reads, kBatches, syncs);
  EXPECT_EQ(first.metricSeries(id, "loss").steps.size(), static_cast<std::size_t>(kBatches * kPerBatch));
  EXPECT_EQ(first.metricSeries(id, "acc").steps.size(), static_cast<std::size_t>(kBatches * kPerBatch));
}

TEST_F(StoreTest, LargeRunIndexesInReasonableTime) {
  RunDir run = RunDir::create(runsRoot(), "job.large");
  run.setStatus(RunStatus::Completed);
  constexpr int kLines = 200000;
  {
    std::ofstream out(run.metricsPath(), std::ios::binary);
    char line[160];
    for (int s = 0; s < kLines; ++s) {
      const int n = std::snprintf(line, sizeof line, "{\"step\":%d,\"seconds\":%.6f,\"loss\":%.9g,\"lr\":%.9g}\n", s,
                                  s * 0.002, 2.0 / (1.0 + s * 1e-3), 3e-4);
      out.write(line, n);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  const double indexSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  const MetricSeries loss = store.metricSeries(run.id(), "loss");
  const double querySeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const auto t2 = std::chrono::steady_clock::now();
  const SyncReport again = store.sync();
  const double resyncSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
  std::printf("[ timing ] %d lines (%d metric values, %.1f MB): index %.2f s, series query %.3f s, "
              "unchanged re-sync %.4f s, database %.1f MB\n",
              kLines, 2 * kLines, fs::file_size(run.metricsPath()) / 1e6, indexSeconds, querySeconds, resyncSeconds,
              (fs::file_size(dbPath()) + (fs::exists(dbPath().string() + "-wal") ? fs::file_size(dbPath().string() + "-wal") : 0)) / 1e6);

  ASSERT_EQ(loss.steps.size(), static_cast<std::size_t>(kLines));
  EXPECT_EQ(loss.steps[123456], 123456);
  EXPECT_NEAR(loss.values[123456], 2.0 / (1.0 + 123.456), 1e-8);  // as written with %.9g
  EXPECT_EQ(store.metricSeries(run.id(), "lr").steps.size(), static_cast<std::size_t>(kLines));
  EXPECT_EQ(again.unchanged, 1);
  EXPECT_EQ(again.metricPoints, 0);
}

TEST_F(StoreTest, MissingRunsFolderIndexesNothingUntilItAppears) {
  const fs::path later = root_ / "not-yet";
  ProjectStore store = ProjectStore::open(dbPath(), later);
  EXPECT_TRUE(store.openInfo().warnings.empty());
  EXPECT_TRUE(store.listRuns().empty());
  RunDir run = RunDir::create(later, "job.first");
  const SyncReport r = store.sync();
  EXPECT_EQ(r.added, 1);
  ASSERT_EQ(store.listRuns().size(), 1u);
  EXPECT_EQ(store.listRuns()[0].id, run.id());
}

// A real job (core.gemm_benchmark through core::runJob) runs on a thread while the store indexes
// its run folder over and over and reads it: the records the job wrote itself (its artifact with
// per-iteration rates, its summary) must match what the store indexed from metrics.jsonl.
TEST_F(StoreTest, IndexesARealJobWhileItRuns) {
  using namespace atomscope::core;
  JobRegistry registry;
  registerCoreJobs(registry);
  RunRequest request;
  request.job = "core.gemm_benchmark";
  request.params = Json{{"size", 192}, {"iterations", 1500}, {"dtype", "float32"}, {"warmup", 0}};
  request.device = "cpu";
  request.seed = 7;
  request.runsRoot = runsRoot();
  request.heartbeatSeconds = 0.05;

  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  RunOutcome outcome;
  std::atomic<bool> finished{false};
  std::thread job([&] {
    Feedback feedback;
    outcome = runJob(registry, request, feedback);
    finished = true;
  });
  int passes = 0;
  std::size_t seenWhileRunning = 0;
  std::string seenStatus;
  while (!finished) {
    store.sync();
    for (const RunRow& r : store.listRuns()) {
      const std::size_t n = store.metricSeries(r.id, "tflops").steps.size();
      if (!finished && n > seenWhileRunning) {
        seenWhileRunning = n;
        seenStatus = r.status;
      }
    }
    ++passes;
  }
  job.join();
  ASSERT_EQ(outcome.status, RunStatus::Completed) << outcome.error;
  store.sync();
  std::printf("[ live ] %d index passes while the job ran; up to %zu points seen mid-run (status %s)\n", passes,
              seenWhileRunning, seenStatus.c_str());

  const RunDir run = RunDir::open(outcome.runDir);
  const auto row = store.run(run.id());
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, "completed");
  EXPECT_EQ(row->job, "core.gemm_benchmark");
  EXPECT_EQ(row->device, "cpu");
  ASSERT_TRUE(row->seed.has_value());
  EXPECT_EQ(*row->seed, 7u);
  EXPECT_EQ(store.params(run.id()).at("size"), 192);
  EXPECT_EQ(store.metricNames(run.id()), (std::vector<std::string>{"ms", "tflops"}));

  const MetricSeries tflops = store.metricSeries(run.id(), "tflops");
  ASSERT_EQ(tflops.steps.size(), 1500u);
  EXPECT_EQ(tflops.steps.front(), 1);
  EXPECT_EQ(tflops.steps.back(), 1500);
  // The job's own artifact lists the same per-iteration rates (written independently of metrics.jsonl).
  const auto arts = store.artifacts(run.id());
  ASSERT_EQ(arts.size(), 1u);
  const Json artifact = Json::parse(readText(outcome.runDir / arts[0].path));
  ASSERT_EQ(artifact.at("tflops").size(), 1500u);
  for (std::size_t i = 0; i < 1500; ++i) EXPECT_DOUBLE_EQ(tflops.values[i], artifact.at("tflops")[i].get<double>());
  // And its summary's median is the median of the indexed series.
  std::vector<double> sorted = tflops.values;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_DOUBLE_EQ(row->summary.at("median_tflops").get<double>(), sorted[sorted.size() / 2]);
}

TEST_F(StoreTest, RenamedFolderKeepsUserDataAndCopiedFolderIsReported) {
  RunDir a = makeRun("job.a", "2026-01-01T10:00:00.000Z", 5);
  ProjectStore store = ProjectStore::open(dbPath(), runsRoot());
  store.addTag(a.id(), "moved-with-it");
  store.addNote(a.id(), "still here");

  const fs::path renamed = runsRoot() / "renamed-by-hand";
  fs::rename(a.path(), renamed);
  SyncReport r = store.sync();
  EXPECT_TRUE(r.problems.empty());
  auto row = store.run(a.id());
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->dir, renamed);
  EXPECT_EQ(row->tags, (std::vector<std::string>{"moved-with-it"}));
  EXPECT_EQ(store.notes(a.id()).size(), 1u);
  EXPECT_EQ(store.metricSeries(a.id(), "loss").steps.size(), 5u);

  fs::copy(renamed, runsRoot() / "zz-copy", fs::copy_options::recursive);
  r = store.sync();
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("zz-copy"), std::string::npos) << r.problems[0];
  EXPECT_NE(r.problems[0].find("already indexed"), std::string::npos) << r.problems[0];
  EXPECT_EQ(store.listRuns().size(), 1u);
  EXPECT_EQ(store.run(a.id())->dir, renamed);
}
