#include "coefficient_heatmap.h"

#include <QImage>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <QVariant>
#include <algorithm>
#include <cmath>

namespace atomscope::gui::masa {

namespace {
constexpr int kLeft = 64, kTop = 30, kBottom = 40, kBar = 16, kBarGap = 18, kBarLabels = 58;
}

CoefficientHeatmap::CoefficientHeatmap(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent);
}

void CoefficientHeatmap::setMatrix(std::vector<float> values, int rows, int cols, QList<int> layers, const QString& title) {
  values_ = std::move(values);
  rows_ = rows;
  cols_ = cols;
  layers_ = std::move(layers);
  title_ = title;
  message_.clear();
  scale_ = 0;
  for (float v : values_) scale_ = std::max(scale_, std::abs(v));
  if (!(scale_ > 0)) scale_ = 1;
  // What is drawn, readable through the meta-object (tests, scripts) without this class's symbols.
  QVariantList shown;
  shown.reserve(static_cast<qsizetype>(values_.size()));
  for (float v : values_) shown << static_cast<double>(v);
  setProperty("cellValues", shown);
  setProperty("cellRows", rows_);
  setProperty("cellCols", cols_);
  setProperty("colourScale", static_cast<double>(scale_));
  update();
}

void CoefficientHeatmap::clear(const QString& message) {
  values_.clear();
  rows_ = cols_ = 0;
  layers_.clear();
  title_.clear();
  message_ = message;
  setProperty("cellValues", QVariantList());
  setProperty("cellRows", 0);
  setProperty("cellCols", 0);
  update();
}

QColor CoefficientHeatmap::colour(double t) {
  // Diverging blue - white - red (ColorBrewer RdBu end points), linear in each half.
  t = std::clamp(t, -1.0, 1.0);
  const QColor neg(0x21, 0x66, 0xac), mid(0xf7, 0xf7, 0xf7), pos(0xb2, 0x18, 0x2b);
  const QColor& end = t < 0 ? neg : pos;
  const double a = std::abs(t);
  auto mix = [a](int x, int y) { return static_cast<int>(std::lround(x + (y - x) * a)); };
  return QColor(mix(mid.red(), end.red()), mix(mid.green(), end.green()), mix(mid.blue(), end.blue()));
}

QRect CoefficientHeatmap::plotRect(const QRect& area) const {
  return QRect(area.left() + kLeft, area.top() + kTop, std::max(10, area.width() - kLeft - kBarGap - kBar - kBarLabels),
               std::max(10, area.height() - kTop - kBottom));
}

void CoefficientHeatmap::draw(QPainter& p, const QRect& area) const {
  p.fillRect(area, palette().color(QPalette::Base));
  p.setPen(palette().color(QPalette::Text));
  if (rows_ <= 0 || cols_ <= 0) {
    p.drawText(area, Qt::AlignCenter | Qt::TextWordWrap,
               message_.isEmpty() ? tr("Run a MASA compression to see its coefficients") : message_);
    return;
  }
  QFont bold = font();
  bold.setBold(true);
  p.setFont(bold);
  p.drawText(QRect(area.left(), area.top() + 4, area.width(), kTop - 6), Qt::AlignCenter, title_);
  p.setFont(font());
  const QRect r = plotRect(area);
  const double cw = static_cast<double>(r.width()) / cols_, ch = static_cast<double>(r.height()) / rows_;
  const QFontMetrics fm(font());
  const bool numbers = cw >= fm.horizontalAdvance(QStringLiteral("-0.00")) + 6 && ch >= fm.height() + 2;
  for (int i = 0; i < rows_; ++i) {
    for (int j = 0; j < cols_; ++j) {
      const double v = values_[static_cast<std::size_t>(i) * cols_ + j];
      const QRectF cell(r.left() + j * cw, r.top() + i * ch, cw + 0.5, ch + 0.5);
      const QColor c = colour(v / scale_);
      p.fillRect(cell, c);
      if (numbers) {
        p.setPen(c.lightnessF() < 0.5 ? Qt::white : Qt::black);
        p.drawText(cell, Qt::AlignCenter, QString::number(v, 'f', 2));
      }
    }
  }
  p.setPen(palette().color(QPalette::Mid));
  p.drawRect(r.adjusted(0, 0, -1, -1));
  // Axes: layers down the left, atoms along the bottom (thinned to what fits).
  p.setPen(palette().color(QPalette::Text));
  const int rowStep = std::max(1, static_cast<int>(std::ceil((fm.height() + 2) / ch)));
  for (int i = 0; i < rows_; i += rowStep) {
    const int layer = i < layers_.size() ? layers_[i] : i;
    p.drawText(QRectF(area.left(), r.top() + i * ch, kLeft - 6, ch), Qt::AlignRight | Qt::AlignVCenter,
               tr("layer %1").arg(layer));
  }
  const int colStep = std::max(1, static_cast<int>(std::ceil((fm.horizontalAdvance(QStringLiteral("000")) + 6) / cw)));
  for (int j = 0; j < cols_; j += colStep)
    p.drawText(QRectF(r.left() + j * cw, r.bottom() + 2, cw, fm.height() + 2), Qt::AlignCenter, QString::number(j + 1));
  p.drawText(QRect(r.left(), r.bottom() + fm.height() + 4, r.width(), fm.height() + 2), Qt::AlignCenter, tr("atom"));
  // Colour bar from -scale (bottom) to +scale (top).
  const QRect bar(r.right() + kBarGap, r.top(), kBar, r.height());
  for (int y = 0; y < bar.height(); ++y) {
    const double t = 1.0 - 2.0 * y / std::max(1, bar.height() - 1);
    p.setPen(colour(t));
    p.drawLine(bar.left(), bar.top() + y, bar.right(), bar.top() + y);
  }
  p.setPen(palette().color(QPalette::Mid));
  p.drawRect(bar.adjusted(0, 0, -1, -1));
  p.setPen(palette().color(QPalette::Text));
  auto label = [&](double v, int y) {
    p.drawText(QRect(bar.right() + 4, y - fm.height() / 2, kBarLabels - 4, fm.height()), Qt::AlignLeft | Qt::AlignVCenter,
               QString::number(v, 'g', 3));
  };
  label(scale_, bar.top() + fm.height() / 2);
  label(0, bar.center().y());
  label(-scale_, bar.bottom() - fm.height() / 2);
}

void CoefficientHeatmap::paintEvent(QPaintEvent*) {
  QPainter p(this);
  draw(p, rect());
}

QImage CoefficientHeatmap::renderImage(QSize size) const {
  QImage img(size, QImage::Format_ARGB32_Premultiplied);
  img.fill(Qt::white);
  QPainter p(&img);
  p.setFont(font());
  draw(p, QRect(QPoint(0, 0), size));
  return img;
}

void CoefficientHeatmap::mouseMoveEvent(QMouseEvent* event) {
  const QRect r = plotRect(rect());
  if (rows_ <= 0 || cols_ <= 0 || !r.contains(event->position().toPoint())) {
    QToolTip::hideText();
    return;
  }
  const int j = std::clamp(static_cast<int>((event->position().x() - r.left()) * cols_ / r.width()), 0, cols_ - 1);
  const int i = std::clamp(static_cast<int>((event->position().y() - r.top()) * rows_ / r.height()), 0, rows_ - 1);
  const int layer = i < layers_.size() ? layers_[i] : i;
  QToolTip::showText(event->globalPosition().toPoint(),
                     tr("layer %1, atom %2: c = %3").arg(layer).arg(j + 1).arg(values_[static_cast<std::size_t>(i) * cols_ + j], 0, 'g', 6),
                     this);
}

}  // namespace atomscope::gui::masa
