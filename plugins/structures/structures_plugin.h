#pragma once
// The Structures plugin: opens every structure format chem reads (XYZ always; CIF, POSCAR, PDB,
// SDF, MOL2, CDVAE CSV, SMILES through chem's format registry), one document tab per file: a
// trajectory or single structure in a StructureDocument, a collection of different structures
// in a StructureGallery. The Structures menu holds the view actions and their shortcuts.
#include <QList>
#include <QObject>
#include <QPointer>

#include "atomscope/chem/structure.h"
#include "atomscope/gui/plugin.h"

class QAction;
class QActionGroup;
class QWidget;

namespace atomscope::gui {

class StructureDocument;
class StructureGallery;

class StructuresPlugin : public QObject, public Plugin {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID ATOMSCOPE_PLUGIN_IID FILE "structures.json")
  Q_INTERFACES(atomscope::gui::Plugin)

 public:
  QString name() const override { return QStringLiteral("Structures"); }
  QString version() const override { return QStringLiteral("0.2.0"); }
  QString description() const override {
    return QStringLiteral("Molecules, crystals, trajectories and structure data sets in a 3D view.");
  }
  QStringList panels() const override { return {}; }
  QStringList menuEntries() const override;
  QList<FileType> fileTypes() const override;
  void initialize(Workbench& workbench) override;
  bool openFile(const QString& path, QString* error) override;

  // Opens one structure of a gallery in its own document tab.
  StructureDocument* openStructure(const QString& title, const QString& path, chem::Trajectory frames);

 private:
  StructureDocument* currentDocument() const;
  void openWithDialog();
  void screenshotWithDialog();
  void exportWithDialog();

  Workbench* workbench_ = nullptr;
  QList<QPointer<StructureDocument>> documents_;
  QList<QPointer<StructureGallery>> galleries_;
  QActionGroup* styles_ = nullptr;
  QAction* showCell_ = nullptr;
  QAction* whiteBackground_ = nullptr;
};

}  // namespace atomscope::gui
