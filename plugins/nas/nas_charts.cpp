#include "nas_charts.h"

#include <QChart>
#include <QLegend>
#include <QLegendMarker>
#include <QPen>
#include <QLineSeries>
#include <QScatterSeries>
#include <QValueAxis>
#include <algorithm>
#include <cmath>
#include <initializer_list>

namespace atomscope::gui::nas {

namespace {

void smallFonts(QValueAxis* a) {
  QFont f = a->labelsFont();
  f.setPointSizeF(std::max(6.5, f.pointSizeF() - 1.5));
  a->setLabelsFont(f);
  a->setTitleFont(f);
}

void pad(double& lo, double& hi) {
  double p = (hi - lo) * 0.06;
  if (p == 0) p = std::max(1e-9, std::abs(lo) * 0.05);
  lo -= p;
  hi += p;
}

}  // namespace

SeriesChart::SeriesChart(const QString& title, QWidget* parent) : QChartView(parent) {
  auto* chart = new QChart;
  chart->setTitle(title);
  QFont tf = chart->titleFont();
  tf.setBold(true);
  chart->setTitleFont(tf);
  chart->legend()->setAlignment(Qt::AlignBottom);
  QFont lf = chart->legend()->font();
  lf.setPointSizeF(std::max(6.5, lf.pointSizeF() - 1.0));
  chart->legend()->setFont(lf);
  chart->setMargins(QMargins(2, 2, 2, 2));
  chart->setBackgroundRoundness(0);
  ax_ = new QValueAxis(chart);
  ay_ = new QValueAxis(chart);
  ax_->setTitleText(tr("step"));
  ax_->setLabelFormat(QStringLiteral("%g"));
  ay_->setLabelFormat(QStringLiteral("%.3g"));
  ax_->setTickCount(5);
  ay_->setTickCount(5);
  smallFonts(ax_);
  smallFonts(ay_);
  chart->addAxis(ax_, Qt::AlignBottom);
  chart->addAxis(ay_, Qt::AlignLeft);
  setChart(chart);
  setRenderHint(QPainter::Antialiasing);
  setMinimumHeight(150);
  clear();
}

void SeriesChart::setBounds(double lo, double hi) {
  bounded_ = true;
  lo_ = lo;
  hi_ = hi;
  ay_->setLabelFormat(QStringLiteral("%.3f"));
}

void SeriesChart::setLegendAlignment(Qt::Alignment a) { chart()->legend()->setAlignment(a); }

void SeriesChart::addPoint(const QString& key, const QString& label, double x, double y) {
  if (!std::isfinite(y)) return;
  auto it = lines_.find(key);
  if (it == lines_.end()) {
    Line line;
    line.series = new QLineSeries(chart());
    line.series->setObjectName(key);
    line.series->setName(label);
    chart()->addSeries(line.series);
    line.series->attachAxis(ax_);
    line.series->attachAxis(ay_);
    order_ << key;
    it = lines_.insert(key, line);
  }
  it->data.append(QPointF(x, y));
  it->dirty = true;
  if (!any_) {
    x0_ = x1_ = x;
    y0_ = y1_ = y;
    any_ = true;
  }
  x0_ = std::min(x0_, x);
  x1_ = std::max(x1_, x);
  y0_ = std::min(y0_, y);
  y1_ = std::max(y1_, y);
}

void SeriesChart::flush() {
  for (auto& line : lines_)
    if (line.dirty) {
      line.series->replace(line.data);
      line.dirty = false;
    }
  if (!any_) return;
  ax_->setRange(x0_, x1_ > x0_ ? x1_ : x0_ + 1);
  double lo = y0_, hi = y1_;
  pad(lo, hi);
  if (bounded_) {
    lo = std::max(lo, lo_);
    hi = std::min(hi, hi_);
    if (hi - lo < 1e-3) {  // a constant at a bound (one choice: weight 1)
      lo = std::max(lo_, hi - 0.01);
      hi = std::min(hi_, lo + 0.01);
    }
  }
  ay_->setRange(lo, hi);
}

void SeriesChart::clear() {
  for (auto& line : lines_) {
    chart()->removeSeries(line.series);
    delete line.series;
  }
  lines_.clear();
  order_.clear();
  any_ = false;
  ax_->setRange(0, 1);
  ay_->setRange(bounded_ ? lo_ : 0, bounded_ ? hi_ : 1);
}

QLineSeries* SeriesChart::line(const QString& key) const {
  auto it = lines_.find(key);
  return it == lines_.end() ? nullptr : it->series;
}

QChart* makeParetoChart(const QList<ParetoPoint>& points, const QList<int>& front) {
  auto* chart = new QChart;
  chart->setTitle(QObject::tr("Parameters vs validation perplexity"));
  chart->legend()->setAlignment(Qt::AlignBottom);
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->setBackgroundRoundness(0);
  auto* ax = new QValueAxis(chart);
  auto* ay = new QValueAxis(chart);
  ax->setTitleText(QObject::tr("parameters"));
  ay->setTitleText(QObject::tr("validation perplexity"));
  ax->setLabelFormat(QStringLiteral("%.0f"));
  ay->setLabelFormat(QStringLiteral("%.1f"));
  ax->setTickCount(6);
  ay->setTickCount(6);
  smallFonts(ax);
  smallFonts(ay);
  chart->addAxis(ax, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);

  auto* frontLine = new QLineSeries(chart);
  frontLine->setObjectName(QStringLiteral("paretoFront"));
  frontLine->setName(QObject::tr("Pareto front"));
  QPen pen(QColor(0x2e, 0x7d, 0x32));
  pen.setWidthF(2.0);
  pen.setStyle(Qt::DashLine);
  frontLine->setPen(pen);
  auto* searched = new QScatterSeries(chart);
  searched->setObjectName(QStringLiteral("paretoSearched"));
  searched->setName(QObject::tr("searched"));
  searched->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
  searched->setMarkerSize(12);
  searched->setColor(QColor(0xc6, 0x28, 0x28));
  auto* random = new QScatterSeries(chart);
  random->setObjectName(QStringLiteral("paretoRandom"));
  random->setName(QObject::tr("random search"));
  random->setMarkerSize(10);
  random->setColor(QColor(0x15, 0x65, 0xc0));
  auto* other = new QScatterSeries(chart);
  other->setObjectName(QStringLiteral("paretoOther"));
  other->setName(QObject::tr("other"));
  other->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
  other->setMarkerSize(10);
  other->setColor(QColor(0x8e, 0x24, 0xaa));
  auto* onFront = new QScatterSeries(chart);
  onFront->setObjectName(QStringLiteral("paretoFrontPoints"));
  onFront->setName(QObject::tr("on the front"));
  onFront->setMarkerSize(18);
  onFront->setColor(Qt::transparent);
  onFront->setBorderColor(QColor(0x2e, 0x7d, 0x32));
  QPen ring(QColor(0x2e, 0x7d, 0x32));
  ring.setWidthF(2.0);
  onFront->setPen(ring);

  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool any = false;
  for (const auto& p : points) {
    if (!std::isfinite(p.ppl)) continue;
    QScatterSeries* into = p.kind == ParetoPoint::Kind::Searched ? searched : p.kind == ParetoPoint::Kind::Other ? other : random;
    into->append(static_cast<double>(p.params), p.ppl);
    const double x = static_cast<double>(p.params);
    if (!any) {
      x0 = x1 = x;
      y0 = y1 = p.ppl;
      any = true;
    }
    x0 = std::min(x0, x);
    x1 = std::max(x1, x);
    y0 = std::min(y0, p.ppl);
    y1 = std::max(y1, p.ppl);
  }
  for (int i : front) {
    frontLine->append(static_cast<double>(points[i].params), points[i].ppl);
    onFront->append(static_cast<double>(points[i].params), points[i].ppl);
  }
  // The front first, so the markers are drawn over it.
  for (QAbstractSeries* s : std::initializer_list<QAbstractSeries*>{frontLine, onFront, random, other, searched}) {
    chart->addSeries(s);
    s->attachAxis(ax);
    s->attachAxis(ay);
  }
  // The rings mark the front's points; the legend names the front once.
  for (QLegendMarker* m : chart->legend()->markers(onFront)) m->setVisible(false);
  if (other->count() == 0)
    for (QLegendMarker* m : chart->legend()->markers(other)) m->setVisible(false);
  if (any) {
    pad(x0, x1);
    pad(y0, y1);
  }
  ax->setRange(std::max(0.0, x0), x1);
  ay->setRange(std::max(0.0, y0), y1);
  if (any) {
    ax->applyNiceNumbers();
    ay->applyNiceNumbers();
  }
  if (!any) chart->setTitle(chart->title() + QObject::tr("<br><span style='color:gray;font-size:small'>Evaluate the "
                                                          "searched architecture or run a random search to fill this plot</span>"));
  return chart;
}

}  // namespace atomscope::gui::nas
