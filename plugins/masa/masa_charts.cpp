#include "masa_charts.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QScatterSeries>
#include <QMap>
#include <QPen>
#include <QValueAxis>
#include <algorithm>
#include <cmath>
#include <limits>

namespace atomscope::gui::masa {

namespace {

// One colour per projection type, the same in every chart.
QColor roleColour(const QString& role) {
  if (role == QLatin1String("q")) return QColor(0x1f, 0x77, 0xb4);
  if (role == QLatin1String("k")) return QColor(0xff, 0x7f, 0x0e);
  if (role == QLatin1String("v")) return QColor(0x2c, 0xa0, 0x2c);
  if (role == QLatin1String("o")) return QColor(0xd6, 0x27, 0x28);
  return QColor(0x7f, 0x7f, 0x7f);
}

QColor methodColour(int i) {
  static const QColor palette[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xd6, 0x27, 0x28), QColor(0x2c, 0xa0, 0x2c),
                                   QColor(0x94, 0x67, 0xbd), QColor(0xff, 0x7f, 0x0e), QColor(0x8c, 0x56, 0x4b),
                                   QColor(0xe3, 0x77, 0xc2), QColor(0x17, 0xbe, 0xcf)};
  return palette[i % 8];
}

QChart* baseChart(const QString& title) {
  auto* chart = new QChart;
  chart->setTitle(title);
  chart->legend()->setAlignment(Qt::AlignBottom);
  chart->setMargins(QMargins(4, 4, 14, 4));  // room for the last x label
  chart->setAnimationOptions(QChart::NoAnimation);
  return chart;
}

void placeholder(QChart* chart, const QString& why) {
  chart->setTitle(chart->title() + QStringLiteral("<br><span style='color:gray;font-size:small'>") + why.toHtmlEscaped() +
                  QStringLiteral("</span>"));
}

}  // namespace

QChart* makeEnergyChart(const CompressionRun& run) {
  QChart* chart = baseChart(QObject::tr("Energy per atom direction (share of each type's weights)"));
  auto* ax = new QValueAxis(chart);
  auto* ay = new QValueAxis(chart);
  ax->setTitleText(QObject::tr("atom (principal direction)"));
  ax->setLabelFormat(QStringLiteral("%d"));
  ay->setTitleText(QObject::tr("energy share"));
  ay->setLabelFormat(QStringLiteral("%.2g"));
  chart->addAxis(ax, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);
  int maxDirections = 1;
  double maxEnergy = 0;
  for (const auto& t : run.types) {
    for (int g = 0; g < t.energy.size(); ++g) {
      const auto& e = t.energy[g];
      if (e.empty()) continue;
      auto* s = new QLineSeries(chart);
      s->setObjectName(QStringLiteral("energy_%1_%2").arg(t.role).arg(g));
      const QString who = t.energy.size() > 1 ? QStringLiteral("%1 g%2").arg(t.role).arg(g) : t.role;
      s->setName(QObject::tr("%1: %2 kept, %3%").arg(who).arg(t.keptIn(g)).arg(100.0 * t.keptEnergy(g), 0, 'f', 1));
      QPen pen(roleColour(t.role));
      pen.setWidthF(2.0);
      if (g > 0) pen.setStyle(Qt::DashLine);
      s->setPen(pen);
      s->setPointsVisible(true);
      QList<QPointF> pts;
      for (std::size_t i = 0; i < e.size(); ++i) {
        pts << QPointF(static_cast<double>(i + 1), e[i]);
        maxEnergy = std::max(maxEnergy, e[i]);
      }
      maxDirections = std::max(maxDirections, static_cast<int>(e.size()));
      s->replace(pts);
      chart->addSeries(s);
      s->attachAxis(ax);
      s->attachAxis(ay);
      // The kept atoms, drawn large over the line.
      if (t.keptIn(g) > 0) {
        auto* kept = new QScatterSeries(chart);
        kept->setObjectName(QStringLiteral("kept_%1_%2").arg(t.role).arg(g));
        kept->setMarkerSize(11);
        kept->setColor(roleColour(t.role));
        kept->setBorderColor(Qt::white);
        kept->replace(pts.mid(0, std::min<qsizetype>(t.keptIn(g), pts.size())));
        chart->addSeries(kept);
        kept->attachAxis(ax);
        kept->attachAxis(ay);
        for (QLegendMarker* m : chart->legend()->markers(kept)) m->setVisible(false);
      }
    }
  }
  ax->setRange(0.5, maxDirections + 0.5);
  ax->setTickCount(std::min(maxDirections, 12) + 1);
  ax->setTickType(QValueAxis::TicksDynamic);
  ax->setTickAnchor(1);
  ax->setTickInterval(std::max(1, maxDirections / 12));
  ay->setRange(0, maxEnergy > 0 ? std::min(1.0, maxEnergy * 1.1) : 1.0);
  ay->applyNiceNumbers();
  if (chart->series().isEmpty())
    placeholder(chart, QObject::tr("%1 stores no shared atoms (a per-matrix method)").arg(run.method));
  return chart;
}

QChart* makeErrorChart(const CompressionRun& run) {
  QChart* chart = baseChart(QObject::tr("Relative weight error per layer  \u2016W \u2212 \u0174\u2016 / \u2016W\u2016"));
  auto* series = new QBarSeries(chart);
  series->setObjectName(QStringLiteral("errorBars"));
  double hi = 0;
  const int layers = run.layerCount();
  for (const auto& t : run.types) {
    auto* set = new QBarSet(t.role, series);
    set->setColor(roleColour(t.role));
    set->setBorderColor(roleColour(t.role).darker(120));
    for (double e : t.relativeError) {
      *set << e;
      hi = std::max(hi, e);
    }
    series->append(set);
  }
  chart->addSeries(series);
  auto* ax = new QBarCategoryAxis(chart);
  QStringList cats;
  for (int l = 0; l < layers; ++l) cats << QObject::tr("layer %1").arg(l);
  ax->append(cats);
  auto* ay = new QValueAxis(chart);
  ay->setTitleText(QObject::tr("relative error"));
  ay->setLabelFormat(QStringLiteral("%.2f"));
  ay->setRange(0, hi > 0 ? hi * 1.1 : 1.0);
  ay->applyNiceNumbers();
  chart->addAxis(ax, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);
  series->attachAxis(ax);
  series->attachAxis(ay);
  return chart;
}

QChart* makeCompareChart(const QList<ComparePoint>& points, double reference) {
  QChart* chart = baseChart(QObject::tr("Perplexity versus attention compression"));
  auto* ax = new QValueAxis(chart);
  auto* ay = new QValueAxis(chart);
  ax->setTitleText(QObject::tr("attention parameters removed (%)"));
  ax->setLabelFormat(QStringLiteral("%.0f"));
  ay->setTitleText(QObject::tr("perplexity after"));
  ay->setLabelFormat(QStringLiteral("%.4g"));
  chart->addAxis(ax, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);
  QMap<QString, QList<QPointF>> byMethod;
  QStringList order;
  double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& p : points) {
    if (!byMethod.contains(p.method)) order << p.method;
    byMethod[p.method] << QPointF(100.0 * p.compression, p.perplexity);
    x0 = std::min(x0, 100.0 * p.compression);
    x1 = std::max(x1, 100.0 * p.compression);
    y0 = std::min(y0, p.perplexity);
    y1 = std::max(y1, p.perplexity);
  }
  for (int i = 0; i < order.size(); ++i) {
    QList<QPointF> pts = byMethod[order[i]];
    std::sort(pts.begin(), pts.end(), [](const QPointF& a, const QPointF& b) { return a.x() < b.x(); });
    auto* s = new QLineSeries(chart);
    s->setObjectName(QStringLiteral("compare_%1").arg(order[i]));
    s->setName(order[i]);
    QPen pen(methodColour(i));
    pen.setWidthF(2.0);
    s->setPen(pen);
    s->setPointsVisible(true);
    s->setMarkerSize(7);
    s->replace(pts);
    chart->addSeries(s);
    s->attachAxis(ax);
    s->attachAxis(ay);
  }
  if (points.isEmpty()) {
    x0 = 0, x1 = 100;
    y0 = reference > 0 ? reference : 0;
    y1 = y0 + 1;
  }
  if (x1 - x0 < 1) x0 -= 5, x1 += 5;
  QLineSeries* ref = nullptr;
  if (reference > 0) {
    y0 = std::min(y0, reference);
    y1 = std::max(y1, reference);
    ref = new QLineSeries(chart);
    ref->setObjectName(QStringLiteral("compare_reference"));
    ref->setName(QObject::tr("uncompressed (%1)").arg(reference, 0, 'f', 3));
    QPen pen(QColor(0x55, 0x55, 0x55));
    pen.setStyle(Qt::DashLine);
    pen.setWidthF(1.5);
    ref->setPen(pen);
    chart->addSeries(ref);
    ref->attachAxis(ax);
    ref->attachAxis(ay);
  }
  const double pad = std::max(0.05 * (y1 - y0), 0.02 * std::abs(y1) + 1e-6);
  ax->setRange(std::max(0.0, x0 - 5), std::min(100.0, x1 + 5));
  ay->setRange(std::max(0.0, y0 - pad), y1 + pad);
  ax->applyNiceNumbers();
  ay->applyNiceNumbers();
  // The reference spans the whole (final) horizontal axis.
  if (ref) ref->replace({QPointF(ax->min(), reference), QPointF(ax->max(), reference)});
  if (points.isEmpty()) placeholder(chart, QObject::tr("Run \u201cCompare methods\u201d or a few compressions to fill this chart"));
  return chart;
}

}  // namespace atomscope::gui::masa
