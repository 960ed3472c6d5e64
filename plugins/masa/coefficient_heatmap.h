#pragma once
// A heatmap of one dictionary's coefficients C [layers, atoms] (row = layer, column = atom):
// a diverging colour scale symmetric around zero (blue negative, white zero, red positive), the
// layer and atom numbers on the axes, a colour bar with its range, the value of every cell drawn
// when it fits, and a tooltip with the value under the mouse. render() draws it into any image
// (for reports).
#include <QList>
#include <QString>
#include <QWidget>
#include <vector>

namespace atomscope::gui::masa {

class CoefficientHeatmap : public QWidget {
  Q_OBJECT
 public:
  explicit CoefficientHeatmap(QWidget* parent = nullptr);

  // values: rows*cols row-major; layers: the model layer of each row (empty: 0..rows-1).
  void setMatrix(std::vector<float> values, int rows, int cols, QList<int> layers, const QString& title);
  void clear(const QString& message = {});
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  const std::vector<float>& values() const { return values_; }
  float scale() const { return scale_; }  // the colour bar runs from -scale to +scale
  QString title() const { return title_; }
  // An image of the heatmap at `size`, as drawn on screen.
  QImage renderImage(QSize size) const;

  QSize sizeHint() const override { return {520, 360}; }
  QSize minimumSizeHint() const override { return {240, 160}; }
  static QColor colour(double t);  // t in [-1, 1]

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;

 private:
  void draw(QPainter& p, const QRect& area) const;
  QRect plotRect(const QRect& area) const;

  std::vector<float> values_;
  int rows_ = 0, cols_ = 0;
  QList<int> layers_;
  QString title_, message_;
  float scale_ = 1;
};

}  // namespace atomscope::gui::masa
