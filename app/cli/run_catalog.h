#pragma once
// The runs of a project as the CLI lists them: read from the run folders (the record), so the
// listing works even when the SQLite store is absent or being rebuilt.
#include <filesystem>
#include <string>
#include <vector>

#include "atomscope/core/run_dir.h"

namespace atomscope::cli {

struct RunEntry {
  std::string id, job, status, created;
  std::filesystem::path dir;
  Json summary;
  Json toJson() const;
  std::string summaryText(size_t maxChars) const;
};

class RunCatalog {
 public:
  explicit RunCatalog(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }

  std::vector<RunEntry> list(const std::string& job = {}, const std::string& status = {});  // newest first
  // A run folder path, an id, or a unique part of an id; throws core::Error listing candidates.
  std::filesystem::path find(const std::string& ref);
  const std::vector<std::string>& problems() const { return problems_; }

  static std::string displayStatus(const core::RunDir& run);  // "running" with a dead heartbeat -> "stale"

 private:
  std::filesystem::path root_;
  std::vector<std::string> problems_;
};

}  // namespace atomscope::cli
