#pragma once
// The Models plugin: opens language models (llama2.c .bin checkpoints; Hugging Face folders, by
// their config.json or the "Open model folder..." action), runs lm.inspect and shows one document
// tab per model (architecture tree, Generate, Perplexity, Attention). Everything runs as lm.* jobs.
#include <QHash>
#include <QList>
#include <QObject>
#include <QPointer>

#include "atomscope/core/run_dir.h"
#include "atomscope/gui/plugin.h"

namespace atomscope::gui {

namespace models {
class ModelDocument;
}

class ModelsPlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "models.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("Models"); }
  QString version() const override { return QStringLiteral("0.1.0"); }
  QString description() const override {
    return QStringLiteral(
        "Opens language models (llama2.c .bin, Hugging Face folders): architecture, generation, perplexity and "
        "attention maps.");
  }
  QStringList jobs() const override;
  QStringList menuEntries() const override;
  QList<FileType> fileTypes() const override;
  void initialize(Workbench& workbench) override;
  bool openFile(const QString& path, QString* error) override;
  // Opens a Hugging Face model folder (with config.json) or a .bin file; starts lm.inspect.
  bool openModel(const QString& path, QString* error);

 private:
  models::ModelDocument* currentDocument() const;
  void onInspected(int id, core::RunStatus status, const QString& runDir, const QString& error);

  Workbench* workbench_ = nullptr;
  QHash<int, QString> pending_;  // lm.inspect job id -> model path
  QList<QPointer<models::ModelDocument>> documents_;
};

}  // namespace atomscope::gui
