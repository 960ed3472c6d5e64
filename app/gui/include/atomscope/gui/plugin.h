#pragma once
// The plugin SDK: a plugin declares what it offers (jobs, panels, menu entries, file types) and
// builds its UI against the Workbench interface. One plugin per module UI, loaded by QPluginLoader.
#include <QString>
#include <QStringList>
#include <QtPlugin>

namespace atomscope::gui {

class Workbench;

struct FileType {
  QString description;  // "XYZ structures"
  QStringList patterns; // {"*.xyz", "*.extxyz"}
};

class Plugin {
 public:
  virtual ~Plugin() = default;

  virtual QString name() const = 0;         // "Structures"
  virtual QString version() const = 0;      // "0.1.0"
  virtual QString description() const = 0;  // one sentence for About Plugins
  virtual QStringList jobs() const { return {}; }            // job names (core::JobRegistry) it offers
  virtual QStringList panels() const { return {}; }          // titles of the docks/tabs it adds
  virtual QStringList menuEntries() const { return {}; }     // "Structures/Open..." style paths
  virtual QList<FileType> fileTypes() const { return {}; }   // files it can open

  // Called once after loading: create panels and actions through the workbench.
  virtual void initialize(Workbench& workbench) = 0;
  // Opens a file of one of fileTypes(); returns false with a message in *error on failure.
  virtual bool openFile(const QString& /*path*/, QString* error) {
    if (error) *error = QStringLiteral("this plugin opens no files");
    return false;
  }
};

}  // namespace atomscope::gui

#define ATOMSCOPE_PLUGIN_IID "org.atomscope.Plugin/1"
Q_DECLARE_INTERFACE(atomscope::gui::Plugin, ATOMSCOPE_PLUGIN_IID)
