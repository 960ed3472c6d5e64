#pragma once
// Small dock panels of the main window: the log console and the properties panel.
#include <QStringList>
#include <QWidget>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"

class QComboBox;
class QPlainTextEdit;
class QTimer;
class QTreeWidget;
class QTreeWidgetItem;
class QLabel;

namespace atomscope::gui {

// Job logs and application messages, coloured by level, filterable, capped at 20k lines. Lines are
// shown in batches every 100 ms: a job logging hundreds of lines a second costs one layout each.
class LogConsole : public QWidget {
  Q_OBJECT
 public:
  explicit LogConsole(QWidget* parent = nullptr);
  void append(core::LogLevel level, const QString& source, const QString& message);
  QString plainText() const;
  int errorCount() const { return errors_; }
  void clear();

 private:
  void rebuild();
  void showPending();  // appends the lines that arrived since the last batch to the view
  struct Line {
    core::LogLevel level;
    QString html;
  };
  QPlainTextEdit* view_;
  QComboBox* filter_;
  QList<Line> lines_;
  QStringList pending_;  // html of lines not in the view yet
  QTimer* batch_;
  int errors_ = 0;
};

// Key/value view of the selected object (a run's params, summary, record).
class PropertiesPanel : public QWidget {
  Q_OBJECT
 public:
  explicit PropertiesPanel(QWidget* parent = nullptr);
  void clear();
  // Shows sections (title -> JSON object); nested objects/arrays become subtrees.
  void showSections(const QString& heading, const QList<QPair<QString, Json>>& sections);
  QTreeWidget* tree() const { return tree_; }
  QString heading() const;
  // The displayed value of a key within a section ("Parameters", "size"), empty when absent.
  QString value(const QString& section, const QString& key) const;

 private:
  void addJson(QTreeWidgetItem* parent, const QString& key, const Json& value);
  QLabel* heading_;
  QTreeWidget* tree_;
};

}  // namespace atomscope::gui
