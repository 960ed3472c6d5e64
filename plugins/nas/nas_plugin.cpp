#include "nas_plugin.h"

#include <QAction>
#include <QDockWidget>
#include <QKeySequence>
#include <QMainWindow>
#include <QMenu>
#include <algorithm>

#include "atomscope/core/job.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/menu_actions.h"
#include "atomscope/gui/workbench.h"
#include "atomscope/lm/lm_jobs.h"    // torch-free: registration only
#include "atomscope/nas/nas_jobs.h"  // torch-free: registration only
#include "nas_panel.h"

namespace atomscope::gui {

QStringList NasPlugin::jobs() const {
  return {QStringLiteral("nas.search"), QStringLiteral("nas.evaluate"), QStringLiteral("nas.random_search")};
}

QStringList NasPlugin::panels() const { return {QStringLiteral("NAS")}; }

QStringList NasPlugin::menuEntries() const {
  return {QStringLiteral("NAS/Search"),         QStringLiteral("NAS/Evaluate"),
          QStringLiteral("NAS/Random search"),  QStringLiteral("NAS/Cancel"),
          QStringLiteral("NAS/Export architecture..."), QStringLiteral("NAS/Train this architecture..."),
          QStringLiteral("NAS/Open search run..."), QStringLiteral("NAS/Show panel")};
}

void NasPlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  // The host registers every module's jobs; without them the plugin registers nas.* (and lm.*,
  // for lm.train's form that "Train this architecture" opens) itself.
  auto& global = core::JobRegistry::global();
  if (&workbench.jobs().registry() == &global) {
    if (!global.contains("lm.train")) lm::registerLmJobs(global);
    if (!global.contains("nas.search")) atomscope::nas::registerNasJobs(global);
  }

  panel_ = new nas::NasPanel(workbench);
  workbench.addPanel(panel_, QStringLiteral("NAS"), Qt::RightDockWidgetArea);
  // It shares the right-hand area with the Jobs dock as a tab: Jobs stays in front at start-up,
  // Show panel (Ctrl+Alt+N) brings this one forward.
  if (auto* jobsDock = workbench.mainWindow()->findChild<QDockWidget*>(QStringLiteral("jobsDock"))) jobsDock->raise();

  QMenu* menu = workbench.menu(QStringLiteral("NAS"));
  auto add = [&](const QString& text, const char* name, const QKeySequence& key, std::function<void()> fn) {
    return addMenuAction(menu, text, name, key, this, std::move(fn));
  };
  add(tr("&Search"), "nasSearchAction", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_S), [this] { panel()->search(); });
  add(tr("&Evaluate"), "nasEvaluateAction", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_E), [this] { panel()->evaluate(); });
  add(tr("&Random search"), "nasRandomAction", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_R),
      [this] { panel()->randomSearch(); });
  add(tr("&Cancel"), "nasCancelAction", QKeySequence(), [this] { panel_->cancel(); });
  menu->addSeparator();
  add(tr("E&xport architecture\u2026"), "nasExportAction", QKeySequence(), [this] { panel()->exportDialog(); });
  add(tr("&Train this architecture\u2026"), "nasTrainAction", QKeySequence(), [this] { panel()->trainArchitecture(); });
  add(tr("&Open search run\u2026"), "nasOpenRunAction", QKeySequence(), [this] { panel()->openRunDialog(); });
  add(tr("Show &panel"), "nasShow", QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_N), [this] { panel(); });

  connect(&workbench.jobs(), &JobManager::jobFinished, this,
          [this](int id, core::RunStatus status, const QString& runDir, const QString&) { onJobFinished(id, status, runDir); });
}

nas::NasPanel* NasPlugin::panel() {
  for (QWidget* w = panel_ ? panel_->parentWidget() : nullptr; w; w = w->parentWidget())
    if (auto* dock = qobject_cast<QDockWidget*>(w)) {
      dock->show();
      dock->raise();
      // The charts want room: widen the dock the first time it is shown (the user may resize it).
      if (!dock->property("nasWidened").toBool()) {
        dock->setProperty("nasWidened", true);
        if (auto* win = workbench_->mainWindow(); win && dock->width() < 560)
          win->resizeDocks({dock}, {std::min(620, win->width() / 2)}, Qt::Horizontal);
      }
      break;
    }
  return panel_;
}

void NasPlugin::onJobFinished(int id, core::RunStatus status, const QString& runDir) {
  if (status != core::RunStatus::Completed || !workbench_ || !panel_) return;
  if (panel_->ownsJob(id) || runDir.isEmpty()) return;  // the panel's own jobs: it shows them itself
  const QString job = workbench_->jobs().state(id).job;
  if (job == QLatin1String("nas.search")) {
    if (!panel_->isBusy() && !panel_->showRun(runDir)) workbench_->log(tr("NAS: %1").arg(panel_->lastError()), true);
  } else if (job == QLatin1String("nas.evaluate") || job == QLatin1String("nas.random_search")) {
    if (!panel_->addEvaluatedRun(runDir)) workbench_->log(tr("NAS: %1").arg(panel_->lastError()), true);
  }
}

}  // namespace atomscope::gui
