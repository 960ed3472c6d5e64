#pragma once
// The Atomscope main window: implements Workbench for plugins. Docks: Project (runs browser),
// Properties, Jobs (progress, cancel, live metric charts), Log; central document tabs.
#include <QHash>
#include <QMainWindow>
#include <QPointer>

#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/trust_store.h"
#include "atomscope/gui/plugin_host.h"
#include "atomscope/gui/settings.h"
#include "atomscope/gui/workbench.h"

class QAction;
class QDockWidget;
class QLabel;
class QTabWidget;

namespace atomscope::gui {

class JobsPanel;
class LogConsole;
class PropertiesPanel;
class RunJobDialog;
class RunsBrowser;

class MainWindow : public QMainWindow, public Workbench {
  Q_OBJECT
 public:
  explicit MainWindow(const QString& runsRoot = QStringLiteral("runs"), QWidget* parent = nullptr);
  ~MainWindow() override;

  // Workbench
  QMainWindow* mainWindow() override { return this; }
  int addDocument(QWidget* widget, const QString& title) override;
  void activateDocument(QWidget* widget) override;
  void addPanel(QWidget* widget, const QString& title, Qt::DockWidgetArea area) override;
  QMenu* menu(const QString& title) override;
  JobManager& jobs() override { return jobs_; }
  void log(const QString& message, bool isError = false) override;
  void addRecentFile(const QString& path) override;
  void showJobForm(const QString& jobName, const Json& initial = Json::object()) override;

  // Plugins from the given folders (default: PluginHost::defaultSearchPaths()).
  int loadPlugins(const QStringList& folders = {});
  PluginHost& pluginHost() { return plugins_; }
  QStringList pluginFolders() const { return pluginFolders_; }

  // Opens a file: a run folder (or its run.json) is shown in the runs browser; other files go to
  // the plugin whose fileTypes() match. Returns false with the reason in *error (also logged).
  bool openFile(const QString& path, QString* error = nullptr) override;

  QString runsRoot() const { return runsRoot_; }
  void setRunsRoot(const QString& root);
  bool saveScreenshot(const QString& path);
  bool exportRunReport(const QString& runDir, const QString& path, QString* error = nullptr);
  QWidget* showRunMetrics(const QString& runDir);  // opens a document tab with the run's curves
  void restoreLayout();  // window geometry and dock state of the last session
  void resetLayout();

  // For tests and plugins.
  RunsBrowser* runsBrowser() const { return runs_; }
  JobsPanel* jobsPanel() const { return jobsPanel_; }
  LogConsole* logConsole() const { return log_; }
  PropertiesPanel* propertiesPanel() const { return props_; }
  QTabWidget* documents() const { return docs_; }
  RunJobDialog* runJobDialog() const;  // the open Run job dialog, or nullptr
  AppSettings& settings() { return settings_; }
  QAction* action(const QString& objectName) const;
  QString statusText() const;

 public Q_SLOTS:
  void openFileDialog();
  void openRunJobDialog();
  void cancelSelectedJob();
  void showPreferences();
  void showAboutPlugins();
  void toggleFullScreen();
  void screenshotDialog();

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void createActions();
  void createDocks();
  void updateRecentMenu();
  void updateStatus();
  void showRunProperties(const QString& runDir);
  void exportReportDialog(const QString& runDir);
  QDockWidget* makeDock(QWidget* w, const QString& title, const QString& objectName, Qt::DockWidgetArea area);

  QString runsRoot_;
  AppSettings settings_;
  JobManager jobs_;
  TrustStore trust_;  // asks once per TorchScript file before any job that names it starts
  PluginHost plugins_;
  QStringList pluginFolders_;
  QTabWidget* docs_ = nullptr;
  QWidget* startPage_ = nullptr;
  RunsBrowser* runs_ = nullptr;
  JobsPanel* jobsPanel_ = nullptr;
  LogConsole* log_ = nullptr;
  PropertiesPanel* props_ = nullptr;
  QList<QDockWidget*> coreDocks_;
  QMenu* fileMenu_ = nullptr;
  QMenu* recentMenu_ = nullptr;
  QMenu* viewMenu_ = nullptr;
  QMenu* jobsMenu_ = nullptr;
  QMenu* helpMenu_ = nullptr;
  QHash<QString, QMenu*> menus_;
  QLabel* deviceLabel_ = nullptr;
  QLabel* jobsLabel_ = nullptr;
  QPointer<RunJobDialog> runDialog_;
  QByteArray defaultState_;
  int finishedJobs_ = 0;
};

}  // namespace atomscope::gui
