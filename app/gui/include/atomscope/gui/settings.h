#pragma once
// Application preferences persisted with QSettings (organisation "Atomscope", application "Atomscope").
#include <QSettings>
#include <QString>
#include <QStringList>

namespace atomscope::gui {

class AppSettings {
 public:
  static constexpr int kMaxRecentFiles = 10;

  QString device() const;  // auto | cpu | cuda:N
  void setDevice(const QString& device);
  int threads() const;  // 0 = library default
  void setThreads(int threads);
  QString precision() const;  // fp32 | bf16
  void setPrecision(const QString& precision);
  QStringList dataFolders() const;
  void setDataFolders(const QStringList& folders);

  QStringList recentFiles() const;
  void addRecentFile(const QString& path);  // most recent first, deduplicated, capped
  void clearRecentFiles();

  QByteArray windowState() const;
  void setWindowState(const QByteArray& geometry, const QByteArray& state);
  QByteArray windowGeometry() const;

 private:
  mutable QSettings settings_{QStringLiteral("Atomscope"), QStringLiteral("Atomscope")};
};

}  // namespace atomscope::gui
