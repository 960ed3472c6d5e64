#pragma once
// One opened structure file: the 3D view with its display controls (style, cell, axes, labels,
// supercell repeat, per-atom vectors), a side panel (structure properties, per-atom table, the
// selection and its measurement), and for trajectories a frame bar (play/pause, slider, frames
// per second). Keys: space plays or pauses, left/right step one frame, Home/End jump.
#include <QString>
#include <QWidget>

#include "atomscope/chem/structure.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSlider;
class QSpinBox;
class QTableView;
class QTableWidget;
class QTimer;
class QToolButton;

namespace atomscope::gui {

class StructureView;
class AtomTableModel;

class StructureDocument : public QWidget {
  Q_OBJECT
 public:
  StructureDocument(const QString& path, chem::Trajectory frames, QWidget* parent = nullptr);

  StructureView* view() const { return view_; }
  QSlider* frameSlider() const { return slider_; }
  QTableWidget* propertiesTable() const { return table_; }
  QTableView* atomTable() const { return atoms_; }
  QLabel* measurementLabel() const { return measurement_; }
  QString path() const { return path_; }
  bool isPlaying() const;
  void setPlaying(bool playing);
  void setFramesPerSecond(int fps);
  int framesPerSecond() const;
  void stepFrame(int delta);

  // Display controls (also driven by the Structures menu).
  void setRenderStyle(int style);  // StructureView::RenderStyle as int
  void setRepeat(int na, int nb, int nc);
  void setVectorsShown(bool shown);

  // Writes the structure shown (the current frame, repeated as displayed) in the format the
  // extension names; false with a message on failure.
  bool exportStructure(const QString& path, QString* error);
  // The same for scripts and tests: the error message, empty on success.
  Q_INVOKABLE QString exportTo(const QString& path);
  // A PNG of the view at width x height pixels; the error message, empty on success.
  Q_INVOKABLE QString exportImage(const QString& path, int width, int height);

 protected:
  void keyPressEvent(QKeyEvent* event) override;

 private:
  void updateProperties();
  void updateFrameLabel();
  void updateMeasurement();
  void selectViewAtomsFromTable();
  void selectTableRowsFromView();

  QString path_;
  StructureView* view_ = nullptr;
  QSlider* slider_ = nullptr;
  QToolButton* play_ = nullptr;
  QSpinBox* fps_ = nullptr;
  QLabel* frameLabel_ = nullptr;
  QLabel* measurement_ = nullptr;
  QTableWidget* table_ = nullptr;
  QTableView* atoms_ = nullptr;
  AtomTableModel* atomModel_ = nullptr;
  bool syncingSelection_ = false;  // set while one side of the table/view selection updates the other
  QTimer* timer_ = nullptr;
  QComboBox* style_ = nullptr;
  QComboBox* labels_ = nullptr;
  QCheckBox* cell_ = nullptr;
  QCheckBox* axes_ = nullptr;
  QSpinBox* repeat_[3] = {nullptr, nullptr, nullptr};
  QComboBox* vectors_ = nullptr;
  QDoubleSpinBox* vectorScale_ = nullptr;
};

}  // namespace atomscope::gui
