#pragma once
// Finds and loads Atomscope plugins with QPluginLoader. A file that fails to load (not a plugin,
// wrong interface id, missing symbol, initialize() throwing) is recorded with the reason, never
// fatal. Folders (and plugin files) writable by everyone are refused.
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>

#include "atomscope/gui/plugin.h"

class QPluginLoader;

namespace atomscope::gui {

class Workbench;

struct PluginRecord {
  QString file;        // absolute path
  QString origin;      // where it came from: "installation", "user folder", or "given folder"
  bool loaded = false;
  QString error;       // why it was not loaded
  QString name, version, description;
  QStringList jobs, panels, menuEntries;
  QList<FileType> fileTypes;
  Plugin* plugin = nullptr;  // owned by its QPluginLoader
};

class PluginHost : public QObject {
  Q_OBJECT
 public:
  explicit PluginHost(QObject* parent = nullptr);
  ~PluginHost() override;

  // Plugins are code: they load only from the installation's folders (<exe>/../plugins in the build
  // tree, <exe>/../lib/atomscope/plugins installed) and the user's (<AppDataLocation>/plugins);
  // existing ones only. No environment variable adds others.
  static QStringList defaultSearchPaths();
  static QStringList installFolders();  // candidates, existing or not
  static QString userFolder();
  // "installation", "user folder" or "given folder" (one a caller passed explicitly, e.g. a test).
  static QString folderOrigin(const QString& dir);

  // Loads every library in `dir`; initialises each plugin with the workbench (if given).
  // Returns the number of plugins loaded from it. A refused folder gets one record with the reason.
  int loadDirectory(const QString& dir, Workbench* workbench);
  int loadDirectories(const QStringList& dirs, Workbench* workbench);
  // Loads one file; returns its record (also kept in records()).
  const PluginRecord& loadFile(const QString& file, Workbench* workbench);

  const QList<PluginRecord>& records() const { return records_; }
  QList<Plugin*> plugins() const;
  int failureCount() const;
  // The first loaded plugin whose fileTypes() match the file name, or nullptr.
  Plugin* pluginForFile(const QString& path) const;
  // "Structures (*.xyz *.cif);;..." for file dialogs, with an "All supported" entry first.
  QString fileDialogFilter() const;

  // Why a folder is refused, or an empty string when it is acceptable.
  static QString folderRefusal(const QString& dir);

 Q_SIGNALS:
  void message(const QString& text, bool isError);

 private:
  QList<PluginRecord> records_;
  QList<QPluginLoader*> loaders_;
};

}  // namespace atomscope::gui
