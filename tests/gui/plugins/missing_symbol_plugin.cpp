// A plugin that needs a function no library provides: loading must fail with "undefined symbol",
// reported by the host, instead of crashing when the function is first called.
#include <QObject>

#include "atomscope/gui/plugin.h"
#include "atomscope/gui/workbench.h"

extern "C" int atomscope_test_function_that_does_not_exist(int);

class MissingSymbolPlugin : public QObject, public atomscope::gui::Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID)
  Q_INTERFACES(atomscope::gui::Plugin)
 public:
  QString name() const override { return QStringLiteral("Missing symbol"); }
  QString version() const override { return QString::number(atomscope_test_function_that_does_not_exist(1)); }
  QString description() const override { return {}; }
  void initialize(atomscope::gui::Workbench&) override { atomscope_test_function_that_does_not_exist(2); }
};

#include "missing_symbol_plugin.moc"
