#pragma once
// Helpers shared by the GUI tests.
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QString>
#include <QThread>
#include <QTimer>
#include <algorithm>
#include <ctime>
#include <functional>

namespace atomscope::core {
class JobRegistry;
}

namespace atomscope::gui::test {

// Jobs for the tests (registered once by main):
//   test.flood  reports `points` metric points (loss, lr) spread over `seconds`, logs every
//               `log_every` points, checks cancel every 64 points;
//   test.fail   throws an error with a known message.
void registerTestJobs(core::JobRegistry& registry);

// Processes events until pred() or timeout; returns pred().
inline bool waitUntil(const std::function<bool()>& pred, int timeoutMs) {
  QElapsedTimer t;
  t.start();
  while (!pred()) {
    if (t.elapsed() > timeoutMs) return pred();
    QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    QThread::msleep(1);
  }
  return true;
}

// A folder for one test file's images and exports: <build>/test_output/<name>, created on first use.
inline QString outputDir(const QString& name) {
  const QString dir = QStringLiteral(ATOMSCOPE_BINARY_DIR "/test_output/") + name;
  QDir().mkpath(dir);
  return dir;
}

// A file of the shared real data beside the checkout (../shared/data).
inline QString sharedData(const char* rel) { return QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/") + QString::fromUtf8(rel); }

// The only run folder under root (tests use a fresh root per test), or empty.
inline QString onlyRunDir(const QString& root) {
  const auto names = QDir(root).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
  return names.size() == 1 ? QDir(root).absoluteFilePath(names.front()) : QString();
}

// CPU time of the calling thread (ms).
inline double threadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Milliseconds the calling thread has waited on a run queue, runnable but not running (the
// scheduler's delay on a loaded machine; Linux's /proc/thread-self/schedstat, second field).
inline double runQueueWaitMs() {
  QFile f(QStringLiteral("/proc/thread-self/schedstat"));
  if (!f.open(QIODevice::ReadOnly)) return 0;
  const QList<QByteArray> fields = f.readAll().simplified().split(' ');
  return fields.size() >= 2 ? fields[1].toDouble() / 1e6 : 0;
}

// The largest gap between ticks of a 10 ms timer on the GUI thread, and the GUI thread's CPU time
// within that gap: near the gap, the GUI thread was busy (our stall); near 0, it waited (a lock, a
// blocking call) or was not scheduled (a loaded machine).
class GapMeter {
 public:
  GapMeter() {
    timer_.setTimerType(Qt::PreciseTimer);
    QObject::connect(&timer_, &QTimer::timeout, [this] { tick(); });
  }
  void start() {
    clock_.start();
    last_ = 0;
    maxGap_ = 0;
    maxStall_ = 0;
    ticks_ = 0;
    lastCpu_ = threadCpuMs();
    lastQueue_ = runQueueWaitMs();
    timer_.start(10);
  }
  void stop() {
    tick();
    timer_.stop();
  }
  qint64 maxGap() const { return maxGap_; }
  double cpuInMaxGap() const { return cpuInMaxGap_; }
  // The largest gap less the time the GUI thread waited for a CPU within it: what the process
  // itself held the event loop for (work, locks, blocking I/O), not the scheduler's delay.
  double maxStall() const { return maxStall_; }
  double queueInMaxGap() const { return queueInMaxGap_; }
  qint64 maxGapEnd() const { return maxGapEnd_; }  // ms since start()
  int ticks() const { return ticks_; }

 private:
  void tick() {
    const qint64 now = clock_.elapsed();
    const double cpu = threadCpuMs(), queue = runQueueWaitMs();
    maxStall_ = std::max(maxStall_, static_cast<double>(now - last_) - (queue - lastQueue_));
    if (now - last_ > maxGap_) {
      maxGap_ = now - last_;
      maxGapEnd_ = now;
      cpuInMaxGap_ = cpu - lastCpu_;
      queueInMaxGap_ = queue - lastQueue_;
    }
    ++ticks_;
    last_ = now;
    lastCpu_ = cpu;
    lastQueue_ = queue;
  }
  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ = 0, maxGap_ = 0, maxGapEnd_ = 0;
  int ticks_ = 0;
  double maxStall_ = 0, lastCpu_ = 0, cpuInMaxGap_ = 0, lastQueue_ = 0, queueInMaxGap_ = 0;
};

}  // namespace atomscope::gui::test
