// StructureView features beyond drawing: atom labels, axes, supercell repeat, picking atoms by
// click with distance / angle / dihedral checked against numpy and ASE on the same file, per-atom
// force arrows, and the reduced picture while interacting. Pictures go to
// <build>/test_output/structure_features/ for a person to look at.
#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QTest>
#include <cmath>
#include <set>

#include "atomscope/chem/xyz.h"
#include "atomscope/gui/structure_view.h"
#include "../common/test_util.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {


// Fraction of pixels that differ by more than 8 in some channel.
double changedFraction(const QImage& a0, const QImage& b0, QRect area = {}) {
  const QImage a = a0.convertToFormat(QImage::Format_RGB888), b = b0.convertToFormat(QImage::Format_RGB888);
  if (a.size() != b.size()) return 1.0;
  if (area.isNull()) area = a.rect();
  long changed = 0;
  for (int y = area.top(); y <= area.bottom(); ++y)
    for (int x = area.left(); x <= area.right(); ++x) {
      const uchar* p = a.constScanLine(y) + 3 * x;
      const uchar* q = b.constScanLine(y) + 3 * x;
      if (std::abs(p[0] - q[0]) > 8 || std::abs(p[1] - q[1]) > 8 || std::abs(p[2] - q[2]) > 8) ++changed;
    }
  return static_cast<double>(changed) / (static_cast<double>(area.width()) * area.height());
}

template <class Pred>
long countPixels(const QImage& src, Pred pred) {
  const QImage img = src.convertToFormat(QImage::Format_RGB888);
  long n = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const uchar* p = img.constScanLine(y) + 3 * x;
      n += pred(int(p[0]), int(p[1]), int(p[2]));
    }
  return n;
}

// Runs a Python script with Debian's python3 and returns its standard output.
QString runPython(const QString& script, const QStringList& args) {
  QProcess p;
  p.start(QStringLiteral("/usr/bin/python3"), QStringList{QStringLiteral("-c"), script} + args);
  if (!p.waitForFinished(60000)) return {};
  if (p.exitCode() != 0) ADD_FAILURE() << p.readAllStandardError().toStdString();
  return QString::fromUtf8(p.readAllStandardOutput()).trimmed();
}

class StructureFeaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    view = std::make_unique<StructureView>();
    view->resize(640, 480);
    view->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(view.get()));
  }
  QImage grab() {
    QCoreApplication::processEvents();
    return view->grabImage();
  }
  std::unique_ptr<StructureView> view;
};

// The view's element colours are Jmol's: ASE's jmol_colors table (copied from Jmol's
// jmol.sourceforge.net/jscolors) for every element it lists.
TEST(StructureViewColours, JmolTableAsAse) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const QString out = runPython(QStringLiteral("from ase.data.colors import jmol_colors as c\n"
                                               "print(' '.join('%d,%d,%d' % tuple(round(float(v) * 255) for v in c[z]) for z in range(1, len(c))))\n"),
                                {});
  const QStringList colours = out.split(' ');
  ASSERT_GE(colours.size(), 100);
  for (int z = 1; z <= colours.size(); ++z) {
    const QStringList rgb = colours[z - 1].split(',');
    ASSERT_EQ(rgb.size(), 3);
    EXPECT_EQ(StructureView::atomColor(z), QColor(rgb[0].toInt(), rgb[1].toInt(), rgb[2].toInt())) << "Z = " << z;
  }
  EXPECT_EQ(StructureView::atomColor(0), QColor(255, 20, 147));  // unknown: deep pink, not a crash
}

TEST_F(StructureFeaturesTest, AtomLabelsAndAxes) {
  const chem::Structure aspirin = chem::readXyz(test::sharedData("md_forces/md17_aspirin_15frames.xyz").toStdString()).at(0);
  view->setStructure(aspirin);
  const QImage plain = grab();
  view->setAtomLabels(StructureView::AtomLabels::SymbolAndIndex);
  EXPECT_EQ(view->atomLabels(), StructureView::AtomLabels::SymbolAndIndex);
  const QImage labelled = grab();
  labelled.save(test::outputDir(QStringLiteral("structure_features")) + "/aspirin_labels.png");
  EXPECT_GT(changedFraction(plain, labelled), 0.004);  // 21 labels of 2-3 characters
  view->setAtomLabels(StructureView::AtomLabels::None);
  EXPECT_LT(changedFraction(plain, grab()), 0.001);

  // The axes live in the lower right corner: hiding them changes that corner only.
  ASSERT_TRUE(view->showAxes());
  view->setShowAxes(false);
  const QImage noAxes = grab();
  const QRect corner(plain.width() * 4 / 5, plain.height() * 4 / 5, plain.width() / 5, plain.height() / 5);
  EXPECT_GT(changedFraction(plain, noAxes, corner), 0.03);
  EXPECT_LT(changedFraction(plain, noAxes, QRect(0, 0, plain.width() / 2, plain.height() / 2)), 0.001);
}

// Labels of atoms hidden behind others are not drawn. A 3 x 3 x 3 cube of carbon atoms 1.5 A apart,
// seen face-on (the default camera looks along -z): in space filling (carbon's van der Waals radius
// 1.7 A > the spacing) only the 9 atoms of the front face are visible, so only they keep a label.
TEST_F(StructureFeaturesTest, LabelsOfHiddenAtomsAreNotDrawn) {
  chem::Structure cube;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) {
        cube.numbers.push_back(6);
        cube.positions.push_back({1.5 * i, 1.5 * j, 1.5 * k});
      }
  view->setRenderStyle(StructureView::RenderStyle::SpaceFill);
  view->setStructure(cube);
  view->setAtomLabels(StructureView::AtomLabels::SymbolAndIndex);
  const QImage img = grab();
  img.save(test::outputDir(QStringLiteral("structure_features")) + "/cube_labels_front_face.png");
  EXPECT_EQ(view->drawnAtomLabelCount(), 9);
  // Turned a quarter round the vertical axis, another face is in front: again 9 labels.
  view->rotateCamera(90.0, 0.0);
  grab().save(test::outputDir(QStringLiteral("structure_features")) + "/cube_labels_side_face.png");
  EXPECT_EQ(view->drawnAtomLabelCount(), 9);
  // Wireframe draws no spheres: every label is visible.
  view->setRenderStyle(StructureView::RenderStyle::Wireframe);
  grab();
  EXPECT_EQ(view->drawnAtomLabelCount(), 27);
}

TEST_F(StructureFeaturesTest, SupercellRepeatTilesAtomsAndBonds) {
  const chem::Structure frame = chem::readXyz(test::sharedData("md_forces/mlip_test.xyz").toStdString()).at(0);
  view->setStructure(frame);
  const std::size_t bonds1 = view->bonds().size();
  EXPECT_EQ(bonds1, 160u);  // chem::findBonds and ASE's neighbour list on this frame (test_structure_view)
  view->setRepeat(2, 2, 1);
  ASSERT_NE(view->displayedStructure(), nullptr);
  EXPECT_EQ(view->displayedStructure()->size(), 4 * frame.size());
  // A periodic crystal has the same bonds in every copy of its cell (cutoffs are far below the cell).
  EXPECT_EQ(view->bonds().size(), 4 * bonds1);
  const QImage img = grab();
  img.save(test::outputDir(QStringLiteral("structure_features")) + "/mlip_supercell_2x2x1.png");
  view->setRepeat(1, 1, 1);
  EXPECT_EQ(view->displayedStructure()->size(), frame.size());
  // Molecules ignore the repeat.
  view->setStructure(chem::readXyz(test::sharedData("md_forces/md17_aspirin_15frames.xyz").toStdString()).at(0));
  view->setRepeat(3, 3, 3);
  EXPECT_EQ(view->displayedStructure()->size(), 21u);
}

TEST_F(StructureFeaturesTest, ClickSelectsAtomsAndMeasuresAsNumpy) {
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("ase");
  const std::string file = test::sharedData("md_forces/md17_aspirin_15frames.xyz").toStdString();
  view->setStructure(chem::readXyz(file).at(0));
  QCoreApplication::processEvents();
  // Atoms whose centre is not hidden behind another: a click there must pick them.
  std::vector<int> visible;
  for (int i = 0; i < 21; ++i) {
    const auto p = view->atomWidgetPosition(i);
    ASSERT_TRUE(p.has_value());
    if (view->atomAt(QPointF(p->toPoint())) == i) visible.push_back(i);
  }
  ASSERT_GE(visible.size(), 8u);
  const std::vector<int> pick{visible[1], visible[3], visible[5], visible[7]};
  int signals = 0;
  QObject::connect(view.get(), &StructureView::selectionChanged, [&] { ++signals; });
  for (std::size_t k = 0; k < pick.size(); ++k)
    QTest::mouseClick(view.get(), Qt::LeftButton, Qt::NoModifier, view->atomWidgetPosition(pick[k])->toPoint());
  EXPECT_EQ(view->selection(), pick);
  EXPECT_EQ(signals, 4);
  const QImage selected = grab();
  selected.save(test::outputDir(QStringLiteral("structure_features")) + "/aspirin_dihedral_selected.png");

  // Reference: ASE reads the same file; distance and angle with numpy, the dihedral with ASE
  // (0..360, mapped to -180..180).
  const QString script = QStringLiteral(
      "import sys, numpy as np\n"
      "from ase.io import read\n"
      "a = read(sys.argv[1], index=0); p = a.get_positions(); i, j, k, l = map(int, sys.argv[2:6])\n"
      "d = np.linalg.norm(p[i] - p[j])\n"
      "u, v = p[i] - p[j], p[k] - p[j]\n"
      "ang = np.degrees(np.arccos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v)))\n"
      "dih = a.get_dihedral(i, j, k, l)\n"
      "dih = dih - 360 if dih > 180 else dih\n"
      "print(repr(float(d)), repr(float(ang)), repr(float(dih)))\n");
  const QStringList ref = runPython(script, {QString::fromStdString(file), QString::number(pick[0]), QString::number(pick[1]),
                                             QString::number(pick[2]), QString::number(pick[3])})
                              .split(' ');
  ASSERT_EQ(ref.size(), 3);
  auto m = view->measurement();
  EXPECT_EQ(m.kind, StructureView::Measurement::Kind::Dihedral);
  EXPECT_NEAR(m.value, ref[2].toDouble(), 1e-6);
  // Clicking the last atom again removes it: an angle; again: a distance.
  QTest::mouseClick(view.get(), Qt::LeftButton, Qt::NoModifier, view->atomWidgetPosition(pick[3])->toPoint());
  m = view->measurement();
  EXPECT_EQ(m.kind, StructureView::Measurement::Kind::Angle);
  EXPECT_NEAR(m.value, ref[1].toDouble(), 1e-6);
  QTest::mouseClick(view.get(), Qt::LeftButton, Qt::NoModifier, view->atomWidgetPosition(pick[2])->toPoint());
  m = view->measurement();
  EXPECT_EQ(m.kind, StructureView::Measurement::Kind::Distance);
  EXPECT_NEAR(m.value, ref[0].toDouble(), 1e-9);
  EXPECT_TRUE(StructureView::measurementText(m, *view->displayedStructure()).startsWith(QStringLiteral("Distance")));
  // A click on empty background clears; a drag does not select.
  QTest::mouseClick(view.get(), Qt::LeftButton, Qt::NoModifier, QPoint(3, 3));
  EXPECT_TRUE(view->selection().empty());
  EXPECT_GT(changedFraction(selected, grab()), 0.002);  // the halos and the lines are gone
  const QPoint start = view->atomWidgetPosition(pick[0])->toPoint();
  QTest::mousePress(view.get(), Qt::LeftButton, Qt::NoModifier, start);
  for (int s = 1; s <= 5; ++s) QTest::mouseMove(view.get(), start + QPoint(10 * s, 0));
  QTest::mouseRelease(view.get(), Qt::LeftButton, Qt::NoModifier, start + QPoint(50, 0));
  EXPECT_TRUE(view->selection().empty());
}

TEST_F(StructureFeaturesTest, ForceArrows) {
  const chem::Trajectory t = chem::readXyz(test::sharedData("md_forces/rmd17_ethanol_reduced_100.xyz").toStdString());
  view->setTrajectory(t);
  view->setShowAxes(false);  // the axes' y arrow is green too
  const QImage before = grab();
  auto green = [](int r, int g, int b) { return g > 120 && g > 1.6 * r && g > 1.6 * b; };
  EXPECT_EQ(countPixels(before, green), 0);  // ethanol: grey C, red O, white H
  view->setVectorProperty(QStringLiteral("forces"));
  const double scale = view->autoVectorScale(1.0);
  // The 90th percentile of |F| over all atoms of all 100 frames becomes 1 Angstrom: numpy's
  // percentile (method "lower") on the forces ASE reads from the same file.
  if (atomscope::test::pythonHas("ase")) {
    QProcess py;
    py.start(QStringLiteral("/usr/bin/python3"),
             {QStringLiteral("-c"), QStringLiteral("import sys, numpy as np\nfrom ase.io import read\n"
                                                   "f = np.concatenate([a.arrays['forces'] for a in read(sys.argv[1], index=':')])\n"
                                                   "print(repr(float(np.percentile(np.linalg.norm(f, axis=1), 90, method='lower'))))\n"),
              QString::fromStdString(test::sharedData("md_forces/rmd17_ethanol_reduced_100.xyz").toStdString())});
    ASSERT_TRUE(py.waitForFinished(60000));
    const double p90 = QString::fromUtf8(py.readAllStandardOutput()).trimmed().toDouble();
    ASSERT_GT(p90, 0.0);
    EXPECT_NEAR(scale * p90, 1.0, 1e-9);
  } else if (atomscope::test::strictReferences()) {
    FAIL() << "reference needs /usr/bin/python3 with ase";
  }
  view->setVectorScale(scale);
  const QImage arrows = grab();
  arrows.save(test::outputDir(QStringLiteral("structure_features")) + "/ethanol_force_arrows.png");
  EXPECT_GT(countPixels(arrows, green), 300);
  // Twice the scale: longer arrows, more green.
  view->setVectorScale(2 * scale);
  const QImage longer = grab();
  longer.save(test::outputDir(QStringLiteral("structure_features")) + "/ethanol_force_arrows_x2.png");
  EXPECT_GT(countPixels(longer, green), countPixels(arrows, green) + 100);
  view->setVectorProperty(QString());
  EXPECT_EQ(countPixels(grab(), green), 0);
}

TEST_F(StructureFeaturesTest, ReducedPictureWhileInteracting) {
  view->setStructure(chem::readXyz(test::sharedData("md_forces/md17_aspirin_15frames.xyz").toStdString()).at(0));
  const QImage full = grab();
  view->setInteractiveLodThreshold(10);  // aspirin's 21 atoms count as large here
  view->setInteracting(true);
  const QImage reduced = grab();
  reduced.save(test::outputDir(QStringLiteral("structure_features")) + "/aspirin_reduced_while_interacting.png");
  EXPECT_GT(changedFraction(full, reduced), 0.02);
  view->setInteracting(false);
  EXPECT_LT(changedFraction(full, grab()), 0.001);
  // Any motion, not only a drag: a turn from code (keys, scripts) shows the reduced picture until
  // 250 ms after the last one, then the full picture again.
  view->rotateCamera(0.0);
  const QImage turning = view->grabFramebuffer();
  EXPECT_GT(changedFraction(full, turning), 0.02);
  QTest::qWait(600);
  EXPECT_LT(changedFraction(full, view->grabFramebuffer()), 0.001);
  // Below the threshold nothing changes while interacting.
  view->setInteractiveLodThreshold(1000);
  view->setInteracting(true);
  EXPECT_LT(changedFraction(full, grab()), 0.001);
  view->setInteracting(false);
}

// Playback of a large trajectory shows frames in the reduced picture without finding bonds for
// each; the bonds of the frame it stops on come back with the full picture. Aspirin (C9H8O4, one
// ring) has 21 atoms and 21 bonds (atoms - 1 + rings).
TEST_F(StructureFeaturesTest, PlaybackInReducedPictureDefersBonds) {
  view->setTrajectory(chem::readXyz(test::sharedData("md_forces/md17_aspirin_15frames.xyz").toStdString()));
  ASSERT_EQ(view->bonds().size(), 21u);
  view->setInteractiveLodThreshold(10);
  view->setInteracting(true);
  view->setFrame(5);
  EXPECT_TRUE(view->bonds().empty());
  EXPECT_EQ(view->displayedStructure()->size(), 21u);
  const QImage playing = grab();
  view->setInteracting(false);
  EXPECT_EQ(view->bonds().size(), 21u);
  EXPECT_GT(changedFraction(playing, grab()), 0.02);  // sticks and spheres are back
}

}  // namespace
}  // namespace atomscope::gui
