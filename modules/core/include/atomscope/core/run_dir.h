#pragma once
// A run directory is the record of one job run: runs/<timestamp>-<job>-<id>/ with
//   run.json       {"format":"atomscope.run/1","id","job","status","created","updated" (heartbeat),
//                   "finished","params","seed","device","versions":{"atomscope","torch"},
//                   "summary":{name:number|string},"artifacts":[{"path","kind","description"}],
//                   "error","resume_count","pid","host"}
//   metrics.jsonl  one {"step","seconds",<name>:<value>...} per line, appended and flushed
//   artifacts/     files a job produces (exports, structures, reports)
//   checkpoints/   step-<n>.<ext>; the newest complete one is used by resume
// run.json is replaced atomically (write temp, fsync, rename) so a crash never leaves it torn.
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"

namespace atomscope::core {

enum class RunStatus { Created, Running, Completed, Failed, Cancelled };
std::string toString(RunStatus s);
RunStatus runStatusFromString(const std::string& s);  // throws Error

// One line of metrics.jsonl: {"step", "seconds", <name>: <value>...}, a non-finite value as null.
Json metricsLine(const MetricPoint& point);

class RunDir {
 public:
  // Creates a fresh, uniquely named directory under root and writes run.json (status created).
  static RunDir create(const std::filesystem::path& root, const std::string& jobName);
  // Opens an existing run; throws Error naming the file when run.json is missing or malformed.
  static RunDir open(const std::filesystem::path& dir);

  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path artifactsDir() const { return dir_ / "artifacts"; }
  std::filesystem::path checkpointsDir() const { return dir_ / "checkpoints"; }
  std::filesystem::path recordPath() const { return dir_ / "run.json"; }
  std::filesystem::path metricsPath() const { return dir_ / "metrics.jsonl"; }

  std::string id() const;
  std::string jobName() const;
  RunStatus status() const;
  const Json& record() const { return record_; }
  Json& mutableRecord() { return record_; }  // not synchronised: only before the job starts

  void setStatus(RunStatus status, const std::string& error = {});  // writes run.json
  void setSummary(const std::string& key, const Json& value);       // writes run.json
  void heartbeat();                                                  // updates "updated", writes run.json
  void save() const;                                                 // atomic write of run.json

  void appendMetrics(const MetricPoint& point) const;
  std::vector<MetricPoint> readMetrics() const;  // skips a torn last line

  // Registers a file under artifacts/ in run.json; returns its absolute path (the job writes it).
  std::filesystem::path addArtifact(const std::string& fileName, const std::string& kind,
                                    const std::string& description);

  // Checkpoints: a job writes to checkpointPath(step) through a temp name and commitCheckpoint()s it.
  std::filesystem::path checkpointPath(long long step, const std::string& extension = "pt") const;
  std::optional<std::filesystem::path> latestCheckpoint() const;
  static std::optional<long long> checkpointStep(const std::filesystem::path& file);

 private:
  explicit RunDir(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  Json record_;
  // The job thread and the heartbeat thread both update run.json.
  std::shared_ptr<std::recursive_mutex> mutex_ = std::make_shared<std::recursive_mutex>();
};

// Writes text to path atomically (temp file in the same folder, fsync, rename).
void writeFileAtomically(const std::filesystem::path& path, const std::string& text);
std::string isoTimeNow();             // "2026-11-29T01:24:37.123Z"
double secondsSinceIso(const std::string& iso);  // for heartbeat staleness; throws Error on bad text

}  // namespace atomscope::core
