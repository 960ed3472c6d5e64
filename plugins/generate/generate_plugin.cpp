#include "generate_plugin.h"

#include <QAction>
#include <QFileDialog>
#include <QKeySequence>
#include <QMainWindow>
#include <QMenu>

#include "atomscope/gui/menu_actions.h"
#include "atomscope/gui/workbench.h"
#include "generate_panel.h"

namespace atomscope::gui {

QStringList GeneratePlugin::jobs() const {
  return {QStringLiteral("adit.sample"), QStringLiteral("adit.evaluate"), QStringLiteral("adit.prepare"),
          QStringLiteral("adit.train_vae"), QStringLiteral("adit.train_dit")};
}

QStringList GeneratePlugin::menuEntries() const {
  return {QStringLiteral("Generate/Generate structures"), QStringLiteral("Generate/Cancel"),
          QStringLiteral("Generate/Open generated structures..."), QStringLiteral("Generate/Export shown..."),
          QStringLiteral("Generate/Export selection..."), QStringLiteral("Generate/Training")};
}

void GeneratePlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  QMenu* menu = workbench.menu(QStringLiteral("Generate"));
  auto add = [&](const QString& text, const char* name, const QKeySequence& key, auto fn) {
    return addMenuAction(menu, text, name, key, this, std::move(fn));
  };
  add(tr("&Generate structures"), "generateRunAction", QKeySequence(Qt::CTRL | Qt::Key_G), [this] { panel()->generate(); });
  // Esc cancels inside the panel (it takes Esc from the Jobs menu while its job runs).
  add(tr("&Cancel"), "generateCancelAction", QKeySequence(), [this] {
    if (panel_) panel_->cancel();
  });
  add(tr("&Show panel"), "generateShow", QKeySequence(), [this] { panel(); });
  menu->addSeparator();
  add(tr("&Open generated structures\u2026"), "generateOpenAction", QKeySequence(), [this] {
    const QString f = QFileDialog::getOpenFileName(workbench_->mainWindow(), tr("Generated structures"), QString(),
                                                   tr("Structures (*.extxyz *.xyz *.cif);;All files (*)"));
    if (!f.isEmpty()) panel()->loadStructures(f);
  });
  add(tr("Export &shown\u2026"), "generateExportShownAction", QKeySequence(), [this] { panel()->exportDialog(false); });
  add(tr("Export s&election\u2026"), "generateExportSelectionAction", QKeySequence(), [this] { panel()->exportDialog(true); });
  add(tr("&Training"), "generateTrainingAction", QKeySequence(), [this] { panel()->showTraining(); });
}

generate::GeneratePanel* GeneratePlugin::panel() {
  if (!panel_) {
    panel_ = new generate::GeneratePanel(*workbench_);
    workbench_->addDocument(panel_, QStringLiteral("Generate"));
  }
  workbench_->activateDocument(panel_);
  return panel_;
}

}  // namespace atomscope::gui
