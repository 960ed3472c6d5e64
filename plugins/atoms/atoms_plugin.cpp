#include "atoms_plugin.h"

#include <QAction>
#include <QKeySequence>
#include <QMenu>

#include "atomscope/core/job.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/own_turn.h"
#include "atomscope/gui/menu_actions.h"
#include "atomscope/gui/workbench.h"
#include "atomscope/sae/sae_browse_jobs.h"  // torch-free: registration only
#include "atomscope/sae/sae_jobs.h"         // torch-free: registration only
#include "atoms_panel.h"

namespace atomscope::gui {

QStringList AtomsPlugin::jobs() const {
  return {QStringLiteral("sae.neighbors"), QStringLiteral("sae.encode_text"), QStringLiteral("sae.export"),
          QStringLiteral("sae.import")};
}

QStringList AtomsPlugin::panels() const { return {QStringLiteral("Atoms")}; }

QStringList AtomsPlugin::menuEntries() const {
  return {QStringLiteral("Atoms/Atom browser"), QStringLiteral("Atoms/Open atom index..."), QStringLiteral("Atoms/Open SAE..."),
          QStringLiteral("Atoms/Open sae.analyze run..."), QStringLiteral("Atoms/Export SAELens..."),
          QStringLiteral("Atoms/Import SAELens...")};
}

void AtomsPlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  // The host registers the modules' jobs; the browse jobs are the plugin's own until the host does.
  auto& global = core::JobRegistry::global();
  if (&workbench.jobs().registry() == &global) {
    if (!global.contains("sae.index")) sae::registerSaeJobs(global);
    sae::registerSaeBrowseJobs(global);
  }
  QMenu* menu = workbench.menu(QStringLiteral("Atoms"));
  auto add = [&](const QString& text, const char* name, const QKeySequence& key, auto fn) {
    return addMenuAction(menu, text, name, key, this, std::move(fn));
  };
  add(tr("Atom &browser"), "atomsShow", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A), [this] { panel(); });
  menu->addSeparator();
  add(tr("Open atom &index\u2026"), "atomsOpenIndexAction", QKeySequence(), [this] { panel()->openIndexDialog(); });
  add(tr("Open &SAE\u2026"), "atomsOpenSaeAction", QKeySequence(), [this] { panel()->openSaeDialog(); });
  add(tr("Open sae.&analyze run\u2026"), "atomsOpenAnalysisAction", QKeySequence(), [this] { panel()->openAnalysisDialog(); });
  menu->addSeparator();
  add(tr("&Export SAELens\u2026"), "atomsExportAction", QKeySequence(), [this] { panel()->exportDialog(); });
  add(tr("I&mport SAELens\u2026"), "atomsImportAction", QKeySequence(), [this] { panel()->importDialog(); });
  // Index and analysis runs started elsewhere open the panel on them (once open it follows them itself).
  connect(&workbench.jobs(), &JobManager::jobFinished, this,
          [this](int id, core::RunStatus status, const QString& runDir, const QString&) {
            if (status != core::RunStatus::Completed || panel_) return;
            const QString job = workbench_->jobs().state(id).job;
            if (job != QLatin1String("sae.index") && job != QLatin1String("sae.analyze")) return;
            // The panel is built (and first drawn) and then loaded in turns of their own (own_turn.h).
            inOwnTurn(this, [this, job, runDir] {
              auto* p = panel();
              inOwnTurn(p, [p, job, runDir] {
                if (job == QLatin1String("sae.index")) p->openIndex(runDir + QStringLiteral("/artifacts/atoms.db"));
                else p->showAnalysis(runDir);
              });
            });
          });
}

atoms::AtomsPanel* AtomsPlugin::panel() {
  if (!panel_) {
    panel_ = new atoms::AtomsPanel(*workbench_);
    workbench_->addDocument(panel_, QStringLiteral("Atoms"));
  }
  workbench_->activateDocument(panel_);
  return panel_;
}

}  // namespace atomscope::gui
