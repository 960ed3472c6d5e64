#pragma once
// The Structures plugin: File > Open for .xyz / .extxyz, a Structures menu (Open..., Reset view,
// Screenshot..., render styles, unit cell, background) and one document tab per opened file.
#include <QList>
#include <QObject>
#include <QPointer>

#include "atomscope/gui/plugin.h"

class QAction;
class QActionGroup;

namespace atomscope::gui {

class StructureDocument;

class StructuresPlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "structures.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("Structures"); }
  QString version() const override { return QStringLiteral("0.1.0"); }
  QString description() const override {
    return QStringLiteral("Opens XYZ and extended XYZ molecules, crystals and trajectories in a 3D view.");
  }
  QStringList panels() const override { return {}; }
  QStringList menuEntries() const override;
  QList<FileType> fileTypes() const override;
  void initialize(Workbench& workbench) override;
  bool openFile(const QString& path, QString* error) override;

 private:
  StructureDocument* currentDocument() const;
  void openWithDialog();
  void screenshotWithDialog();

  Workbench* workbench_ = nullptr;
  QList<QPointer<StructureDocument>> documents_;
  QActionGroup* styles_ = nullptr;
  QAction* showCell_ = nullptr;
  QAction* whiteBackground_ = nullptr;
};

}  // namespace atomscope::gui
