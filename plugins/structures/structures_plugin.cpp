#include "structures_plugin.h"

#include <QAction>
#include <QActionGroup>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QMainWindow>
#include <QMenu>
#include <QSpinBox>

#include "atomscope/chem/xyz.h"
#include "atomscope/gui/structure_view.h"
#include "atomscope/gui/workbench.h"
#include "structure_document.h"

namespace atomscope::gui {

QStringList StructuresPlugin::menuEntries() const {
  return {QStringLiteral("Structures/Open..."), QStringLiteral("Structures/Reset view"),
          QStringLiteral("Structures/Screenshot..."), QStringLiteral("Structures/Style/Ball and stick"),
          QStringLiteral("Structures/Style/Space filling"), QStringLiteral("Structures/Style/Licorice"),
          QStringLiteral("Structures/Style/Wireframe"), QStringLiteral("Structures/Show unit cell"),
          QStringLiteral("Structures/White background")};
}

QList<FileType> StructuresPlugin::fileTypes() const {
  return {{QStringLiteral("XYZ structures"), {QStringLiteral("*.xyz"), QStringLiteral("*.extxyz")}}};
}

void StructuresPlugin::initialize(Workbench& workbench) {
  workbench_ = &workbench;
  QMenu* menu = workbench.menu(QStringLiteral("Structures"));

  QAction* open = menu->addAction(tr("&Open..."));
  open->setObjectName(QStringLiteral("structuresOpen"));
  connect(open, &QAction::triggered, this, [this] { openWithDialog(); });

  QAction* reset = menu->addAction(tr("&Reset view"));
  reset->setObjectName(QStringLiteral("structuresResetView"));
  connect(reset, &QAction::triggered, this, [this] {
    if (auto* doc = currentDocument()) doc->view()->resetCamera();
  });

  QAction* shot = menu->addAction(tr("&Screenshot..."));
  shot->setObjectName(QStringLiteral("structuresScreenshot"));
  connect(shot, &QAction::triggered, this, [this] { screenshotWithDialog(); });

  menu->addSeparator();
  QMenu* styleMenu = menu->addMenu(tr("Style"));
  styles_ = new QActionGroup(this);
  styles_->setExclusive(true);
  for (auto style : {StructureView::RenderStyle::BallAndStick, StructureView::RenderStyle::SpaceFill,
                     StructureView::RenderStyle::Licorice, StructureView::RenderStyle::Wireframe}) {
    QAction* a = styleMenu->addAction(StructureView::styleName(style));
    a->setCheckable(true);
    a->setChecked(style == StructureView::RenderStyle::BallAndStick);
    a->setData(static_cast<int>(style));
    styles_->addAction(a);
  }
  connect(styles_, &QActionGroup::triggered, this, [this](QAction* a) {
    if (auto* doc = currentDocument())
      doc->view()->setRenderStyle(static_cast<StructureView::RenderStyle>(a->data().toInt()));
  });

  showCell_ = menu->addAction(tr("Show unit &cell"));
  showCell_->setCheckable(true);
  showCell_->setChecked(true);
  connect(showCell_, &QAction::toggled, this, [this](bool on) {
    if (auto* doc = currentDocument()) doc->view()->setShowCell(on);
  });
  whiteBackground_ = menu->addAction(tr("&White background"));
  whiteBackground_->setCheckable(true);
  connect(whiteBackground_, &QAction::toggled, this, [this](bool on) {
    if (auto* doc = currentDocument()) doc->view()->setDarkBackground(!on);
  });
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

bool StructuresPlugin::openFile(const QString& path, QString* error) {
  chem::Trajectory frames;
  try {
    frames = chem::readXyz(path.toStdString());
  } catch (const std::exception& e) {
    const QString message = QString::fromUtf8(e.what());
    if (error) *error = message;
    if (workbench_) workbench_->log(message, true);
    return false;
  }
  if (frames.empty()) {
    const QString message = QStringLiteral("%1: the file holds no structure").arg(path);
    if (error) *error = message;
    if (workbench_) workbench_->log(message, true);
    return false;
  }
  const std::size_t frameCount = frames.size();
  const QString formula = QString::fromStdString(frames.front().formula());
  const std::size_t atoms = frames.front().size();
  auto* doc = new StructureDocument(path, std::move(frames));
  // Apply the menu's current choices to the new view.
  if (styles_ && styles_->checkedAction())
    doc->view()->setRenderStyle(static_cast<StructureView::RenderStyle>(styles_->checkedAction()->data().toInt()));
  if (showCell_) doc->view()->setShowCell(showCell_->isChecked());
  if (whiteBackground_) doc->view()->setDarkBackground(!whiteBackground_->isChecked());
  documents_.append(doc);
  if (workbench_) {
    workbench_->addDocument(doc, QFileInfo(path).fileName());
    workbench_->activateDocument(doc);
    workbench_->addRecentFile(path);
    workbench_->log(QStringLiteral("Opened %1: %2 frame(s), %3 (%4 atoms)")
                        .arg(path)
                        .arg(frameCount)
                        .arg(formula)
                        .arg(atoms));
  }
  return true;
}

void StructuresPlugin::openWithDialog() {
  QWidget* parent = workbench_ ? workbench_->mainWindow() : nullptr;
  const QStringList paths = QFileDialog::getOpenFileNames(parent, tr("Open structures"), QString(),
                                                          tr("XYZ structures (*.xyz *.extxyz);;All files (*)"));
  for (const QString& p : paths) {
    QString error;
    openFile(p, &error);  // errors are logged by openFile
  }
}

void StructuresPlugin::screenshotWithDialog() {
  StructureDocument* doc = currentDocument();
  if (!doc) {
    if (workbench_) workbench_->log(tr("Screenshot: open a structure first"), true);
    return;
  }
  QWidget* parent = workbench_ ? workbench_->mainWindow() : nullptr;
  QDialog dialog(parent);
  dialog.setWindowTitle(tr("Structure screenshot"));
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
  const QString path = QFileDialog::getSaveFileName(parent, tr("Save screenshot"), suggested, tr("PNG images (*.png)"));
  if (path.isEmpty()) return;
  QString error;
  if (doc->view()->saveScreenshot(path, width->value(), height->value(), &error))
    workbench_->log(tr("Saved %1 (%2 x %3)").arg(path).arg(width->value()).arg(height->value()));
  else
    workbench_->log(tr("Screenshot failed: %1").arg(error), true);
}

}  // namespace atomscope::gui
