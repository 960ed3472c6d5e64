#pragma once
// The Generate plugin: a "Generate" menu and the Generate panel (a document tab, generate_panel.h)
// that samples structures with a trained ADiT model (adit.sample, then adit.evaluate) and trains one
// (adit.prepare, adit.train_vae, adit.train_dit), all through the workbench's JobManager.
// Ctrl+G generates; Esc in the panel cancels the running job.
#include <QObject>
#include <QPointer>

#include "atomscope/gui/plugin.h"

namespace atomscope::gui {

namespace generate {
class GeneratePanel;
}

class GeneratePlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "generate.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("Generate"); }
  QString version() const override { return QStringLiteral("0.1.0"); }
  QString description() const override {
    return QStringLiteral(
        "Generates molecules and crystals with ADiT (adit.sample, adit.evaluate): a 3D gallery with validity "
        "marks, filters, export, and a training tab with live loss charts (adit.train_vae, adit.train_dit).");
  }
  QStringList jobs() const override;
  QStringList panels() const override { return {QStringLiteral("Generate")}; }
  QStringList menuEntries() const override;
  void initialize(Workbench& workbench) override;

  // The panel, created on first use and made the current tab.
  generate::GeneratePanel* panel();

 private:
  Workbench* workbench_ = nullptr;
  QPointer<generate::GeneratePanel> panel_;
};

}  // namespace atomscope::gui
