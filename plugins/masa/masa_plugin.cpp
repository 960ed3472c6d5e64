#include "masa_plugin.h"

#include <QAction>
#include <QFileDialog>
#include <QKeySequence>
#include <QMainWindow>
#include <QMenu>

#include "atomscope/core/job.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/own_turn.h"
#include "atomscope/gui/menu_actions.h"
#include "atomscope/gui/workbench.h"
#include "atomscope/lm/lm_jobs.h"      // torch-free: registration only
#include "atomscope/masa/masa_jobs.h"  // torch-free: registration only
#include "masa_panel.h"

namespace atomscope::gui {

QStringList MasaPlugin::jobs() const { return {QStringLiteral("masa.compress"), QStringLiteral("masa.export")}; }

QStringList MasaPlugin::panels() const { return {QStringLiteral("MASA")}; }

QStringList MasaPlugin::menuEntries() const {
  return {QStringLiteral("MASA/Compress attention"),      QStringLiteral("MASA/Run"),
          QStringLiteral("MASA/Cancel"),                  QStringLiteral("MASA/Compare methods"),
          QStringLiteral("MASA/Open compression run..."), QStringLiteral("MASA/Export MASA folder..."),
          QStringLiteral("MASA/Export Hugging Face folder..."), QStringLiteral("MASA/Report...")};
}

void MasaPlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  // The host normally registers every module's jobs; make sure masa's (and lm.eval, which
  // masa.compress runs for perplexity) are there when it did not.
  auto& global = core::JobRegistry::global();
  if (&workbench.jobs().registry() == &global) {
    if (!global.contains("lm.eval")) lm::registerLmJobs(global);
    if (!global.contains("masa.compress")) atomscope::masa::registerMasaJobs(global);
  }

  QMenu* menu = workbench.menu(QStringLiteral("MASA"));
  auto add = [&](const QString& text, const char* name, const QKeySequence& key, auto fn) {
    return addMenuAction(menu, text, name, key, this, std::move(fn));
  };
  add(tr("&Compress attention\u2026"), "masaShow", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_M), [this] { panel(); });
  add(tr("&Run"), "masaRunAction", QKeySequence(), [this] { panel()->run(); });
  add(tr("&Cancel"), "masaCancelAction", QKeySequence(), [this] {
    if (panel_) panel_->cancel();
  });
  add(tr("Compare &methods"), "masaCompareAction", QKeySequence(), [this] { panel()->compareMethods(); });
  menu->addSeparator();
  add(tr("&Open compression run\u2026"), "masaOpenRun", QKeySequence(), [this] {
    const QString dir = QFileDialog::getExistingDirectory(workbench_->mainWindow(), tr("A masa.compress run folder"));
    if (dir.isEmpty()) return;
    if (!panel()->showRun(dir)) workbench_->log(tr("MASA: %1").arg(panel()->lastError()), true);
  });
  add(tr("Export MASA &folder\u2026"), "masaExportMasaAction", QKeySequence(), [this] { panel()->exportMasaDialog(); });
  add(tr("Export &Hugging Face folder\u2026"), "masaExportHfAction", QKeySequence(), [this] { panel()->exportHfDialog(); });
  add(tr("&Report\u2026"), "masaReportAction", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R), [this] { panel()->reportDialog(); });

  connect(&workbench.jobs(), &JobManager::jobFinished, this,
          [this](int id, core::RunStatus status, const QString& runDir, const QString&) { onJobFinished(id, status, runDir); });
}

masa::MasaPanel* MasaPlugin::panel() {
  if (!panel_) {
    panel_ = new masa::MasaPanel(*workbench_);
    if (!openedModel_.isEmpty()) panel_->setModel(openedModel_);
    workbench_->addDocument(panel_, QStringLiteral("MASA"));
  }
  workbench_->activateDocument(panel_);
  return panel_;
}

void MasaPlugin::onJobFinished(int id, core::RunStatus status, const QString& runDir) {
  if (status != core::RunStatus::Completed || !workbench_) return;
  const JobState state = workbench_->jobs().state(id);
  if (state.job == QLatin1String("lm.inspect")) {
    // The model the Models plugin just opened becomes the one to compress.
    QString error;
    const Json record = masa::readRunRecord(runDir, &error);
    if (record.contains("params") && record["params"].contains("model") && record["params"]["model"].is_string()) {
      openedModel_ = QString::fromStdString(record["params"]["model"].get<std::string>());
      if (panel_ && !panel_->isBusy()) panel_->setModel(openedModel_);
    }
  } else if (state.job == QLatin1String("masa.compress") && !panel_) {
    // A compression started elsewhere: open the panel on it (once open, the panel follows them itself).
    // Building the panel and drawing the run take turns of their own (own_turn.h).
    inOwnTurn(this, [this, runDir] {
      panel();
      inOwnTurn(this, [this, runDir] {
        if (!panel()->showRun(runDir)) workbench_->log(tr("MASA: %1").arg(panel()->lastError()), true);
      });
    });
  }
}

}  // namespace atomscope::gui
