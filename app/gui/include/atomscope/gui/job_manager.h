#pragma once
// Runs core jobs on worker threads and bridges their feedback to the GUI thread.
// Feedback from the job thread is buffered and delivered in batches by a timer on the GUI thread
// (every updateInterval() ms), so a job reporting 10k metrics/s costs the event loop a few
// signal emissions per second, not one queued event per metric.
#include <QDateTime>
#include <QHash>
#include <QObject>
#include <QString>
#include <QTimer>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"

namespace atomscope::core {
class JobRegistry;
}

namespace atomscope::gui {

struct JobState {
  int id = -1;
  QString job;         // "core.gemm_benchmark"
  QString title;       // from JobInfo
  QString device;
  double progress = 0; // 0..1
  QString stage;
  double etaSeconds = -1;  // < 0: unknown
  double elapsedSeconds = 0;
  bool finished = false;
  bool cancelRequested = false;
  core::RunStatus status = core::RunStatus::Running;
  QString runDir;      // known when finished
  QString error;
  QDateTime started;
  long long metricCount = 0;
};

class JobManager : public QObject {
  Q_OBJECT
 public:
  explicit JobManager(QObject* parent = nullptr);
  // Cancels every running job and waits for its thread.
  ~JobManager() override;

  void setRegistry(const core::JobRegistry* registry);  // default: core::JobRegistry::global()
  const core::JobRegistry& registry() const;

  void setRunsRoot(const QString& root);
  QString runsRoot() const { return runsRoot_; }

  // Milliseconds between deliveries of buffered feedback (default 100).
  void setUpdateInterval(int ms);
  int updateInterval() const { return timer_.interval(); }

  // Asked before every start with the job's parameters: false refuses the start. The main window
  // sets one that asks the user about model files that are code (TrustStore), so every way of
  // starting a job in the GUI (forms, panels) asks once per file.
  using TrustGate = std::function<bool(const Json& params)>;
  void setTrustGate(TrustGate gate) { trustGate_ = std::move(gate); }

  // Validates params against the job's schema on the calling thread (throws core::ParamError or
  // core::Error for an unknown job, nothing started; core::ParamError too when the trust gate says
  // no), then runs the job on a worker thread.
  int start(const QString& job, const Json& params, const QString& device = QStringLiteral("auto"),
            std::optional<unsigned long long> seed = std::nullopt);

  void cancel(int id);  // Feedback::requestCancel; the job stops at its next check
  void cancelAll();
  // Processes events until every job has finished or msecs passed; true when all finished.
  bool waitForAll(int msecs);

  QList<int> jobIds() const;  // in start order
  JobState state(int id) const;
  bool contains(int id) const { return jobs_.contains(id); }
  int runningCount() const;

 Q_SIGNALS:
  void jobStarted(int id, const QString& job);
  void progressChanged(int id, double fraction, const QString& stage, double etaSeconds);
  // Points accumulated since the last delivery (a batch, in step order).
  void metricsArrived(int id, const std::vector<atomscope::core::MetricPoint>& points);
  void logMessage(int id, atomscope::core::LogLevel level, const QString& message);
  void jobFinished(int id, atomscope::core::RunStatus status, const QString& runDir, const QString& error);
  void runningCountChanged(int running);

 private:
  struct Running;
  void flush();
  void flushJob(Running& r);
  void onWorkerDone(int id);

  const core::JobRegistry* registry_ = nullptr;
  QString runsRoot_ = QStringLiteral("runs");
  QTimer timer_;
  TrustGate trustGate_;
  int nextId_ = 1;
  QList<int> order_;
  QHash<int, std::shared_ptr<Running>> jobs_;
};

}  // namespace atomscope::gui
