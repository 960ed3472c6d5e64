#include "atomscope/gui/job_manager.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSet>
#include <QThread>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "atomscope/core/error.h"
#include "atomscope/core/job.h"
#include "atomscope/core/runner.h"

namespace atomscope::gui {

namespace {

// Called on the job's thread; only buffers. The GUI thread drains the buffer on its timer.
class BufferSink : public core::FeedbackSink {
 public:
  static constexpr size_t kMaxMetrics = 200000;  // between two deliveries; beyond, points are counted as dropped
  static constexpr size_t kMaxLogs = 2000;

  void onProgress(double fraction, const std::string& stage) override {
    std::lock_guard lock(mutex);
    progressDirty = true;
    this->fraction = fraction;
    this->stage = stage;
  }
  void onMetrics(const core::MetricPoint& point) override {
    std::lock_guard lock(mutex);
    if (metrics.size() < kMaxMetrics)
      metrics.push_back(point);
    else
      ++droppedMetrics;
  }
  void onLog(core::LogLevel level, const std::string& message) override {
    std::lock_guard lock(mutex);
    if (logs.size() < kMaxLogs)
      logs.emplace_back(level, message);
    else
      ++droppedLogs;
  }

  std::mutex mutex;
  bool progressDirty = false;
  double fraction = 0;
  std::string stage;
  std::vector<core::MetricPoint> metrics;
  size_t droppedMetrics = 0;
  std::vector<std::pair<core::LogLevel, std::string>> logs;
  size_t droppedLogs = 0;
};

// Jobs run below the GUI thread's priority so a busy machine (every core computing) still
// schedules the event loop first. On Linux nice values are per thread; threads the job starts
// later (BLAS and OpenMP pools created on first use) inherit it.
void lowerCurrentThreadPriority() {
#if defined(__linux__)
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  if (errno == 0) setpriority(PRIO_PROCESS, static_cast<id_t>(tid), std::min(19, current + 5));
#endif
}

}  // namespace

struct JobManager::Running {
  JobState state;
  std::shared_ptr<core::Feedback> feedback = std::make_shared<core::Feedback>();
  std::shared_ptr<BufferSink> sink = std::make_shared<BufferSink>();
  std::thread thread;
  std::mutex outcomeMutex;
  core::RunOutcome outcome;
  QSet<QString> dirsAtStart;  // to spot this job's run directory while it runs
  QElapsedTimer sinceDirScan;
};

JobManager::JobManager(QObject* parent) : QObject(parent) {
  timer_.setInterval(100);
  connect(&timer_, &QTimer::timeout, this, &JobManager::flush);
}

JobManager::~JobManager() {
  timer_.stop();
  for (auto& r : jobs_)
    if (!r->state.finished) r->feedback->requestCancel();
  for (auto& r : jobs_)
    if (r->thread.joinable()) r->thread.join();
}

void JobManager::setRegistry(const core::JobRegistry* registry) { registry_ = registry; }

const core::JobRegistry& JobManager::registry() const {
  return registry_ ? *registry_ : core::JobRegistry::global();
}

void JobManager::setRunsRoot(const QString& root) { runsRoot_ = root; }

void JobManager::setUpdateInterval(int ms) { timer_.setInterval(std::max(10, ms)); }

static QSet<QString> listDirs(const QString& root) {
  const auto names = QDir(root).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
  return QSet<QString>(names.begin(), names.end());
}

int JobManager::start(const QString& job, const Json& params, const QString& device,
                      std::optional<unsigned long long> seed) {
  const auto& reg = registry();
  const std::string jobName = job.toStdString();
  // Validate here so the caller gets ParamError synchronously and nothing is created.
  auto instance = reg.create(jobName);
  instance->schema().validate(params);
  core::DeviceSpec::parse(device.toStdString());  // throws core::Error on a malformed device
  if (trustGate_ && !trustGate_(params))
    throw core::ParamError(jobName + ": a model file it names is code (TorchScript) and was not trusted, or is a "
                                     "pickle that is never loaded; nothing started");
  const auto info = instance->info();

  auto r = std::make_shared<Running>();
  const int id = nextId_++;
  r->state.id = id;
  r->state.job = job;
  r->state.title = QString::fromStdString(info.title.empty() ? info.name : info.title);
  r->state.device = device;
  r->state.started = QDateTime::currentDateTime();
  r->state.stage = tr("starting");
  r->feedback->addSink(r->sink);
  QDir().mkpath(runsRoot_);
  r->dirsAtStart = listDirs(runsRoot_);
  r->sinceDirScan.start();

  core::RunRequest request;
  request.job = jobName;
  request.params = params;
  request.device = device.toStdString();
  request.seed = seed;
  request.runsRoot = QFileInfo(runsRoot_).absoluteFilePath().toStdString();

  jobs_.insert(id, r);
  order_.append(id);

  const core::JobRegistry* regPtr = &reg;
  std::weak_ptr<Running> weak = r;
  r->thread = std::thread([this, id, regPtr, request, weak]() {
    auto self = weak.lock();
    if (!self) return;
    lowerCurrentThreadPriority();
    core::RunOutcome out;
    try {
      out = core::runJob(*regPtr, request, *self->feedback);
    } catch (const std::exception& e) {
      out.status = core::RunStatus::Failed;
      out.error = e.what();
    }
    {
      std::lock_guard lock(self->outcomeMutex);
      self->outcome = out;
    }
    QMetaObject::invokeMethod(this, [this, id]() { onWorkerDone(id); }, Qt::QueuedConnection);
  });

  if (!timer_.isActive()) timer_.start();
  Q_EMIT jobStarted(id, job);
  Q_EMIT runningCountChanged(runningCount());
  return id;
}

void JobManager::cancel(int id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || (*it)->state.finished) return;
  (*it)->feedback->requestCancel();
  (*it)->state.cancelRequested = true;
  (*it)->state.stage = tr("cancelling");
  Q_EMIT progressChanged(id, (*it)->state.progress, (*it)->state.stage, -1);
}

void JobManager::cancelAll() {
  for (int id : order_) cancel(id);
}

bool JobManager::waitForAll(int msecs) {
  QElapsedTimer t;
  t.start();
  while (runningCount() > 0 && t.elapsed() < msecs) {
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    QThread::msleep(2);
  }
  return runningCount() == 0;
}

QList<int> JobManager::jobIds() const { return order_; }

JobState JobManager::state(int id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? JobState{} : (*it)->state;
}

int JobManager::runningCount() const {
  int n = 0;
  for (const auto& r : jobs_)
    if (!r->state.finished) ++n;
  return n;
}

void JobManager::flush() {
  bool any = false;
  for (int id : order_) {
    auto& r = *jobs_[id];
    if (r.state.finished) continue;
    any = true;
    flushJob(r);
  }
  if (!any) timer_.stop();
}

void JobManager::flushJob(Running& r) {
  bool progressDirty = false;
  double fraction = 0;
  std::string stage;
  std::vector<core::MetricPoint> metrics;
  std::vector<std::pair<core::LogLevel, std::string>> logs;
  size_t droppedMetrics = 0, droppedLogs = 0;
  {
    std::lock_guard lock(r.sink->mutex);
    std::swap(progressDirty, r.sink->progressDirty);
    fraction = r.sink->fraction;
    stage = r.sink->stage;
    metrics.swap(r.sink->metrics);
    logs.swap(r.sink->logs);
    std::swap(droppedMetrics, r.sink->droppedMetrics);
    std::swap(droppedLogs, r.sink->droppedLogs);
  }
  const int id = r.state.id;
  r.state.elapsedSeconds = r.feedback->elapsedSeconds();

  // The run directory appears under the runs root soon after start; claim it for the jobs panel.
  if (r.state.runDir.isEmpty() && r.sinceDirScan.elapsed() > 200) {
    r.sinceDirScan.restart();
    QSet<QString> claimed;
    for (const auto& other : jobs_)
      if (!other->state.runDir.isEmpty()) claimed.insert(QFileInfo(other->state.runDir).fileName());
    const QString jobTag = QStringLiteral("-") + r.state.job + QStringLiteral("-");
    for (const QString& name : listDirs(runsRoot_)) {
      if (r.dirsAtStart.contains(name) || claimed.contains(name) || !name.contains(jobTag)) continue;
      r.state.runDir = QDir(runsRoot_).absoluteFilePath(name);
      break;
    }
  }

  for (const auto& [level, message] : logs) Q_EMIT logMessage(id, level, QString::fromStdString(message));
  if (droppedLogs > 0)
    Q_EMIT logMessage(id, core::LogLevel::Warning,
                      tr("%1 log lines were not shown (the job logged faster than the console shows)")
                          .arg(droppedLogs));
  if (!metrics.empty()) {
    r.state.metricCount += static_cast<long long>(metrics.size());
    Q_EMIT metricsArrived(id, metrics);
  }
  if (droppedMetrics > 0) r.state.metricCount += static_cast<long long>(droppedMetrics);
  if (progressDirty || !r.state.finished) {
    if (progressDirty) {
      r.state.progress = fraction;
      if (!r.state.cancelRequested) r.state.stage = QString::fromStdString(stage);
    }
    const double p = r.state.progress;
    r.state.etaSeconds = (p > 0.005 && p < 1.0) ? r.state.elapsedSeconds * (1.0 - p) / p : -1.0;
    Q_EMIT progressChanged(id, r.state.progress, r.state.stage, r.state.etaSeconds);
  }
}

void JobManager::onWorkerDone(int id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  auto r = *it;
  if (r->thread.joinable()) r->thread.join();
  flushJob(*r);
  core::RunOutcome out;
  {
    std::lock_guard lock(r->outcomeMutex);
    out = r->outcome;
  }
  r->state.finished = true;
  r->state.status = out.status;
  if (!out.runDir.empty()) r->state.runDir = QString::fromStdString(out.runDir.string());
  r->state.error = QString::fromStdString(out.error);
  r->state.etaSeconds = -1;
  if (out.status == core::RunStatus::Completed) {
    r->state.progress = 1.0;
    r->state.stage = tr("completed");
  } else {
    r->state.stage = QString::fromStdString(core::toString(out.status));
  }
  Q_EMIT progressChanged(id, r->state.progress, r->state.stage, -1);
  Q_EMIT jobFinished(id, out.status, r->state.runDir, r->state.error);
  Q_EMIT runningCountChanged(runningCount());
}

}  // namespace atomscope::gui
