#pragma once
// The NAS plugin: a "NAS" menu and the NAS panel (a dock, nas_panel.h) that runs nas.search,
// nas.evaluate and nas.random_search through the workbench's JobManager. nas.* runs started
// elsewhere (Jobs > Run job) are shown when they finish: a search in the Search tab, evaluations
// and random searches in the Pareto plot.
#include <QObject>
#include <QPointer>

#include "atomscope/core/run_dir.h"
#include "atomscope/gui/plugin.h"

namespace atomscope::gui {

namespace nas {
class NasPanel;
}

class NasPlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "nas.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("NAS"); }
  QString version() const override { return QStringLiteral("0.1.0"); }
  QString description() const override {
    return QStringLiteral(
        "Architecture search for language models (TangleNAS, nas.search): the search space as a form, live charts "
        "of the architecture weights and losses, a Pareto plot of parameters versus validation perplexity, export "
        "of the chosen architecture for lm.train.");
  }
  QStringList jobs() const override;
  QStringList panels() const override;
  QStringList menuEntries() const override;
  void initialize(Workbench& workbench) override;

  // The panel's dock shown and raised.
  nas::NasPanel* panel();

 private:
  void onJobFinished(int id, core::RunStatus status, const QString& runDir);

  Workbench* workbench_ = nullptr;
  QPointer<nas::NasPanel> panel_;
};

}  // namespace atomscope::gui
