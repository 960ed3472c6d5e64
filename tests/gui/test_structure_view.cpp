// StructureView under Xvfb/llvmpipe: real molecules and a periodic frame from the shared data are
// drawn (not blank, Jmol colours present), rotate and zoom change the picture, offscreen
// screenshots come out at the requested size. PNGs land in <build>/test_output/structure_view/
// for a person to look at.
#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QMenu>
#include <QMenuBar>
#include <QSlider>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QImage>
#include <QKeyEvent>
#include <QTest>
#include <QWheelEvent>
#include <cmath>
#include <set>

#include "atomscope/chem/xyz.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/structure_view.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {

chem::Trajectory load(const char* rel) {
  return chem::readXyz(std::string(ATOMSCOPE_SHARED_DATA_DIR) + "/" + rel);
}

struct Stats {
  double lumaStd = 0;
  int distinctColours = 0;  // colours quantised to 4 bits per channel
  int carbonGrey = 0;       // neutral pixels in the lit range of Jmol's C grey (144,144,144)
  int oxygenRed = 0;        // pixels of Jmol's O red (255,13,13) hue
  int nitrogenBlue = 0;     // Jmol N (48,80,248)
  int zirconiumCyan = 0;    // Jmol Zr (148,224,224)
};

Stats statsOf(const QImage& source) {
  const QImage img = source.convertToFormat(QImage::Format_RGB888);
  Stats s;
  double sum = 0, sum2 = 0;
  std::set<int> colours;
  const int n = img.width() * img.height();
  for (int y = 0; y < img.height(); ++y) {
    const uchar* row = img.constScanLine(y);
    for (int x = 0; x < img.width(); ++x) {
      const int r = row[3 * x], g = row[3 * x + 1], b = row[3 * x + 2];
      const double l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
      sum += l;
      sum2 += l * l;
      colours.insert(((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4));
      const int hi = std::max({r, g, b}), lo = std::min({r, g, b});
      if (hi - lo <= 12 && lo >= 90 && hi <= 245) ++s.carbonGrey;
      if (r >= 120 && g <= r / 4 && b <= r / 4) ++s.oxygenRed;
      if (b >= 120 && r <= b / 2 && g <= b * 0.6 && g >= r) ++s.nitrogenBlue;
      if (g >= 110 && b >= 110 && std::abs(g - b) <= 14 && r <= g * 0.8 && r >= g * 0.45) ++s.zirconiumCyan;
    }
  }
  const double mean = sum / n;
  s.lumaStd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
  s.distinctColours = static_cast<int>(colours.size());
  return s;
}

// Mean absolute difference per channel (0..255) and the fraction of pixels that differ.
std::pair<double, double> difference(const QImage& a0, const QImage& b0) {
  const QImage a = a0.convertToFormat(QImage::Format_RGB888), b = b0.convertToFormat(QImage::Format_RGB888);
  if (a.size() != b.size()) return {255.0, 1.0};
  double total = 0;
  long changed = 0;
  for (int y = 0; y < a.height(); ++y) {
    const uchar* ra = a.constScanLine(y);
    const uchar* rb = b.constScanLine(y);
    bool any = false;
    for (int x = 0; x < 3 * a.width(); ++x) {
      const int d = std::abs(int(ra[x]) - int(rb[x]));
      total += d;
      if (x % 3 == 0) any = false;
      if (d > 8) any = true;
      if (x % 3 == 2 && any) ++changed;
    }
  }
  const double pixels = double(a.width()) * a.height();
  return {total / (3 * pixels), changed / pixels};
}

// The QM9 molecule with the most heavy atoms that has C, N and O.
chem::Structure richQm9Molecule() {
  const chem::Trajectory t = load("qm9/qm9_reduced_100.xyz");
  const chem::Structure* best = nullptr;
  int bestHeavy = -1;
  for (const chem::Structure& s : t) {
    int heavy = 0;
    bool c = false, n = false, o = false;
    for (int z : s.numbers) {
      heavy += z > 1;
      c |= z == 6;
      n |= z == 7;
      o |= z == 8;
    }
    if (c && n && o && heavy > bestHeavy) {
      best = &s;
      bestHeavy = heavy;
    }
  }
  return best ? *best : t.back();
}

chem::Structure withoutHydrogens(const chem::Structure& s) {
  chem::Structure out;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s.numbers[i] != 1) out.addAtom(s.numbers[i], s.positions[i]);
  return out;
}

class StructureViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    view = std::make_unique<StructureView>();
    view->resize(640, 480);
    view->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(view.get()));
  }
  QImage settledGrab() {
    QCoreApplication::processEvents();
    return view->grabImage();
  }
  std::unique_ptr<StructureView> view;
};

TEST_F(StructureViewTest, Qm9MoleculeIsDrawnInJmolColours) {
  const chem::Structure m = richQm9Molecule();
  view->setStructure(m);
  EXPECT_FALSE(view->bonds().empty());
  const QImage img = settledGrab();
  ASSERT_EQ(img.size(), QSize(640, 480));
  img.save(test::outputDir(QStringLiteral("structure_view")) + "/qm9_widget_640x480.png");
  const Stats s = statsOf(img);
  EXPECT_GT(s.lumaStd, 20.0);
  EXPECT_GT(s.distinctColours, 40);
  EXPECT_GT(s.oxygenRed, 200);
  EXPECT_GT(s.nitrogenBlue, 100);
  EXPECT_GT(s.carbonGrey, 500);  // carbon grey and the lit parts of white hydrogens

  // Heavy atoms only: every neutral grey pixel is now carbon.
  view->setStructure(withoutHydrogens(m));
  const QImage heavy = settledGrab();
  heavy.save(test::outputDir(QStringLiteral("structure_view")) + "/qm9_heavy_atoms.png");
  const Stats h = statsOf(heavy);
  EXPECT_GT(h.carbonGrey, 500);
  EXPECT_GT(h.oxygenRed, 200);
}

TEST_F(StructureViewTest, OffscreenScreenshotAtAnySize) {
  view->setStructure(richQm9Molecule());
  QString error;
  const QImage big = view->renderImage(1600, 1200, &error);
  ASSERT_FALSE(big.isNull()) << error.toStdString();
  EXPECT_EQ(big.size(), QSize(1600, 1200));
  EXPECT_TRUE(big.save(test::outputDir(QStringLiteral("structure_view")) + "/qm9_offscreen_1600x1200.png"));
  const Stats s = statsOf(big);
  EXPECT_GT(s.lumaStd, 20.0);
  EXPECT_GT(s.oxygenRed, 2000);
  EXPECT_GT(s.carbonGrey, 4000);
  // The widget keeps its own size and picture afterwards.
  EXPECT_EQ(settledGrab().size(), QSize(640, 480));
  // An odd aspect ratio and a size above the single-pass limit (tiled).
  const QImage wide = view->renderImage(333, 101, &error);
  EXPECT_EQ(wide.size(), QSize(333, 101)) << error.toStdString();
  const QImage huge = view->renderImage(9000, 600, &error);
  ASSERT_EQ(huge.size(), QSize(9000, 600)) << error.toStdString();
  EXPECT_GT(statsOf(huge).lumaStd, 10.0);
  EXPECT_TRUE(view->renderImage(0, 100, &error).isNull());
  EXPECT_FALSE(error.isEmpty());
  // saveScreenshot writes a PNG that reads back at the size asked for.
  const QString path = test::outputDir(QStringLiteral("structure_view")) + "/qm9_saved_800x600.png";
  ASSERT_TRUE(view->saveScreenshot(path, 800, 600, &error)) << error.toStdString();
  EXPECT_EQ(QImage(path).size(), QSize(800, 600));
}

TEST_F(StructureViewTest, PeriodicFrameShowsCellAndZirconia) {
  const chem::Structure s = load("md_forces/mlip_test.xyz").at(0);
  view->setStructure(s);
  EXPECT_EQ(view->bonds().size(), 160u);  // as chem::findBonds and ASE's neighbour list
  const QImage img = settledGrab();
  img.save(test::outputDir(QStringLiteral("structure_view")) + "/mlip_periodic_widget.png");
  const Stats st = statsOf(img);
  EXPECT_GT(st.lumaStd, 20.0);
  EXPECT_GT(st.zirconiumCyan, 300);
  EXPECT_GT(st.oxygenRed, 300);
  const QImage big = view->renderImage(1600, 1200);
  ASSERT_EQ(big.size(), QSize(1600, 1200));
  big.save(test::outputDir(QStringLiteral("structure_view")) + "/mlip_periodic_1600x1200.png");
  // Hiding the cell box changes the picture.
  view->setShowCell(false);
  const auto [meanDiff, changed] = difference(img, settledGrab());
  EXPECT_GT(changed, 0.002);
  view->setShowCell(true);
}

TEST_F(StructureViewTest, RotationZoomAndResetChangeThePicture) {
  view->setStructure(richQm9Molecule());
  const QImage before = settledGrab();
  view->rotateCamera(90.0);
  const QImage rotated = settledGrab();
  const auto [d1, c1] = difference(before, rotated);
  EXPECT_GT(d1, 2.0);
  EXPECT_GT(c1, 0.03);
  rotated.save(test::outputDir(QStringLiteral("structure_view")) + "/qm9_rotated_90.png");

  // Mouse: a left drag rotates.
  view->resetCamera();
  const QImage reset = settledGrab();
  const auto [d0, c0] = difference(before, reset);
  EXPECT_LT(d0, 0.5) << "reset should give the first picture back";
  QTest::mousePress(view.get(), Qt::LeftButton, Qt::NoModifier, QPoint(320, 240));
  for (int k = 1; k <= 10; ++k) QTest::mouseMove(view.get(), QPoint(320 + 12 * k, 240 + 3 * k));
  QTest::mouseRelease(view.get(), Qt::LeftButton, Qt::NoModifier, QPoint(440, 270));
  const QImage dragged = settledGrab();
  EXPECT_GT(difference(reset, dragged).second, 0.03);

  // R resets the view.
  QTest::keyClick(view.get(), Qt::Key_R);
  EXPECT_LT(difference(reset, settledGrab()).first, 0.5);

  // The wheel zooms in: the molecule covers more of the picture (fewer background pixels).
  auto background = [](const QImage& i) {
    const QImage img = i.convertToFormat(QImage::Format_RGB888);
    long n = 0;
    for (int y = 0; y < img.height(); ++y)
      for (int x = 0; x < img.width(); ++x) {
        const uchar* p = img.constScanLine(y) + 3 * x;
        n += std::max({p[0], p[1], p[2]}) < 85 && p[2] >= p[0];  // the dark blue-grey gradient
      }
    return n;
  };
  const long bg0 = background(reset);
  for (int k = 0; k < 3; ++k) {
    QWheelEvent wheel(QPointF(320, 240), view->mapToGlobal(QPointF(320, 240)), QPoint(), QPoint(0, 120), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QCoreApplication::sendEvent(view.get(), &wheel);
  }
  const long bg1 = background(settledGrab());
  EXPECT_LT(bg1, bg0 - 5000);
}

TEST_F(StructureViewTest, RenderStylesDiffer) {
  view->setStructure(richQm9Molecule());
  const QImage ball = settledGrab();
  view->setRenderStyle(StructureView::RenderStyle::SpaceFill);
  const QImage fill = settledGrab();
  fill.save(test::outputDir(QStringLiteral("structure_view")) + "/qm9_spacefill.png");
  view->setRenderStyle(StructureView::RenderStyle::Wireframe);
  const QImage wire = settledGrab();
  wire.save(test::outputDir(QStringLiteral("structure_view")) + "/qm9_wireframe.png");
  view->setRenderStyle(StructureView::RenderStyle::Licorice);
  const QImage lic = settledGrab();
  EXPECT_GT(difference(ball, fill).second, 0.02);
  EXPECT_GT(difference(ball, wire).second, 0.02);
  EXPECT_GT(difference(ball, lic).second, 0.005);
  EXPECT_GT(statsOf(wire).lumaStd, 5.0);
  EXPECT_GT(statsOf(wire).oxygenRed, 20);
  // White background as Avogadro's light theme.
  view->setRenderStyle(StructureView::RenderStyle::BallAndStick);
  view->setDarkBackground(false);
  const QImage white = settledGrab();
  white.save(test::outputDir(QStringLiteral("structure_view")) + "/qm9_white_background.png");
  EXPECT_GT(statsOf(white).oxygenRed, 200);
  EXPECT_EQ(white.pixelColor(2, 2), QColor(255, 255, 255));
}

TEST_F(StructureViewTest, TrajectoryFrames) {
  chem::Trajectory t = load("md_forces/rmd17_ethanol_reduced_100.xyz");
  view->setTrajectory(t);
  ASSERT_EQ(view->frameCount(), 100);
  EXPECT_EQ(view->currentFrame(), 0);
  const QImage f0 = settledGrab();
  int signalled = -1;
  QObject::connect(view.get(), &StructureView::frameChanged, [&](int i) { signalled = i; });
  view->setFrame(57);
  EXPECT_EQ(signalled, 57);
  EXPECT_EQ(view->currentFrame(), 57);
  ASSERT_NE(view->structure(), nullptr);
  EXPECT_EQ(view->structure()->positions, t[57].positions);
  EXPECT_EQ(view->bonds().size(), 8u);  // ethanol keeps its 8 bonds
  const QImage f57 = settledGrab();
  EXPECT_GT(difference(f0, f57).second, 0.001);  // thermal motion moves the atoms
  view->setFrame(1000);                           // clamped
  EXPECT_EQ(view->currentFrame(), 99);
}

TEST_F(StructureViewTest, EmptyStructureRendersBackgroundOnly) {
  view->setStructure(chem::Structure{});
  const QImage img = settledGrab();
  EXPECT_FALSE(img.isNull());
  const Stats s = statsOf(img);
  EXPECT_EQ(s.oxygenRed, 0);
  EXPECT_EQ(s.carbonGrey, 0);
}


// The Structures plugin, loaded from the build's plugin folder into a real main window.
TEST(StructuresPlugin, OpensTrajectoriesIntoDocumentTabsAndReportsBadFiles) {
  QTemporaryDir runs;
  MainWindow window(runs.path());
  window.resize(1100, 700);
  window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  bool menuFound = false;
  for (QAction* a : window.menuBar()->actions()) menuFound |= a->text().remove('&') == QStringLiteral("Structures");
  EXPECT_TRUE(menuFound);

  const int before = window.documents()->count();
  QString error;
  const QString path = QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/md_forces/rmd17_ethanol_reduced_100.xyz");
  ASSERT_TRUE(window.openFile(path, &error)) << error.toStdString();
  ASSERT_EQ(window.documents()->count(), before + 1);
  QWidget* doc = window.documents()->currentWidget();
  ASSERT_NE(doc, nullptr);
  auto* view = doc->findChild<StructureView*>();
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->frameCount(), 100);
  auto* slider = doc->findChild<QSlider*>(QStringLiteral("frameSlider"));
  ASSERT_NE(slider, nullptr);
  EXPECT_EQ(slider->maximum(), 99);
  slider->setValue(42);
  EXPECT_EQ(view->currentFrame(), 42);
  auto* table = doc->findChild<QTableWidget*>(QStringLiteral("structureProperties"));
  ASSERT_NE(table, nullptr);
  QStringList keys;
  for (int r = 0; r < table->rowCount(); ++r) keys << table->item(r, 0)->text();
  EXPECT_TRUE(keys.contains(QStringLiteral("Formula")));
  EXPECT_TRUE(keys.contains(QStringLiteral("Energy (energy)"))) << keys.join(',').toStdString();
  QCoreApplication::processEvents();
  const QImage shot = view->grabImage();
  shot.save(test::outputDir(QStringLiteral("structure_view")) + "/plugin_ethanol_frame42.png");
  EXPECT_GT(statsOf(shot).oxygenRed, 100);

  // A periodic frame opens too.
  ASSERT_TRUE(window.openFile(QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/md_forces/mlip_valid.xyz"), &error))
      << error.toStdString();
  EXPECT_EQ(window.documents()->count(), before + 2);

  // A truncated file: an error naming the file and the line, no new tab.
  const QString bad = runs.filePath(QStringLiteral("truncated.xyz"));
  QFile f(bad);
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write("3\ncomment\nC 0 0 0\nH 0 0 1\n");
  f.close();
  error.clear();
  EXPECT_FALSE(window.openFile(bad, &error));
  EXPECT_TRUE(error.contains(bad + QStringLiteral(":5:"))) << error.toStdString();
  EXPECT_EQ(window.documents()->count(), before + 2);
}

}  // namespace
}  // namespace atomscope::gui
