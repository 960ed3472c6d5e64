#pragma once
// The MASA plugin: a "MASA" menu and the MASA panel (a document tab, masa_panel.h) that runs
// masa.compress and masa.export through the workbench's JobManager. masa.compress runs started
// elsewhere (Jobs > Run job, --start) are shown in the panel when they finish; the model opened
// last in the Models plugin (its lm.inspect run) becomes the panel's model.
#include <QObject>
#include <QPointer>

#include "atomscope/core/run_dir.h"
#include "atomscope/gui/plugin.h"

namespace atomscope::gui {

namespace masa {
class MasaPanel;
}

class MasaPlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "masa.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("MASA"); }
  QString version() const override { return QStringLiteral("0.1.0"); }
  QString description() const override {
    return QStringLiteral(
        "Compresses a language model's attention with matrix atoms shared across layers (masa.compress): energy "
        "per atom, coefficient heatmaps, weight errors, perplexity versus compression, export and reports.");
  }
  QStringList jobs() const override;
  QStringList panels() const override;
  QStringList menuEntries() const override;
  void initialize(Workbench& workbench) override;

  // The panel, created (and shown) on first use.
  masa::MasaPanel* panel();

 private:
  void onJobFinished(int id, core::RunStatus status, const QString& runDir);

  Workbench* workbench_ = nullptr;
  QPointer<masa::MasaPanel> panel_;
  QString openedModel_;  // from the last lm.inspect run
};

}  // namespace atomscope::gui
