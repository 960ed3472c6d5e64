#pragma once
// StructureView: a molecule or crystal in 3D. VTK renders inside this QOpenGLWidget through a
// vtkGenericOpenGLRenderWindow (recipe in /work/shared/STACK.md); VTK stays out of this header.
//
// Atoms are sphere impostors (vtkOpenGLSphereMapper) and bonds stick impostors
// (vtkOpenGLStickMapper); colours are Jmol's, radii come from chem::Element. Large systems switch
// to a cheaper picture while anything moves them (see setInteractiveLodThreshold), and FXAA
// is applied only to the picture once it has been still for 250 ms.
// Mouse: left drag rotates, a left click without a drag selects an atom (up to four: distance,
// angle, dihedral; a click on empty space clears), wheel zooms, middle drag or shift + left drag
// pans, ctrl + left drag spins; R resets the view, Escape clears the selection.
#include <QColor>
#include <QImage>
#include <QOpenGLWidget>
#include <QPointF>
#include <QString>
#include <QSurfaceFormat>
#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "atomscope/chem/bonds.h"
#include "atomscope/chem/structure.h"

namespace atomscope::gui {

class StructureView : public QOpenGLWidget {
  Q_OBJECT

 public:
  enum class RenderStyle { BallAndStick, SpaceFill, Licorice, Wireframe };
  enum class AtomLabels { None, Symbol, Index, SymbolAndIndex };

  // What the selected atoms measure: 2 a distance (Angstrom), 3 the angle at the middle atom,
  // 4 the dihedral angle (degrees, -180..180, IUPAC sign), in selection order.
  struct Measurement {
    enum class Kind { None, Distance, Angle, Dihedral };
    Kind kind = Kind::None;
    double value = 0.0;
    std::vector<int> atoms;  // indices into the displayed structure
  };

  explicit StructureView(QWidget* parent = nullptr);
  ~StructureView() override;

  // The format VTK needs (OpenGL 3.2 core, depth, no multisampling); set it as
  // QSurfaceFormat::setDefaultFormat before the QApplication exists.
  static QSurfaceFormat defaultFormat();

  // One structure (a trajectory of one frame). Resets the camera.
  void setStructure(const chem::Structure& structure);
  // Frames of a trajectory; shows frame 0 and resets the camera.
  void setTrajectory(chem::Trajectory frames);
  int frameCount() const;
  int currentFrame() const;
  // Shows frame i (clamped); keeps the camera so playback does not jump.
  void setFrame(int index);
  const chem::Structure* structure() const;  // the frame shown; nullptr when empty
  const std::vector<chem::Bond>& bonds() const;  // bonds of the frame shown

  void setRenderStyle(RenderStyle style);
  RenderStyle renderStyle() const;
  static QString styleName(RenderStyle style);
  void setShowCell(bool show);  // unit cell box of periodic structures (default on)
  bool showCell() const;
  void setShowLabel(bool show);  // formula and frame text in the corner (default on)
  void setShowAxes(bool show);   // orientation axes in the corner: a, b, c for crystals, x, y, z else (default on)
  bool showAxes() const;
  // Per-atom text (symbol, index or both); drawn for at most kMaxAtomLabels atoms.
  void setAtomLabels(AtomLabels labels);
  AtomLabels atomLabels() const;
  // Labels in the last picture: atoms hidden behind others get none.
  int drawnAtomLabelCount() const;
  static constexpr int kMaxAtomLabels = 2000;
  // Periodic structures drawn na x nb x nc times along a, b, c (1 1 1 = the cell as read).
  // Molecules ignore it. Selection indices then refer to the repeated structure.
  void setRepeat(int na, int nb, int nc);
  std::array<int, 3> repeat() const;
  // The structure drawn: the current frame, repeated; nullptr when empty.
  const chem::Structure* displayedStructure() const;
  // Per-atom vectors (a 3-column per-atom array such as forces) as arrows starting at the atoms'
  // surfaces, `scale` Angstrom long per unit of the array. An empty name hides them.
  void setVectorProperty(const QString& name);
  QString vectorProperty() const;
  void setVectorScale(double angstromPerUnit);
  double vectorScale() const;
  // A scale that makes the 90th percentile of |v| over all frames `length` Angstrom (0 without vectors).
  double autoVectorScale(double length = 1.0) const;
  // Arrows in the scene for the frame shown (atoms whose vector is zero or not finite get none).
  int drawnVectorCount() const;
  void setBondOptions(const chem::BondOptions& options);
  // Background: dark blue-grey gradient (default) or white.
  void setDarkBackground(bool dark);
  bool darkBackground() const;

  // Camera: fit everything in view; rotate about the view up axis / the horizontal axis (degrees);
  // zoom > 1 moves closer.
  void resetCamera();
  void rotateCamera(double azimuthDegrees, double elevationDegrees = 0.0);
  void zoomCamera(double factor);

  // The widget's current picture (renders if needed).
  QImage grabImage();
  // An offscreen render at width x height, independent of the widget's size (up to the GPU's
  // framebuffer limit, then tiled). Null image and *error set on failure.
  QImage renderImage(int width, int height, QString* error = nullptr);
  bool saveScreenshot(const QString& path, int width, int height, QString* error = nullptr);

  // Milliseconds the last render took (for the viewer benchmark).
  double lastRenderMilliseconds() const;
  // While a structure of at least `atoms` atoms moves (a drag, the wheel, keys, a turn from code,
  // trajectory playback) the atoms are drawn as flat points (at most 50,000 of them: every k-th
  // atom) and bonds, labels and arrows are hidden; the full picture comes back 250 ms after the
  // motion stops (ParaView's LOD while interacting). 0 turns it off. Default 10000 (on llvmpipe 10k
  // impostor atoms with bonds draw at about 7 frames/s, their points at about 40).
  void setInteractiveLodThreshold(int atoms);
  // Forces the reduced picture on or off, as during a drag (trajectory playback, benchmark and tests).
  // Frames shown while it is on get no bonds (bonds() is empty) until it goes off.
  void setInteracting(bool interacting);
  bool isInteracting() const;

  // Selection (indices into displayedStructure(), in click order, at most 4).
  std::vector<int> selection() const;
  void setSelection(const std::vector<int>& atoms);
  void clearSelection();
  Measurement measurement() const;
  static QString measurementText(const Measurement& m, const chem::Structure& s);
  // The atom under a point of the widget (logical pixels): the nearest sphere the view ray hits.
  std::optional<int> atomAt(const QPointF& widgetPos) const;
  // Where an atom's centre appears in the widget (logical pixels); nullopt when out of range.
  std::optional<QPointF> atomWidgetPosition(int atom) const;

  // Geometry in Angstrom and degrees.
  static double distance(const chem::Vec3& a, const chem::Vec3& b);
  static double angleDegrees(const chem::Vec3& a, const chem::Vec3& b, const chem::Vec3& c);
  static double dihedralDegrees(const chem::Vec3& a, const chem::Vec3& b, const chem::Vec3& c, const chem::Vec3& d);
  // The display colour of element z (Jmol's table; deep pink for unknown numbers).
  static QColor atomColor(int z);

 Q_SIGNALS:
  void frameChanged(int index);
  void structureChanged();
  void selectionChanged();

 protected:
  void initializeGL() override;
  void resizeGL(int w, int h) override;
  void paintGL() override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  bool event(QEvent* event) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> d_;
};

}  // namespace atomscope::gui
