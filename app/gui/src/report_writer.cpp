#include "atomscope/gui/report_writer.h"

#include <QBuffer>
#include <QChart>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QGraphicsScene>
#include <QLegend>
#include <QLineSeries>
#include <QPageLayout>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSaveFile>
#include <QTextDocument>
#include <QUrl>
#include <QValueAxis>
#include <cmath>
#include <limits>

#include "atomscope/core/feedback.h"

namespace atomscope::gui {

ReportWriter::ReportWriter(QString title) : title_(std::move(title)) {}

ReportWriter& ReportWriter::addHeading(const QString& text, int level) {
  Block b{Block::Heading};
  b.text = text;
  b.level = std::clamp(level, 1, 4);
  blocks_.push_back(std::move(b));
  return *this;
}

ReportWriter& ReportWriter::addParagraph(const QString& text) {
  Block b{Block::Paragraph};
  b.text = text;
  blocks_.push_back(std::move(b));
  return *this;
}

ReportWriter& ReportWriter::addTable(const QStringList& header, const QList<QStringList>& rows,
                                     const QString& caption) {
  Block b{Block::Table};
  b.header = header;
  b.rows = rows;
  b.text = caption;
  blocks_.push_back(std::move(b));
  return *this;
}

ReportWriter& ReportWriter::addChart(QChart* chart, QSize size, const QString& caption) {
  return addImage(renderChart(chart, size), caption);
}

ReportWriter& ReportWriter::addImage(const QImage& image, const QString& caption) {
  images_.push_back({image});
  Block b{Block::Image};
  b.image = static_cast<int>(images_.size()) - 1;
  b.text = caption;
  blocks_.push_back(std::move(b));
  return *this;
}

QImage ReportWriter::renderChart(QChart* chart, QSize size) {
  QImage img(size, QImage::Format_ARGB32_Premultiplied);
  img.fill(Qt::white);
  if (!chart) return img;
  QPainter painter(&img);
  painter.setRenderHint(QPainter::Antialiasing);
  painter.setRenderHint(QPainter::TextAntialiasing);
  if (QGraphicsScene* scene = chart->scene()) {
    scene->render(&painter, QRectF(QPointF(0, 0), QSizeF(size)), chart->sceneBoundingRect());
    return img;
  }
  QGraphicsScene scene;
  const QSizeF oldSize = chart->size();
  scene.addItem(chart);
  chart->resize(QSizeF(size));
  QCoreApplication::sendPostedEvents(nullptr, 0);  // lets the chart lay out its axes and series
  scene.setSceneRect(chart->sceneBoundingRect());
  scene.render(&painter, QRectF(QPointF(0, 0), QSizeF(size)), chart->sceneBoundingRect());
  painter.end();
  scene.removeItem(chart);  // the caller keeps ownership
  chart->resize(oldSize);
  return img;
}

QChart* ReportWriter::makeMetricChart(const std::vector<core::MetricPoint>& points, const QStringList& metrics,
                                      const QString& title) {
  auto* chart = new QChart;
  chart->setTitle(title);
  chart->legend()->setAlignment(Qt::AlignBottom);
  auto* ax = new QValueAxis;
  auto* ay = new QValueAxis;
  ax->setTitleText(QStringLiteral("step"));
  ax->setLabelFormat(QStringLiteral("%g"));
  ay->setLabelFormat(QStringLiteral("%g"));
  chart->addAxis(ax, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);
  double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const QString& m : metrics) {
    auto* series = new QLineSeries;
    series->setName(m);
    QList<QPointF> pts;
    const std::string key = m.toStdString();
    for (const auto& p : points) {
      auto it = p.values.find(key);
      if (it == p.values.end() || !std::isfinite(it->second)) continue;
      pts.append(QPointF(static_cast<double>(p.step), it->second));
      x0 = std::min(x0, double(p.step));
      x1 = std::max(x1, double(p.step));
      y0 = std::min(y0, it->second);
      y1 = std::max(y1, it->second);
    }
    series->replace(pts);
    chart->addSeries(series);
    series->attachAxis(ax);
    series->attachAxis(ay);
  }
  if (x0 <= x1) {
    if (x0 == x1) x1 = x0 + 1;
    const double pad = (y1 - y0) * 0.05 + (y1 == y0 ? std::max(1e-9, std::abs(y0) * 0.05) : 0);
    ax->setRange(x0, x1);
    ay->setRange(y0 - pad, y1 + pad);
  }
  return chart;
}

QString ReportWriter::bodyHtml(const std::function<QString(int)>& imageSrc, int maxImageWidth) const {
  QString html;
  html += QStringLiteral("<h1>%1</h1>\n").arg(title_.toHtmlEscaped());
  for (const auto& b : blocks_) {
    switch (b.kind) {
      case Block::Heading:
        html += QStringLiteral("<h%1>%2</h%1>\n").arg(b.level + 0).arg(b.text.toHtmlEscaped());
        break;
      case Block::Paragraph:
        html += QStringLiteral("<p>%1</p>\n").arg(b.text.toHtmlEscaped().replace('\n', QStringLiteral("<br>")));
        break;
      case Block::Table: {
        html += QStringLiteral("<table border=\"1\" cellspacing=\"0\" cellpadding=\"4\">\n");
        if (!b.text.isEmpty()) html += QStringLiteral("<caption>%1</caption>\n").arg(b.text.toHtmlEscaped());
        if (!b.header.isEmpty()) {
          html += QStringLiteral("<tr>");
          for (const auto& h : b.header) html += QStringLiteral("<th>%1</th>").arg(h.toHtmlEscaped());
          html += QStringLiteral("</tr>\n");
        }
        for (const auto& row : b.rows) {
          html += QStringLiteral("<tr>");
          for (const auto& c : row) html += QStringLiteral("<td>%1</td>").arg(c.toHtmlEscaped());
          html += QStringLiteral("</tr>\n");
        }
        html += QStringLiteral("</table>\n");
        break;
      }
      case Block::Image: {
        const QImage& img = images_[static_cast<size_t>(b.image)].image;
        const int w = std::min(img.width(), maxImageWidth);
        html += QStringLiteral("<p class=\"figure\"><img src=\"%1\" width=\"%2\" alt=\"%3\">")
                    .arg(imageSrc(b.image))
                    .arg(w)
                    .arg(b.text.toHtmlEscaped());
        if (!b.text.isEmpty()) html += QStringLiteral("<br><i>%1</i>").arg(b.text.toHtmlEscaped());
        html += QStringLiteral("</p>\n");
        break;
      }
    }
  }
  return html;
}

static QByteArray pngBytes(const QImage& img) {
  QByteArray bytes;
  QBuffer buf(&bytes);
  buf.open(QIODevice::WriteOnly);
  img.save(&buf, "PNG");
  return bytes;
}

QString ReportWriter::toHtml(ImageMode mode, const QString& imageDirName) const {
  auto src = [&](int i) -> QString {
    if (mode == ImageMode::Embedded)
      return QStringLiteral("data:image/png;base64,") + QString::fromLatin1(pngBytes(images_[size_t(i)].image).toBase64());
    return QStringLiteral("%1/image-%2.png").arg(imageDirName).arg(i + 1);
  };
  QString html = QStringLiteral(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>%1</title>\n"
      "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
      "table{border-collapse:collapse;margin:1em 0}th{background:#e8ecf1}td,th{border:1px solid #bbb;"
      "padding:3px 8px;text-align:left}caption{font-weight:bold;text-align:left;padding:4px 0}"
      "img{max-width:100%}.figure{text-align:center}</style>\n</head><body>\n")
                     .arg(title_.toHtmlEscaped());
  html += bodyHtml(src, 860);
  html += QStringLiteral("<p style=\"color:#888;font-size:small\">Generated by Atomscope.</p>\n</body></html>\n");
  return html;
}

bool ReportWriter::writeHtml(const QString& path, ImageMode mode, QString* error) const {
  const QFileInfo fi(path);
  const QString dirName = fi.completeBaseName() + QStringLiteral("_files");
  if (mode == ImageMode::Beside && !images_.empty()) {
    QDir dir(fi.absolutePath());
    if (!dir.mkpath(dirName)) {
      if (error) *error = QStringLiteral("cannot create folder %1").arg(dir.absoluteFilePath(dirName));
      return false;
    }
    for (size_t i = 0; i < images_.size(); ++i) {
      const QString p = dir.absoluteFilePath(QStringLiteral("%1/image-%2.png").arg(dirName).arg(i + 1));
      if (!images_[i].image.save(p, "PNG")) {
        if (error) *error = QStringLiteral("cannot write image %1").arg(p);
        return false;
      }
    }
  }
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly)) {
    if (error) *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
    return false;
  }
  f.write(toHtml(mode, dirName).toUtf8());
  if (!f.commit()) {
    if (error) *error = QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
    return false;
  }
  return true;
}

bool ReportWriter::writePdf(const QString& path, QString* error) const {
  {
    QFile probe(path);
    if (!probe.open(QIODevice::WriteOnly)) {
      if (error) *error = QStringLiteral("cannot write %1: %2").arg(path, probe.errorString());
      return false;
    }
  }
  QPdfWriter writer(path);
  writer.setTitle(title_);
  writer.setCreator(QStringLiteral("Atomscope"));
  writer.setPageSize(QPageSize(QPageSize::A4));
  writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout::Millimeter);
  writer.setResolution(300);

  QTextDocument doc;
  doc.setDefaultStyleSheet(QStringLiteral(
      "h1{color:#1f3a5f} table{border-collapse:collapse} th{background-color:#e8ecf1} td,th{padding:2px 6px}"));
  for (size_t i = 0; i < images_.size(); ++i)
    doc.addResource(QTextDocument::ImageResource, QUrl(QStringLiteral("report-image-%1.png").arg(i + 1)),
                    images_[i].image);
  auto src = [](int i) { return QStringLiteral("report-image-%1.png").arg(i + 1); };
  doc.setHtml(QStringLiteral("<html><body>") + bodyHtml(src, 640) + QStringLiteral("</body></html>"));
  doc.print(&writer);
  if (QFileInfo(path).size() <= 0) {
    if (error) *error = QStringLiteral("the PDF writer produced no output for %1").arg(path);
    return false;
  }
  return true;
}

bool ReportWriter::write(const QString& path, QString* error) const {
  if (path.endsWith(QStringLiteral(".pdf"), Qt::CaseInsensitive)) return writePdf(path, error);
  return writeHtml(path, ImageMode::Embedded, error);
}

}  // namespace atomscope::gui
