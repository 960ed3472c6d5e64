#pragma once
// A live line chart of job metrics (one line per metric name) in Qt Charts. Points are kept
// decimated (at most 300 per line, about one per pixel of a docked chart) so a long run or a fast-reporting job stays cheap to draw.
#include <QChartView>
#include <QHash>
#include <QList>
#include <QElapsedTimer>
#include <QPointF>
#include <QSet>
#include <QTimer>
#include <vector>

#include "atomscope/core/feedback.h"

class QLineSeries;
class QValueAxis;

namespace atomscope::gui {

class MetricChart : public QChartView {
  Q_OBJECT
 public:
  static constexpr int kMaxPointsPerSeries = 300;
  static constexpr int kMinRedrawMs = 250;  // points arriving faster are drawn together

  explicit MetricChart(QWidget* parent = nullptr);
  void setTitle(const QString& title);
  void addPoints(const std::vector<core::MetricPoint>& points);
  void clearData();

  QStringList seriesNames() const;
  int displayedPointCount(const QString& name) const;
  long long receivedPointCount() const { return received_; }
  QLineSeries* series(const QString& name) const;

 private:
  struct Line {
    QLineSeries* series = nullptr;
    QList<QPointF> data;
    double lo = 0, hi = 0;  // value range seen
    bool right = false;     // the second metric gets its own axis on the right
  };
  Line& lineFor(const QString& name);
  void updateAxes();
  void applyPending();  // hands the buffered data to the series

  QHash<QString, Line> lines_;
  QStringList order_;
  QValueAxis* ax_;
  QValueAxis* ay_;
  QValueAxis* ayRight_ = nullptr;
  double x0_, x1_;
  long long received_ = 0;
  QSet<QString> pending_;
  QElapsedTimer sinceApply_;
  QTimer* applyTimer_;
};

}  // namespace atomscope::gui
