#include "atomscope/store/project_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/runner.h"
#include "schema.h"
#include "sqlite_db.h"

namespace fs = std::filesystem;

namespace atomscope::store {

using detail::Connection;
using detail::Statement;
using detail::Transaction;

namespace {

constexpr const char* kUserFormat = "atomscope.user/1";
constexpr int kMaxLineProblemsPerRun = 5;

// stat() of a file: identity used to tell whether a file changed since it was indexed.
struct FileStamp {
  bool exists = false;
  std::int64_t mtimeNs = 0;
  std::int64_t size = -1;
  std::int64_t inode = 0;

  bool sameAs(std::int64_t mtime, std::int64_t sz, std::int64_t ino) const {
    if (!exists) return sz == -1;
    return mtimeNs == mtime && size == sz && inode == ino;
  }
};

FileStamp stampOf(const fs::path& p) {
  FileStamp s;
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return s;
  s.exists = true;
  s.mtimeNs = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  s.size = static_cast<std::int64_t>(st.st_size);
  s.inode = static_cast<std::int64_t>(st.st_ino);
  return s;
}

std::string utcStampForFileName() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string textField(const Json& rec, const char* key) {
  auto it = rec.find(key);
  if (it == rec.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<std::string> seedText(const Json& rec) {
  auto it = rec.find("seed");
  if (it == rec.end()) return std::nullopt;
  if (it->is_number_unsigned()) return std::to_string(it->get<unsigned long long>());
  if (it->is_number_integer() && it->get<long long>() >= 0) return std::to_string(it->get<long long>());
  if (it->is_string()) {
    const std::string s = it->get<std::string>();
    if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return s;
  }
  return std::nullopt;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

struct UserData {
  std::vector<std::string> tags;
  std::vector<Note> notes;
};

// Parses user.json; throws core::Error naming the file and field.
UserData readUserFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw core::Error(file.string() + ": cannot be read");
  std::ostringstream os;
  os << in.rdbuf();
  Json j = Json::parse(os.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw core::Error(file.string() + ": not a JSON object");
  UserData u;
  if (j.contains("tags")) {
    if (!j["tags"].is_array()) throw core::Error(file.string() + ": field 'tags' must be an array of text");
    for (const auto& t : j["tags"]) {
      if (!t.is_string()) throw core::Error(file.string() + ": field 'tags' must be an array of text");
      const std::string tag = trim(t.get<std::string>());
      if (!tag.empty()) u.tags.push_back(tag);
    }
  }
  if (j.contains("notes")) {
    if (!j["notes"].is_array())
      throw core::Error(file.string() + ": field 'notes' must be an array of {\"text\",\"created\"}");
    for (const auto& n : j["notes"]) {
      if (!n.is_object() || !n.contains("text") || !n["text"].is_string())
        throw core::Error(file.string() + ": each note must be an object with a text field");
      u.notes.push_back(Note{n["text"].get<std::string>(), textField(n, "created")});
    }
  }
  std::sort(u.tags.begin(), u.tags.end());
  u.tags.erase(std::unique(u.tags.begin(), u.tags.end()), u.tags.end());
  return u;
}

struct IndexedRow {
  std::string id;
  std::int64_t recordMtime = 0, recordSize = -1, recordInode = 0;
  std::int64_t metricsOffset = 0;
  std::int64_t userMtime = 0, userSize = -1, userInode = 0;
};

constexpr const char* kRowColumns =
    "id, record_mtime, record_size, record_inode, metrics_offset, user_mtime, user_size, user_inode";

IndexedRow readIndexedRow(Statement& st) {
  IndexedRow r;
  r.id = st.text(0);
  r.recordMtime = st.int64(1);
  r.recordSize = st.int64(2);
  r.recordInode = st.int64(3);
  r.metricsOffset = st.int64(4);
  r.userMtime = st.int64(5);
  r.userSize = st.int64(6);
  r.userInode = st.int64(7);
  return r;
}

constexpr const char* kRunColumns = "id, dir, job, status, created, updated, finished, seed, device, error, summary";

}  // namespace

struct ProjectStore::Impl {
  fs::path dbPath;
  fs::path runsRoot;
  OpenOptions options;
  OpenInfo info;
  std::unique_ptr<Connection> conn;

  // ---- paths ----
  std::string storedDir(const fs::path& absDir) const {
    const fs::path rel = absDir.lexically_relative(runsRoot);
    if (!rel.empty() && *rel.begin() != ".." && rel != ".") return rel.generic_string();
    return absDir.generic_string();
  }
  fs::path resolveDir(const std::string& stored) const {
    const fs::path p(stored);
    return p.is_absolute() ? p : (runsRoot / p).lexically_normal();
  }

  // ---- open ----
  void configure() {
    auto mode = conn->prepare("PRAGMA journal_mode=WAL");
    std::string got = mode.step() ? mode.text(0) : std::string();
    if (got != "wal")
      info.warnings.push_back("the project store " + dbPath.string() + " could not switch to WAL mode (got '" +
                              got + "'); readers may wait for writers");
    conn->exec("PRAGMA synchronous=NORMAL", "cannot set synchronous mode");
    conn->exec("PRAGMA journal_size_limit=67108864", "cannot limit the WAL size");
    conn->exec("PRAGMA foreign_keys=ON", "cannot enable foreign keys");
  }

  // Empty string: the database passed; otherwise what SQLite found wrong.
  std::string integrityProblem() {
    try {
      auto st = conn->prepare(options.fullIntegrityCheck ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)");
      std::string problems;
      while (st.step()) {
        const std::string line = st.text(0);
        if (line == "ok") continue;
        if (!problems.empty()) problems += "; ";
        problems += line;
      }
      return problems;
    } catch (const StoreError& e) {
      if (e.sqliteCode() == SQLITE_CORRUPT || e.sqliteCode() == SQLITE_NOTADB) return e.sqliteMessage();
      throw;
    }
  }

  fs::path moveAside() {
    const std::string base = dbPath.string() + ".corrupt-" + utcStampForFileName();
    fs::path target = base;
    for (int i = 1; fs::exists(target); ++i) target = base + "-" + std::to_string(i);
    std::error_code ec;
    fs::rename(dbPath, target, ec);
    if (ec)
      throw StoreError(dbPath, "the database is corrupt and cannot be moved aside to " + target.string() + " (" +
                                   ec.message() + "); move or delete it by hand");
    for (const char* suffix : {"-wal", "-shm"}) {
      const fs::path side = dbPath.string() + suffix;
      if (fs::exists(side)) fs::rename(side, target.string() + suffix, ec);
    }
    return target;
  }

  // ---- indexing ----
  void addLineProblem(SyncReport& report, int& count, const fs::path& file, std::int64_t offset,
                      const std::string& what) {
    ++count;
    if (count <= kMaxLineProblemsPerRun)
      report.problems.push_back(file.string() + " at byte " + std::to_string(offset) + ": " + what +
                                "; line skipped");
  }

  // Reads complete lines of metrics.jsonl from `from`; returns the offset just after the last newline.
  // Every kCommitLines lines the offset reached is recorded and committed, so that a huge file does
  // not hold the write lock for long; the rows and metrics_offset always agree in what is committed.
  std::int64_t ingestMetrics(const std::string& runId, const fs::path& file, std::int64_t from,
                             SyncReport& report, Transaction& tx) {
    constexpr long long kCommitLines = 100000;
    long long linesSinceCommit = 0;
    std::ifstream in(file, std::ios::binary);
    if (!in) return from;
    in.seekg(from);
    if (!in) return from;
    auto insert = conn->prepare(
        "INSERT OR REPLACE INTO metric_values(series_id, step, seq, seconds, value) VALUES(?,?,?,?,?)");
    auto addSeries = conn->prepare("INSERT INTO metric_series(run_id, name) VALUES(?,?) ON CONFLICT DO NOTHING");
    auto findSeries = conn->prepare("SELECT id FROM metric_series WHERE run_id=? AND name=?");
    std::unordered_map<std::string, std::int64_t> seriesIds;
    auto seriesId = [&](const std::string& name) {
      auto it = seriesIds.find(name);
      if (it != seriesIds.end()) return it->second;
      addSeries.bind(1, std::string_view(runId)).bind(2, std::string_view(name)).run();
      findSeries.bind(1, std::string_view(runId)).bind(2, std::string_view(name));
      findSeries.step();
      const std::int64_t id = findSeries.int64(0);
      findSeries.reset();
      seriesIds.emplace(name, id);
      return id;
    };
    constexpr std::size_t kChunk = 1 << 20;
    std::string data;
    std::vector<char> chunk(kChunk);
    std::int64_t dataStart = from;  // file offset of data[0]
    int badLines = 0;
    long long points = 0;
    while (in) {
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const std::streamsize got = in.gcount();
      if (got <= 0) break;
      data.append(chunk.data(), static_cast<std::size_t>(got));
      std::size_t start = 0;
      for (std::size_t nl = data.find('\n', start); nl != std::string::npos; nl = data.find('\n', start)) {
        const std::string_view line(data.data() + start, nl - start);
        const std::int64_t lineOffset = dataStart + static_cast<std::int64_t>(start);
        start = nl + 1;
        ++linesSinceCommit;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          addLineProblem(report, badLines, file, lineOffset, "not a JSON object");
          continue;
        }
        auto stepIt = j.find("step");
        if (stepIt == j.end() || !stepIt->is_number()) {
          addLineProblem(report, badLines, file, lineOffset, "no numeric \"step\"");
          continue;
        }
        const auto step = stepIt->is_number_float() ? static_cast<std::int64_t>(stepIt->get<double>())
                                                    : stepIt->get<std::int64_t>();
        auto secIt = j.find("seconds");
        const double seconds = (secIt != j.end() && secIt->is_number()) ? secIt->get<double>()
                                                                         : std::numeric_limits<double>::quiet_NaN();
        for (auto it = j.begin(); it != j.end(); ++it) {
          if (it.key() == "step" || it.key() == "seconds") continue;
          double value;
          if (it->is_number()) value = it->get<double>();
          else if (it->is_null()) value = std::numeric_limits<double>::quiet_NaN();
          else continue;
          insert.bind(1, seriesId(it.key())).bind(2, step).bind(3, lineOffset).bind(4, seconds).bind(5, value);
          insert.run();
          ++points;
        }
      }
      data.erase(0, start);
      dataStart += static_cast<std::int64_t>(start);
      if (linesSinceCommit >= kCommitLines) {
        conn->prepare("UPDATE runs SET metrics_offset=? WHERE id=?").bind(1, dataStart).bind(2, std::string_view(runId)).run();
        tx.commitAndContinue();
        linesSinceCommit = 0;
      }
    }
    if (badLines > kMaxLineProblemsPerRun)
      report.problems.push_back(file.string() + ": " + std::to_string(badLines - kMaxLineProblemsPerRun) +
                                " more bad lines skipped");
    report.metricPoints += points;
    return dataStart;  // a torn last line (no newline yet) stays unindexed
  }

  bool hasUserData(const std::string& runId) {
    auto st = conn->prepare(
        "SELECT (SELECT count(*) FROM tags WHERE run_id=?1) + (SELECT count(*) FROM notes WHERE run_id=?1)");
    st.bind(1, std::string_view(runId));
    st.step();
    return st.int64(0) > 0;
  }

  void recordUserStamp(const std::string& runId, const FileStamp& s) {
    auto st = conn->prepare("UPDATE runs SET user_mtime=?, user_size=?, user_inode=? WHERE id=?");
    st.bind(1, s.exists ? s.mtimeNs : 0).bind(2, s.exists ? s.size : -1).bind(3, s.exists ? s.inode : 0);
    st.bind(4, std::string_view(runId)).run();
  }

  void replaceUserData(const std::string& runId, const UserData& u) {
    conn->prepare("DELETE FROM tags WHERE run_id=?").bind(1, std::string_view(runId)).run();
    conn->prepare("DELETE FROM notes WHERE run_id=?").bind(1, std::string_view(runId)).run();
    auto tag = conn->prepare("INSERT OR IGNORE INTO tags(run_id, tag) VALUES(?,?)");
    for (const auto& t : u.tags) tag.bind(1, std::string_view(runId)).bind(2, std::string_view(t)).run();
    auto note = conn->prepare("INSERT INTO notes(run_id, text, created) VALUES(?,?,?)");
    for (const auto& n : u.notes)
      note.bind(1, std::string_view(runId)).bind(2, std::string_view(n.text)).bind(3, std::string_view(n.created)).run();
  }

  UserData userDataFromDb(const std::string& runId) const {
    UserData u;
    auto tags = conn->prepare("SELECT tag FROM tags WHERE run_id=? ORDER BY tag");
    tags.bind(1, std::string_view(runId));
    while (tags.step()) u.tags.push_back(tags.text(0));
    auto notes = conn->prepare("SELECT text, created FROM notes WHERE run_id=? ORDER BY created, id");
    notes.bind(1, std::string_view(runId));
    while (notes.step()) u.notes.push_back(Note{notes.text(0), notes.text(1)});
    return u;
  }

  // Writes the run's tags and notes to <dir>/user.json and records its stamp. Throws StoreError.
  void writeUserFile(const std::string& runId, const fs::path& absDir) {
    const UserData u = userDataFromDb(runId);
    Json j = Json::object();
    j["format"] = kUserFormat;
    j["tags"] = u.tags;
    j["notes"] = Json::array();
    for (const auto& n : u.notes) j["notes"].push_back(Json{{"text", n.text}, {"created", n.created}});
    const fs::path file = absDir / "user.json";
    try {
      core::writeFileAtomically(file, j.dump(2) + "\n");
    } catch (const std::exception& e) {
      throw StoreError(dbPath, std::string("cannot save tags and notes of run ") + runId + ": " + e.what());
    }
    recordUserStamp(runId, stampOf(file));
  }

  // Inside a write transaction: makes the database and user.json agree. A changed user.json wins;
  // a missing one is written from the database when it holds user data. Returns a problem or "".
  std::string reconcileUser(const IndexedRow& row, const fs::path& absDir) {
    const fs::path file = absDir / "user.json";
    const FileStamp disk = stampOf(file);
    if (disk.sameAs(row.userMtime, row.userSize, row.userInode)) return {};
    if (disk.exists) {
      try {
        replaceUserData(row.id, readUserFile(file));
      } catch (const core::Error& e) {
        return std::string(e.what()) + " (tags and notes of this run kept as the store had them)";
      }
      recordUserStamp(row.id, disk);
      return {};
    }
    if (hasUserData(row.id)) {
      try {
        writeUserFile(row.id, absDir);
      } catch (const StoreError& e) {
        return e.what();
      }
    } else {
      recordUserStamp(row.id, disk);
    }
    return {};
  }

  std::optional<IndexedRow> rowByDir(const std::string& stored) {
    auto st = conn->prepare(std::string("SELECT ") + kRowColumns + " FROM runs WHERE dir=?");
    st.bind(1, std::string_view(stored));
    if (!st.step()) return std::nullopt;
    return readIndexedRow(st);
  }

  std::optional<std::pair<IndexedRow, std::string>> rowById(const std::string& id) {
    auto st = conn->prepare(std::string("SELECT ") + kRowColumns + ", dir FROM runs WHERE id=?");
    st.bind(1, std::string_view(id));
    if (!st.step()) return std::nullopt;
    return std::make_pair(readIndexedRow(st), st.text(8));
  }

  void indexOne(const fs::path& absDir, SyncReport& report) {
    const fs::path recordFile = absDir / "run.json";
    const FileStamp record = stampOf(recordFile);
    if (!record.exists) {
      report.problems.push_back(recordFile.string() + ": missing; " + absDir.string() + " is not a run folder");
      return;
    }
    const FileStamp metrics = stampOf(absDir / "metrics.jsonl");
    const FileStamp user = stampOf(absDir / "user.json");
    const std::string stored = storedDir(absDir);

    // Cheap check without the write lock: nothing changed since the last indexing.
    if (auto row = rowByDir(stored)) {
      const std::int64_t metricsSize = metrics.exists ? metrics.size : 0;
      if (record.sameAs(row->recordMtime, row->recordSize, row->recordInode) && metricsSize == row->metricsOffset &&
          user.sameAs(row->userMtime, row->userSize, row->userInode)) {
        ++report.unchanged;
        return;
      }
    }

    Transaction tx(*conn, Transaction::Kind::Write);
    std::optional<IndexedRow> row = rowByDir(stored);  // again, under the write lock
    bool changed = false;
    bool added = false;
    if (!row || !record.sameAs(row->recordMtime, row->recordSize, row->recordInode)) {
      std::optional<core::RunDir> run;
      try {
        run.emplace(core::RunDir::open(absDir));
      } catch (const std::exception& e) {
        report.problems.push_back(std::string(e.what()) + "; run skipped");
        return;
      }
      const Json& rec = run->record();
      const std::string id = textField(rec, "id");
      if (id.empty()) {
        report.problems.push_back(recordFile.string() + ": field 'id' is empty; run skipped");
        return;
      }
      if (row && row->id != id) {
        // Another run now lives in this folder: forget the old one.
        conn->prepare("DELETE FROM runs WHERE id=?").bind(1, std::string_view(row->id)).run();
        row.reset();
      }
      if (!row) {
        if (auto other = rowById(id)) {
          const fs::path otherDir = resolveDir(other->second);
          if (fs::exists(otherDir / "run.json")) {
            report.problems.push_back(recordFile.string() + ": run id '" + id + "' is already indexed from " +
                                      otherDir.string() + " (a copied run folder?); run skipped");
            return;
          }
          // The run folder moved: keep its row (metrics, tags, notes) and point it at the new place.
          conn->prepare("UPDATE runs SET dir=? WHERE id=?").bind(1, std::string_view(stored)).bind(2, std::string_view(id)).run();
          row = other->first;
        }
      }
      added = !row;
      auto upsert = conn->prepare(
          "INSERT INTO runs(id, dir, job, status, created, updated, finished, seed, device, error, summary, "
          "record_mtime, record_size, record_inode) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) "
          "ON CONFLICT(id) DO UPDATE SET dir=?2, job=?3, status=?4, created=?5, updated=?6, finished=?7, seed=?8, "
          "device=?9, error=?10, summary=?11, record_mtime=?12, record_size=?13, record_inode=?14");
      upsert.bind(1, std::string_view(id)).bind(2, std::string_view(stored));
      upsert.bind(3, textField(rec, "job")).bind(4, textField(rec, "status"));
      upsert.bind(5, textField(rec, "created")).bind(6, textField(rec, "updated")).bind(7, textField(rec, "finished"));
      if (auto seed = seedText(rec)) upsert.bind(8, *seed); else upsert.bindNull(8);
      upsert.bind(9, textField(rec, "device")).bind(10, textField(rec, "error"));
      const auto summaryIt = rec.find("summary");
      upsert.bind(11, (summaryIt != rec.end() && summaryIt->is_object()) ? summaryIt->dump() : std::string("{}"));
      upsert.bind(12, record.mtimeNs).bind(13, record.size).bind(14, record.inode);
      upsert.run();

      conn->prepare("DELETE FROM params WHERE run_id=?").bind(1, std::string_view(id)).run();
      if (auto p = rec.find("params"); p != rec.end() && p->is_object()) {
        auto ins = conn->prepare("INSERT INTO params(run_id, name, value) VALUES(?,?,?)");
        for (auto it = p->begin(); it != p->end(); ++it)
          ins.bind(1, std::string_view(id)).bind(2, std::string_view(it.key())).bind(3, it->dump()).run();
      }
      conn->prepare("DELETE FROM artifacts WHERE run_id=?").bind(1, std::string_view(id)).run();
      if (auto a = rec.find("artifacts"); a != rec.end() && a->is_array()) {
        auto ins = conn->prepare(
            "INSERT OR REPLACE INTO artifacts(run_id, path, kind, description) VALUES(?,?,?,?)");
        for (const auto& art : *a) {
          if (!art.is_object() || textField(art, "path").empty()) {
            report.problems.push_back(recordFile.string() + ": an artifact without a \"path\" was ignored");
            continue;
          }
          ins.bind(1, std::string_view(id)).bind(2, textField(art, "path"));
          ins.bind(3, textField(art, "kind")).bind(4, textField(art, "description")).run();
        }
      }
      row = rowByDir(stored);
      changed = true;
    }

    // metrics.jsonl, from the offset already indexed
    const std::int64_t metricsSize = metrics.exists ? metrics.size : 0;
    std::int64_t offset = row->metricsOffset;
    if (metricsSize < offset) {  // rewritten or truncated: index it again from the start
      conn->prepare("DELETE FROM metric_series WHERE run_id=?").bind(1, std::string_view(row->id)).run();
      offset = 0;
      changed = true;
    }
    if (metricsSize > offset) {
      const std::int64_t next = ingestMetrics(row->id, absDir / "metrics.jsonl", offset, report, tx);
      if (next != offset) changed = true;
      offset = next;
    }
    if (offset != row->metricsOffset)
      conn->prepare("UPDATE runs SET metrics_offset=? WHERE id=?").bind(1, offset).bind(2, std::string_view(row->id)).run();

    const std::string userProblem = reconcileUser(*row, absDir);
    if (!userProblem.empty()) report.problems.push_back(userProblem);
    if (!user.sameAs(row->userMtime, row->userSize, row->userInode)) changed = true;
    tx.commit();
    if (added) ++report.added;
    else if (changed) ++report.updated;
    else ++report.unchanged;
  }

  SyncReport sync() {
    SyncReport report;
    std::error_code ec;
    if (!fs::is_directory(runsRoot, ec)) return report;  // no runs yet (nothing is removed either)
    // Runs whose run.json disappeared leave the index (their user.json went with them).
    {
      std::vector<std::string> gone;
      auto all = conn->prepare("SELECT id, dir FROM runs");
      while (all.step())
        if (!fs::exists(resolveDir(all.text(1)) / "run.json", ec)) gone.push_back(all.text(0));
      all.reset();
      if (!gone.empty()) {
        Transaction tx(*conn, Transaction::Kind::Write);
        auto del = conn->prepare("DELETE FROM runs WHERE id=?");
        for (const auto& id : gone) del.bind(1, std::string_view(id)).run();
        tx.commit();
        report.removed = static_cast<int>(gone.size());
      }
    }
    std::vector<fs::path> dirs;
    for (fs::directory_iterator it(runsRoot, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      std::error_code e2;
      if (it->is_directory(e2) && fs::exists(it->path() / "run.json", e2)) dirs.push_back(it->path());
    }
    if (ec) report.problems.push_back("the runs folder " + runsRoot.string() + " could not be listed fully: " + ec.message());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) indexOne(d.lexically_normal(), report);
    return report;
  }

  // ---- queries ----
  std::string displayedStatus(const std::string& recorded, const fs::path& absDir) const {
    if (recorded != "running") return recorded;
    try {
      if (core::isStale(core::RunDir::open(absDir), options.staleAfterSeconds)) return "stale";
    } catch (const std::exception&) {
      // run.json unreadable right now: show what the index recorded
    }
    return recorded;
  }

  RunRow readRun(Statement& st) const {
    RunRow r;
    r.id = st.text(0);
    r.dir = resolveDir(st.text(1));
    r.job = st.text(2);
    r.recordedStatus = st.text(3);
    r.created = st.text(4);
    r.updated = st.text(5);
    r.finished = st.text(6);
    if (!st.isNull(7)) {
      try {
        r.seed = std::stoull(st.text(7));
      } catch (const std::exception&) {
      }
    }
    r.device = st.text(8);
    r.error = st.text(9);
    r.summary = Json::parse(st.text(10), nullptr, false);
    if (r.summary.is_discarded()) r.summary = Json::object();
    r.status = displayedStatus(r.recordedStatus, r.dir);
    return r;
  }

  std::vector<std::string> tagsOf(const std::string& id) const {
    std::vector<std::string> out;
    auto st = conn->prepare("SELECT tag FROM tags WHERE run_id=? ORDER BY tag");
    st.bind(1, std::string_view(id));
    while (st.step()) out.push_back(st.text(0));
    return out;
  }

  IndexedRow requireRun(const std::string& id, fs::path& absDir) {
    auto found = rowById(id);
    if (!found) throw StoreError(dbPath, "no run with id '" + id + "' in the store (sync first?)");
    absDir = resolveDir(found->second);
    return found->first;
  }

  // Changes user data of one run in the database and user.json together.
  template <class F>
  void editUser(const std::string& id, F&& edit) {
    Transaction tx(*conn, Transaction::Kind::Write);
    fs::path absDir;
    const IndexedRow row = requireRun(id, absDir);
    if (!fs::is_directory(absDir))
      throw StoreError(dbPath, "the folder of run '" + id + "' (" + absDir.string() + ") is gone; sync the store");
    const std::string problem = reconcileUser(row, absDir);
    if (!problem.empty())
      throw StoreError(dbPath, problem + "; fix or remove that file before changing tags or notes");
    edit();
    writeUserFile(id, absDir);
    tx.commit();
  }
};

// ---------------------------------------------------------------------------------------------

ProjectStore::ProjectStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProjectStore::ProjectStore(ProjectStore&&) noexcept = default;
ProjectStore& ProjectStore::operator=(ProjectStore&&) noexcept = default;
ProjectStore::~ProjectStore() = default;

ProjectStore ProjectStore::open(const fs::path& dbPath, const fs::path& runsRoot, const OpenOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->dbPath = fs::absolute(dbPath).lexically_normal();
  impl->runsRoot = fs::absolute(runsRoot).lexically_normal();
  impl->options = options;
  OpenInfo& info = impl->info;

  std::error_code ec;
  if (impl->dbPath.has_parent_path()) fs::create_directories(impl->dbPath.parent_path(), ec);
  const bool existed = fs::exists(impl->dbPath, ec);
  info.created = !existed;
  impl->conn = std::make_unique<Connection>(impl->dbPath, options.busyTimeoutMs);

  if (existed) {
    const std::string problem = impl->integrityProblem();
    if (!problem.empty()) {
      impl->conn.reset();
      info.movedAsidePath = impl->moveAside();
      info.rebuilt = true;
      info.warnings.push_back("the project store " + impl->dbPath.string() + " failed its integrity check (" +
                              problem + "); it was moved to " + info.movedAsidePath.string() +
                              " and a new one was built from the run folders in " + impl->runsRoot.string());
      impl->conn = std::make_unique<Connection>(impl->dbPath, options.busyTimeoutMs);
    }
  }
  impl->configure();
  info.migratedFromVersion = detail::migrate(*impl->conn);
  info.schemaVersion = currentSchemaVersion();
  if (info.migratedFromVersion > 0 && info.migratedFromVersion < info.schemaVersion)
    info.warnings.push_back("the project store " + impl->dbPath.string() + " was upgraded from schema version " +
                            std::to_string(info.migratedFromVersion) + " to " + std::to_string(info.schemaVersion));

  if (info.migratedFromVersion == 1) {
    // Version 1 kept tags only in the database: mirror them into user.json now.
    std::vector<std::pair<std::string, std::string>> tagged;
    {
      auto st = impl->conn->prepare("SELECT DISTINCT r.id, r.dir FROM runs r JOIN tags t ON t.run_id = r.id");
      while (st.step()) tagged.emplace_back(st.text(0), st.text(1));
    }
    for (const auto& [id, dir] : tagged) {
      const fs::path absDir = impl->resolveDir(dir);
      if (!fs::is_directory(absDir)) continue;
      try {
        Transaction tx(*impl->conn, Transaction::Kind::Write);
        impl->writeUserFile(id, absDir);
        tx.commit();
      } catch (const StoreError& e) {
        info.warnings.push_back(e.what());
      }
    }
  }

  // A new, rebuilt or empty (e.g. zero-byte) database is filled from the run folders at once.
  const bool fill = info.created || info.rebuilt || info.migratedFromVersion == 0;
  if (fill || options.syncOnOpen) {
    SyncReport report = impl->sync();
    if (fill)
      for (auto& p : report.problems) info.warnings.push_back(std::move(p));
  }
  return ProjectStore(std::move(impl));
}

const OpenInfo& ProjectStore::openInfo() const { return impl_->info; }
const fs::path& ProjectStore::databasePath() const { return impl_->dbPath; }
const fs::path& ProjectStore::runsRoot() const { return impl_->runsRoot; }
int ProjectStore::currentSchemaVersion() { return detail::currentSchemaVersion(); }

int ProjectStore::schemaVersion() const {
  Transaction tx(*impl_->conn, Transaction::Kind::Read);
  return detail::storedSchemaVersion(*impl_->conn);
}

SyncReport ProjectStore::sync() { return impl_->sync(); }

SyncReport ProjectStore::indexRun(const fs::path& runDir) {
  SyncReport report;
  impl_->indexOne(fs::absolute(runDir).lexically_normal(), report);
  return report;
}

std::vector<RunRow> ProjectStore::listRuns(const RunFilter& filter) const {
  Transaction tx(*impl_->conn, Transaction::Kind::Read);  // one snapshot for rows and their tags
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs r WHERE 1";
  if (!filter.job.empty()) sql += " AND r.job = ?1";
  if (filter.status == "stale") sql += " AND r.status = 'running'";
  else if (!filter.status.empty()) sql += " AND r.status = ?2";
  if (!filter.tag.empty()) sql += " AND EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag = ?3)";
  sql += " ORDER BY r.created DESC, r.id DESC";
  auto st = impl_->conn->prepare(sql);
  if (!filter.job.empty()) st.bind(1, std::string_view(filter.job));
  if (!filter.status.empty() && filter.status != "stale") st.bind(2, std::string_view(filter.status));
  if (!filter.tag.empty()) st.bind(3, std::string_view(filter.tag));
  std::vector<RunRow> out;
  while (st.step()) {
    RunRow r = impl_->readRun(st);
    if (!filter.status.empty() && r.status != filter.status) continue;  // running vs stale
    out.push_back(std::move(r));
    if (filter.limit > 0 && static_cast<int>(out.size()) >= filter.limit) break;
  }
  st.reset();
  for (auto& r : out) r.tags = impl_->tagsOf(r.id);
  return out;
}

std::optional<RunRow> ProjectStore::run(const std::string& id) const {
  Transaction tx(*impl_->conn, Transaction::Kind::Read);
  auto st = impl_->conn->prepare(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=?");
  st.bind(1, std::string_view(id));
  if (!st.step()) return std::nullopt;
  RunRow r = impl_->readRun(st);
  st.reset();
  r.tags = impl_->tagsOf(id);
  return r;
}

Json ProjectStore::params(const std::string& id) const {
  Json out = Json::object();
  auto st = impl_->conn->prepare("SELECT name, value FROM params WHERE run_id=? ORDER BY rowid");
  st.bind(1, std::string_view(id));
  while (st.step()) {
    Json v = Json::parse(st.text(1), nullptr, false);
    out[st.text(0)] = v.is_discarded() ? Json(st.text(1)) : v;
  }
  return out;
}

std::vector<std::string> ProjectStore::metricNames(const std::string& id) const {
  std::vector<std::string> out;
  auto st = impl_->conn->prepare("SELECT name FROM metric_series WHERE run_id=? ORDER BY name");
  st.bind(1, std::string_view(id));
  while (st.step()) out.push_back(st.text(0));
  return out;
}

MetricSeries ProjectStore::metricSeries(const std::string& id, const std::string& name) const {
  MetricSeries s;
  auto st = impl_->conn->prepare(
      "SELECT v.step, v.seconds, v.value FROM metric_values v JOIN metric_series s ON s.id = v.series_id "
      "WHERE s.run_id=? AND s.name=? ORDER BY v.step, v.seq");
  st.bind(1, std::string_view(id)).bind(2, std::string_view(name));
  while (st.step()) {
    s.steps.push_back(st.int64(0));
    s.seconds.push_back(st.real(1));
    s.values.push_back(st.real(2));
  }
  return s;
}

std::vector<Artifact> ProjectStore::artifacts(const std::string& id) const {
  std::vector<Artifact> out;
  auto st = impl_->conn->prepare("SELECT path, kind, description FROM artifacts WHERE run_id=? ORDER BY path");
  st.bind(1, std::string_view(id));
  while (st.step()) out.push_back(Artifact{st.text(0), st.text(1), st.text(2)});
  return out;
}

std::vector<std::string> ProjectStore::jobNames() const {
  std::vector<std::string> out;
  auto st = impl_->conn->prepare("SELECT DISTINCT job FROM runs ORDER BY job");
  while (st.step()) out.push_back(st.text(0));
  return out;
}

std::vector<std::string> ProjectStore::allTags() const {
  std::vector<std::string> out;
  auto st = impl_->conn->prepare("SELECT DISTINCT tag FROM tags ORDER BY tag");
  while (st.step()) out.push_back(st.text(0));
  return out;
}

std::vector<std::string> ProjectStore::tags(const std::string& id) const { return impl_->tagsOf(id); }

void ProjectStore::addTag(const std::string& id, const std::string& tag) {
  const std::string t = trim(tag);
  if (t.empty()) throw StoreError(impl_->dbPath, "a tag must not be empty");
  impl_->editUser(id, [&] {
    impl_->conn->prepare("INSERT OR IGNORE INTO tags(run_id, tag) VALUES(?,?)")
        .bind(1, std::string_view(id))
        .bind(2, std::string_view(t))
        .run();
  });
}

void ProjectStore::removeTag(const std::string& id, const std::string& tag) {
  const std::string t = trim(tag);
  impl_->editUser(id, [&] {
    impl_->conn->prepare("DELETE FROM tags WHERE run_id=? AND tag=?")
        .bind(1, std::string_view(id))
        .bind(2, std::string_view(t))
        .run();
  });
}

std::vector<Note> ProjectStore::notes(const std::string& id) const {
  std::vector<Note> out;
  auto st = impl_->conn->prepare("SELECT text, created FROM notes WHERE run_id=? ORDER BY created, id");
  st.bind(1, std::string_view(id));
  while (st.step()) out.push_back(Note{st.text(0), st.text(1)});
  return out;
}

void ProjectStore::addNote(const std::string& id, const std::string& text) {
  if (trim(text).empty()) throw StoreError(impl_->dbPath, "a note must not be empty");
  impl_->editUser(id, [&] {
    impl_->conn->prepare("INSERT INTO notes(run_id, text, created) VALUES(?,?,?)")
        .bind(1, std::string_view(id))
        .bind(2, std::string_view(text))
        .bind(3, core::isoTimeNow())
        .run();
  });
}

}  // namespace atomscope::store
