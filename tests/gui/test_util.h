#pragma once
// Helpers shared by the GUI tests.
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QString>
#include <QThread>
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

}  // namespace atomscope::gui::test
