#include "parity_chart.h"

#include <QChart>
#include <QLineSeries>
#include <QPainter>
#include <QScatterSeries>
#include <QValueAxis>
#include <algorithm>
#include <cmath>

namespace atomscope::gui::forcefield {

ParityChart::ParityChart(const QString& title, const QString& unit, QWidget* parent) : QChartView(parent) {
  auto* chart = new QChart;
  chart->setTitle(title);
  chart->legend()->hide();
  chart->setMargins(QMargins(2, 2, 2, 2));
  points_ = new QScatterSeries(chart);
  points_->setMarkerSize(5.0);
  points_->setBorderColor(Qt::transparent);
  points_->setColor(QColor(30, 110, 200, 150));
  diagonal_ = new QLineSeries(chart);
  diagonal_->setPen(QPen(QColor(120, 120, 120), 1.0, Qt::DashLine));
  chart->addSeries(diagonal_);
  chart->addSeries(points_);
  ax_ = new QValueAxis(chart);
  ay_ = new QValueAxis(chart);
  ax_->setTitleText(tr("reference (%1)").arg(unit));
  ay_->setTitleText(tr("predicted (%1)").arg(unit));
  ax_->setLabelFormat(QStringLiteral("%.3g"));
  ay_->setLabelFormat(QStringLiteral("%.3g"));
  chart->addAxis(ax_, Qt::AlignBottom);
  chart->addAxis(ay_, Qt::AlignLeft);
  for (QAbstractSeries* s : {static_cast<QAbstractSeries*>(diagonal_), static_cast<QAbstractSeries*>(points_)}) {
    s->attachAxis(ax_);
    s->attachAxis(ay_);
  }
  setChart(chart);
  setRenderHint(QPainter::Antialiasing);
  setMinimumHeight(180);
}

void ParityChart::setData(const std::vector<double>& reference, const std::vector<double>& predicted) {
  const std::size_t n = std::min(reference.size(), predicted.size());
  const std::size_t stride = std::max<std::size_t>(1, (n + kMaxPoints - 1) / kMaxPoints);
  QList<QPointF> pts;
  double lo = INFINITY, hi = -INFINITY;
  for (std::size_t i = 0; i < n; i += stride) {
    if (!std::isfinite(reference[i]) || !std::isfinite(predicted[i])) continue;
    pts.append(QPointF(reference[i], predicted[i]));
    lo = std::min({lo, reference[i], predicted[i]});
    hi = std::max({hi, reference[i], predicted[i]});
  }
  points_->replace(pts);
  if (pts.isEmpty()) {
    diagonal_->clear();
    return;
  }
  // Both axes share one range so the diagonal is the 45-degree line.
  const double pad = hi > lo ? 0.05 * (hi - lo) : std::max(1e-3, std::abs(hi) * 0.05);
  lo -= pad;
  hi += pad;
  diagonal_->replace(QList<QPointF>{QPointF(lo, lo), QPointF(hi, hi)});
  ax_->setRange(lo, hi);
  ay_->setRange(lo, hi);
}

void ParityChart::clearData() {
  points_->clear();
  diagonal_->clear();
}

int ParityChart::pointCount() const { return static_cast<int>(points_->count()); }

}  // namespace atomscope::gui::forcefield
