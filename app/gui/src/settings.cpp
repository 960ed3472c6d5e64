#include "atomscope/gui/settings.h"

#include <QFileInfo>

namespace atomscope::gui {

QString AppSettings::device() const { return settings_.value("compute/device", "auto").toString(); }
void AppSettings::setDevice(const QString& device) { settings_.setValue("compute/device", device); }
int AppSettings::threads() const { return settings_.value("compute/threads", 0).toInt(); }
void AppSettings::setThreads(int threads) { settings_.setValue("compute/threads", threads); }
QString AppSettings::precision() const { return settings_.value("compute/precision", "fp32").toString(); }
void AppSettings::setPrecision(const QString& precision) { settings_.setValue("compute/precision", precision); }
QStringList AppSettings::dataFolders() const { return settings_.value("data/folders").toStringList(); }
void AppSettings::setDataFolders(const QStringList& folders) { settings_.setValue("data/folders", folders); }

QStringList AppSettings::recentFiles() const { return settings_.value("files/recent").toStringList(); }

void AppSettings::addRecentFile(const QString& path) {
  const QString abs = QFileInfo(path).absoluteFilePath();
  QStringList list = recentFiles();
  list.removeAll(abs);
  list.prepend(abs);
  while (list.size() > kMaxRecentFiles) list.removeLast();
  settings_.setValue("files/recent", list);
}

void AppSettings::clearRecentFiles() { settings_.remove("files/recent"); }

QByteArray AppSettings::windowState() const { return settings_.value("window/state").toByteArray(); }
QByteArray AppSettings::windowGeometry() const { return settings_.value("window/geometry").toByteArray(); }
void AppSettings::setWindowState(const QByteArray& geometry, const QByteArray& state) {
  settings_.setValue("window/geometry", geometry);
  settings_.setValue("window/state", state);
}

}  // namespace atomscope::gui
