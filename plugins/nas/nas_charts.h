#pragma once
// Charts of the NAS panel (Qt Charts):
//   SeriesChart   lines fed point by point (one per key), all on one y axis: the architecture
//                 weights of one dimension (one line per choice, y fixed to [0, 1]) or the losses
//   makeParetoChart  parameters (x) versus validation perplexity (y): searched and random
//                 architectures as two scatter series, the Pareto front as a line over its points
#include <QChartView>
#include <QHash>
#include <QList>
#include <QPointF>
#include <QStringList>

#include "nas_run.h"

class QChart;
class QLineSeries;
class QValueAxis;

namespace atomscope::gui::nas {

class SeriesChart : public QChartView {
  Q_OBJECT
 public:
  explicit SeriesChart(const QString& title, QWidget* parent = nullptr);
  // The y range follows the data, kept within [lo, hi] (architecture weights: [0, 1]).
  void setBounds(double lo, double hi);
  void setLegendAlignment(Qt::Alignment a);
  // Appends (x, y) to the line `key` (created on first use with legend text `label`; its
  // QLineSeries has objectName `key`). Drawn at the next flush().
  void addPoint(const QString& key, const QString& label, double x, double y);
  void flush();
  void clear();

  QStringList keys() const { return order_; }
  QLineSeries* line(const QString& key) const;

 private:
  struct Line {
    QLineSeries* series = nullptr;
    QList<QPointF> data;
    bool dirty = false;
  };
  QHash<QString, Line> lines_;
  QStringList order_;
  QValueAxis* ax_;
  QValueAxis* ay_;
  bool bounded_ = false;
  double lo_ = 0, hi_ = 1;
  double x0_ = 0, x1_ = 0, y0_ = 0, y1_ = 0;
  bool any_ = false;
};

// Object names: scatter series "paretoSearched", "paretoOther" and "paretoRandom", the front
// "paretoFront".
QChart* makeParetoChart(const QList<ParetoPoint>& points, const QList<int>& front);

}  // namespace atomscope::gui::nas
