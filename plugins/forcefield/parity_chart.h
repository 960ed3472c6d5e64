#pragma once
// A parity plot: predicted against reference values as points, with the y = x line, in Qt Charts.
#include <QChartView>
#include <QString>
#include <vector>

class QLineSeries;
class QScatterSeries;
class QValueAxis;

namespace atomscope::gui::forcefield {

class ParityChart : public QChartView {
  Q_OBJECT
 public:
  ParityChart(const QString& title, const QString& unit, QWidget* parent = nullptr);
  // Replaces the points (reference[i], predicted[i]); at most kMaxPoints are drawn (evenly picked).
  void setData(const std::vector<double>& reference, const std::vector<double>& predicted);
  void clearData();
  int pointCount() const;  // points drawn
  static constexpr int kMaxPoints = 20000;

 private:
  QScatterSeries* points_;
  QLineSeries* diagonal_;
  QValueAxis* ax_;
  QValueAxis* ay_;
};

}  // namespace atomscope::gui::forcefield
