#include "atomscope/gui/run_lister.h"

#include <QDir>
#include <QFileInfo>
#include <algorithm>

#include "atomscope/core/run_dir.h"
#include "atomscope/core/runner.h"

namespace atomscope::gui {

QDateTime parseIsoTime(const std::string& iso) {
  QDateTime t = QDateTime::fromString(QString::fromStdString(iso), Qt::ISODateWithMs);
  if (!t.isValid()) t = QDateTime::fromString(QString::fromStdString(iso), Qt::ISODate);
  return t;
}

RunSummary RunLister::read(const QString& runDir) {
  RunSummary s;
  s.path = QFileInfo(runDir).absoluteFilePath();
  s.id = QFileInfo(runDir).fileName();
  s.record = Json::object();
  try {
    const auto run = core::RunDir::open(runDir.toStdString());
    const Json& r = run.record();
    s.record = r;
    s.id = QString::fromStdString(run.id());
    s.job = QString::fromStdString(run.jobName());
    s.status = QString::fromStdString(core::toString(run.status()));
    if (run.status() == core::RunStatus::Running && core::isStale(run)) s.status = QStringLiteral("stale");
    if (r.contains("created") && r["created"].is_string()) s.created = parseIsoTime(r["created"].get<std::string>());
    if (r.contains("finished") && r["finished"].is_string())
      s.finished = parseIsoTime(r["finished"].get<std::string>());
    if (r.contains("device") && r["device"].is_string()) s.device = QString::fromStdString(r["device"].get<std::string>());
    if (r.contains("error") && r["error"].is_string()) s.error = QString::fromStdString(r["error"].get<std::string>());
  } catch (const std::exception& e) {
    s.status = QStringLiteral("unreadable");
    s.error = QString::fromStdString(e.what());
    s.created = QFileInfo(runDir).birthTime();
    if (!s.created.isValid()) s.created = QFileInfo(runDir).lastModified();
  }
  return s;
}

std::vector<RunSummary> RunLister::list() {
  std::vector<RunSummary> out;
  reads_ = 0;
  QDir dir(root_);
  if (root_.isEmpty() || !dir.exists()) {
    cache_.clear();
    return out;
  }
  std::map<QString, Cached> seen;
  for (const QFileInfo& fi : dir.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot)) {
    // Not a run (yet): a folder without run.json. A malformed run.json is listed as unreadable.
    const QFileInfo record(fi.absoluteFilePath() + QStringLiteral("/run.json"));
    if (!record.exists()) continue;
    const QString path = fi.absoluteFilePath();
    const auto hit = cache_.find(path);
    // Created, running and stale runs change without their run.json changing (the heartbeat), so
    // only finished (or unreadable) ones are taken from the cache.
    const bool settled = hit != cache_.end() && hit->second.modified == record.lastModified() &&
                         hit->second.size == record.size() && hit->second.summary.status != QLatin1String("created") &&
                         hit->second.summary.status != QLatin1String("running") &&
                         hit->second.summary.status != QLatin1String("stale");
    Cached entry;
    if (settled) {
      entry = hit->second;
    } else {
      entry = Cached{record.lastModified(), record.size(), read(path)};
      ++reads_;
    }
    out.push_back(entry.summary);
    seen.emplace(path, std::move(entry));
  }
  cache_ = std::move(seen);
  std::sort(out.begin(), out.end(), [](const RunSummary& a, const RunSummary& b) {
    if (a.created != b.created) return a.created > b.created;
    return a.id > b.id;
  });
  return out;
}

}  // namespace atomscope::gui
