#include "atomscope/gui/metric_chart.h"

#include <QChart>
#include <QLegend>
#include <QLineSeries>
#include <QSet>
#include <QValueAxis>
#include <cmath>
#include <limits>

namespace atomscope::gui {

MetricChart::MetricChart(QWidget* parent) : QChartView(parent) {
  auto* chart = new QChart;
  chart->legend()->setAlignment(Qt::AlignBottom);
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->setBackgroundRoundness(0);
  ax_ = new QValueAxis(chart);
  ay_ = new QValueAxis(chart);
  ax_->setTitleText(tr("step"));
  ax_->setLabelFormat(QStringLiteral("%g"));
  ay_->setLabelFormat(QStringLiteral("%.3g"));
  QFont small = ax_->labelsFont();
  small.setPointSizeF(std::max(6.5, small.pointSizeF() - 1.5));
  ax_->setLabelsFont(small);
  ay_->setLabelsFont(small);
  ax_->setTitleFont(small);
  ax_->setTickCount(5);
  ay_->setTickCount(5);
  chart->addAxis(ax_, Qt::AlignBottom);
  chart->addAxis(ay_, Qt::AlignLeft);
  setChart(chart);
  setRenderHint(QPainter::Antialiasing);
  setMinimumHeight(140);
  applyTimer_ = new QTimer(this);
  applyTimer_->setSingleShot(true);
  connect(applyTimer_, &QTimer::timeout, this, &MetricChart::applyPending);
  clearData();
}

void MetricChart::setTitle(const QString& title) { chart()->setTitle(title); }

MetricChart::Line& MetricChart::lineFor(const QString& name) {
  auto it = lines_.find(name);
  if (it != lines_.end()) return *it;
  Line line;
  line.series = new QLineSeries(chart());
  line.series->setName(name);
  line.lo = std::numeric_limits<double>::max();
  line.hi = -std::numeric_limits<double>::max();
  chart()->addSeries(line.series);
  line.series->attachAxis(ax_);
  // Two metrics rarely share a scale (TFLOP/s and ms, loss and learning rate): the second one
  // gets a right-hand axis in its colour; further ones share the left axis.
  line.right = order_.size() == 1;
  if (line.right) {
    if (!ayRight_) {
      ayRight_ = new QValueAxis(chart());
      ayRight_->setLabelFormat(QStringLiteral("%.3g"));
      ayRight_->setLabelsFont(ay_->labelsFont());
      ayRight_->setTickCount(5);
      chart()->addAxis(ayRight_, Qt::AlignRight);
    }
    ayRight_->setVisible(true);
    line.series->attachAxis(ayRight_);
    const QColor c = line.series->color();
    ayRight_->setLinePenColor(c);
    ayRight_->setLabelsColor(c);
  } else {
    line.series->attachAxis(ay_);
  }
  if (order_.isEmpty()) {
    ay_->setLabelsColor(line.series->color());
  }
  order_ << name;
  return *lines_.insert(name, line);
}

void MetricChart::addPoints(const std::vector<core::MetricPoint>& points) {
  if (points.empty()) return;
  // A batch holds thousands of points with the same few names: each name is converted and looked
  // up once per batch. Adding a line may rehash lines_, so the cached pointers are refreshed then.
  struct Name {
    const std::string* key;
    QString name;
    Line* line;
  };
  std::vector<Name> names;
  QSet<QString> touched;
  for (const auto& p : points) {
    ++received_;
    for (const auto& [key, value] : p.values) {
      if (!std::isfinite(value)) continue;
      Line* found = nullptr;
      for (const Name& n : names)
        if (*n.key == key) found = n.line;
      if (!found) {
        const QString name = QString::fromStdString(key);
        lineFor(name);
        touched.insert(name);
        names.push_back({&key, name, nullptr});
        for (Name& n : names) n.line = &lines_[n.name];
        found = names.back().line;
      }
      Line& line = *found;
      const double x = static_cast<double>(p.step);
      line.data.append(QPointF(x, value));
      x0_ = std::min(x0_, x);
      x1_ = std::max(x1_, x);
      line.lo = std::min(line.lo, value);
      line.hi = std::max(line.hi, value);
    }
  }
  for (const QString& name : touched) {
    Line& line = lines_[name];
    while (line.data.size() > kMaxPointsPerSeries) {
      // Halve the density, always keeping the newest point.
      QList<QPointF> kept;
      kept.reserve(line.data.size() / 2 + 1);
      for (qsizetype i = (line.data.size() - 1) % 2; i < line.data.size(); i += 2) kept.append(line.data[i]);
      line.data = std::move(kept);
    }
    pending_.insert(name);
  }
  // Redraw at most every kMinRedrawMs: a chart fed 10 times a second redraws 4 times.
  if (!sinceApply_.isValid() || sinceApply_.elapsed() >= kMinRedrawMs)
    applyPending();
  else if (!applyTimer_->isActive())
    applyTimer_->start(static_cast<int>(kMinRedrawMs - sinceApply_.elapsed()));
}

void MetricChart::applyPending() {
  for (const QString& name : pending_) {
    auto it = lines_.find(name);
    if (it != lines_.end()) it->series->replace(it->data);
  }
  pending_.clear();
  updateAxes();
  sinceApply_.start();
}

namespace {

// The smallest "round" number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten) at or above v > 0.
double roundUp(double v) {
  static constexpr double kSteps[] = {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
  const double decade = std::pow(10.0, std::floor(std::log10(v)));
  for (double s : kSteps)
    if (s * decade >= v * (1 - 1e-12)) return s * decade;
  return 10 * decade;
}

// Sets an axis range only when it changes: every change makes Qt Charts rebuild the stroked shape
// of each line on that axis, which was most of the GUI thread's time under a metric flood.
void setRangeIfChanged(QValueAxis* axis, double lo, double hi) {
  if (axis->min() != lo || axis->max() != hi) axis->setRange(lo, hi);
}

}  // namespace

void MetricChart::updateAxes() {
  if (x0_ > x1_) return;
  // The x axis ends at a round step above the newest point, so a growing run moves it a few
  // times per decade of steps, not on every redraw.
  double xa = x0_, xb = x1_;
  if (xb > xa) {
    const double span = roundUp(xb - xa);
    if (ax_->min() != xa || ax_->max() < xb || ax_->max() > xa + span) xb = xa + span;
    else xb = ax_->max();
  } else {
    xb = xa + 1;
  }
  setRangeIfChanged(ax_, xa, xb);
  // A value axis is kept while the data fill at least 60% of it and stay inside; otherwise it is
  // refitted with 6% padding.
  auto fit = [this](QValueAxis* axis, bool right) {
    double lo = std::numeric_limits<double>::max(), hi = -lo;
    for (const auto& line : lines_)
      if (line.right == right && line.lo <= line.hi) {
        lo = std::min(lo, line.lo);
        hi = std::max(hi, line.hi);
      }
    if (lo > hi) return;
    const double shown = axis->max() - axis->min();
    const bool spans = shown > 0 && (hi - lo) >= 0.6 * shown;  // the data fill most of the axis
    const bool filled = lo == hi ? shown <= std::max(1e-9, std::abs(lo) * 0.2) : spans;
    if (lo >= axis->min() && hi <= axis->max() && shown > 0 && filled) return;
    double pad = (hi - lo) * 0.06;
    if (pad == 0) pad = std::max(1e-9, std::abs(lo) * 0.05);
    // Data that left the axis on one side (a falling loss) will likely go on: give that side 25%
    // headroom so the axis is refitted a few times per run rather than on every redraw.
    const double below = spans && lo < axis->min() ? (hi - lo) * 0.25 : pad;
    const double above = spans && hi > axis->max() ? (hi - lo) * 0.25 : pad;
    setRangeIfChanged(axis, lo - below, hi + above);
  };
  fit(ay_, false);
  if (ayRight_) fit(ayRight_, true);
}

void MetricChart::clearData() {
  for (auto& line : lines_) {
    chart()->removeSeries(line.series);
    delete line.series;
  }
  lines_.clear();
  order_.clear();
  pending_.clear();
  received_ = 0;
  x0_ = std::numeric_limits<double>::max();
  x1_ = -std::numeric_limits<double>::max();
  ax_->setRange(0, 1);
  ay_->setRange(0, 1);
  if (ayRight_) ayRight_->setVisible(false);
}

QStringList MetricChart::seriesNames() const { return order_; }

int MetricChart::displayedPointCount(const QString& name) const {
  auto it = lines_.find(name);
  if (it == lines_.end()) return 0;
  // What is (or is about to be) drawn.
  return pending_.contains(name) ? static_cast<int>(it->data.size()) : static_cast<int>(it->series->count());
}

QLineSeries* MetricChart::series(const QString& name) const {
  auto it = lines_.find(name);
  return it == lines_.end() ? nullptr : it->series;
}

}  // namespace atomscope::gui
