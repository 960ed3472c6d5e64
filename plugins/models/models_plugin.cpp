#include "models_plugin.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QMainWindow>
#include <QMenu>
#include <QTabWidget>

#include "atomscope/core/job.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/workbench.h"
#include "atomscope/lm/lm_jobs.h"  // torch-free: registration only
#include "model_document.h"
#include "run_results.h"

namespace atomscope::gui {

QStringList ModelsPlugin::jobs() const {
  return {QStringLiteral("lm.inspect"), QStringLiteral("lm.generate"), QStringLiteral("lm.eval"),
          QStringLiteral("lm.attention")};
}

QStringList ModelsPlugin::menuEntries() const {
  return {QStringLiteral("Models/Open model file..."), QStringLiteral("Models/Open model folder..."),
          QStringLiteral("Models/Generate"), QStringLiteral("Models/Stop generation"),
          QStringLiteral("Models/Evaluate perplexity"), QStringLiteral("Models/Compute attention")};
}

QList<FileType> ModelsPlugin::fileTypes() const {
  return {{QStringLiteral("llama2.c checkpoints"), {QStringLiteral("*.bin")}},
          {QStringLiteral("Hugging Face models"), {QStringLiteral("config.json")}}};
}

void ModelsPlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  // The host normally registers every module's jobs; make sure the lm ones are there when it did not.
  auto& global = core::JobRegistry::global();
  if (&workbench.jobs().registry() == &global && !global.contains("lm.attention")) lm::registerLmJobs(global);

  QMenu* menu = workbench.menu(QStringLiteral("Models"));
  QAction* openFileAction = menu->addAction(tr("Open model &file..."));
  openFileAction->setObjectName(QStringLiteral("modelsOpenFile"));
  connect(openFileAction, &QAction::triggered, this, [this] {
    const QString path = QFileDialog::getOpenFileName(
        workbench_->mainWindow(), tr("Open a language model"), QString(),
        tr("Language models (*.bin config.json);;llama2.c checkpoints (*.bin);;Hugging Face config (config.json)"));
    if (path.isEmpty()) return;
    QString error;
    if (openModel(path, &error)) workbench_->addRecentFile(path);
  });
  QAction* openFolder = menu->addAction(tr("Open model f&older..."));
  openFolder->setObjectName(QStringLiteral("modelsOpenFolder"));
  connect(openFolder, &QAction::triggered, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(workbench_->mainWindow(), tr("Open a Hugging Face model folder"));
    if (dir.isEmpty()) return;
    QString error;
    if (openModel(dir, &error)) workbench_->addRecentFile(QDir(dir).filePath(QStringLiteral("config.json")));
  });
  menu->addSeparator();
  auto docAction = [&](const QString& text, const QString& objectName, auto fn) {
    QAction* a = menu->addAction(text);
    a->setObjectName(objectName);
    connect(a, &QAction::triggered, this, [this, fn] {
      if (auto* doc = currentDocument()) fn(doc);
      else workbench_->log(tr("Open a model first (Models > Open model file...)"), true);
    });
    return a;
  };
  docAction(tr("&Generate"), QStringLiteral("modelsGenerate"), [](models::ModelDocument* d) {
    d->showTools(0);
    d->startGeneration();
  });
  docAction(tr("&Stop generation"), QStringLiteral("modelsStop"), [](models::ModelDocument* d) { d->stopGeneration(); });
  docAction(tr("Evaluate &perplexity"), QStringLiteral("modelsPerplexity"), [](models::ModelDocument* d) {
    d->showTools(1);
    d->startPerplexity();
  });
  docAction(tr("Compute &attention"), QStringLiteral("modelsAttention"), [](models::ModelDocument* d) {
    d->showTools(2);
    d->startAttention();
  });

  connect(&workbench.jobs(), &JobManager::jobFinished, this, &ModelsPlugin::onInspected);
}

models::ModelDocument* ModelsPlugin::currentDocument() const {
  models::ModelDocument* last = nullptr;
  for (const auto& doc : documents_) {
    if (!doc) continue;
    if (doc->isVisible()) return doc;
    last = doc;
  }
  return last;
}

bool ModelsPlugin::openFile(const QString& path, QString* error) { return openModel(path, error); }

bool ModelsPlugin::openModel(const QString& path, QString* error) {
  auto fail = [&](const QString& message) {
    if (error) *error = message;
    if (workbench_) workbench_->log(message, true);
    return false;
  };
  QFileInfo fi(path);
  QString model = fi.absoluteFilePath();
  if (fi.fileName() == QLatin1String("config.json")) model = fi.absolutePath();  // a Hugging Face folder
  if (QFileInfo(model).isDir() && !QFileInfo::exists(QDir(model).filePath(QStringLiteral("config.json"))))
    return fail(tr("%1 is not a Hugging Face model folder: it has no config.json").arg(model));
  if (!QFileInfo::exists(model)) return fail(tr("%1 does not exist").arg(model));
  if (!workbench_) return fail(tr("the Models plugin is not initialised"));
  int id = -1;
  try {
    id = workbench_->jobs().start(QStringLiteral("lm.inspect"), Json{{"model", model.toStdString()}}, QStringLiteral("cpu"));
  } catch (const std::exception& e) {
    return fail(tr("%1: %2").arg(model, QString::fromUtf8(e.what())));
  }
  pending_.insert(id, model);
  workbench_->log(tr("Reading %1 (lm.inspect #%2)").arg(model).arg(id));
  return true;
}

void ModelsPlugin::onInspected(int id, core::RunStatus status, const QString& runDir, const QString& error) {
  if (!pending_.contains(id)) return;
  const QString model = pending_.take(id);
  if (status != core::RunStatus::Completed) {
    workbench_->log(tr("Cannot open %1: %2").arg(model, error.isEmpty() ? QString::fromStdString(core::toString(status)) : error),
                    true);
    return;
  }
  const models::RunResult run = models::readRun(runDir);
  QString why = run.error;
  Json inspection;
  if (run.ok()) {
    const QString file = run.artifact(QStringLiteral("parameters.json"));
    if (file.isEmpty()) why = tr("lm.inspect left no parameters.json in %1").arg(runDir);
    else inspection = models::readJsonFile(file, &why);
  }
  if (!why.isEmpty() || !inspection.is_object()) {
    workbench_->log(tr("Cannot open %1: %2").arg(model, why.isEmpty() ? tr("parameters.json is not an object") : why), true);
    return;
  }
  auto* doc = new models::ModelDocument(*workbench_, model, inspection);
  documents_.append(doc);
  workbench_->addDocument(doc, QFileInfo(model).fileName());
  workbench_->activateDocument(doc);
  workbench_->log(tr("Opened model %1: %2 parameters").arg(model).arg(doc->totalParameters()));
}

}  // namespace atomscope::gui
