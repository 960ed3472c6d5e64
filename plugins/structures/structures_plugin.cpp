#include "structures_plugin.h"

#include <QAction>
#include <QActionGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QMainWindow>
#include <QMenu>
#include <QSpinBox>

#include "atomscope/gui/menu_actions.h"
#include "atomscope/gui/structure_view.h"
#include "atomscope/gui/workbench.h"
#include "structure_document.h"
#include "structure_gallery.h"
#include "structure_io.h"

namespace atomscope::gui {

QStringList StructuresPlugin::menuEntries() const {
  return {QStringLiteral("Structures/Open..."),           QStringLiteral("Structures/Export structure..."),
          QStringLiteral("Structures/Export image..."),   QStringLiteral("Structures/Reset view"),
          QStringLiteral("Structures/Style/Ball and stick"), QStringLiteral("Structures/Style/Space filling"),
          QStringLiteral("Structures/Style/Licorice"),    QStringLiteral("Structures/Style/Wireframe"),
          QStringLiteral("Structures/Show unit cell"),    QStringLiteral("Structures/Show axes"),
          QStringLiteral("Structures/Atom labels"),       QStringLiteral("Structures/Show forces"),
          QStringLiteral("Structures/Clear selection"),   QStringLiteral("Structures/White background")};
}

QList<FileType> StructuresPlugin::fileTypes() const { return structure_io::fileTypes(); }

void StructuresPlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  QMenu* menu = workbench.menu(QStringLiteral("Structures"));
  auto add = [&](QMenu* m, const QString& text, const char* name, const QKeySequence& key, auto fn) {
    return addMenuAction(m, text, name, key, this, std::move(fn));
  };
  auto withDoc = [this](auto fn) {
    return [this, fn] {
      if (StructureDocument* doc = currentDocument()) fn(doc);
    };
  };

  add(menu, tr("&Open..."), "structuresOpen", QKeySequence(), [this] { openWithDialog(); });
  add(menu, tr("&Export structure..."), "structuresExport", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E),
      [this] { exportWithDialog(); });
  add(menu, tr("Export &image..."), "structuresScreenshot", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P),
      [this] { screenshotWithDialog(); });
  add(menu, tr("&Reset view"), "structuresResetView", QKeySequence(),
      withDoc([](StructureDocument* d) { d->view()->resetCamera(); }));

  menu->addSeparator();
  QMenu* styleMenu = menu->addMenu(tr("Style"));
  styles_ = new QActionGroup(this);
  styles_->setExclusive(true);
  int key = Qt::Key_1;
  for (auto style : {StructureView::RenderStyle::BallAndStick, StructureView::RenderStyle::SpaceFill,
                     StructureView::RenderStyle::Licorice, StructureView::RenderStyle::Wireframe}) {
    QAction* a = styleMenu->addAction(StructureView::styleName(style));
    a->setCheckable(true);
    a->setChecked(style == StructureView::RenderStyle::BallAndStick);
    a->setData(static_cast<int>(style));
    a->setShortcut(QKeySequence(Qt::CTRL | key++));
    styles_->addAction(a);
  }
  connect(styles_, &QActionGroup::triggered, this, [this](QAction* a) {
    if (auto* doc = currentDocument()) doc->setRenderStyle(a->data().toInt());
  });

  showCell_ = add(menu, tr("Show unit &cell"), "structuresShowCell", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C),
                  [this](bool on) {
                    if (auto* doc = currentDocument())
                      if (auto* c = doc->findChild<QCheckBox*>(QStringLiteral("cellCheck"))) c->setChecked(on);
                  });
  showCell_->setCheckable(true);
  showCell_->setChecked(true);
  QAction* axes = add(menu, tr("Show &axes"), "structuresShowAxes", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A),
                      [this](bool on) {
                        if (auto* doc = currentDocument())
                          if (auto* c = doc->findChild<QCheckBox*>(QStringLiteral("axesCheck"))) c->setChecked(on);
                      });
  axes->setCheckable(true);
  axes->setChecked(true);
  add(menu, tr("Atom &labels (next kind)"), "structuresLabels", QKeySequence(Qt::CTRL | Qt::Key_L),
      withDoc([](StructureDocument* d) {
        if (auto* c = d->findChild<QComboBox*>(QStringLiteral("labelsCombo")))
          c->setCurrentIndex((c->currentIndex() + 1) % c->count());
      }));
  add(menu, tr("Show &forces"), "structuresForces", QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F),
      withDoc([](StructureDocument* d) {
        auto* c = d->findChild<QComboBox*>(QStringLiteral("vectorsCombo"));
        d->setVectorsShown(c && c->currentIndex() == 0);
      }));
  add(menu, tr("Clear &selection"), "structuresClearSelection", QKeySequence(),
      withDoc([](StructureDocument* d) { d->view()->clearSelection(); }));
  whiteBackground_ = add(menu, tr("&White background"), "structuresWhiteBackground", QKeySequence(), [this](bool on) {
    if (auto* doc = currentDocument()) doc->view()->setDarkBackground(!on);
  });
  whiteBackground_->setCheckable(true);
}

StructureDocument* StructuresPlugin::currentDocument() const {
  // The visible document is the current tab; fall back to the last opened.
  StructureDocument* last = nullptr;
  for (const auto& doc : documents_) {
    if (!doc) continue;
    if (doc->isVisible()) return doc;
    last = doc;
  }
  return last;
}

StructureDocument* StructuresPlugin::openStructure(const QString& title, const QString& path, chem::Trajectory frames) {
  auto* doc = new StructureDocument(path, std::move(frames));
  // Apply the menu's current choices to the new view.
  if (styles_ && styles_->checkedAction()) doc->setRenderStyle(styles_->checkedAction()->data().toInt());
  if (whiteBackground_) doc->view()->setDarkBackground(!whiteBackground_->isChecked());
  documents_.append(doc);
  if (workbench_) {
    workbench_->addDocument(doc, title);
    workbench_->activateDocument(doc);
  }
  return doc;
}

bool StructuresPlugin::openFile(const QString& path, QString* error) {
  chem::Trajectory frames;
  auto fail = [&](const QString& message) {
    if (error) *error = message;
    if (workbench_) workbench_->log(message, true);
    return false;
  };
  try {
    frames = structure_io::read(path);
  } catch (const std::exception& e) {
    return fail(QString::fromUtf8(e.what()));
  }
  if (frames.empty()) return fail(QStringLiteral("%1: the file holds no structure").arg(path));
  const std::size_t count = frames.size();
  const QString formula = QString::fromStdString(frames.front().formula());
  const std::size_t atoms = frames.front().size();
  const QString name = QFileInfo(path).fileName();
  if (structure_io::isTrajectory(frames)) {
    openStructure(name, path, std::move(frames));
  } else {
    auto* gallery = new StructureGallery(path, std::move(frames));
    galleries_.append(gallery);
    connect(gallery, &StructureGallery::structureActivated, this, [this, gallery](int i) {
      const chem::Structure& s = gallery->structures().at(static_cast<std::size_t>(i));
      openStructure(QStringLiteral("%1 #%2 %3").arg(QFileInfo(gallery->path()).fileName()).arg(i).arg(QString::fromStdString(s.formula())),
                    gallery->path(), chem::Trajectory{s});
    });
    if (workbench_) {
      workbench_->addDocument(gallery, name);
      workbench_->activateDocument(gallery);
    }
  }
  if (workbench_) {
    workbench_->addRecentFile(path);
    workbench_->log(QStringLiteral("Opened %1: %2 structure(s), first %3 (%4 atoms)").arg(path).arg(count).arg(formula).arg(atoms));
  }
  return true;
}

void StructuresPlugin::openWithDialog() {
  QWidget* parent = workbench_ ? workbench_->mainWindow() : nullptr;
  const QStringList paths = QFileDialog::getOpenFileNames(parent, tr("Open structures"), QString(), structure_io::openFilter());
  for (const QString& p : paths) {
    QString error;
    openFile(p, &error);  // errors are logged by openFile
  }
}

void StructuresPlugin::exportWithDialog() {
  StructureDocument* doc = currentDocument();
  if (!doc) {
    if (workbench_) workbench_->log(tr("Export: open a structure first"), true);
    return;
  }
  QWidget* parent = workbench_ ? workbench_->mainWindow() : nullptr;
  const QString suggested = QFileInfo(doc->path()).completeBaseName() + QStringLiteral("_frame%1.xyz").arg(doc->view()->currentFrame());
  const QString path = QFileDialog::getSaveFileName(parent, tr("Export structure"), suggested, structure_io::saveFilter());
  if (path.isEmpty()) return;
  QString error;
  if (doc->exportStructure(path, &error))
    workbench_->log(tr("Exported %1").arg(path));
  else
    workbench_->log(tr("Export failed: %1").arg(error), true);
}

void StructuresPlugin::screenshotWithDialog() {
  StructureDocument* doc = currentDocument();
  if (!doc) {
    if (workbench_) workbench_->log(tr("Export image: open a structure first"), true);
    return;
  }
  QWidget* parent = workbench_ ? workbench_->mainWindow() : nullptr;
  QDialog dialog(parent);
  dialog.setWindowTitle(tr("Export image"));
  auto* form = new QFormLayout(&dialog);
  auto* width = new QSpinBox(&dialog);
  auto* height = new QSpinBox(&dialog);
  width->setRange(16, 16384);
  height->setRange(16, 16384);
  width->setValue(1600);
  height->setValue(1200);
  form->addRow(tr("Width (pixels)"), width);
  form->addRow(tr("Height (pixels)"), height);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
  form->addRow(buttons);
  connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  if (dialog.exec() != QDialog::Accepted) return;
  const QString suggested = QFileInfo(doc->path()).completeBaseName() + QStringLiteral(".png");
  const QString path = QFileDialog::getSaveFileName(parent, tr("Save image"), suggested, tr("PNG images (*.png)"));
  if (path.isEmpty()) return;
  QString error;
  if (doc->view()->saveScreenshot(path, width->value(), height->value(), &error))
    workbench_->log(tr("Saved %1 (%2 x %3)").arg(path).arg(width->value()).arg(height->value()));
  else
    workbench_->log(tr("Image export failed: %1").arg(error), true);
}

}  // namespace atomscope::gui
