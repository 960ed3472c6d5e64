#pragma once
// The project store: a SQLite index of a project's run directories (see core/run_dir.h).
// The run directories are the record; the database can always be rebuilt from them. Tags and
// notes are user data the runs do not hold, so the store also writes them to <run dir>/user.json
//   {"format":"atomscope.user/1","tags":[string...],"notes":[{"text","created"}...]}
// (atomically) and a rebuild restores them from there.
//
// One ProjectStore is one SQLite connection: use one instance per thread. Several instances (in
// one or several processes) may share a database file: it runs in WAL mode, so readers see
// consistent snapshots while one writer indexes, and waits for locks are absorbed by a busy
// timeout instead of surfacing as errors.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/json.h"

namespace atomscope::store {

// Every failure of the store: what() reads "project store '<db path>': <what>: <SQLite message>".
class StoreError : public core::Error {
 public:
  StoreError(std::filesystem::path databasePath, const std::string& what, std::string sqliteMessage = {},
             int sqliteCode = 0);
  const std::filesystem::path& databasePath() const noexcept { return databasePath_; }
  const std::string& sqliteMessage() const noexcept { return sqliteMessage_; }
  int sqliteCode() const noexcept { return sqliteCode_; }  // SQLite's primary result code; 0 if none

 private:
  std::filesystem::path databasePath_;
  std::string sqliteMessage_;
  int sqliteCode_ = 0;
};

struct OpenOptions {
  bool fullIntegrityCheck = false;  // PRAGMA integrity_check instead of quick_check on open
  int busyTimeoutMs = 15000;        // how long a statement waits for another connection's lock
  double staleAfterSeconds = 30.0;  // a "running" run whose heartbeat is older shows as "stale"
  bool syncOnOpen = false;          // also sync() an existing database (new or rebuilt ones always are)
};

// What open() found and did; warnings are sentences a front end can show as they are.
struct OpenInfo {
  bool created = false;                   // the database file did not exist
  bool rebuilt = false;                   // it was corrupt: moved aside and rebuilt from the runs
  std::filesystem::path movedAsidePath;   // where the corrupt file went (empty if none)
  int migratedFromVersion = 0;            // schema version before open (0: new database)
  int schemaVersion = 0;                  // schema version now
  std::vector<std::string> warnings;      // corruption, migration, and problems of the initial sync
};

struct RunRow {
  std::string id;
  std::filesystem::path dir;  // absolute
  std::string job;
  std::string status;          // created|running|completed|failed|cancelled, or "stale"
  std::string recordedStatus;  // as run.json says
  std::string created;         // ISO 8601 UTC, as in run.json
  std::string updated;         // last heartbeat as of the last indexing
  std::string finished;
  std::optional<unsigned long long> seed;
  std::string device;
  std::string error;
  Json summary = Json::object();
  std::vector<std::string> tags;  // sorted
};

struct RunFilter {
  std::string job;     // exact job name; empty: any
  std::string status;  // as RunRow::status shows it ("stale" and "running" are told apart); empty: any
  std::string tag;     // runs carrying this tag; empty: any
  int limit = 0;       // at most this many (newest first); 0: all
};

struct MetricSeries {
  std::vector<long long> steps;  // in step order (a resumed run may repeat steps: file order kept)
  std::vector<double> seconds;   // NaN where the line had none
  std::vector<double> values;    // NaN where the value was null (non-finite when written)
};

struct Artifact {
  std::string path;  // as run.json records it, relative to the run directory
  std::string kind;
  std::string description;
};

struct Note {
  std::string text;
  std::string created;  // ISO 8601 UTC
};

struct SyncReport {
  int added = 0;
  int updated = 0;
  int unchanged = 0;
  int removed = 0;
  long long metricPoints = 0;         // metric values indexed by this call
  std::vector<std::string> problems;  // malformed run.json, bad metrics lines, unreadable user.json...
};

// A database belongs to one runs root: run folders under it are stored relative to it.
class ProjectStore {
 public:
  // Opens (creating if missing) the database at dbPath for the runs under runsRoot. Sets WAL,
  // busy timeout and foreign keys, checks integrity, applies pending migrations in a transaction.
  // A corrupt file is renamed to "<dbPath>.corrupt-<UTC timestamp>" (with its -wal and -shm) and
  // a new database is built from the run directories; a missing one is created and filled.
  // Throws StoreError when the file cannot be opened or created, or when its schema is newer
  // than this build understands.
  static ProjectStore open(const std::filesystem::path& dbPath, const std::filesystem::path& runsRoot,
                           const OpenOptions& options = {});

  ProjectStore(ProjectStore&&) noexcept;
  ProjectStore& operator=(ProjectStore&&) noexcept;
  ~ProjectStore();

  const OpenInfo& openInfo() const;
  const std::filesystem::path& databasePath() const;
  const std::filesystem::path& runsRoot() const;
  int schemaVersion() const;                   // as stored in the database
  static int currentSchemaVersion();           // what this build writes

  // Indexes new and changed run directories under runsRoot (direct subfolders holding run.json)
  // and drops runs whose run.json disappeared. Unchanged runs cost three stat() calls each; a
  // changed run.json (mtime, size or inode) is read again; metrics.jsonl is append-only and read
  // from the byte offset already indexed (a torn last line waits for its newline; a file shorter
  // than that offset is indexed again from the start). A renamed run folder keeps its tags and
  // notes (they travel in user.json); of two folders with the same run id (a copied folder) the
  // second is reported and skipped.
  // Problems are reported, never thrown; a malformed run.json is skipped. A runs root that does not
  // exist (yet) indexes nothing and removes nothing. Throws StoreError only for database failures.
  SyncReport sync();
  // Same for one run directory (which may lie outside runsRoot).
  SyncReport indexRun(const std::filesystem::path& runDir);

  std::vector<RunRow> listRuns(const RunFilter& filter = {}) const;  // newest first
  std::optional<RunRow> run(const std::string& id) const;
  Json params(const std::string& id) const;  // object name -> value, in run.json order
  std::vector<std::string> metricNames(const std::string& id) const;  // sorted
  MetricSeries metricSeries(const std::string& id, const std::string& name) const;
  std::vector<Artifact> artifacts(const std::string& id) const;
  std::vector<std::string> jobNames() const;  // distinct, sorted (for filters)
  std::vector<std::string> allTags() const;   // distinct, sorted (for filters)

  // User data: written to the database and to <run dir>/user.json in one step (a failure to
  // write the file rolls the database back and throws StoreError). Unknown id: StoreError.
  std::vector<std::string> tags(const std::string& id) const;  // sorted
  void addTag(const std::string& id, const std::string& tag);   // trims; empty tag: StoreError
  void removeTag(const std::string& id, const std::string& tag);
  std::vector<Note> notes(const std::string& id) const;         // oldest first
  void addNote(const std::string& id, const std::string& text);

 private:
  struct Impl;
  explicit ProjectStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace atomscope::store
