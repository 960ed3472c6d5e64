#pragma once
// One opened structure file: the 3D view, a frame slider with a play button for trajectories,
// and a small properties table (formula, atoms, energy, lattice) of the frame shown.
#include <QString>
#include <QWidget>

#include "atomscope/chem/structure.h"

class QLabel;
class QSlider;
class QTableWidget;
class QTimer;
class QToolButton;

namespace atomscope::gui {

class StructureView;

class StructureDocument : public QWidget {
  Q_OBJECT
 public:
  StructureDocument(const QString& path, chem::Trajectory frames, QWidget* parent = nullptr);

  StructureView* view() const { return view_; }
  QSlider* frameSlider() const { return slider_; }
  QTableWidget* propertiesTable() const { return table_; }
  QString path() const { return path_; }
  bool isPlaying() const;
  void setPlaying(bool playing);

 private:
  void updateProperties();
  void updateFrameLabel();

  QString path_;
  StructureView* view_ = nullptr;
  QSlider* slider_ = nullptr;
  QToolButton* play_ = nullptr;
  QLabel* frameLabel_ = nullptr;
  QTableWidget* table_ = nullptr;
  QTimer* timer_ = nullptr;
};

}  // namespace atomscope::gui
