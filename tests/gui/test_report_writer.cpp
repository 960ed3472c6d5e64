// ReportWriter: HTML with the table values and embedded (or side) images, and a real PDF.
#include <gtest/gtest.h>

#include <QChart>
#include <QFile>
#include <QLineSeries>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <memory>

#include "atomscope/core/feedback.h"
#include "atomscope/gui/report_writer.h"

using namespace atomscope;
using namespace atomscope::gui;

namespace {

QByteArray readAll(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

std::vector<core::MetricPoint> lossCurve() {
  std::vector<core::MetricPoint> pts;
  for (int i = 1; i <= 200; ++i) pts.push_back({i, i * 0.01, {{"loss", 3.0 / i + 0.1}}});
  return pts;
}

int distinctColours(const QImage& img) {
  QSet<QRgb> colours;
  for (int y = 0; y < img.height(); y += 2)
    for (int x = 0; x < img.width(); x += 2) colours.insert(img.pixel(x, y));
  return colours.size();
}

ReportWriter sampleReport() {
  ReportWriter r("Benchmark <report>");
  r.addParagraph("Throughput of the GEMM benchmark & friends.");
  r.addTable({"device", "size", "TFLOP/s"}, {{"cpu", "1024", "0.0913"}, {"cuda:0", "8192", "612.5"}}, "Results");
  std::unique_ptr<QChart> chart(ReportWriter::makeMetricChart(lossCurve(), {"loss"}, "Training loss"));
  r.addChart(chart.get(), QSize(640, 360), "loss per step");
  return r;
}

}  // namespace

TEST(ReportWriter, ChartIsRenderedToANonBlankImage) {
  std::unique_ptr<QChart> chart(ReportWriter::makeMetricChart(lossCurve(), {"loss"}, "Training loss"));
  const QImage img = ReportWriter::renderChart(chart.get(), QSize(640, 360));
  ASSERT_EQ(img.size(), QSize(640, 360));
  // A white page would have 1 colour; axes, labels, an antialiased curve and a title give many.
  EXPECT_GT(distinctColours(img), 20);
  EXPECT_EQ(chart->scene(), nullptr) << "the chart is left as it was";
}

TEST(ReportWriter, HtmlHoldsTheTableValuesAndAnEmbeddedImage) {
  QTemporaryDir dir;
  const QString path = dir.filePath("report.html");
  QString error;
  ASSERT_TRUE(sampleReport().writeHtml(path, ReportWriter::ImageMode::Embedded, &error)) << error.toStdString();
  const QString html = QString::fromUtf8(readAll(path));
  EXPECT_TRUE(html.contains("<td>612.5</td>"));
  EXPECT_TRUE(html.contains("<td>cuda:0</td>"));
  EXPECT_TRUE(html.contains("<th>TFLOP/s</th>"));
  EXPECT_TRUE(html.contains("Benchmark &lt;report&gt;")) << "text is escaped";
  EXPECT_TRUE(html.contains("GEMM benchmark &amp; friends"));
  const QRegularExpression img("src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");
  const auto m = img.match(html);
  ASSERT_TRUE(m.hasMatch());
  QImage decoded;
  ASSERT_TRUE(decoded.loadFromData(QByteArray::fromBase64(m.captured(1).toLatin1()), "PNG"));
  EXPECT_EQ(decoded.size(), QSize(640, 360));
}

TEST(ReportWriter, HtmlWithImagesBesideWritesPngFiles) {
  QTemporaryDir dir;
  const QString path = dir.filePath("run.html");
  ASSERT_TRUE(sampleReport().writeHtml(path, ReportWriter::ImageMode::Beside));
  const QString html = QString::fromUtf8(readAll(path));
  EXPECT_TRUE(html.contains("src=\"run_files/image-1.png\""));
  QImage side(dir.filePath("run_files/image-1.png"));
  EXPECT_EQ(side.size(), QSize(640, 360));
  EXPECT_FALSE(html.contains("base64"));
}

TEST(ReportWriter, PdfIsAValidDocumentWithPages) {
  QTemporaryDir dir;
  const QString path = dir.filePath("report.pdf");
  QString error;
  ASSERT_TRUE(sampleReport().writePdf(path, &error)) << error.toStdString();
  const QByteArray pdf = readAll(path);
  ASSERT_TRUE(pdf.startsWith("%PDF-"));
  EXPECT_TRUE(pdf.trimmed().endsWith("%%EOF"));
  // Page objects ("/Type /Page", not "/Pages") and the page tree's count.
  const QString text = QString::fromLatin1(pdf);
  const auto pages = QRegularExpression("/Type\\s*/Page(?!s)").globalMatch(text);
  int pageCount = 0;
  for (auto it = pages; it.hasNext(); it.next()) ++pageCount;
  EXPECT_GE(pageCount, 1);
  const auto count = QRegularExpression("/Count\\s+(\\d+)").match(text);
  ASSERT_TRUE(count.hasMatch());
  EXPECT_EQ(count.captured(1).toInt(), pageCount);
  // The chart travels as an image XObject.
  EXPECT_TRUE(text.contains("/Subtype /Image"));
  EXPECT_GT(pdf.size(), 5000);
}

TEST(ReportWriter, UnwritablePathIsAnErrorNotACrash) {
  QString error;
  EXPECT_FALSE(sampleReport().writePdf("/proc/no/such/dir/report.pdf", &error));
  EXPECT_FALSE(error.isEmpty());
  EXPECT_FALSE(sampleReport().writeHtml("/proc/no/such/dir/report.html", ReportWriter::ImageMode::Embedded, &error));
}
