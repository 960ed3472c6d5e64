#pragma once
// The Force Field plugin: a "Force Field" menu and the Force Field panel (a dock, forcefield_panel.h)
// that predicts energies and forces of the structure shown in the Structures view, optimises it,
// runs MD and evaluates models (ff.predict, ff.optimize, ff.md, ff.evaluate through the workbench's
// JobManager). Shortcuts: Ctrl+Alt+P predict, Ctrl+Alt+O optimise, Ctrl+Alt+D dynamics,
// Ctrl+Alt+V evaluate, Ctrl+Alt+F show the panel; Esc in the panel cancels.
#include <QObject>
#include <QPointer>

#include "atomscope/gui/plugin.h"

namespace atomscope::gui {

namespace forcefield {
class ForceFieldPanel;
}

class ForceFieldPlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "forcefield.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("Force Field"); }
  QString version() const override { return QStringLiteral("0.1.0"); }
  QString description() const override {
    return QStringLiteral(
        "Energies and forces of the structure shown (arrows), geometry optimisation and molecular dynamics with "
        "live charts and playback, and parity plots (ff.predict, ff.optimize, ff.md, ff.evaluate).");
  }
  QStringList jobs() const override;
  QStringList panels() const override { return {QStringLiteral("Force Field")}; }
  QStringList menuEntries() const override;
  void initialize(Workbench& workbench) override;

  // The panel (a dock, created in initialize), raised.
  forcefield::ForceFieldPanel* panel();

 private:
  Workbench* workbench_ = nullptr;
  QPointer<forcefield::ForceFieldPanel> panel_;
};

}  // namespace atomscope::gui
