#pragma once
// A heatmap of one attention matrix [T, T] (row = query token, column = key token): a QImage with
// a perceptual colour map (viridis-like), the token texts on both axes, a colour bar, and a tooltip
// with the value under the mouse.
#include <QImage>
#include <QStringList>
#include <QWidget>
#include <vector>

namespace atomscope::gui::models {

class AttentionHeatmap : public QWidget {
  Q_OBJECT
 public:
  explicit AttentionHeatmap(QWidget* parent = nullptr);

  // values: T*T row-major; tokens: T labels.
  void setMatrix(std::vector<float> values, int size, QStringList tokens, const QString& title = {});
  void clear();
  int size() const { return n_; }
  const QImage& image() const { return image_; }  // one pixel per cell
  QSize sizeHint() const override { return {520, 520}; }
  QSize minimumSizeHint() const override { return {200, 200}; }
  static QRgb colour(double t);  // t in [0, 1]

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  QRect plotRect() const;
  int cellAt(const QPoint& p, int* row, int* col) const;

  std::vector<float> values_;
  int n_ = 0;
  QStringList tokens_;
  QString title_;
  QImage image_;
  float max_ = 1;
  int hoverRow_ = -1, hoverCol_ = -1;
};

}  // namespace atomscope::gui::models
