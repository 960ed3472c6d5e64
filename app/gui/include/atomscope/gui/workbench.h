#pragma once
// What the main window offers plugins. Implemented by MainWindow; plugins never include it.
#include <QString>
#include <Qt>

#include "atomscope/core/json.h"

class QAction;
class QMainWindow;
class QMenu;
class QWidget;

namespace atomscope::gui {

class JobManager;

class Workbench {
 public:
  virtual ~Workbench() = default;

  virtual QMainWindow* mainWindow() = 0;
  // A document tab in the central area (structure views, model views); returns its index.
  virtual int addDocument(QWidget* widget, const QString& title) = 0;
  virtual void activateDocument(QWidget* widget) = 0;
  // A dock panel; the workbench owns it and lists it in View menu.
  virtual void addPanel(QWidget* widget, const QString& title, Qt::DockWidgetArea area) = 0;
  // Top-level menu by title, created on first use ("Structures", "Models", ...).
  virtual QMenu* menu(const QString& title) = 0;
  virtual JobManager& jobs() = 0;
  virtual void log(const QString& message, bool isError = false) = 0;
  virtual void addRecentFile(const QString& path) = 0;
  // Shows a job's parameter form (generated from its schema) pre-filled with `initial`.
  virtual void showJobForm(const QString& jobName, const Json& initial = Json::object()) = 0;
  // Opens a file with the plugin that reads it, as File > Open does (a generated structure in the
  // Structures view, for instance); false with the reason in *error (also logged).
  virtual bool openFile(const QString& path, QString* error = nullptr) = 0;
};

}  // namespace atomscope::gui
