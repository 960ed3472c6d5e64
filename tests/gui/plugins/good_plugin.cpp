// A well-formed plugin for the tests: opens *.atomtest files into a document tab.
#include <QFile>
#include <QLabel>
#include <QMenu>
#include <QObject>

#include "atomscope/gui/plugin.h"
#include "atomscope/gui/workbench.h"

class GoodTestPlugin : public QObject, public atomscope::gui::Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID)
  Q_INTERFACES(atomscope::gui::Plugin)
 public:
  QString name() const override { return QStringLiteral("Test plugin"); }
  QString version() const override { return QStringLiteral("1.2.3"); }
  QString description() const override { return QStringLiteral("Opens .atomtest files for the GUI tests."); }
  QStringList panels() const override { return {QStringLiteral("Test panel")}; }
  QStringList menuEntries() const override { return {QStringLiteral("Testing/Hello")}; }
  QList<atomscope::gui::FileType> fileTypes() const override {
    return {{QStringLiteral("Atomscope test files"), {QStringLiteral("*.atomtest")}}};
  }
  void initialize(atomscope::gui::Workbench& wb) override {
    wb_ = &wb;
    wb.addPanel(new QLabel(QStringLiteral("test panel")), QStringLiteral("Test panel"), Qt::RightDockWidgetArea);
    wb.menu(QStringLiteral("Testing"))->addAction(QStringLiteral("Hello"));
  }
  bool openFile(const QString& path, QString* error) override {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
      if (error) *error = f.errorString();
      return false;
    }
    const QString text = QString::fromUtf8(f.readAll());
    if (text.startsWith(QStringLiteral("bad"))) {
      if (error) *error = QStringLiteral("%1: line 1: expected a greeting").arg(path);
      return false;
    }
    auto* label = new QLabel(text);
    label->setObjectName(QStringLiteral("atomtestDocument"));
    wb_->addDocument(label, path.section('/', -1));
    return true;
  }

 private:
  atomscope::gui::Workbench* wb_ = nullptr;
};

#include "good_plugin.moc"
