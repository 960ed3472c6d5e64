#pragma once
// Lists the runs of a runs root. One job: read run directories (through core::RunDir for now;
// the SQLite store can replace the implementation later without touching the browser).
#include <QDateTime>
#include <QString>
#include <QStringList>
#include <vector>

#include "atomscope/core/json.h"

namespace atomscope::gui {

struct RunSummary {
  QString path;      // absolute run directory
  QString id;
  QString job;
  QString status;    // created | running | completed | failed | cancelled | stale | unreadable
  QDateTime created;
  QDateTime finished;  // invalid while running
  QString device;
  QString error;
  Json record;       // the whole run.json (empty object when unreadable)
};

class RunLister {
 public:
  explicit RunLister(QString runsRoot = {}) : root_(std::move(runsRoot)) {}
  void setRoot(const QString& root) { root_ = root; }
  QString root() const { return root_; }

  // Newest first. Folders without a readable run.json are listed with status "unreadable" and the
  // reason in error; running runs whose heartbeat is stale are listed as "stale".
  std::vector<RunSummary> list() const;
  static RunSummary read(const QString& runDir);

 private:
  QString root_;
};

QDateTime parseIsoTime(const std::string& iso);

}  // namespace atomscope::gui
