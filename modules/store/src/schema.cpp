// Schema of the project store (current version: 2) and its migrations.
//
// schema_version(version, applied, description)  one row per applied migration; MAX(version) is the
//                                                 database's version.
// runs(id PK, dir UNIQUE, job, status, created, updated, finished, seed, device, error, summary)
//      one row per run directory. id/job/status/... come from run.json; dir is relative to the
//      store's runs root when the run lies under it, absolute otherwise; seed is decimal text (a
//      64-bit unsigned seed does not fit SQLite's signed integer); summary is JSON text.
//      Bookkeeping for incremental indexing: record_mtime/record_size/record_inode (stat of
//      run.json when indexed), metrics_offset (bytes of metrics.jsonl indexed: always just after a
//      newline), user_mtime/user_size/user_inode (stat of user.json when last read or written;
//      user_size -1: no user.json known).
// params(run_id, name, value)                     value is JSON text; rowid keeps run.json order.
// metric_series(id, run_id, name)                one row per metric name of a run.
// metric_values(series_id, step, seq, seconds, value)  one row per value of a metrics.jsonl line;
//                                                 WITHOUT ROWID, key (series_id, step, seq); seq is the
//                                                 line's byte offset (file order among repeated steps
//                                                 of a resumed run); value NULL for null (non-finite).
// metrics (view: run_id, step, seconds, name, value)  the long format, for ad-hoc SQL.
//                                                 (Version 1 had a metrics table of that shape.)
// artifacts(run_id, path, kind, description)      from run.json "artifacts".
// tags(run_id, tag)                               user data, mirrored in <run dir>/user.json.
// notes(id, run_id, text, created)                user data, mirrored in <run dir>/user.json.
// Every child table references runs(id) ON DELETE CASCADE.
//
// Migrations are append-only: never edit a released one, add the next version instead.
#include "schema.h"

#include <string>

namespace atomscope::store::detail {

namespace {

// Version 1: runs, params, metrics (indexed by step), artifacts, tags.
constexpr const char* kVersion1 = R"sql(
CREATE TABLE runs(
  id TEXT PRIMARY KEY,
  dir TEXT NOT NULL UNIQUE,
  job TEXT NOT NULL,
  status TEXT NOT NULL,
  created TEXT NOT NULL DEFAULT '',
  updated TEXT NOT NULL DEFAULT '',
  finished TEXT NOT NULL DEFAULT '',
  seed TEXT,
  device TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '{}',
  record_mtime INTEGER NOT NULL DEFAULT 0,
  record_size INTEGER NOT NULL DEFAULT -1,
  record_inode INTEGER NOT NULL DEFAULT 0,
  metrics_offset INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_created ON runs(created);
CREATE INDEX runs_job_created ON runs(job, created);
CREATE INDEX runs_status_created ON runs(status, created);
CREATE TABLE params(
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value TEXT NOT NULL
);
CREATE UNIQUE INDEX params_run_name ON params(run_id, name);
CREATE TABLE metrics(
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  seconds REAL,
  name TEXT NOT NULL,
  value REAL
);
CREATE INDEX metrics_run_step ON metrics(run_id, step);
CREATE TABLE artifacts(
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(run_id, path)
) WITHOUT ROWID;
CREATE TABLE tags(
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY(run_id, tag)
) WITHOUT ROWID;
CREATE INDEX tags_tag ON tags(tag);
)sql";

// Version 2: notes; user.json bookkeeping (tags and notes mirrored into the run directory);
// metrics split into metric_series + metric_values (a clustered key instead of a long text run id
// and name on every value: about a quarter of the size), with a "metrics" view of the old shape.
constexpr const char* kVersion2 = R"sql(
CREATE TABLE notes(
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  text TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX notes_run ON notes(run_id, created);
ALTER TABLE runs ADD COLUMN user_mtime INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN user_size INTEGER NOT NULL DEFAULT -1;
ALTER TABLE runs ADD COLUMN user_inode INTEGER NOT NULL DEFAULT 0;
CREATE TABLE metric_series(
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  UNIQUE(run_id, name)
);
CREATE TABLE metric_values(
  series_id INTEGER NOT NULL REFERENCES metric_series(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  seconds REAL,
  value REAL,
  PRIMARY KEY(series_id, step, seq)
) WITHOUT ROWID;
INSERT INTO metric_series(run_id, name) SELECT DISTINCT run_id, name FROM metrics;
INSERT INTO metric_values(series_id, step, seq, seconds, value)
  SELECT s.id, m.step, m.rowid, m.seconds, m.value
  FROM metrics m JOIN metric_series s ON s.run_id = m.run_id AND s.name = m.name;
DROP TABLE metrics;
CREATE VIEW metrics(run_id, step, seconds, name, value) AS
  SELECT s.run_id, v.step, v.seconds, s.name, v.value
  FROM metric_values v JOIN metric_series s ON s.id = v.series_id;
)sql";

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1, "runs, params, metrics, artifacts, tags", kVersion1},
      {2, "notes; tags and notes mirrored to user.json; metrics as series and values", kVersion2},
  };
  return list;
}

int currentSchemaVersion() { return migrations().back().version; }

int storedSchemaVersion(Connection& conn) {
  auto hasTable = conn.prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'");
  hasTable.step();
  if (hasTable.int64(0) == 0) {
    auto anyTable = conn.prepare("SELECT count(*) FROM sqlite_master WHERE type='table'");
    anyTable.step();
    if (anyTable.int64(0) != 0)
      throw StoreError(conn.path(),
                       "this SQLite file holds tables but no schema_version table: it is not an Atomscope "
                       "project store; choose another file name");
    return 0;
  }
  auto version = conn.prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  version.step();
  return static_cast<int>(version.int64(0));
}

int migrate(Connection& conn) {
  // Quick look without the write lock: an up-to-date database (the usual case) needs no writer.
  {
    Transaction read(conn, Transaction::Kind::Read);
    const int found = storedSchemaVersion(conn);
    if (found > currentSchemaVersion())
      throw StoreError(conn.path(), "the database has schema version " + std::to_string(found) +
                                        " but this build of Atomscope knows versions up to " +
                                        std::to_string(currentSchemaVersion()) +
                                        "; open it with a newer Atomscope or delete it to rebuild it from the runs");
    if (found == currentSchemaVersion()) return found;
  }
  Transaction write(conn, Transaction::Kind::Write);
  const int found = storedSchemaVersion(conn);  // another process may have migrated meanwhile
  if (found > currentSchemaVersion())
    throw StoreError(conn.path(), "the database has schema version " + std::to_string(found) +
                                      " (newer than this build's " + std::to_string(currentSchemaVersion()) + ")");
  if (found == 0)
    conn.exec("CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied TEXT NOT NULL, "
              "description TEXT NOT NULL DEFAULT '')",
              "cannot create the schema_version table");
  auto record = conn.prepare(
      "INSERT INTO schema_version(version, applied, description) "
      "VALUES(?, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?)");
  for (const Migration& m : migrations()) {
    if (m.version <= found) continue;
    conn.exec(m.sql, ("cannot apply schema migration " + std::to_string(m.version)).c_str());
    record.bind(1, static_cast<std::int64_t>(m.version)).bind(2, std::string_view(m.description)).run();
  }
  write.commit();
  return found;
}

}  // namespace atomscope::store::detail
