#pragma once
// Dialogs of the workbench: Run job, Preferences, About Plugins.
#include <QDialog>

#include "atomscope/core/json.h"

class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;
class QScrollArea;
class QSpinBox;
class QTreeWidget;

namespace atomscope::gui {

class AppSettings;
class JobManager;
class ParamForm;
class PluginHost;

// Lists every registered job grouped by category; shows the selected job's parameter form and
// starts it through the JobManager.
class RunJobDialog : public QDialog {
  Q_OBJECT
 public:
  RunJobDialog(JobManager& jobs, AppSettings& settings, QWidget* parent = nullptr);

  bool selectJob(const QString& name);  // false when not registered
  QString selectedJob() const { return current_; }
  ParamForm* form() const { return form_; }
  QPushButton* runButton() const { return run_; }
  QTreeWidget* jobTree() const { return tree_; }
  int startedJobId() const { return startedId_; }  // -1 until Run succeeded
  QString errorText() const;

  // Validates and starts the job; returns the job id or -1 (errors shown in the dialog).
  int startSelected();

 private:
  void showJob(const QString& name);

  JobManager& jobs_;
  AppSettings& settings_;
  QTreeWidget* tree_;
  QLabel* title_;
  QLabel* description_;
  QScrollArea* scroll_;
  ParamForm* form_ = nullptr;
  QLabel* error_;
  QPushButton* run_;
  QString current_;
  int startedId_ = -1;
};

class PreferencesDialog : public QDialog {
  Q_OBJECT
 public:
  PreferencesDialog(AppSettings& settings, QWidget* parent = nullptr);
  void accept() override;  // writes the settings

  QComboBox* deviceCombo() const { return device_; }
  QSpinBox* threadsSpin() const { return threads_; }
  QComboBox* precisionCombo() const { return precision_; }
  QListWidget* dataFolderList() const { return folders_; }

 private:
  AppSettings& settings_;
  QComboBox* device_;
  QSpinBox* threads_;
  QComboBox* precision_;
  QListWidget* folders_;
};

class AboutPluginsDialog : public QDialog {
  Q_OBJECT
 public:
  AboutPluginsDialog(const PluginHost& host, const QStringList& searchedFolders, QWidget* parent = nullptr);
  QTreeWidget* tree() const { return tree_; }

 private:
  QTreeWidget* tree_;
};

}  // namespace atomscope::gui
