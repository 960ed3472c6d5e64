#pragma once
// StructureView: a molecule or crystal in 3D. VTK renders inside this QOpenGLWidget through a
// vtkGenericOpenGLRenderWindow (recipe in /work/shared/STACK.md); VTK stays out of this header.
//
// Atoms are sphere impostors (vtkOpenGLSphereMapper) and bonds stick impostors
// (vtkOpenGLStickMapper), so 100k atoms stay interactive; colours are Jmol's, radii come from
// chem::Element. Mouse: left drag rotates, wheel zooms, middle drag or shift + left drag pans,
// ctrl + left drag spins; R resets the view.
#include <QImage>
#include <QOpenGLWidget>
#include <QString>
#include <QSurfaceFormat>
#include <memory>
#include <vector>

#include "atomscope/chem/bonds.h"
#include "atomscope/chem/structure.h"

namespace atomscope::gui {

class StructureView : public QOpenGLWidget {
  Q_OBJECT

 public:
  enum class RenderStyle { BallAndStick, SpaceFill, Licorice, Wireframe };

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

 Q_SIGNALS:
  void frameChanged(int index);
  void structureChanged();

 protected:
  void initializeGL() override;
  void resizeGL(int w, int h) override;
  void paintGL() override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> d_;
};

}  // namespace atomscope::gui
