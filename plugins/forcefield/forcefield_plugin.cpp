#include "forcefield_plugin.h"

#include <QAction>
#include <QDockWidget>
#include <QKeySequence>
#include <QMainWindow>
#include <QMenu>

#include "atomscope/core/job.h"
#include "atomscope/forcefield/ff_jobs.h"  // torch-free: registration only
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/menu_actions.h"
#include "atomscope/gui/workbench.h"
#include "forcefield_panel.h"

namespace atomscope::gui {

QStringList ForceFieldPlugin::jobs() const {
  return {QStringLiteral("ff.predict"), QStringLiteral("ff.optimize"), QStringLiteral("ff.md"),
          QStringLiteral("ff.evaluate")};
}

QStringList ForceFieldPlugin::menuEntries() const {
  return {QStringLiteral("Force Field/Predict energy and forces"), QStringLiteral("Force Field/Optimise geometry"),
          QStringLiteral("Force Field/Molecular dynamics"), QStringLiteral("Force Field/Evaluate model"),
          QStringLiteral("Force Field/Cancel"), QStringLiteral("Force Field/Open model..."),
          QStringLiteral("Force Field/Show panel")};
}

void ForceFieldPlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  // The host registers the modules' jobs; without them (a host built without all modules) the
  // plugin registers the force-field jobs itself, as the Atoms plugin does.
  auto& global = core::JobRegistry::global();
  if (&workbench.jobs().registry() == &global && !global.contains("ff.predict"))
    atomscope::forcefield::registerForceFieldJobs(global);

  panel_ = new forcefield::ForceFieldPanel(workbench);
  workbench.addPanel(panel_, QStringLiteral("Force Field"), Qt::RightDockWidgetArea);
  // It shares the right-hand area with the Jobs dock as a tab: Jobs stays in front at start-up
  // (the default layout), the menu's Show panel (Ctrl+Alt+F) brings this one forward.
  if (auto* jobsDock = workbench.mainWindow()->findChild<QDockWidget*>(QStringLiteral("jobsDock"))) jobsDock->raise();

  QMenu* menu = workbench.menu(QStringLiteral("Force Field"));
  auto add = [&](const QString& text, const char* name, const QKeySequence& key, auto fn) {
    return addMenuAction(menu, text, name, key, this, std::move(fn));
  };
  add(tr("&Predict energy and forces"), "ffPredictAction", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_P),
      [this] { panel()->predict(); });
  add(tr("&Optimise geometry"), "ffOptimizeAction", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O),
      [this] { panel()->optimize(); });
  add(tr("Molecular &dynamics"), "ffMdAction", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_D), [this] { panel()->runMd(); });
  add(tr("E&valuate model"), "ffEvaluateAction", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_V),
      [this] { panel()->evaluate(); });
  add(tr("&Cancel"), "ffCancelAction", QKeySequence(), [this] { panel()->cancel(); });
  menu->addSeparator();
  add(tr("Open &model\u2026"), "ffOpenModelAction", QKeySequence(), [this] { panel()->browseModel(); });
  add(tr("Show &panel"), "ffShow", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_F), [this] { panel(); });
}

forcefield::ForceFieldPanel* ForceFieldPlugin::panel() {
  // The dock holding the panel: shown and raised (it may share its area as a tab).
  for (QWidget* w = panel_ ? panel_->parentWidget() : nullptr; w; w = w->parentWidget())
    if (auto* dock = qobject_cast<QDockWidget*>(w)) {
      dock->show();
      dock->raise();
      break;
    }
  return panel_;
}

}  // namespace atomscope::gui
