// renderStructureFile: the headless image export behind atomscope-render, on real files.
#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QImage>

#include "atomscope/gui/structure_render.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {


// Pixels whose colour is oxygen's Jmol red under shading: red well above green and blue.
long reddish(const QImage& src) {
  const QImage img = src.convertToFormat(QImage::Format_RGB888);
  long n = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const uchar* p = img.constScanLine(y) + 3 * x;
      n += p[0] > 120 && p[0] > 2 * p[1] && p[0] > 2 * p[2];
    }
  return n;
}

TEST(StructureRender, AspirinToPngAtTheAskedSize) {
  StructureRenderRequest r;
  r.input = test::sharedData("md_forces/md17_aspirin_15frames.xyz");
  r.output = test::outputDir(QStringLiteral("structure_render")) + "/aspirin_last_frame.png";
  r.width = 900;
  r.height = 500;
  r.frame = -1;
  QString error;
  ASSERT_TRUE(renderStructureFile(r, &error)) << error.toStdString();
  const QImage img(r.output);
  ASSERT_FALSE(img.isNull());
  EXPECT_EQ(img.size(), QSize(900, 500));
  // Aspirin (C9H8O4) has four oxygens: Jmol red shows.
  EXPECT_GT(reddish(img), 200);
  // Space filling covers more of the picture than ball and stick.
  StructureRenderRequest filled = r;
  filled.style = StructureView::RenderStyle::SpaceFill;
  filled.output = test::outputDir(QStringLiteral("structure_render")) + "/aspirin_space_filling.png";
  ASSERT_TRUE(renderStructureFile(filled, &error)) << error.toStdString();
  const QImage ballAndStick(r.output);
  auto covered = [&](const QImage& src) {
    const QImage img2 = src.convertToFormat(QImage::Format_RGB888);
    const QRgb corner = img2.pixel(2, img2.height() / 2);
    long n = 0;
    for (int y = 0; y < img2.height(); ++y)
      for (int x = 0; x < img2.width(); ++x) n += img2.pixel(x, y) != corner;
    return n;
  };
  EXPECT_GT(covered(QImage(filled.output)), covered(ballAndStick));
}

TEST(StructureRender, ErrorsNameTheFileAndTheProblem) {
  StructureRenderRequest r;
  r.output = test::outputDir(QStringLiteral("structure_render")) + "/never.png";
  QString error;
  r.input = test::outputDir(QStringLiteral("structure_render")) + "/no_such_file.xyz";
  EXPECT_FALSE(renderStructureFile(r, &error));
  EXPECT_TRUE(error.contains(QStringLiteral("no_such_file.xyz"))) << error.toStdString();

  r.input = test::sharedData("qm9/qm9_reduced_100.xyz");
  r.frame = 100;  // the file holds 100 molecules: frames 0..99
  EXPECT_FALSE(renderStructureFile(r, &error));
  EXPECT_TRUE(error.contains(QStringLiteral("frame 100")) && error.contains(QStringLiteral("qm9_reduced_100.xyz")))
      << error.toStdString();

  r.frame = 0;
  r.output = test::outputDir(QStringLiteral("structure_render")) + "/picture.tiff_not";
  EXPECT_FALSE(renderStructureFile(r, &error));
  EXPECT_TRUE(error.contains(QStringLiteral("unsupported image type"))) << error.toStdString();
  EXPECT_FALSE(QFile::exists(test::outputDir(QStringLiteral("structure_render")) + "/never.png"));
}

TEST(StructureRender, StyleAndLabelNames) {
  StructureView::RenderStyle s{};
  EXPECT_TRUE(parseRenderStyle(QStringLiteral("Space-Filling"), &s));
  EXPECT_EQ(s, StructureView::RenderStyle::SpaceFill);
  EXPECT_TRUE(parseRenderStyle(QStringLiteral("wireframe"), &s));
  EXPECT_EQ(s, StructureView::RenderStyle::Wireframe);
  EXPECT_FALSE(parseRenderStyle(QStringLiteral("cartoon"), &s));
  StructureView::AtomLabels l{};
  EXPECT_TRUE(parseAtomLabels(QStringLiteral("both"), &l));
  EXPECT_EQ(l, StructureView::AtomLabels::SymbolAndIndex);
  EXPECT_FALSE(parseAtomLabels(QStringLiteral("charges"), &l));
}

}  // namespace
}  // namespace atomscope::gui
