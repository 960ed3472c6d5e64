#pragma once
// Lists the runs of a runs root. One job: read run directories (through core::RunDir for now;
// the SQLite store can replace the implementation later without touching the browser).
#include <QDateTime>
#include <QString>
#include <QStringList>
#include <map>
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
  void setRoot(const QString& root) {
    root_ = root;
    cache_.clear();
  }
  QString root() const { return root_; }

  // Newest first. Folders without a readable run.json are listed with status "unreadable" and the
  // reason in error; running runs whose heartbeat is stale are listed as "stale".
  // A finished run whose run.json has not changed since the last list() is not read again: the
  // browser lists on the GUI thread after every job, and a project holds hundreds of runs.
  std::vector<RunSummary> list();
  static RunSummary read(const QString& runDir);
  // run.json files the last list() read (the rest came from the cache).
  int readsInLastList() const { return reads_; }

 private:
  struct Cached {
    QDateTime modified;
    qint64 size = -1;
    RunSummary summary;
  };
  QString root_;
  std::map<QString, Cached> cache_;
  int reads_ = 0;
};

QDateTime parseIsoTime(const std::string& iso);

}  // namespace atomscope::gui
