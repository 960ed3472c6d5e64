#pragma once
// The jobs dock: one row per running or finished job (name, progress bar with stage text, ETA,
// elapsed, cancel button) and, below, the live metric chart of the selected job.
#include <QHash>
#include <QWidget>

#include "atomscope/core/run_dir.h"

class QLabel;
class QProgressBar;
class QStackedWidget;
class QToolButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace atomscope::gui {

class JobManager;
class MetricChart;

class JobsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit JobsPanel(JobManager& jobs, QWidget* parent = nullptr);

  int selectedJobId() const;  // -1 when none
  void selectJob(int id);
  MetricChart* chartFor(int id) const;
  QProgressBar* progressBarFor(int id) const;
  QToolButton* cancelButtonFor(int id) const;
  int rowCount() const;

 Q_SIGNALS:
  void runDirectoryActivated(const QString& runDir);

 private:
  struct Row {
    QTreeWidgetItem* item = nullptr;
    QProgressBar* bar = nullptr;
    QToolButton* cancel = nullptr;
    MetricChart* chart = nullptr;
  };
  void onStarted(int id, const QString& job);
  void onProgress(int id, double fraction, const QString& stage, double eta);
  void onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error);
  void showSelected();
  void updateDetail();

  JobManager& jobs_;
  QTreeWidget* tree_;
  QStackedWidget* charts_;
  QLabel* placeholder_;
  QLabel* detail_;  // stage, elapsed and ETA of the selected job
  QHash<int, Row> rows_;
};

QString formatDuration(double seconds);

}  // namespace atomscope::gui
