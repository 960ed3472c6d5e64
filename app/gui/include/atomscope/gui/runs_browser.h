#pragma once
// The project dock: runs of the runs root with status, job and time. Selecting a run shows its
// params and summary in the properties panel; double-click opens its metric curves.
#include <QTreeWidget>
#include <QWidget>

#include "atomscope/gui/run_lister.h"

class QFileSystemWatcher;
class QLabel;
class QLineEdit;
class QTimer;

namespace atomscope::gui {

class ReportWriter;

class RunsBrowser : public QWidget {
  Q_OBJECT
 public:
  explicit RunsBrowser(QWidget* parent = nullptr);

  void setRunsRoot(const QString& root);
  QString runsRoot() const { return lister_.root(); }
  void refresh();

  int runCount() const;
  QString selectedRun() const;
  bool selectRun(const QString& runDir);
  const RunSummary* summary(const QString& runDir) const;
  QTreeWidget* tree() const { return tree_; }

 Q_SIGNALS:
  void runSelected(const QString& runDir);
  void runActivated(const QString& runDir);      // double-click: show metric curves
  void exportReportRequested(const QString& runDir);

 private:
  void scheduleRefresh();
  void showContextMenu(const QPoint& pos);

  RunLister lister_;
  std::vector<RunSummary> runs_;
  QTreeWidget* tree_;
  QLineEdit* filter_;
  QLabel* rootLabel_;
  QFileSystemWatcher* watcher_;
  QTimer* debounce_;
};

// A report of one run: parameters, summary, record facts and one chart per metric (at most 6).
ReportWriter buildRunReport(const RunSummary& run);

}  // namespace atomscope::gui
