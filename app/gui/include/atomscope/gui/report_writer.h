#pragma once
// Builds a report (title, headings, paragraphs, tables, charts, images) and exports it to HTML
// (images embedded as base64 or written beside the file) and to PDF (QPdfWriter + QTextDocument).
// Usable by every plugin.
#include <QImage>
#include <QList>
#include <QSize>
#include <QString>
#include <QStringList>
#include <functional>
#include <vector>

class QChart;
class QTextDocument;

namespace atomscope::core {
struct MetricPoint;
}

namespace atomscope::gui {

class ReportWriter {
 public:
  enum class ImageMode { Embedded, Beside };  // base64 data: URLs, or PNG files in <name>_files/

  explicit ReportWriter(QString title = {});

  QString title() const { return title_; }
  void setTitle(const QString& title) { title_ = title; }

  ReportWriter& addHeading(const QString& text, int level = 2);
  ReportWriter& addParagraph(const QString& text);  // plain text, escaped
  ReportWriter& addTable(const QStringList& header, const QList<QStringList>& rows, const QString& caption = {});
  // Renders the chart now at `size` (the chart is left as it was: its scene, size and owner).
  ReportWriter& addChart(QChart* chart, QSize size = QSize(800, 450), const QString& caption = {});
  ReportWriter& addImage(const QImage& image, const QString& caption = {});

  int imageCount() const { return static_cast<int>(images_.size()); }
  const QImage& image(int i) const { return images_[static_cast<size_t>(i)].image; }

  // HTML text; with ImageMode::Beside, images are referenced as <imageDirName>/image-N.png.
  QString toHtml(ImageMode mode = ImageMode::Embedded, const QString& imageDirName = {}) const;
  // Writes HTML; with Beside, PNGs go into "<basename>_files/" next to the HTML.
  bool writeHtml(const QString& path, ImageMode mode = ImageMode::Embedded, QString* error = nullptr) const;
  // Writes a PDF (A4, 300 dpi, images scaled to the page width).
  bool writePdf(const QString& path, QString* error = nullptr) const;
  // Picks HTML or PDF from the extension.
  bool write(const QString& path, QString* error = nullptr) const;

  // Renders a chart to an image of `size` without disturbing it.
  static QImage renderChart(QChart* chart, QSize size);
  // A line chart with one series per metric name (helper for run reports and plugins).
  static QChart* makeMetricChart(const std::vector<core::MetricPoint>& points, const QStringList& metrics,
                                 const QString& title);

 private:
  struct Block {
    enum Kind { Heading, Paragraph, Table, Image } kind;
    QString text;  // heading/paragraph text, table caption, image caption
    int level = 2;
    QStringList header;
    QList<QStringList> rows;
    int image = -1;
  };
  struct Img {
    QImage image;
  };
  QString bodyHtml(const std::function<QString(int)>& imageSrc, int maxImageWidth) const;

  QString title_;
  std::vector<Block> blocks_;
  std::vector<Img> images_;
};

}  // namespace atomscope::gui
