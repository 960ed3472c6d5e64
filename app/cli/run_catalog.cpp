#include "run_catalog.h"

#include <algorithm>

#include "atomscope/core/error.h"
#include "atomscope/core/runner.h"

namespace fs = std::filesystem;

namespace atomscope::cli {

Json RunEntry::toJson() const {
  return Json{{"id", id}, {"job", job}, {"status", status}, {"created", created}, {"dir", dir.string()},
              {"summary", summary}};
}

std::string RunEntry::summaryText(size_t maxChars) const {
  std::string s;
  for (auto it = summary.begin(); it != summary.end(); ++it) {
    std::string v = it->is_number_float() ? std::to_string(it->get<double>()) : it->dump();
    s += (s.empty() ? "" : "  ") + it.key() + "=" + v;
  }
  if (s.size() > maxChars) s = s.substr(0, maxChars - 3) + "...";
  return s;
}

std::string RunCatalog::displayStatus(const core::RunDir& run) {
  return core::isStale(run) ? "stale" : core::toString(run.status());
}

std::vector<RunEntry> RunCatalog::list(const std::string& job, const std::string& status) {
  problems_.clear();
  std::vector<RunEntry> out;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return out;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    if (!e.is_directory() || !fs::exists(e.path() / "run.json")) continue;
    try {
      const auto run = core::RunDir::open(e.path());
      RunEntry r{run.id(), run.jobName(), displayStatus(run), run.record().value("created", std::string()),
                 e.path(), run.record()["summary"]};
      if (!job.empty() && r.job != job) continue;
      if (!status.empty() && r.status != status) continue;
      out.push_back(std::move(r));
    } catch (const core::Error& err) {
      problems_.push_back(err.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const RunEntry& a, const RunEntry& b) {
    return a.created != b.created ? a.created > b.created : a.id > b.id;
  });
  return out;
}

fs::path RunCatalog::find(const std::string& ref) {
  if (fs::exists(fs::path(ref) / "run.json")) return ref;
  if (fs::exists(root_ / ref / "run.json")) return root_ / ref;
  std::vector<fs::path> matches;
  std::error_code ec;
  if (fs::is_directory(root_, ec))
    for (const auto& e : fs::directory_iterator(root_, ec))
      if (e.is_directory() && e.path().filename().string().find(ref) != std::string::npos &&
          fs::exists(e.path() / "run.json"))
        matches.push_back(e.path());
  if (matches.size() == 1) return matches.front();
  if (matches.empty())
    throw core::Error("no run '" + ref + "' in " + root_.string() + "; 'atomscope-cli runs' lists them");
  std::string names;
  for (const auto& m : matches) names += "\n  " + m.filename().string();
  throw core::Error("'" + ref + "' matches " + std::to_string(matches.size()) + " runs; be more specific:" + names);
}

}  // namespace atomscope::cli
