#include "attention_heatmap.h"

#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <array>
#include <cmath>

namespace atomscope::gui::models {

namespace {
// Viridis control points (matplotlib's _viridis_data at 0, 1/8, ..., 1).
constexpr std::array<std::array<double, 3>, 9> kViridis{{{0.267, 0.005, 0.329},
                                                        {0.283, 0.141, 0.458},
                                                        {0.254, 0.265, 0.530},
                                                        {0.207, 0.372, 0.553},
                                                        {0.164, 0.471, 0.558},
                                                        {0.128, 0.567, 0.551},
                                                        {0.135, 0.659, 0.518},
                                                        {0.267, 0.749, 0.441},
                                                        {0.993, 0.906, 0.144}}};

QString shownToken(const QString& t) {
  QString s = t;
  s.replace(QLatin1Char('\n'), QStringLiteral("\\n"));
  if (s.startsWith(QLatin1Char(' '))) s = QStringLiteral("\u2423") + s.mid(1);  // visible leading space
  if (s.isEmpty()) s = QStringLiteral("\u2205");
  if (s.size() > 12) s = s.left(11) + QStringLiteral("\u2026");
  return s;
}
}  // namespace

AttentionHeatmap::AttentionHeatmap(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent, false);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

QRgb AttentionHeatmap::colour(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  // The last segment of viridis is long; use 8 segments with a brighter last step.
  const double x = t * 8.0;
  const int i = std::min(7, static_cast<int>(x));
  const double f = x - i;
  auto c = [&](int k) { return static_cast<int>(std::lround(255.0 * (kViridis[i][k] * (1 - f) + kViridis[i + 1][k] * f))); };
  return qRgb(c(0), c(1), c(2));
}

void AttentionHeatmap::setMatrix(std::vector<float> values, int size, QStringList tokens, const QString& title) {
  values_ = std::move(values);
  n_ = size;
  tokens_ = std::move(tokens);
  title_ = title;
  max_ = 0;
  for (float v : values_) max_ = std::max(max_, std::isfinite(v) ? v : 0.0f);
  if (max_ <= 0) max_ = 1;
  image_ = QImage(n_, n_, QImage::Format_RGB32);
  for (int r = 0; r < n_; ++r) {
    auto* line = reinterpret_cast<QRgb*>(image_.scanLine(r));
    // sqrt scaling: attention is dominated by a few large entries; this keeps the small ones visible.
    for (int c = 0; c < n_; ++c) line[c] = colour(std::sqrt(std::max(0.0f, values_[static_cast<size_t>(r * n_ + c)]) / max_));
  }
  update();
}

void AttentionHeatmap::clear() {
  values_.clear();
  n_ = 0;
  tokens_.clear();
  image_ = QImage();
  update();
}

QRect AttentionHeatmap::plotRect() const {
  const QFontMetrics fm(font());
  int labelW = 0;
  for (const auto& t : tokens_) labelW = std::max(labelW, fm.horizontalAdvance(shownToken(t)));
  labelW = std::min(labelW + 8, 110);
  const int top = fm.height() + 6;  // title
  const int barW = 46;
  const int w = width() - labelW - barW - 8, h = height() - top - labelW - 4;
  const int side = std::max(10, std::min(w, h));
  return {labelW, top, side, side};
}

int AttentionHeatmap::cellAt(const QPoint& p, int* row, int* col) const {
  if (n_ == 0) return -1;
  const QRect r = plotRect();
  if (!r.contains(p)) return -1;
  *col = std::clamp((p.x() - r.left()) * n_ / r.width(), 0, n_ - 1);
  *row = std::clamp((p.y() - r.top()) * n_ / r.height(), 0, n_ - 1);
  return *row * n_ + *col;
}

void AttentionHeatmap::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().window());
  if (n_ == 0) {
    p.setPen(palette().color(QPalette::PlaceholderText));
    p.drawText(rect(), Qt::AlignCenter, tr("Compute attention to see a map"));
    return;
  }
  const QRect r = plotRect();
  const QFontMetrics fm(font());
  p.setPen(palette().color(QPalette::WindowText));
  p.drawText(QRect(r.left(), 0, r.width(), fm.height() + 4), Qt::AlignCenter, title_);
  p.setRenderHint(QPainter::SmoothPixmapTransform, false);
  p.drawImage(r, image_);
  p.setPen(QColor(128, 128, 128));
  p.drawRect(r.adjusted(0, 0, -1, -1));
  // Token labels: queries on the left, keys below (rotated); thinned when cells are too small.
  const double cell = static_cast<double>(r.width()) / n_;
  const int every = std::max(1, static_cast<int>(std::ceil((fm.height() + 1) / cell)));
  p.setPen(palette().color(QPalette::WindowText));
  for (int i = 0; i < n_; i += every) {
    const QString t = shownToken(tokens_.value(i));
    const int y = r.top() + static_cast<int>((i + 0.5) * cell);
    p.drawText(QRect(0, y - fm.height() / 2, r.left() - 4, fm.height()), Qt::AlignRight | Qt::AlignVCenter, t);
    p.save();
    const int x = r.left() + static_cast<int>((i + 0.5) * cell);
    p.translate(x + fm.ascent() / 2 - 1, r.bottom() + 4);
    p.rotate(-90);
    p.drawText(QRect(-(height() - r.bottom()), -fm.ascent(), height() - r.bottom() - 6, fm.height()),
               Qt::AlignRight | Qt::AlignVCenter, t);
    p.restore();
  }
  // Hover marker.
  if (hoverRow_ >= 0) {
    p.setPen(QPen(Qt::white, 1));
    p.setBrush(Qt::NoBrush);
    p.drawRect(QRectF(r.left() + hoverCol_ * cell, r.top() + hoverRow_ * cell, cell, cell));
  }
  // Colour bar.
  const QRect bar(r.right() + 10, r.top(), 12, r.height());
  for (int y = 0; y < bar.height(); ++y) {
    const double t = 1.0 - static_cast<double>(y) / std::max(1, bar.height() - 1);
    p.setPen(QColor(colour(t)));
    p.drawLine(bar.left(), bar.top() + y, bar.right(), bar.top() + y);
  }
  p.setPen(palette().color(QPalette::WindowText));
  p.drawText(bar.right() + 3, bar.top() + fm.ascent(), QString::number(max_, 'g', 2));
  p.drawText(bar.right() + 3, bar.bottom(), QStringLiteral("0"));
}

void AttentionHeatmap::mouseMoveEvent(QMouseEvent* event) {
  int row = -1, col = -1;
  if (cellAt(event->pos(), &row, &col) < 0) {
    if (hoverRow_ >= 0) {
      hoverRow_ = hoverCol_ = -1;
      update();
    }
    QToolTip::hideText();
    return;
  }
  if (row != hoverRow_ || col != hoverCol_) {
    hoverRow_ = row;
    hoverCol_ = col;
    update();
  }
  const float v = values_[static_cast<size_t>(row * n_ + col)];
  QToolTip::showText(event->globalPosition().toPoint(),
                     tr("query %1 \u201c%2\u201d \u2192 key %3 \u201c%4\u201d: %5")
                         .arg(row)
                         .arg(tokens_.value(row).toHtmlEscaped())
                         .arg(col)
                         .arg(tokens_.value(col).toHtmlEscaped())
                         .arg(static_cast<double>(v), 0, 'f', 4),
                     this);
}

void AttentionHeatmap::leaveEvent(QEvent*) {
  hoverRow_ = hoverCol_ = -1;
  update();
}

}  // namespace atomscope::gui::models
