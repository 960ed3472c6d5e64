// The Structures plugin in a real main window: trajectory playback by button, spin box and keys;
// the properties and per-atom tables against ASE on the same file; a gallery for a file of
// different molecules (click opens one); files dropped on the window; structure export read back
// by ASE; the measurement line after clicks. Pictures go to <build>/test_output/structure_plugin/.
#include <gtest/gtest.h>

#include <QAbstractItemModel>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QItemSelectionModel>
#include <algorithm>
#include <QLabel>
#include <QListWidget>
#include <QMimeData>
#include <QProcess>
#include <QSlider>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>
#include <QUrl>

#include "../common/test_util.h"
#include "atomscope/chem/xyz.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/structure_view.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {


QString runPython(const QString& script, const QStringList& args) {
  QProcess p;
  p.start(QStringLiteral("/usr/bin/python3"), QStringList{QStringLiteral("-c"), script} + args);
  if (!p.waitForFinished(60000)) return {};
  if (p.exitCode() != 0) ADD_FAILURE() << p.readAllStandardError().toStdString();
  return QString::fromUtf8(p.readAllStandardOutput()).trimmed();
}

class StructuresPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    window = std::make_unique<MainWindow>(runs.path());
    window->resize(1200, 760);
    window->loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
    window->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(window.get()));
    // Shortcuts (space, arrows) need the window to be the active one.
    window->activateWindow();
    ASSERT_TRUE(QTest::qWaitForWindowActive(window.get()));
  }
  QWidget* open(const QString& path) {
    QString error;
    const int before = window->documents()->count();
    EXPECT_TRUE(window->openFile(path, &error)) << error.toStdString();
    EXPECT_EQ(window->documents()->count(), before + 1);
    QCoreApplication::processEvents();
    return window->documents()->currentWidget();
  }
  QTemporaryDir runs;
  std::unique_ptr<MainWindow> window;
};

TEST_F(StructuresPluginTest, PlaybackByButtonSpinBoxAndKeys) {
  QWidget* doc = open(test::sharedData("md_forces/rmd17_ethanol_reduced_100.xyz"));
  auto* view = doc->findChild<StructureView*>();
  auto* slider = doc->findChild<QSlider*>(QStringLiteral("frameSlider"));
  auto* play = doc->findChild<QToolButton*>(QStringLiteral("playButton"));
  auto* fps = doc->findChild<QSpinBox*>(QStringLiteral("fpsSpin"));
  ASSERT_TRUE(view && slider && play && fps);
  EXPECT_EQ(slider->maximum(), 99);
  view->setFocus();
  QTest::keyClick(view, Qt::Key_Right);
  EXPECT_EQ(view->currentFrame(), 1);
  EXPECT_EQ(slider->value(), 1);
  QTest::keyClick(view, Qt::Key_Left);
  QTest::keyClick(view, Qt::Key_Left);  // wraps to the last frame
  EXPECT_EQ(view->currentFrame(), 99);
  QTest::keyClick(view, Qt::Key_Home);
  EXPECT_EQ(view->currentFrame(), 0);

  fps->setValue(50);
  QTest::keyClick(view, Qt::Key_Space);
  EXPECT_TRUE(play->isChecked());
  // At 50 frames/s about 10 frames pass in 200 ms; wait for at least 5.
  EXPECT_TRUE(test::waitUntil([&] { return view->currentFrame() >= 5; }, 5000)) << view->currentFrame();
  QTest::keyClick(view, Qt::Key_Space);
  EXPECT_FALSE(play->isChecked());
  const int stopped = view->currentFrame();
  QTest::qWait(150);
  EXPECT_EQ(view->currentFrame(), stopped);
  play->click();
  EXPECT_TRUE(play->isChecked());
  play->click();
}

TEST_F(StructuresPluginTest, PropertiesAndAtomTablesAgreeWithAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const QString file = test::sharedData("md_forces/mlip_test.xyz");
  QWidget* doc = open(file);
  auto* table = doc->findChild<QTableWidget*>(QStringLiteral("structureProperties"));
  auto* atoms = doc->findChild<QTableView*>(QStringLiteral("atomTable"));
  ASSERT_TRUE(table && atoms);
  QMap<QString, QString> rows;
  for (int r = 0; r < table->rowCount(); ++r) rows[table->item(r, 0)->text()] = table->item(r, 1)->text();
  // Reference: ASE on the same file (energy, volume, atom count, a force component, the last x).
  const QStringList ref =
      runPython(QStringLiteral("import sys\nfrom ase.io import read\na = read(sys.argv[1], index=0)\n"
                               "print(repr(a.info['dft_energy']), repr(a.get_volume()), len(a), "
                               "repr(float(a.arrays['dft_forces'][7][2])), repr(float(a.positions[-1][0])))\n"),
                {file})
          .split(' ');
  ASSERT_EQ(ref.size(), 5);
  EXPECT_NEAR(rows.value(QStringLiteral("Energy (dft_energy)")).toDouble(), ref[0].toDouble(), 1e-6);
  EXPECT_NEAR(rows.value(QStringLiteral("Volume (Å³)")).toDouble(), ref[1].toDouble(), 1e-3);
  EXPECT_EQ(rows.value(QStringLiteral("Atoms")).toInt(), ref[2].toInt());
  QAbstractItemModel* m = atoms->model();
  ASSERT_EQ(m->rowCount(), ref[2].toInt());
  int forceZ = -1;
  for (int c = 0; c < m->columnCount(); ++c)
    if (m->headerData(c, Qt::Horizontal).toString() == QStringLiteral("dft_forces[2]")) forceZ = c;
  ASSERT_GE(forceZ, 0);
  EXPECT_NEAR(m->data(m->index(7, forceZ)).toString().toDouble(), ref[3].toDouble(), 1e-6);
  EXPECT_NEAR(m->data(m->index(m->rowCount() - 1, 2)).toString().toDouble(), ref[4].toDouble(), 1e-5);
  EXPECT_EQ(m->data(m->index(0, 1)).toString(), QStringLiteral("Zr").left(m->data(m->index(0, 1)).toString().size()));

  // Supercell spin boxes grow the per-atom table.
  auto* ra = doc->findChild<QSpinBox*>(QStringLiteral("repeat_a"));
  ASSERT_NE(ra, nullptr);
  EXPECT_TRUE(ra->isEnabled());
  ra->setValue(2);
  EXPECT_EQ(m->rowCount(), 2 * ref[2].toInt());
  window->grab().save(test::outputDir(QStringLiteral("structure_plugin")) + "/mlip_repeat_a2_window.png");
}

TEST_F(StructuresPluginTest, MeasurementLineFollowsClicks) {
  QWidget* doc = open(test::sharedData("md_forces/md17_aspirin_15frames.xyz"));
  auto* view = doc->findChild<StructureView*>();
  auto* label = doc->findChild<QLabel*>(QStringLiteral("measurementLabel"));
  ASSERT_TRUE(view && label);
  std::vector<int> visible;
  for (int i = 0; i < 21 && visible.size() < 3; ++i) {
    const auto p = view->atomWidgetPosition(i);
    if (p && view->atomAt(QPointF(p->toPoint())) == i) visible.push_back(i);
  }
  ASSERT_EQ(visible.size(), 3u);
  for (int i : visible) QTest::mouseClick(view, Qt::LeftButton, Qt::NoModifier, view->atomWidgetPosition(i)->toPoint());
  EXPECT_TRUE(label->text().startsWith(QStringLiteral("Angle"))) << label->text().toStdString();
  EXPECT_TRUE(label->text().contains(QString::number(view->measurement().value, 'f', 2)));
  window->grab().save(test::outputDir(QStringLiteral("structure_plugin")) + "/aspirin_angle_window.png");
  // The atoms table follows: the three picked atoms are its selected rows.
  auto* table = doc->findChild<QTableView*>(QStringLiteral("atomTable"));
  ASSERT_NE(table, nullptr);
  std::vector<int> rows;
  for (const QModelIndex& i : table->selectionModel()->selectedRows()) rows.push_back(i.row());
  std::sort(rows.begin(), rows.end());
  std::vector<int> picked = visible;
  std::sort(picked.begin(), picked.end());
  EXPECT_EQ(rows, picked);
  // And the other way: rows picked in the table select those atoms, in pick order (a distance for two).
  table->selectionModel()->clearSelection();
  EXPECT_TRUE(view->selection().empty());
  auto* model = table->model();
  table->selectionModel()->select(model->index(4, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
  table->selectionModel()->select(model->index(1, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
  EXPECT_EQ(view->selection(), (std::vector<int>{4, 1}));
  EXPECT_TRUE(label->text().startsWith(QStringLiteral("Distance"))) << label->text().toStdString();
  const auto& pos = view->displayedStructure()->positions;
  EXPECT_NEAR(view->measurement().value, StructureView::distance(pos[4], pos[1]), 1e-12);
  // Escape clears the selection (before the window's Escape shortcut).
  view->setFocus();
  QTest::keyClick(view, Qt::Key_Escape);
  EXPECT_TRUE(view->selection().empty());
  EXPECT_TRUE(label->text().startsWith(QStringLiteral("Click atoms")));
}

TEST_F(StructuresPluginTest, GalleryForManyDifferentMolecules) {
  const QString file = test::sharedData("qm9/qm9_reduced_100.xyz");
  QWidget* gallery = open(file);
  auto* list = gallery->findChild<QListWidget*>(QStringLiteral("structureGallery"));
  ASSERT_NE(list, nullptr) << "a file of different molecules opens as a gallery";
  EXPECT_EQ(list->count(), 100);
  EXPECT_EQ(gallery->findChild<QSlider*>(QStringLiteral("frameSlider")), nullptr);
  // Thumbnails come a few at a time; the first rows are drawn soon.
  const QIcon blank = list->item(99)->icon();
  ASSERT_TRUE(test::waitUntil(
      [&] { return list->item(11)->icon().pixmap(64).toImage() != blank.pixmap(64).toImage(); }, 30000));
  window->grab().save(test::outputDir(QStringLiteral("structure_plugin")) + "/qm9_gallery_window.png");
  const QImage thumb = list->item(5)->icon().pixmap(150).toImage().convertToFormat(QImage::Format_RGB888);
  long bright = 0;  // lit atoms; the dark background gradient stays below a value of 80
  for (int y = 0; y < thumb.height(); ++y)
    for (int x = 0; x < thumb.width(); ++x) bright += thumb.pixelColor(x, y).value() > 120;
  EXPECT_GT(bright, 200);

  // A click opens that molecule in its own tab.
  const int before = window->documents()->count();
  const QRect r = list->visualItemRect(list->item(5));
  QTest::mouseClick(list->viewport(), Qt::LeftButton, Qt::NoModifier, r.center());
  ASSERT_EQ(window->documents()->count(), before + 1);
  auto* view = window->documents()->currentWidget()->findChild<StructureView*>();
  ASSERT_NE(view, nullptr);
  const chem::Structure expected = chem::readXyz(file.toStdString()).at(5);
  ASSERT_NE(view->structure(), nullptr);
  EXPECT_EQ(view->structure()->numbers, expected.numbers);
  EXPECT_EQ(view->structure()->positions, expected.positions);
}

TEST_F(StructuresPluginTest, GalleryForCdvaeCsvOfCrystals) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("pymatgen.core");
  const QString file = test::sharedData("crystals/mp_20_subset_val.csv");
  QWidget* gallery = open(file);
  auto* list = gallery->findChild<QListWidget*>(QStringLiteral("structureGallery"));
  ASSERT_NE(list, nullptr);
  // Reference: Python's csv module counts the rows; pymatgen parses row 7's CIF.
  const QStringList ref = runPython(
      QStringLiteral("import sys, csv\nfrom pymatgen.core import Structure\n"
                     "rows = list(csv.DictReader(open(sys.argv[1])))\n"
                     "s = Structure.from_str(rows[7]['cif'], fmt='cif')\n"
                     "print(len(rows), len(s), rows[7]['material_id'], repr(s.volume))\n"),
      {file}).split(' ');
  ASSERT_EQ(ref.size(), 4);
  EXPECT_EQ(list->count(), ref[0].toInt());
  EXPECT_TRUE(list->item(7)->text().contains(ref[2])) << list->item(7)->text().toStdString();
  ASSERT_TRUE(test::waitUntil([&] { return list->item(11)->icon().pixmap(150).toImage().pixelColor(75, 75) != QColor(40, 44, 52); }, 30000));
  window->grab().save(test::outputDir(QStringLiteral("structure_plugin")) + "/mp20_gallery_window.png");
  const int before = window->documents()->count();
  QTest::mouseClick(list->viewport(), Qt::LeftButton, Qt::NoModifier, list->visualItemRect(list->item(7)).center());
  ASSERT_EQ(window->documents()->count(), before + 1);
  auto* view = window->documents()->currentWidget()->findChild<StructureView*>();
  ASSERT_TRUE(view && view->structure());
  EXPECT_TRUE(view->structure()->isPeriodic());
  EXPECT_EQ(static_cast<int>(view->structure()->size()), ref[1].toInt());
  EXPECT_NEAR(std::abs(view->structure()->cellVolume()), ref[3].toDouble(), 1e-6);
  window->grab().save(test::outputDir(QStringLiteral("structure_plugin")) + "/mp20_row7_window.png");
}

TEST_F(StructuresPluginTest, DroppedFilesOpen) {
  const int before = window->documents()->count();
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(test::sharedData("md_forces/md17_aspirin_15frames.xyz")),
                QUrl::fromLocalFile(test::sharedData("md_forces/mlip_valid.xyz"))});
  const QPoint at = window->rect().center();
  QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(window.get(), &enter);
  EXPECT_TRUE(enter.isAccepted());
  QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(window.get(), &drop);
  EXPECT_EQ(window->documents()->count(), before + 2);
  auto* view = window->documents()->currentWidget()->findChild<StructureView*>();
  ASSERT_NE(view, nullptr);
  ASSERT_NE(view->structure(), nullptr);
  EXPECT_TRUE(view->structure()->isPeriodic());  // mlip_valid.xyz, the last dropped
}

TEST_F(StructuresPluginTest, ExportedXyzReadsBackInAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const QString file = test::sharedData("md_forces/md17_aspirin_15frames.xyz");
  QWidget* doc = open(file);
  auto* view = doc->findChild<StructureView*>();
  ASSERT_NE(view, nullptr);
  view->setFocus();
  for (int k = 0; k < 3; ++k) QTest::keyClick(view, Qt::Key_Right);
  ASSERT_EQ(view->currentFrame(), 3);
  QTemporaryDir dir;
  // StructureDocument::exportTo is what Structures > Export structure... calls after its dialog.
  for (const char* ext : {"xyz", "pdb", "sdf"}) {
    SCOPED_TRACE(ext);
    const QString out = dir.filePath(QStringLiteral("aspirin_frame3.") + QLatin1String(ext));
    QString error = QStringLiteral("not called");
    ASSERT_TRUE(QMetaObject::invokeMethod(doc, "exportTo", Qt::DirectConnection, Q_RETURN_ARG(QString, error),
                                          Q_ARG(QString, out)));
    ASSERT_TRUE(error.isEmpty()) << error.toStdString();
    // ASE reads the export back: same formula, positions within the format's precision
    // (xyz full, pdb 3 decimals, sdf 4 decimals, cif as written).
    const QString diff = runPython(
        QStringLiteral("import sys, numpy as np\nfrom ase.io import read\n"
                       "a = read(sys.argv[1], index=3); b = read(sys.argv[2])\n"
                       "print(a.get_chemical_formula() == b.get_chemical_formula(), float(np.abs(a.positions - b.positions).max()))\n"),
        {file, out});
    EXPECT_TRUE(diff.startsWith(QStringLiteral("True "))) << diff.toStdString();
    EXPECT_LT(diff.section(' ', 1).toDouble(), std::string(ext) == "xyz" ? 1e-9 : 1e-3);
  }
  // A crystal to CIF: same cell, and the same fractional positions modulo whole cells.
  QWidget* crystal = open(test::sharedData("md_forces/mlip_test.xyz"));
  const QString cif = dir.filePath(QStringLiteral("mlip.cif"));
  QString cifError = QStringLiteral("not called");
  ASSERT_TRUE(QMetaObject::invokeMethod(crystal, "exportTo", Qt::DirectConnection, Q_RETURN_ARG(QString, cifError),
                                        Q_ARG(QString, cif)));
  ASSERT_TRUE(cifError.isEmpty()) << cifError.toStdString();
  const QString cifDiff = runPython(
      QStringLiteral("import sys, numpy as np\nfrom ase.io import read\n"
                     "a = read(sys.argv[1], index=0); b = read(sys.argv[2])\n"
                     "d = a.get_scaled_positions(wrap=False) - b.get_scaled_positions(wrap=False); d -= np.round(d)\n"
                     "print(a.get_chemical_formula() == b.get_chemical_formula(), float(np.abs(a.cell.cellpar() - b.cell.cellpar()).max()), float(np.abs(d).max()))\n"),
      {test::sharedData("md_forces/mlip_test.xyz"), cif});
  const QStringList parts = cifDiff.split(' ');
  ASSERT_EQ(parts.size(), 3) << cifDiff.toStdString();
  EXPECT_EQ(parts[0], QStringLiteral("True"));
  EXPECT_LT(parts[1].toDouble(), 1e-4);
  EXPECT_LT(parts[2].toDouble(), 1e-5);
  // PNG at a size unlike the widget's: the file has exactly that many pixels.
  const QString png = dir.filePath(QStringLiteral("aspirin.png"));
  QString error;
  ASSERT_TRUE(QMetaObject::invokeMethod(doc, "exportImage", Qt::DirectConnection, Q_RETURN_ARG(QString, error),
                                        Q_ARG(QString, png), Q_ARG(int, 2345), Q_ARG(int, 777)));
  ASSERT_TRUE(error.isEmpty()) << error.toStdString();
  EXPECT_EQ(QImage(png).size(), QSize(2345, 777));
}

}  // namespace
}  // namespace atomscope::gui
