#pragma once
// The Atoms plugin: an "Atoms" menu and the Atoms panel (a document tab, atoms_panel.h). Finished
// sae.index and sae.analyze runs started anywhere open in the panel.
#include <QObject>
#include <QPointer>

#include "atomscope/gui/plugin.h"

namespace atomscope::gui {

namespace atoms {
class AtomsPanel;
}

class AtomsPlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "atoms.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("Atoms"); }
  QString version() const override { return QStringLiteral("0.1.0"); }
  QString description() const override {
    return QStringLiteral(
        "Browses the atoms of sparse autoencoders: atom list, atom pages, atoms on a typed text, the R^2-q* "
        "chart, SAELens export and import.");
  }
  QStringList jobs() const override;
  QStringList panels() const override;
  QStringList menuEntries() const override;
  void initialize(Workbench& workbench) override;

  atoms::AtomsPanel* panel();  // created (and shown) on first use

 private:
  Workbench* workbench_ = nullptr;
  QPointer<atoms::AtomsPanel> panel_;
};

}  // namespace atomscope::gui
