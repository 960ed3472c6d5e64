#include "atomscope/gui/structure_view.h"

#include <QElapsedTimer>
#include <QTimer>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <QStringList>
#include <vtkActor.h>
#include <vtkActor2D.h>
#include <vtkAxesActor.h>
#include <vtkCaptionActor2D.h>
#include <vtkLabeledDataMapper.h>
#include <vtkSelectVisiblePoints.h>
#include <vtkMatrix4x4.h>
#include <vtkStringArray.h>
#include <vtkTransform.h>
#include <vtkCallbackCommand.h>
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkFloatArray.h>
#include <vtkGenericOpenGLRenderWindow.h>
#include <vtkGenericRenderWindowInteractor.h>
#include <vtkIdTypeArray.h>
#include <vtkImageData.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkNew.h>
#include <vtkOpenGLSphereMapper.h>
#include <vtkOpenGLState.h>
#include <vtkOpenGLStickMapper.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderLargeImage.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkTextActor.h>
#include <vtkTextProperty.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowToImageFilter.h>

#include "atomscope/chem/elements.h"
#include "atomscope/chem/supercell.h"

namespace atomscope::gui {

namespace {

using chem::Vec3;

// Ball-and-stick proportions as Avogadro 2: atoms at 0.3 x van der Waals radius, thin bonds.
constexpr double kBallScale = 0.3;
constexpr double kBondRadius = 0.11;
constexpr double kLicoriceRadius = 0.2;
// While a drag moves a large system at most this many atoms are drawn (as points, every k-th
// atom): on llvmpipe each point costs about a microsecond, so 50k keep a drag above 10 frames/s.
constexpr vtkIdType kMaxLodPoints = 50000;

std::array<unsigned char, 3> rgbOf(int z) {
  if (!chem::isValidAtomicNumber(z)) return {255, 20, 147};
  const auto c = chem::element(z).jmolColor;
  return {static_cast<unsigned char>((c >> 16) & 0xFF), static_cast<unsigned char>((c >> 8) & 0xFF),
          static_cast<unsigned char>(c & 0xFF)};
}

// Eigenvectors of a symmetric 3x3 matrix (cyclic Jacobi), columns sorted by decreasing eigenvalue.
std::array<Vec3, 3> principalAxes(std::array<std::array<double, 3>, 3> a) {
  std::array<std::array<double, 3>, 3> v{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  for (int sweep = 0; sweep < 50; ++sweep) {
    const double off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
    if (off < 1e-20) break;
    for (int p = 0; p < 2; ++p)
      for (int q = p + 1; q < 3; ++q) {
        if (std::abs(a[p][q]) < 1e-30) continue;
        const double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), sn = t * c;
        for (int k = 0; k < 3; ++k) {  // A <- A J
          const double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - sn * akq;
          a[k][q] = sn * akp + c * akq;
        }
        for (int k = 0; k < 3; ++k) {  // A <- J^T A
          const double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - sn * aqk;
          a[q][k] = sn * apk + c * aqk;
        }
        for (int k = 0; k < 3; ++k) {
          const double vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - sn * vkq;
          v[k][q] = sn * vkp + c * vkq;
        }
      }
  }
  std::array<int, 3> order{0, 1, 2};
  std::sort(order.begin(), order.end(), [&](int x, int y) { return a[x][x] > a[y][y]; });
  std::array<Vec3, 3> axes;
  for (int i = 0; i < 3; ++i) axes[i] = {v[0][order[i]], v[1][order[i]], v[2][order[i]]};
  return axes;
}

double vdwRadius(int z) { return chem::isValidAtomicNumber(z) ? chem::element(z).displayVdwRadius() : 1.5; }

std::string symbolOf(int z) { return chem::isValidAtomicNumber(z) ? chem::element(z).symbol : "X"; }

Vec3 sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

// The structure repeated na x nb x nc times along its lattice vectors (molecules as they are).
chem::Structure repeated(const chem::Structure& s, const std::array<int, 3>& n) {
  if (!s.isPeriodic() || (n[0] == 1 && n[1] == 1 && n[2] == 1)) return s;
  return chem::makeSupercell(s, n);
}

vtkSmartPointer<vtkUnsignedCharArray> newColors(vtkIdType n) {
  auto colors = vtkSmartPointer<vtkUnsignedCharArray>::New();
  colors->SetName("colors");
  colors->SetNumberOfComponents(3);
  colors->SetNumberOfTuples(n);
  return colors;
}

void setMaterial(vtkProperty* p) {
  p->SetAmbient(0.2);
  p->SetDiffuse(0.8);
  p->SetSpecular(0.35);
  p->SetSpecularPower(40.0);
  p->SetSpecularColor(1.0, 1.0, 1.0);
}

}  // namespace

struct StructureView::Impl {
  StructureView* view = nullptr;
  vtkSmartPointer<vtkGenericOpenGLRenderWindow> window;
  vtkSmartPointer<vtkRenderer> renderer;
  vtkSmartPointer<vtkGenericRenderWindowInteractor> interactor;
  vtkSmartPointer<vtkInteractorStyleTrackballCamera> style;

  vtkSmartPointer<vtkPolyData> atomData;
  vtkSmartPointer<vtkOpenGLSphereMapper> atomMapper;
  vtkSmartPointer<vtkActor> atomActor;
  vtkSmartPointer<vtkPolyData> stickData;
  vtkSmartPointer<vtkOpenGLStickMapper> stickMapper;
  vtkSmartPointer<vtkActor> stickActor;
  vtkSmartPointer<vtkPolyData> lineData;
  vtkSmartPointer<vtkPolyDataMapper> lineMapper;
  vtkSmartPointer<vtkActor> lineActor;
  vtkSmartPointer<vtkPolyData> cellData;
  vtkSmartPointer<vtkPolyDataMapper> cellMapper;
  vtkSmartPointer<vtkActor> cellActor;
  vtkSmartPointer<vtkTextActor> label;
  // Reduced picture while interacting with large systems: atoms as flat points.
  vtkSmartPointer<vtkPolyData> lodData;  // the atoms' points, at most kMaxLodPoints of them
  vtkSmartPointer<vtkPolyDataMapper> lodMapper;
  vtkSmartPointer<vtkActor> lodActor;
  // Selection halos, measurement lines and text.
  vtkSmartPointer<vtkPolyData> selectionData;
  vtkSmartPointer<vtkOpenGLSphereMapper> selectionMapper;
  vtkSmartPointer<vtkActor> selectionActor;
  vtkSmartPointer<vtkPolyData> measureData;
  vtkSmartPointer<vtkPolyDataMapper> measureMapper;
  vtkSmartPointer<vtkActor> measureActor;
  vtkSmartPointer<vtkTextActor> measureText;
  // Atom labels.
  vtkSmartPointer<vtkPolyData> labelData;
  vtkSmartPointer<vtkSelectVisiblePoints> labelVisible;  // drops labels of atoms hidden behind others
  vtkSmartPointer<vtkLabeledDataMapper> labelMapper;
  vtkSmartPointer<vtkActor2D> labelActor;
  // Per-atom vectors as arrows.
  vtkSmartPointer<vtkPolyData> vectorData;
  vtkSmartPointer<vtkPolyDataMapper> vectorMapper;
  vtkSmartPointer<vtkActor> vectorActor;
  // Orientation axes in a corner renderer that follows the main camera.
  vtkSmartPointer<vtkRenderer> axesRenderer;
  vtkSmartPointer<vtkAxesActor> axes;

  chem::Trajectory frames;
  int frame = 0;
  chem::Structure shown;  // the frame drawn (repeated)
  std::array<int, 3> repeatCounts{1, 1, 1};
  std::vector<int> selected;
  AtomLabels atomLabels = AtomLabels::None;
  bool showAxes = true;
  std::string vectorName;
  double vectorScale = 1.0;
  int vectorCount = 0;  // arrows in vectorData
  int lodThreshold = 10000;
  bool interacting = false;
  // FXAA costs about as much as the rest of a frame on llvmpipe: frames drawn while the camera
  // or the frame moves skip it; the picture is redrawn with it once things have been still.
  bool moving = false;
  QTimer* settle = nullptr;
  // Any motion (a drag, wheel, keys, a turn from code, playback) of a large structure shows the
  // reduced picture until 250 ms after it stops, as ParaView's LOD does while interacting.
  void markMoving() {
    setMoving(true);
    if (settle) settle->start();
  }
  void setMoving(bool m);
  void lodChanged(bool wasActive);
  QPointF pressPos;
  bool leftDown = false;
  bool dragged = false;
  std::vector<chem::Bond> bonds;
  chem::BondOptions bondOptions;
  RenderStyle renderStyle = RenderStyle::BallAndStick;
  bool showCell = true;
  bool showLabel = true;
  bool dark = true;
  bool cameraUntouched = true;  // while true, a resize refits the view (the first layout, a dock moving)
  bool initialized = false;
  bool inPaint = false;
  bool inOffscreen = false;
  double lastRenderMs = 0.0;

  const chem::Structure* current() const {
    return frames.empty() ? nullptr : &frames[static_cast<std::size_t>(frame)];
  }

  void buildPipeline();
  void applyBackground();
  void rebuildScene();
  void buildAtoms(const chem::Structure& s);
  void buildSticks(const chem::Structure& s, const std::vector<chem::Bond>& bonds, double radius);
  void buildLines(const chem::Structure& s, const std::vector<chem::Bond>& bonds);
  void buildCell(const chem::Structure& s);
  void updateLabel();
  void buildSelection();
  void buildLabels();
  void buildVectors();
  void updateAxes();
  void applyVisibility();
  void syncAxesCamera();
  double atomRadius(int z) const;
  bool sceneDeferred = false;  // bonds and sticks not built for the current frame (reduced picture)
  bool lodActive() const {
    return (interacting || moving) && lodThreshold > 0 && static_cast<int>(shown.size()) >= lodThreshold;
  }
  void fitCamera();
  void setEventInformation(const QPointF& pos, Qt::KeyboardModifiers mods, int repeat = 0);
};

// ------------------------------------------------------------------------------------ pipeline

void StructureView::Impl::buildPipeline() {
  window = vtkSmartPointer<vtkGenericOpenGLRenderWindow>::New();
  window->SetOwnContext(0);
  window->SetFrameBlitModeToNoBlit();
  window->SetReadyForRendering(false);
  window->SetMultiSamples(0);  // FXAA instead: multisampled FBOs are slow on llvmpipe
  window->SetIsDirect(1);
  window->SetSupportsOpenGL(1);

  renderer = vtkSmartPointer<vtkRenderer>::New();
  renderer->UseFXAAOn();
  window->AddRenderer(renderer);

  auto onMakeCurrent = vtkSmartPointer<vtkCallbackCommand>::New();
  onMakeCurrent->SetClientData(view);
  onMakeCurrent->SetCallback([](vtkObject*, unsigned long, void* client, void*) {
    auto* v = static_cast<StructureView*>(client);
    if (v->context() && QOpenGLContext::currentContext() != v->context()) v->makeCurrent();
  });
  window->AddObserver(vtkCommand::WindowMakeCurrentEvent, onMakeCurrent);

  auto onIsCurrent = vtkSmartPointer<vtkCallbackCommand>::New();
  onIsCurrent->SetClientData(view);
  onIsCurrent->SetCallback([](vtkObject*, unsigned long, void* client, void* callData) {
    auto* v = static_cast<StructureView*>(client);
    *static_cast<bool*>(callData) = v->context() && QOpenGLContext::currentContext() == v->context();
  });
  window->AddObserver(vtkCommand::WindowIsCurrentEvent, onIsCurrent);

  auto onFrame = vtkSmartPointer<vtkCallbackCommand>::New();
  onFrame->SetClientData(this);
  onFrame->SetCallback([](vtkObject*, unsigned long, void* client, void*) {
    auto* self = static_cast<Impl*>(client);
    if (!self->inPaint && !self->inOffscreen) self->view->update();
  });
  window->AddObserver(vtkCommand::WindowFrameEvent, onFrame);

  interactor = vtkSmartPointer<vtkGenericRenderWindowInteractor>::New();
  interactor->SetRenderWindow(window);
  interactor->EnableRenderOff();  // the widget renders in paintGL; interaction asks for update()
  style = vtkSmartPointer<vtkInteractorStyleTrackballCamera>::New();
  style->SetDefaultRenderer(renderer);
  interactor->SetInteractorStyle(style);
  auto onRender = vtkSmartPointer<vtkCallbackCommand>::New();
  onRender->SetClientData(this);
  onRender->SetCallback([](vtkObject*, unsigned long, void* client, void*) {
    auto* self = static_cast<Impl*>(client);
    self->markMoving();
    if (!self->inPaint && !self->inOffscreen) self->view->update();
  });
  interactor->AddObserver(vtkCommand::RenderEvent, onRender);
  interactor->Initialize();

  // Atoms: sphere impostors, radius per point, Jmol colour per point.
  atomData = vtkSmartPointer<vtkPolyData>::New();
  atomMapper = vtkSmartPointer<vtkOpenGLSphereMapper>::New();
  atomMapper->SetInputData(atomData);
  atomMapper->SetScaleArray("radius");
  atomMapper->SetScalarModeToUsePointFieldData();
  atomMapper->SelectColorArray("colors");
  atomMapper->SetColorModeToDirectScalars();
  atomMapper->ScalarVisibilityOn();
  atomActor = vtkSmartPointer<vtkActor>::New();
  atomActor->SetMapper(atomMapper);
  setMaterial(atomActor->GetProperty());
  renderer->AddActor(atomActor);

  // Bonds: stick impostors, two half-sticks per bond, each in its atom's colour.
  stickData = vtkSmartPointer<vtkPolyData>::New();
  stickMapper = vtkSmartPointer<vtkOpenGLStickMapper>::New();
  stickMapper->SetInputData(stickData);
  stickMapper->SetScaleArray("scale");
  stickMapper->SetOrientationArray("orientation");
  stickMapper->SetSelectionIdArray("selection");
  stickMapper->SetScalarModeToUsePointFieldData();
  stickMapper->SelectColorArray("colors");
  stickMapper->SetColorModeToDirectScalars();
  stickMapper->ScalarVisibilityOn();
  stickActor = vtkSmartPointer<vtkActor>::New();
  stickActor->SetMapper(stickMapper);
  setMaterial(stickActor->GetProperty());
  renderer->AddActor(stickActor);

  // Wireframe: half-bond line segments and points for atoms.
  lineData = vtkSmartPointer<vtkPolyData>::New();
  lineMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
  lineMapper->SetInputData(lineData);
  lineMapper->SetScalarModeToUsePointFieldData();
  lineMapper->SelectColorArray("colors");
  lineMapper->SetColorModeToDirectScalars();
  lineMapper->ScalarVisibilityOn();
  lineActor = vtkSmartPointer<vtkActor>::New();
  lineActor->SetMapper(lineMapper);
  lineActor->GetProperty()->SetLineWidth(2.0);
  lineActor->GetProperty()->SetPointSize(5.0);
  lineActor->GetProperty()->SetLighting(false);
  renderer->AddActor(lineActor);

  // Unit cell: a, b, c edges from the origin in red, green, blue (as VESTA), the rest grey.
  cellData = vtkSmartPointer<vtkPolyData>::New();
  cellMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
  cellMapper->SetInputData(cellData);
  cellMapper->SetScalarModeToUsePointFieldData();
  cellMapper->SelectColorArray("colors");
  cellMapper->SetColorModeToDirectScalars();
  cellActor = vtkSmartPointer<vtkActor>::New();
  cellActor->SetMapper(cellMapper);
  cellActor->GetProperty()->SetLineWidth(1.5);
  cellActor->GetProperty()->SetLighting(false);
  renderer->AddActor(cellActor);

  label = vtkSmartPointer<vtkTextActor>::New();
  label->GetTextProperty()->SetFontSize(14);
  label->GetTextProperty()->SetFontFamilyToArial();
  label->SetDisplayPosition(10, 8);
  renderer->AddActor2D(label);

  // Reduced picture: the atoms' points, unlit squares a few pixels wide.
  lodMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
  lodData = vtkSmartPointer<vtkPolyData>::New();
  lodMapper->SetInputData(lodData);
  lodMapper->SetScalarModeToUsePointFieldData();
  lodMapper->SelectColorArray("colors");
  lodMapper->SetColorModeToDirectScalars();
  lodMapper->ScalarVisibilityOn();
  lodActor = vtkSmartPointer<vtkActor>::New();
  lodActor->SetMapper(lodMapper);
  lodActor->GetProperty()->SetPointSize(3.0);
  lodActor->GetProperty()->SetLighting(false);
  lodActor->SetVisibility(false);
  renderer->AddActor(lodActor);

  // Selection: translucent yellow halos round the selected atoms, lines joining them in order.
  selectionData = vtkSmartPointer<vtkPolyData>::New();
  selectionMapper = vtkSmartPointer<vtkOpenGLSphereMapper>::New();
  selectionMapper->SetInputData(selectionData);
  selectionMapper->SetScaleArray("radius");
  selectionMapper->ScalarVisibilityOff();
  selectionActor = vtkSmartPointer<vtkActor>::New();
  selectionActor->SetMapper(selectionMapper);
  selectionActor->GetProperty()->SetColor(1.0, 0.85, 0.1);
  selectionActor->GetProperty()->SetOpacity(0.45);
  selectionActor->SetVisibility(false);
  renderer->AddActor(selectionActor);
  measureData = vtkSmartPointer<vtkPolyData>::New();
  measureMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
  measureMapper->SetInputData(measureData);
  measureMapper->ScalarVisibilityOff();
  measureActor = vtkSmartPointer<vtkActor>::New();
  measureActor->SetMapper(measureMapper);
  measureActor->GetProperty()->SetColor(1.0, 0.85, 0.1);
  measureActor->GetProperty()->SetLineWidth(2.0);
  measureActor->GetProperty()->SetLighting(false);
  measureActor->SetVisibility(false);
  renderer->AddActor(measureActor);
  measureText = vtkSmartPointer<vtkTextActor>::New();
  measureText->GetTextProperty()->SetFontSize(16);
  measureText->GetTextProperty()->SetFontFamilyToArial();
  measureText->GetTextProperty()->SetColor(1.0, 0.85, 0.1);
  measureText->GetTextProperty()->SetVerticalJustificationToTop();
  measureText->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
  measureText->GetPositionCoordinate()->SetValue(0.015, 0.985);
  measureText->SetVisibility(false);
  renderer->AddActor2D(measureText);

  // Atom labels from a string array on the atoms' points.
  labelData = vtkSmartPointer<vtkPolyData>::New();
  // Only atoms whose centre, moved towards the viewer by the sphere's radius (ToleranceWorld, set per
  // style in buildLabels), is in front of the depth buffer keep their label: labels no longer show
  // through the atoms in front of them.
  labelVisible = vtkSmartPointer<vtkSelectVisiblePoints>::New();
  labelVisible->SetInputData(labelData);
  labelVisible->SetRenderer(renderer);
  labelMapper = vtkSmartPointer<vtkLabeledDataMapper>::New();
  labelMapper->SetInputConnection(labelVisible->GetOutputPort());
  labelMapper->SetLabelModeToLabelFieldData();
  labelMapper->SetFieldDataName("labels");
  labelMapper->GetLabelTextProperty()->SetFontSize(13);
  labelMapper->GetLabelTextProperty()->SetFontFamilyToArial();
  labelMapper->GetLabelTextProperty()->BoldOn();
  labelMapper->GetLabelTextProperty()->ItalicOff();
  labelMapper->GetLabelTextProperty()->ShadowOn();
  labelMapper->GetLabelTextProperty()->SetJustificationToCentered();
  labelMapper->GetLabelTextProperty()->SetVerticalJustificationToCentered();
  labelActor = vtkSmartPointer<vtkActor2D>::New();
  labelActor->SetMapper(labelMapper);
  labelActor->SetVisibility(false);
  renderer->AddActor2D(labelActor);

  // Vectors: arrows as explicit triangles (shaft and cone) in one polydata.
  vectorData = vtkSmartPointer<vtkPolyData>::New();
  vectorMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
  vectorMapper->SetInputData(vectorData);
  vectorMapper->ScalarVisibilityOff();
  vectorActor = vtkSmartPointer<vtkActor>::New();
  vectorActor->SetMapper(vectorMapper);
  vectorActor->GetProperty()->SetColor(0.2, 0.9, 0.35);
  setMaterial(vectorActor->GetProperty());
  vectorActor->SetVisibility(false);
  renderer->AddActor(vectorActor);

  // Axes: a second renderer on top, in the lower right corner, turned with the main camera.
  window->SetNumberOfLayers(2);
  axesRenderer = vtkSmartPointer<vtkRenderer>::New();
  axesRenderer->SetLayer(1);
  axesRenderer->InteractiveOff();
  axesRenderer->SetViewport(0.82, 0.0, 1.0, 0.22);
  axes = vtkSmartPointer<vtkAxesActor>::New();
  axes->SetShaftTypeToCylinder();
  axes->SetCylinderRadius(0.04);
  axes->SetConeRadius(0.45);
  axes->SetTotalLength(1.0, 1.0, 1.0);
  for (vtkCaptionActor2D* c : {axes->GetXAxisCaptionActor2D(), axes->GetYAxisCaptionActor2D(), axes->GetZAxisCaptionActor2D()}) {
    c->GetCaptionTextProperty()->SetFontSize(14);
    c->GetCaptionTextProperty()->BoldOn();
    c->GetCaptionTextProperty()->ItalicOff();
    c->GetCaptionTextProperty()->ShadowOff();
    c->GetTextActor()->SetTextScaleModeToNone();
  }
  axesRenderer->AddActor(axes);
  window->AddRenderer(axesRenderer);
  auto onStart = vtkSmartPointer<vtkCallbackCommand>::New();
  onStart->SetClientData(this);
  onStart->SetCallback([](vtkObject*, unsigned long, void* client, void*) { static_cast<Impl*>(client)->syncAxesCamera(); });
  renderer->AddObserver(vtkCommand::StartEvent, onStart);

  applyBackground();
  rebuildScene();
}

void StructureView::Impl::applyBackground() {
  if (dark) {
    renderer->GradientBackgroundOn();
    renderer->SetBackground(0.04, 0.05, 0.07);   // bottom
    renderer->SetBackground2(0.20, 0.23, 0.29);  // top
    label->GetTextProperty()->SetColor(0.85, 0.87, 0.90);
    labelMapper->GetLabelTextProperty()->SetColor(1.0, 1.0, 1.0);
    measureText->GetTextProperty()->SetColor(1.0, 0.85, 0.1);
  } else {
    renderer->GradientBackgroundOff();
    renderer->SetBackground(1.0, 1.0, 1.0);
    label->GetTextProperty()->SetColor(0.15, 0.15, 0.15);
    labelMapper->GetLabelTextProperty()->SetColor(0.05, 0.05, 0.05);
    measureText->GetTextProperty()->SetColor(0.75, 0.45, 0.0);
  }
  for (vtkCaptionActor2D* c : {axes->GetXAxisCaptionActor2D(), axes->GetYAxisCaptionActor2D(), axes->GetZAxisCaptionActor2D()})
    c->GetCaptionTextProperty()->SetColor(dark ? 0.9 : 0.1, dark ? 0.9 : 0.1, dark ? 0.9 : 0.1);
}

// ------------------------------------------------------------------------------------ scene

void StructureView::Impl::buildAtoms(const chem::Structure& s) {
  const auto n = static_cast<vtkIdType>(s.size());
  vtkNew<vtkPoints> points;
  points->SetDataTypeToFloat();
  points->SetNumberOfPoints(n);
  auto colors = newColors(n);
  vtkNew<vtkFloatArray> radius;
  radius->SetName("radius");
  radius->SetNumberOfTuples(n);
  vtkNew<vtkCellArray> verts;
  verts->AllocateExact(n, 2 * n);
  for (vtkIdType i = 0; i < n; ++i) {
    const auto& r = s.positions[static_cast<std::size_t>(i)];
    const int z = s.numbers[static_cast<std::size_t>(i)];
    points->SetPoint(i, r[0], r[1], r[2]);
    const auto c = rgbOf(z);
    colors->SetTypedTuple(i, c.data());
    radius->SetValue(i, static_cast<float>(atomRadius(z)));
    verts->InsertNextCell(1, &i);
  }
  atomData->Initialize();
  atomData->SetPoints(points);
  atomData->SetVerts(verts);
  atomData->GetPointData()->AddArray(colors);
  atomData->GetPointData()->AddArray(radius);
  atomData->Modified();
  // The reduced picture draws every k-th atom so that at most kMaxLodPoints go through.
  const vtkIdType stride = std::max<vtkIdType>(1, (n + kMaxLodPoints - 1) / kMaxLodPoints);
  vtkNew<vtkCellArray> lodVerts;
  lodVerts->AllocateExact(n / stride + 1, 2 * (n / stride + 1));
  for (vtkIdType i = 0; i < n; i += stride) lodVerts->InsertNextCell(1, &i);
  lodData->Initialize();
  lodData->SetPoints(points);
  lodData->SetVerts(lodVerts);
  lodData->GetPointData()->AddArray(colors);
  lodData->Modified();
}

namespace {
// The far end of a bond seen from atom i: positions[j] + image . lattice.
Vec3 partner(const chem::Structure& s, const chem::Bond& b) {
  Vec3 q = s.positions[static_cast<std::size_t>(b.j)];
  if (s.lattice)
    for (int k = 0; k < 3; ++k)
      for (int c = 0; c < 3; ++c) q[c] += b.image[k] * (*s.lattice)[k][c];
  return q;
}
}  // namespace

void StructureView::Impl::buildSticks(const chem::Structure& s, const std::vector<chem::Bond>& bonds, double radius) {
  const auto n = static_cast<vtkIdType>(2 * bonds.size());
  vtkNew<vtkPoints> points;
  points->SetDataTypeToFloat();
  points->SetNumberOfPoints(n);
  auto colors = newColors(n);
  vtkNew<vtkFloatArray> orientation;
  orientation->SetName("orientation");
  orientation->SetNumberOfComponents(3);
  orientation->SetNumberOfTuples(n);
  vtkNew<vtkFloatArray> scale;
  scale->SetName("scale");
  scale->SetNumberOfComponents(3);
  scale->SetNumberOfTuples(n);
  vtkNew<vtkIdTypeArray> selection;
  selection->SetName("selection");
  selection->SetNumberOfTuples(n);
  vtkIdType k = 0;
  for (const chem::Bond& b : bonds) {
    const Vec3& p = s.positions[static_cast<std::size_t>(b.i)];
    const Vec3 q = partner(s, b);
    const double d[3] = {q[0] - p[0], q[1] - p[1], q[2] - p[2]};
    const double len = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    if (len < 1e-6) continue;
    const float dir[3] = {static_cast<float>(d[0] / len), static_cast<float>(d[1] / len), static_cast<float>(d[2] / len)};
    const float sc[3] = {static_cast<float>(len / 2), static_cast<float>(radius), 0.0f};
    // Half at atom i, centred a quarter of the way along; half at atom j likewise from its side.
    const Vec3& pj = s.positions[static_cast<std::size_t>(b.j)];
    points->SetPoint(k, p[0] + d[0] / 4, p[1] + d[1] / 4, p[2] + d[2] / 4);
    points->SetPoint(k + 1, pj[0] - d[0] / 4, pj[1] - d[1] / 4, pj[2] - d[2] / 4);
    const auto ci = rgbOf(s.numbers[static_cast<std::size_t>(b.i)]);
    const auto cj = rgbOf(s.numbers[static_cast<std::size_t>(b.j)]);
    colors->SetTypedTuple(k, ci.data());
    colors->SetTypedTuple(k + 1, cj.data());
    orientation->SetTypedTuple(k, dir);
    orientation->SetTypedTuple(k + 1, dir);
    scale->SetTypedTuple(k, sc);
    scale->SetTypedTuple(k + 1, sc);
    selection->SetValue(k, b.i);
    selection->SetValue(k + 1, b.j);
    k += 2;
  }
  points->SetNumberOfPoints(k);
  colors->SetNumberOfTuples(k);
  orientation->SetNumberOfTuples(k);
  scale->SetNumberOfTuples(k);
  selection->SetNumberOfTuples(k);
  // vtkPolyData bounds count only points used by cells: without vertices the sticks get culled.
  vtkNew<vtkCellArray> verts;
  verts->AllocateExact(k, 2 * k);
  for (vtkIdType id = 0; id < k; ++id) verts->InsertNextCell(1, &id);
  stickData->Initialize();
  stickData->SetPoints(points);
  stickData->SetVerts(verts);
  stickData->GetPointData()->AddArray(colors);
  stickData->GetPointData()->AddArray(orientation);
  stickData->GetPointData()->AddArray(scale);
  stickData->GetPointData()->AddArray(selection);
  stickData->Modified();
}

void StructureView::Impl::buildLines(const chem::Structure& s, const std::vector<chem::Bond>& bonds) {
  const auto atoms = static_cast<vtkIdType>(s.size());
  const auto n = atoms + static_cast<vtkIdType>(4 * bonds.size());
  vtkNew<vtkPoints> points;
  points->SetDataTypeToFloat();
  points->Allocate(n);
  auto colors = newColors(0);
  colors->Allocate(3 * n);
  vtkNew<vtkCellArray> lines, verts;
  std::vector<char> bonded(s.size(), 0);
  for (const chem::Bond& b : bonds) {
    const Vec3& p = s.positions[static_cast<std::size_t>(b.i)];
    const Vec3& pj = s.positions[static_cast<std::size_t>(b.j)];
    const Vec3 q = partner(s, b);
    const double d[3] = {q[0] - p[0], q[1] - p[1], q[2] - p[2]};
    const auto ci = rgbOf(s.numbers[static_cast<std::size_t>(b.i)]);
    const auto cj = rgbOf(s.numbers[static_cast<std::size_t>(b.j)]);
    vtkIdType a0 = points->InsertNextPoint(p[0], p[1], p[2]);
    vtkIdType a1 = points->InsertNextPoint(p[0] + d[0] / 2, p[1] + d[1] / 2, p[2] + d[2] / 2);
    colors->InsertNextTypedTuple(ci.data());
    colors->InsertNextTypedTuple(ci.data());
    vtkIdType b0 = points->InsertNextPoint(pj[0], pj[1], pj[2]);
    vtkIdType b1 = points->InsertNextPoint(pj[0] - d[0] / 2, pj[1] - d[1] / 2, pj[2] - d[2] / 2);
    colors->InsertNextTypedTuple(cj.data());
    colors->InsertNextTypedTuple(cj.data());
    const vtkIdType s0[2] = {a0, a1}, s1[2] = {b0, b1};
    lines->InsertNextCell(2, s0);
    lines->InsertNextCell(2, s1);
    bonded[static_cast<std::size_t>(b.i)] = bonded[static_cast<std::size_t>(b.j)] = 1;
  }
  for (vtkIdType i = 0; i < atoms; ++i) {
    if (bonded[static_cast<std::size_t>(i)]) continue;  // isolated atoms as points
    const auto& r = s.positions[static_cast<std::size_t>(i)];
    const vtkIdType id = points->InsertNextPoint(r[0], r[1], r[2]);
    colors->InsertNextTypedTuple(rgbOf(s.numbers[static_cast<std::size_t>(i)]).data());
    verts->InsertNextCell(1, &id);
  }
  lineData->Initialize();
  lineData->SetPoints(points);
  lineData->SetLines(lines);
  lineData->SetVerts(verts);
  lineData->GetPointData()->AddArray(colors);
  lineData->Modified();
}

void StructureView::Impl::buildCell(const chem::Structure& s) {
  cellData->Initialize();
  if (!s.lattice || !s.isPeriodic()) {
    cellData->Modified();
    return;
  }
  const chem::Mat3& m = *s.lattice;
  vtkNew<vtkPoints> points;
  auto colors = newColors(0);
  vtkNew<vtkCellArray> lines;
  const unsigned char axisColor[3][3] = {{230, 60, 60}, {60, 200, 60}, {70, 110, 255}};
  const unsigned char grey[3] = {static_cast<unsigned char>(dark ? 200 : 90), static_cast<unsigned char>(dark ? 200 : 90),
                                 static_cast<unsigned char>(dark ? 200 : 90)};
  auto corner = [&](int a, int b, int c) {
    return Vec3{a * m[0][0] + b * m[1][0] + c * m[2][0], a * m[0][1] + b * m[1][1] + c * m[2][1],
                a * m[0][2] + b * m[1][2] + c * m[2][2]};
  };
  auto edge = [&](const Vec3& p, const Vec3& q, const unsigned char* color) {
    const vtkIdType ids[2] = {points->InsertNextPoint(p.data()), points->InsertNextPoint(q.data())};
    colors->InsertNextTypedTuple(color);
    colors->InsertNextTypedTuple(color);
    lines->InsertNextCell(2, ids);
  };
  for (int a = 0; a <= 1; ++a)
    for (int b = 0; b <= 1; ++b)
      for (int c = 0; c <= 1; ++c) {
        const Vec3 p = corner(a, b, c);
        const bool origin = a == 0 && b == 0 && c == 0;
        if (a == 0) edge(p, corner(1, b, c), origin ? axisColor[0] : grey);
        if (b == 0) edge(p, corner(a, 1, c), origin ? axisColor[1] : grey);
        if (c == 0) edge(p, corner(a, b, 1), origin ? axisColor[2] : grey);
      }
  // A repeated cell: the outline of the whole supercell too, dimmer.
  const auto& n = repeatCounts;
  if (n[0] * n[1] * n[2] > 1) {
    const unsigned char dim[3] = {static_cast<unsigned char>(dark ? 120 : 160), static_cast<unsigned char>(dark ? 120 : 160),
                                  static_cast<unsigned char>(dark ? 120 : 160)};
    for (int a = 0; a <= n[0]; a += n[0])
      for (int b = 0; b <= n[1]; b += n[1])
        for (int c = 0; c <= n[2]; c += n[2]) {
          const Vec3 p = corner(a, b, c);
          if (a == 0) edge(p, corner(n[0], b, c), dim);
          if (b == 0) edge(p, corner(a, n[1], c), dim);
          if (c == 0) edge(p, corner(a, b, n[2]), dim);
        }
  }
  cellData->SetPoints(points);
  cellData->SetLines(lines);
  cellData->GetPointData()->AddArray(colors);
  cellData->Modified();
}

void StructureView::Impl::updateLabel() {
  const chem::Structure* s = current();
  if (!s || s->empty() || !showLabel) {
    label->SetVisibility(false);
    return;
  }
  std::string text = s->formula() + "   " + std::to_string(s->size()) + " atoms";
  if (frames.size() > 1) text += "   frame " + std::to_string(frame + 1) + "/" + std::to_string(frames.size());
  if (shown.size() != s->size())
    text += "   shown " + std::to_string(repeatCounts[0]) + "x" + std::to_string(repeatCounts[1]) + "x" +
            std::to_string(repeatCounts[2]);
  label->SetInput(text.c_str());
  label->SetVisibility(true);
}

double StructureView::Impl::atomRadius(int z) const {
  switch (renderStyle) {
    case RenderStyle::SpaceFill: return vdwRadius(z);
    case RenderStyle::Licorice: return kLicoriceRadius;
    case RenderStyle::Wireframe: return 0.3;  // what a click may hit
    case RenderStyle::BallAndStick: break;
  }
  return kBallScale * vdwRadius(z);
}

void StructureView::Impl::setMoving(bool m) {
  const bool before = lodActive();
  moving = m;
  lodChanged(before);
}

void StructureView::Impl::lodChanged(bool wasActive) {
  if (lodActive() == wasActive) return;
  if (!lodActive() && sceneDeferred)
    rebuildScene();  // bonds, labels and arrows of the frame it stopped on
  else
    applyVisibility();
}

void StructureView::Impl::rebuildScene() {
  const chem::Structure* s = current();
  static const chem::Structure kEmpty;
  shown = s ? repeated(*s, repeatCounts) : chem::Structure{};
  const chem::Structure& st = shown;
  static const std::vector<chem::Bond> kNoBonds;
  // The reduced picture (anything moving a large structure) draws atoms as points only: finding
  // bonds and building sticks, labels and arrows (0.4 s at 100k atoms) waits until it ends.
  sceneDeferred = lodActive() && !st.empty();
  bonds = st.empty() || sceneDeferred ? std::vector<chem::Bond>{} : chem::findBonds(st, bondOptions);
  const bool wire = renderStyle == RenderStyle::Wireframe;
  // The atoms' points serve the wireframe too (isolated atoms) and the reduced picture.
  buildAtoms(st);
  // Space filling hides bonds (the bond list stays available to callers).
  const bool sticks = !sceneDeferred && !wire && renderStyle != RenderStyle::SpaceFill;
  buildSticks(sticks ? st : kEmpty, sticks ? bonds : kNoBonds,
              renderStyle == RenderStyle::Licorice ? kLicoriceRadius : kBondRadius);
  buildLines(wire && !sceneDeferred ? st : kEmpty, wire && !sceneDeferred ? bonds : kNoBonds);
  buildCell(s ? *s : kEmpty);
  std::erase_if(selected, [&](int i) { return i < 0 || i >= static_cast<int>(st.size()); });
  buildSelection();
  if (!sceneDeferred) {
    buildLabels();
    buildVectors();
  }
  updateAxes();
  applyVisibility();
  updateLabel();
}

void StructureView::Impl::applyVisibility() {
  const bool wire = renderStyle == RenderStyle::Wireframe;
  const bool lod = lodActive();
  const bool any = !shown.empty();
  atomActor->SetVisibility(any && !wire && !lod);
  stickActor->SetVisibility(!wire && !lod && renderStyle != RenderStyle::SpaceFill && stickData->GetNumberOfPoints() > 0);
  lineActor->SetVisibility(wire && !lod && lineData->GetNumberOfPoints() > 0);
  lodActor->SetVisibility(any && lod);
  cellActor->SetVisibility(showCell && cellData->GetNumberOfPoints() > 0);
  selectionActor->SetVisibility(!selected.empty());
  measureActor->SetVisibility(selected.size() >= 2);
  labelActor->SetVisibility(atomLabels != AtomLabels::None && labelData->GetNumberOfPoints() > 0 && !lod);
  vectorActor->SetVisibility(vectorData->GetNumberOfPoints() > 0 && !lod);
  axesRenderer->SetDraw(showAxes && any);
}

void StructureView::Impl::buildSelection() {
  vtkNew<vtkPoints> points;
  vtkNew<vtkFloatArray> radius;
  radius->SetName("radius");
  vtkNew<vtkCellArray> verts;
  for (int i : selected) {
    const Vec3& r = shown.positions[static_cast<std::size_t>(i)];
    const vtkIdType id = points->InsertNextPoint(r.data());
    radius->InsertNextValue(static_cast<float>(1.3 * atomRadius(shown.numbers[static_cast<std::size_t>(i)]) + 0.12));
    verts->InsertNextCell(1, &id);
  }
  selectionData->Initialize();
  selectionData->SetPoints(points);
  selectionData->SetVerts(verts);
  selectionData->GetPointData()->AddArray(radius);
  selectionData->Modified();

  vtkNew<vtkPoints> linePoints;
  vtkNew<vtkCellArray> lines;
  for (std::size_t k = 0; k < selected.size(); ++k)
    linePoints->InsertNextPoint(shown.positions[static_cast<std::size_t>(selected[k])].data());
  for (vtkIdType k = 0; k + 1 < static_cast<vtkIdType>(selected.size()); ++k) {
    const vtkIdType ids[2] = {k, k + 1};
    lines->InsertNextCell(2, ids);
  }
  measureData->Initialize();
  measureData->SetPoints(linePoints);
  measureData->SetLines(lines);
  measureData->Modified();

  Measurement m;
  m.atoms = selected;
  const auto pos = [&](std::size_t k) { return shown.positions[static_cast<std::size_t>(selected[k])]; };
  if (selected.size() == 2) {
    m.kind = Measurement::Kind::Distance;
    m.value = StructureView::distance(pos(0), pos(1));
  } else if (selected.size() == 3) {
    m.kind = Measurement::Kind::Angle;
    m.value = StructureView::angleDegrees(pos(0), pos(1), pos(2));
  } else if (selected.size() == 4) {
    m.kind = Measurement::Kind::Dihedral;
    m.value = StructureView::dihedralDegrees(pos(0), pos(1), pos(2), pos(3));
  }
  const QString text = StructureView::measurementText(m, shown);
  measureText->SetInput(text.toStdString().c_str());
  measureText->SetVisibility(!text.isEmpty());
}

void StructureView::Impl::buildLabels() {
  labelData->Initialize();
  if (atomLabels == AtomLabels::None || shown.empty() || static_cast<int>(shown.size()) > kMaxAtomLabels) {
    labelData->Modified();
    return;
  }
  vtkNew<vtkPoints> points;
  vtkNew<vtkStringArray> text;
  text->SetName("labels");
  vtkNew<vtkCellArray> verts;
  vtkNew<vtkFloatArray> length;
  length->SetName("length");
  double largestRadius = 0.0;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const vtkIdType id = points->InsertNextPoint(shown.positions[i].data());
    if (renderStyle != RenderStyle::Wireframe) largestRadius = std::max(largestRadius, atomRadius(shown.numbers[i]));
    std::string t;
    if (atomLabels == AtomLabels::Symbol || atomLabels == AtomLabels::SymbolAndIndex) t = symbolOf(shown.numbers[i]);
    if (atomLabels == AtomLabels::Index || atomLabels == AtomLabels::SymbolAndIndex) t += std::to_string(i);
    text->InsertNextValue(t);
    verts->InsertNextCell(1, &id);
  }
  labelData->SetPoints(points);
  labelData->SetVerts(verts);
  labelData->GetPointData()->AddArray(text);
  labelData->Modified();
  // An atom's own sphere must not hide its label: test the point on the sphere nearest the viewer.
  // Wireframe has no spheres, and its one-pixel lines should not hide labels: no test there.
  labelVisible->SetToleranceWorld(1.02 * largestRadius + 0.05);
  if (renderStyle == RenderStyle::Wireframe)
    labelMapper->SetInputData(labelData);
  else
    labelMapper->SetInputConnection(labelVisible->GetOutputPort());
}

namespace {
// An arrow from `base` along `v` (its full length): a shaft of radius r and a cone of radius 2.4 r
// over the last 30% (at most 0.35 Angstrom), as triangles with normals for smooth lighting.
void appendArrow(vtkPoints* points, vtkFloatArray* normals, vtkCellArray* tris, const Vec3& base, const Vec3& v, double r) {
  constexpr int kSides = 10;
  const double len = std::sqrt(dot(v, v));
  const Vec3 w{v[0] / len, v[1] / len, v[2] / len};
  // Two unit vectors perpendicular to w.
  const Vec3 helper = std::abs(w[0]) < 0.9 ? Vec3{1, 0, 0} : Vec3{0, 1, 0};
  Vec3 u = cross(w, helper);
  const double un = std::sqrt(dot(u, u));
  u = {u[0] / un, u[1] / un, u[2] / un};
  const Vec3 t = cross(w, u);
  const double tip = std::min(0.3 * len, 0.35), shaftEnd = len - tip, tipR = 2.4 * r;
  auto at = [&](double along, double radius, double angle) {
    const double c = std::cos(angle), s = std::sin(angle);
    return Vec3{base[0] + w[0] * along + radius * (c * u[0] + s * t[0]), base[1] + w[1] * along + radius * (c * u[1] + s * t[1]),
                base[2] + w[2] * along + radius * (c * u[2] + s * t[2])};
  };
  auto radial = [&](double angle) {
    const double c = std::cos(angle), s = std::sin(angle);
    return Vec3{c * u[0] + s * t[0], c * u[1] + s * t[1], c * u[2] + s * t[2]};
  };
  // Cone normals lean towards the tip by the cone's half angle.
  const double k = tipR / tip;
  for (int i = 0; i < kSides; ++i) {
    const double a0 = 2 * M_PI * i / kSides, a1 = 2 * M_PI * (i + 1) / kSides;
    const Vec3 n0 = radial(a0), n1 = radial(a1);
    const vtkIdType s0 = points->InsertNextPoint(at(0, r, a0).data());
    const vtkIdType s1 = points->InsertNextPoint(at(0, r, a1).data());
    const vtkIdType s2 = points->InsertNextPoint(at(shaftEnd, r, a1).data());
    const vtkIdType s3 = points->InsertNextPoint(at(shaftEnd, r, a0).data());
    for (const Vec3& n : {n0, n1, n1, n0}) normals->InsertNextTuple3(n[0], n[1], n[2]);
    const vtkIdType q0[3] = {s0, s1, s2}, q1[3] = {s0, s2, s3};
    tris->InsertNextCell(3, q0);
    tris->InsertNextCell(3, q1);
    const vtkIdType c0 = points->InsertNextPoint(at(shaftEnd, tipR, a0).data());
    const vtkIdType c1 = points->InsertNextPoint(at(shaftEnd, tipR, a1).data());
    const vtkIdType c2 = points->InsertNextPoint(at(len, 0, 0.5 * (a0 + a1)).data());
    const Vec3 m0{n0[0] + k * w[0], n0[1] + k * w[1], n0[2] + k * w[2]}, m1{n1[0] + k * w[0], n1[1] + k * w[1], n1[2] + k * w[2]};
    const Vec3 mt = radial(0.5 * (a0 + a1));
    for (const Vec3& n : {m0, m1, Vec3{mt[0] + k * w[0], mt[1] + k * w[1], mt[2] + k * w[2]}}) {
      const double nn = std::sqrt(dot(n, n));
      normals->InsertNextTuple3(n[0] / nn, n[1] / nn, n[2] / nn);
    }
    const vtkIdType tri[3] = {c0, c1, c2};
    tris->InsertNextCell(3, tri);
    // The cone's base ring, facing back.
    const vtkIdType b0 = points->InsertNextPoint(at(shaftEnd, tipR, a0).data());
    const vtkIdType b1 = points->InsertNextPoint(at(shaftEnd, tipR, a1).data());
    const vtkIdType b2 = points->InsertNextPoint(at(shaftEnd, 0, 0).data());
    for (int j = 0; j < 3; ++j) normals->InsertNextTuple3(-w[0], -w[1], -w[2]);
    const vtkIdType back[3] = {b0, b2, b1};
    tris->InsertNextCell(3, back);
  }
}
}  // namespace

void StructureView::Impl::buildVectors() {
  vectorData->Initialize();
  vectorCount = 0;
  const chem::AtomProperty* p = vectorName.empty() ? nullptr : shown.atomProperty(vectorName);
  if (!p || p->columns != 3 || p->type == chem::AtomProperty::Type::String || p->atomCount() != shown.size()) {
    vectorData->Modified();
    return;
  }
  vtkNew<vtkPoints> points;
  vtkNew<vtkFloatArray> normals;
  normals->SetName("normals");
  normals->SetNumberOfComponents(3);
  vtkNew<vtkCellArray> tris;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const Vec3 v{p->at(i, 0) * vectorScale, p->at(i, 1) * vectorScale, p->at(i, 2) * vectorScale};
    const double len = std::sqrt(dot(v, v));
    if (!(len > 1e-3) || !std::isfinite(len)) continue;  // zero (or NaN) vectors draw nothing
    // From the atom's surface, so short vectors are not hidden inside the sphere.
    const double r0 = renderStyle == RenderStyle::Wireframe ? 0.0 : atomRadius(shown.numbers[i]);
    const Vec3& c = shown.positions[i];
    const Vec3 base{c[0] + v[0] / len * r0, c[1] + v[1] / len * r0, c[2] + v[2] / len * r0};
    appendArrow(points, normals, tris, base, v, 0.06);
    ++vectorCount;
  }
  vectorData->SetPoints(points);
  vectorData->SetPolys(tris);
  vectorData->GetPointData()->SetNormals(normals);
  vectorData->Modified();
}

void StructureView::Impl::updateAxes() {
  // Crystals: unit vectors along a, b, c (the user matrix's columns); molecules: x, y, z.
  vtkNew<vtkMatrix4x4> m;
  const chem::Structure* s = current();
  const bool crystal = s && s->isPeriodic();
  if (crystal) {
    for (int k = 0; k < 3; ++k) {
      const Vec3& v = (*s->lattice)[k];
      const double len = std::sqrt(dot(v, v));
      for (int c = 0; c < 3; ++c) m->SetElement(c, k, len > 0 ? v[c] / len : (c == k));
    }
  }
  axes->SetUserMatrix(m);
  axes->SetXAxisLabelText(crystal ? "a" : "x");
  axes->SetYAxisLabelText(crystal ? "b" : "y");
  axes->SetZAxisLabelText(crystal ? "c" : "z");
}

void StructureView::Impl::syncAxesCamera() {
  // A square corner viewport about 110 pixels (scaled with big offscreen pictures).
  const int* size = window->GetSize();
  const double w = std::max(1, size[0]), h = std::max(1, size[1]);
  const double px = std::clamp(0.2 * std::min(w, h), 70.0, 600.0);
  axesRenderer->SetViewport(1.0 - px / w, 0.0, 1.0, std::min(1.0, px / h));
  vtkCamera* main = renderer->GetActiveCamera();
  vtkCamera* cam = axesRenderer->GetActiveCamera();
  double dop[3];
  main->GetDirectionOfProjection(dop);
  cam->SetFocalPoint(0, 0, 0);
  cam->SetPosition(-dop[0] * 4.0, -dop[1] * 4.0, -dop[2] * 4.0);
  cam->SetViewUp(main->GetViewUp());
  cam->SetViewAngle(30.0);
  cam->ParallelProjectionOff();
  axesRenderer->ResetCameraClippingRange();
  (void)cam;
}

void StructureView::Impl::fitCamera() {
  const chem::Structure* s = shown.empty() ? nullptr : &shown;
  vtkCamera* cam = renderer->GetActiveCamera();
  cam->SetFocalPoint(0, 0, 0);
  cam->SetPosition(0, 0, 1);
  cam->SetViewUp(0, 1, 0);
  cam->SetViewAngle(30.0);
  if (!s || s->empty()) {
    renderer->ResetCamera();
    return;
  }
  auto [lo, hi] = s->bounds();
  double pad = 0;
  for (int z : s->numbers) pad = std::max(pad, renderStyle == RenderStyle::SpaceFill ? vdwRadius(z) : kBallScale * vdwRadius(z));
  double b[6] = {lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad, lo[2] - pad, hi[2] + pad};
  if (s->isPeriodic() && showCell) {
    const chem::Mat3& m = *s->lattice;
    for (int a = 0; a <= 1; ++a)
      for (int bb = 0; bb <= 1; ++bb)
        for (int c = 0; c <= 1; ++c)
          for (int k = 0; k < 3; ++k) {
            const double v = a * m[0][k] + bb * m[1][k] + c * m[2][k];
            b[2 * k] = std::min(b[2 * k], v);
            b[2 * k + 1] = std::max(b[2 * k + 1], v);
          }
    // Look at the cell from the front (along +y, c up), then turn it so it reads as a box.
    const double c[3] = {(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2};
    cam->SetFocalPoint(c);
    cam->SetPosition(c[0], c[1] - 1.0, c[2]);
    cam->SetViewUp(0, 0, 1);
    cam->Azimuth(-30.0);
    cam->Elevation(20.0);
    cam->OrthogonalizeViewUp();
  } else if (s->size() >= 3) {
    // Molecules: look along the axis of least spread, longest axis horizontal.
    const Vec3 c = s->centroid();
    std::array<std::array<double, 3>, 3> cov{};
    for (const Vec3& r : s->positions)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) cov[i][j] += (r[i] - c[i]) * (r[j] - c[j]);
    const auto axes = principalAxes(cov);
    cam->SetFocalPoint(c[0], c[1], c[2]);
    cam->SetPosition(c[0] + axes[2][0], c[1] + axes[2][1], c[2] + axes[2][2]);
    cam->SetViewUp(axes[1][0], axes[1][1], axes[1][2]);
    cam->OrthogonalizeViewUp();
    // A small turn so planar molecules do not look flat and bonds do not hide behind atoms.
    cam->Azimuth(12.0);
    cam->Elevation(8.0);
    cam->OrthogonalizeViewUp();
  }
  renderer->ResetCamera(b);
  // ResetCamera fits the bounding sphere into the vertical view angle: bring it closer to fill the
  // view, but in a view narrower than tall step back by the aspect ratio so nothing is cut off.
  const double aspect = renderer->GetTiledAspectRatio();
  const double fill = s->isPeriodic() && showCell ? 1.1 : 1.25;
  cam->Dolly(aspect > 0 && aspect < 1.0 ? fill * aspect : fill);
  renderer->ResetCameraClippingRange();
  cameraUntouched = true;
}

void StructureView::Impl::setEventInformation(const QPointF& pos, Qt::KeyboardModifiers mods, int repeat) {
  const double dpr = view->devicePixelRatioF();
  interactor->SetEventInformationFlipY(static_cast<int>(std::lround(pos.x() * dpr)),
                                       static_cast<int>(std::lround(pos.y() * dpr)),
                                       (mods & Qt::ControlModifier) ? 1 : 0, (mods & Qt::ShiftModifier) ? 1 : 0, 0,
                                       repeat);
}

// ------------------------------------------------------------------------------------ widget

StructureView::StructureView(QWidget* parent) : QOpenGLWidget(parent), d_(std::make_unique<Impl>()) {
  d_->view = this;
  if (QSurfaceFormat::defaultFormat().majorVersion() < 3) setFormat(defaultFormat());
  setFocusPolicy(Qt::StrongFocus);
  setMouseTracking(false);
  setMinimumSize(160, 120);
  d_->settle = new QTimer(this);
  d_->settle->setSingleShot(true);
  d_->settle->setInterval(250);
  connect(d_->settle, &QTimer::timeout, this, [this] {
    d_->setMoving(false);
    update();
  });
  d_->buildPipeline();
}

StructureView::~StructureView() {
  if (context()) disconnect(context(), nullptr, this, nullptr);  // QOpenGLWidget destroys it after d_
  if (d_->initialized && context()) {
    makeCurrent();
    d_->window->Finalize();
    doneCurrent();
  }
  d_->window->RemoveAllObservers();
  d_->interactor->RemoveAllObservers();
}

QSurfaceFormat StructureView::defaultFormat() {
  QSurfaceFormat f;
  f.setRenderableType(QSurfaceFormat::OpenGL);
  f.setVersion(3, 2);
  f.setProfile(QSurfaceFormat::CoreProfile);
  f.setRedBufferSize(8);
  f.setGreenBufferSize(8);
  f.setBlueBufferSize(8);
  f.setAlphaBufferSize(8);
  f.setDepthBufferSize(24);
  f.setStencilBufferSize(0);
  f.setSamples(0);
  f.setSwapBehavior(QSurfaceFormat::DoubleBuffer);
  return f;
}

void StructureView::initializeGL() {
  d_->window->SetReadyForRendering(false);
  d_->window->OpenGLInitContext();
  d_->window->SetReadyForRendering(true);
  d_->initialized = true;
  // Qt recreates the context when the widget moves to another top-level window: drop VTK's
  // resources of the old one first.
  connect(context(), &QOpenGLContext::aboutToBeDestroyed, this, [this] {
    if (!d_->initialized) return;
    makeCurrent();
    d_->window->Finalize();
    d_->initialized = false;
    doneCurrent();
  }, Qt::DirectConnection);
}

void StructureView::resizeGL(int w, int h) {
  const double dpr = devicePixelRatioF();
  const int pw = std::max(1, static_cast<int>(std::lround(w * dpr)));
  const int ph = std::max(1, static_cast<int>(std::lround(h * dpr)));
  d_->interactor->UpdateSize(pw, ph);
  d_->window->SetSize(pw, ph);
  if (d_->cameraUntouched) d_->fitCamera();
}

void StructureView::paintGL() {
  if (!d_->initialized) return;
  d_->inPaint = true;
  const double dpr = devicePixelRatioF();
  const int w = std::max(1, static_cast<int>(std::lround(width() * dpr)));
  const int h = std::max(1, static_cast<int>(std::lround(height() * dpr)));
  if (d_->window->GetSize()[0] != w || d_->window->GetSize()[1] != h) {
    d_->interactor->UpdateSize(w, h);
    d_->window->SetSize(w, h);
  }
  vtkOpenGLState* state = d_->window->GetState();
  state->Reset();  // Qt changed GL state behind VTK's cache
  state->Push();
  QElapsedTimer timer;
  timer.start();
  d_->renderer->SetUseFXAA(!d_->moving && !d_->lodActive());
  d_->window->Render();
  context()->functions()->glFinish();
  d_->lastRenderMs = static_cast<double>(timer.nsecsElapsed()) / 1.0e6;
  state->PushDrawFramebufferBinding();
  state->vtkglBindFramebuffer(GL_DRAW_FRAMEBUFFER, defaultFramebufferObject());
  d_->window->BlitDisplayFramebuffer(0, 0, 0, w, h, 0, 0, w, h, GL_COLOR_BUFFER_BIT, GL_NEAREST);
  state->PopDrawFramebufferBinding();
  state->Pop();
  // Qt composites the widget with its alpha: make it opaque.
  QOpenGLFunctions* f = context()->functions();
  f->glBindFramebuffer(GL_FRAMEBUFFER, defaultFramebufferObject());
  f->glColorMask(GL_FALSE, GL_FALSE, GL_FALSE, GL_TRUE);
  f->glClearColor(0, 0, 0, 1);
  f->glClear(GL_COLOR_BUFFER_BIT);
  f->glColorMask(GL_TRUE, GL_TRUE, GL_TRUE, GL_TRUE);
  d_->inPaint = false;
}

void StructureView::mousePressEvent(QMouseEvent* e) {
  setFocus(Qt::MouseFocusReason);
  d_->cameraUntouched = false;
  if (e->button() == Qt::LeftButton) {
    d_->leftDown = true;
    d_->dragged = false;
    d_->pressPos = e->position();
  }
  if (e->button() == Qt::LeftButton || e->button() == Qt::MiddleButton || e->button() == Qt::RightButton)
    setInteracting(true);
  d_->setEventInformation(e->position(), e->modifiers());
  switch (e->button()) {
    case Qt::LeftButton: d_->interactor->InvokeEvent(vtkCommand::LeftButtonPressEvent, e); break;
    case Qt::MiddleButton: d_->interactor->InvokeEvent(vtkCommand::MiddleButtonPressEvent, e); break;
    case Qt::RightButton: d_->interactor->InvokeEvent(vtkCommand::RightButtonPressEvent, e); break;
    default: QOpenGLWidget::mousePressEvent(e); return;
  }
  e->accept();
}

void StructureView::mouseReleaseEvent(QMouseEvent* e) {
  d_->setEventInformation(e->position(), e->modifiers());
  switch (e->button()) {
    case Qt::LeftButton: d_->interactor->InvokeEvent(vtkCommand::LeftButtonReleaseEvent, e); break;
    case Qt::MiddleButton: d_->interactor->InvokeEvent(vtkCommand::MiddleButtonReleaseEvent, e); break;
    case Qt::RightButton: d_->interactor->InvokeEvent(vtkCommand::RightButtonReleaseEvent, e); break;
    default: QOpenGLWidget::mouseReleaseEvent(e); return;
  }
  if (!(e->buttons() & (Qt::LeftButton | Qt::MiddleButton | Qt::RightButton))) setInteracting(false);
  if (e->button() == Qt::LeftButton && d_->leftDown && !d_->dragged) {
    // A click: add the atom under the cursor (a selected one is removed; a fifth starts anew).
    std::vector<int> sel = d_->selected;
    if (const auto atom = atomAt(e->position())) {
      const auto it = std::find(sel.begin(), sel.end(), *atom);
      if (it != sel.end())
        sel.erase(it);
      else {
        if (sel.size() >= 4) sel.clear();
        sel.push_back(*atom);
      }
    } else {
      sel.clear();
    }
    setSelection(sel);
  }
  if (e->button() == Qt::LeftButton) d_->leftDown = false;
  e->accept();
}

void StructureView::mouseMoveEvent(QMouseEvent* e) {
  if (d_->leftDown && (e->position() - d_->pressPos).manhattanLength() > 3.0) d_->dragged = true;
  d_->setEventInformation(e->position(), e->modifiers());
  d_->interactor->InvokeEvent(vtkCommand::MouseMoveEvent, e);
  e->accept();
}

void StructureView::wheelEvent(QWheelEvent* e) {
  d_->cameraUntouched = false;
  d_->setEventInformation(e->position(), e->modifiers());
  const int delta = e->angleDelta().y();
  if (delta > 0)
    d_->interactor->InvokeEvent(vtkCommand::MouseWheelForwardEvent, e);
  else if (delta < 0)
    d_->interactor->InvokeEvent(vtkCommand::MouseWheelBackwardEvent, e);
  e->accept();
}

bool StructureView::event(QEvent* e) {
  // Escape clears a selection here before the window's Escape shortcut (cancel job) sees it.
  if (e->type() == QEvent::ShortcutOverride && static_cast<QKeyEvent*>(e)->key() == Qt::Key_Escape &&
      !d_->selected.empty()) {
    e->accept();
    return true;
  }
  return QOpenGLWidget::event(e);
}

void StructureView::keyPressEvent(QKeyEvent* e) {
  // VTK's default key bindings (e: exit, w/s: wireframe, 3: stereo) are not forwarded.
  if (e->key() == Qt::Key_R && !(e->modifiers() & (Qt::ControlModifier | Qt::AltModifier))) {
    resetCamera();
    e->accept();
    return;
  }
  if (e->key() == Qt::Key_Escape && !d_->selected.empty()) {
    clearSelection();
    e->accept();
    return;
  }
  QOpenGLWidget::keyPressEvent(e);
}

// ------------------------------------------------------------------------------------ API

void StructureView::setStructure(const chem::Structure& structure) { setTrajectory(chem::Trajectory{structure}); }

void StructureView::setTrajectory(chem::Trajectory frames) {
  d_->frames = std::move(frames);
  d_->frame = 0;
  const bool hadSelection = !d_->selected.empty();
  d_->selected.clear();
  d_->rebuildScene();
  d_->fitCamera();
  update();
  Q_EMIT structureChanged();
  Q_EMIT frameChanged(0);
  if (hadSelection) Q_EMIT selectionChanged();
}

int StructureView::frameCount() const { return static_cast<int>(d_->frames.size()); }
int StructureView::currentFrame() const { return d_->frame; }

void StructureView::setFrame(int index) {
  if (d_->frames.empty()) return;
  index = std::clamp(index, 0, frameCount() - 1);
  if (index == d_->frame) return;
  d_->frame = index;
  d_->rebuildScene();
  d_->renderer->ResetCameraClippingRange();
  d_->markMoving();
  update();
  Q_EMIT frameChanged(index);
}

const chem::Structure* StructureView::structure() const { return d_->current(); }
const std::vector<chem::Bond>& StructureView::bonds() const { return d_->bonds; }

void StructureView::setRenderStyle(RenderStyle style) {
  if (style == d_->renderStyle) return;
  d_->renderStyle = style;
  d_->rebuildScene();
  update();
}

StructureView::RenderStyle StructureView::renderStyle() const { return d_->renderStyle; }

QString StructureView::styleName(RenderStyle style) {
  switch (style) {
    case RenderStyle::BallAndStick: return QStringLiteral("Ball and stick");
    case RenderStyle::SpaceFill: return QStringLiteral("Space filling");
    case RenderStyle::Licorice: return QStringLiteral("Licorice");
    case RenderStyle::Wireframe: return QStringLiteral("Wireframe");
  }
  return {};
}

void StructureView::setShowCell(bool show) {
  d_->showCell = show;
  d_->applyVisibility();
  update();
}
bool StructureView::showCell() const { return d_->showCell; }

void StructureView::setShowLabel(bool show) {
  d_->showLabel = show;
  d_->updateLabel();
  update();
}

void StructureView::setBondOptions(const chem::BondOptions& options) {
  d_->bondOptions = options;
  d_->rebuildScene();
  update();
}

void StructureView::setDarkBackground(bool dark) {
  d_->dark = dark;
  d_->applyBackground();
  d_->rebuildScene();  // cell edge colour follows the background
  update();
}
bool StructureView::darkBackground() const { return d_->dark; }

void StructureView::resetCamera() {
  d_->fitCamera();
  update();
}

void StructureView::rotateCamera(double azimuthDegrees, double elevationDegrees) {
  vtkCamera* cam = d_->renderer->GetActiveCamera();
  d_->cameraUntouched = false;
  cam->Azimuth(azimuthDegrees);
  cam->Elevation(elevationDegrees);
  cam->OrthogonalizeViewUp();
  d_->renderer->ResetCameraClippingRange();
  d_->markMoving();
  update();
}

void StructureView::zoomCamera(double factor) {
  if (factor <= 0) return;
  d_->cameraUntouched = false;
  d_->renderer->GetActiveCamera()->Dolly(factor);
  d_->renderer->ResetCameraClippingRange();
  d_->markMoving();
  update();
}

double StructureView::lastRenderMilliseconds() const { return d_->lastRenderMs; }

void StructureView::setInteractiveLodThreshold(int atoms) {
  const bool before = d_->lodActive();
  d_->lodThreshold = std::max(0, atoms);
  d_->lodChanged(before);
  update();
}

void StructureView::setInteracting(bool interacting) {
  if (interacting == d_->interacting) return;
  const bool before = d_->lodActive();
  d_->interacting = interacting;
  if (d_->lodActive() != before) {
    d_->lodChanged(before);
    update();
  }
}

bool StructureView::isInteracting() const { return d_->interacting; }

void StructureView::setShowAxes(bool show) {
  d_->showAxes = show;
  d_->applyVisibility();
  update();
}
bool StructureView::showAxes() const { return d_->showAxes; }

void StructureView::setAtomLabels(AtomLabels labels) {
  if (labels == d_->atomLabels) return;
  d_->atomLabels = labels;
  d_->buildLabels();
  d_->applyVisibility();
  update();
}
StructureView::AtomLabels StructureView::atomLabels() const { return d_->atomLabels; }

int StructureView::drawnAtomLabelCount() const {
  // What the mapper drew in the last picture (the filter itself may run again between pictures).
  return d_->labelActor->GetVisibility() ? d_->labelMapper->GetNumberOfLabels() : 0;
}

void StructureView::setRepeat(int na, int nb, int nc) {
  const std::array<int, 3> n{std::clamp(na, 1, 20), std::clamp(nb, 1, 20), std::clamp(nc, 1, 20)};
  if (n == d_->repeatCounts) return;
  d_->repeatCounts = n;
  d_->selected.clear();
  d_->rebuildScene();
  if (d_->cameraUntouched) d_->fitCamera();
  d_->renderer->ResetCameraClippingRange();
  update();
  Q_EMIT selectionChanged();
  Q_EMIT structureChanged();
}
std::array<int, 3> StructureView::repeat() const { return d_->repeatCounts; }

const chem::Structure* StructureView::displayedStructure() const {
  return d_->shown.empty() ? nullptr : &d_->shown;
}

void StructureView::setVectorProperty(const QString& name) {
  d_->vectorName = name.toStdString();
  d_->buildVectors();
  d_->applyVisibility();
  update();
}
QString StructureView::vectorProperty() const { return QString::fromStdString(d_->vectorName); }

void StructureView::setVectorScale(double angstromPerUnit) {
  if (!(angstromPerUnit > 0) || !std::isfinite(angstromPerUnit)) return;
  d_->vectorScale = angstromPerUnit;
  d_->buildVectors();
  d_->applyVisibility();
  update();
}
double StructureView::vectorScale() const { return d_->vectorScale; }

int StructureView::drawnVectorCount() const { return d_->vectorCount; }

double StructureView::autoVectorScale(double length) const {
  // The 90th percentile of |v| over all atoms of all frames (numpy's percentile, method "lower")
  // becomes `length`: typical arrows stand out of the atoms, the largest stay a few Angstrom.
  std::vector<double> norms;
  for (const chem::Structure& s : d_->frames) {
    const chem::AtomProperty* p = d_->vectorName.empty() ? s.forces() : s.atomProperty(d_->vectorName);
    if (!p || p->columns != 3 || p->type == chem::AtomProperty::Type::String) continue;
    for (std::size_t i = 0; i < p->atomCount(); ++i) {
      const double v = std::sqrt(p->at(i, 0) * p->at(i, 0) + p->at(i, 1) * p->at(i, 1) + p->at(i, 2) * p->at(i, 2));
      if (std::isfinite(v)) norms.push_back(v);
    }
  }
  if (norms.empty()) return 0.0;
  const auto k = static_cast<std::ptrdiff_t>(std::floor(0.9 * static_cast<double>(norms.size() - 1)));
  std::nth_element(norms.begin(), norms.begin() + k, norms.end());
  const double p90 = norms[static_cast<std::size_t>(k)];
  return p90 > 0 ? length / p90 : 0.0;
}

std::vector<int> StructureView::selection() const { return d_->selected; }

void StructureView::setSelection(const std::vector<int>& atoms) {
  std::vector<int> sel;
  for (int i : atoms)
    if (i >= 0 && i < static_cast<int>(d_->shown.size()) && std::find(sel.begin(), sel.end(), i) == sel.end() &&
        sel.size() < 4)
      sel.push_back(i);
  if (sel == d_->selected) return;
  d_->selected = sel;
  d_->buildSelection();
  d_->applyVisibility();
  update();
  Q_EMIT selectionChanged();
}

void StructureView::clearSelection() { setSelection({}); }

StructureView::Measurement StructureView::measurement() const {
  Measurement m;
  m.atoms = d_->selected;
  const auto& sel = d_->selected;
  const auto pos = [&](std::size_t k) { return d_->shown.positions[static_cast<std::size_t>(sel[k])]; };
  if (sel.size() == 2) {
    m.kind = Measurement::Kind::Distance;
    m.value = distance(pos(0), pos(1));
  } else if (sel.size() == 3) {
    m.kind = Measurement::Kind::Angle;
    m.value = angleDegrees(pos(0), pos(1), pos(2));
  } else if (sel.size() == 4) {
    m.kind = Measurement::Kind::Dihedral;
    m.value = dihedralDegrees(pos(0), pos(1), pos(2), pos(3));
  }
  return m;
}

QString StructureView::measurementText(const Measurement& m, const chem::Structure& s) {
  QStringList names;
  for (int i : m.atoms)
    if (i >= 0 && i < static_cast<int>(s.size()))
      names << QString::fromStdString(symbolOf(s.numbers[static_cast<std::size_t>(i)])) + QString::number(i);
  switch (m.kind) {
    case Measurement::Kind::Distance:
      return QStringLiteral("Distance %1: %2 Å").arg(names.join(QStringLiteral("–"))).arg(m.value, 0, 'f', 4);
    case Measurement::Kind::Angle:
      return QStringLiteral("Angle %1: %2°").arg(names.join(QStringLiteral("–"))).arg(m.value, 0, 'f', 2);
    case Measurement::Kind::Dihedral:
      return QStringLiteral("Dihedral %1: %2°").arg(names.join(QStringLiteral("–"))).arg(m.value, 0, 'f', 2);
    case Measurement::Kind::None: break;
  }
  return names.isEmpty() ? QString() : QStringLiteral("Selected %1").arg(names.join(QStringLiteral(", ")));
}

double StructureView::distance(const chem::Vec3& a, const chem::Vec3& b) {
  const Vec3 d = sub(a, b);
  return std::sqrt(dot(d, d));
}

double StructureView::angleDegrees(const chem::Vec3& a, const chem::Vec3& b, const chem::Vec3& c) {
  const Vec3 u = sub(a, b), v = sub(c, b);
  const double nu = std::sqrt(dot(u, u)), nv = std::sqrt(dot(v, v));
  if (nu == 0 || nv == 0) return 0.0;
  // atan2 of |u x v| and u . v keeps precision near 0 and 180 degrees.
  const Vec3 w = cross(u, v);
  return std::atan2(std::sqrt(dot(w, w)), dot(u, v)) * 180.0 / M_PI;
}

double StructureView::dihedralDegrees(const chem::Vec3& a, const chem::Vec3& b, const chem::Vec3& c,
                                      const chem::Vec3& d) {
  // Blondel and Karplus (1996): with b1 = b - a, b2 = c - b, b3 = d - c,
  // phi = atan2(|b2| b1 . (b2 x b3), (b1 x b2) . (b2 x b3)); positive when, looking from b to c,
  // the bond c-d is turned clockwise from the bond b-a (IUPAC).
  const Vec3 b1 = sub(b, a), b2 = sub(c, b), b3 = sub(d, c);
  const Vec3 n2 = cross(b2, b3);
  const double y = std::sqrt(dot(b2, b2)) * dot(b1, n2);
  const double x = dot(cross(b1, b2), n2);
  if (x == 0 && y == 0) return 0.0;
  return std::atan2(y, x) * 180.0 / M_PI;
}

QColor StructureView::atomColor(int z) {
  const auto c = rgbOf(z);
  return QColor(c[0], c[1], c[2]);
}

std::optional<int> StructureView::atomAt(const QPointF& widgetPos) const {
  const chem::Structure& s = d_->shown;
  if (s.empty()) return std::nullopt;
  const double dpr = devicePixelRatioF();
  const int* size = d_->window->GetSize();
  const double x = widgetPos.x() * dpr, y = size[1] - widgetPos.y() * dpr - 1.0;
  vtkRenderer* r = d_->renderer;
  double nearP[4], farP[4];
  r->SetDisplayPoint(x, y, 0.0);
  r->DisplayToWorld();
  r->GetWorldPoint(nearP);
  r->SetDisplayPoint(x, y, 1.0);
  r->DisplayToWorld();
  r->GetWorldPoint(farP);
  if (nearP[3] == 0 || farP[3] == 0) return std::nullopt;
  const Vec3 o{nearP[0] / nearP[3], nearP[1] / nearP[3], nearP[2] / nearP[3]};
  Vec3 dir = sub({farP[0] / farP[3], farP[1] / farP[3], farP[2] / farP[3]}, o);
  const double len = std::sqrt(dot(dir, dir));
  if (len == 0) return std::nullopt;
  for (double& v : dir) v /= len;
  // Nearest sphere along the ray: |o + t dir - c|^2 = r^2.
  double best = std::numeric_limits<double>::infinity();
  int hit = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const Vec3 oc = sub(o, s.positions[i]);
    const double rad = d_->atomRadius(s.numbers[i]);
    const double b = dot(oc, dir), c = dot(oc, oc) - rad * rad;
    const double disc = b * b - c;
    if (disc < 0) continue;
    const double t = -b - std::sqrt(disc);
    if (t > 0 && t < best) {
      best = t;
      hit = static_cast<int>(i);
    }
  }
  if (hit < 0) return std::nullopt;
  return hit;
}

std::optional<QPointF> StructureView::atomWidgetPosition(int atom) const {
  const chem::Structure& s = d_->shown;
  if (atom < 0 || atom >= static_cast<int>(s.size())) return std::nullopt;
  const Vec3& p = s.positions[static_cast<std::size_t>(atom)];
  vtkRenderer* r = d_->renderer;
  r->SetWorldPoint(p[0], p[1], p[2], 1.0);
  r->WorldToDisplay();
  double disp[3];
  r->GetDisplayPoint(disp);
  const double dpr = devicePixelRatioF();
  const int* size = d_->window->GetSize();
  return QPointF(disp[0] / dpr, (size[1] - disp[1] - 1.0) / dpr);
}

QImage StructureView::grabImage() {
  // A grab is a picture to keep: the settled, antialiased one.
  d_->setMoving(false);
  d_->settle->stop();
  return grabFramebuffer();
}

namespace {
QImage toQImage(vtkImageData* image) {
  int dims[3];
  image->GetDimensions(dims);
  const int w = dims[0], h = dims[1];
  const int comps = image->GetNumberOfScalarComponents();
  const auto* src = static_cast<const unsigned char*>(image->GetScalarPointer());
  QImage out(w, h, QImage::Format_RGB888);
  for (int y = 0; y < h; ++y) {
    uchar* dst = out.scanLine(h - 1 - y);  // VTK's rows start at the bottom
    const unsigned char* row = src + static_cast<std::size_t>(y) * w * comps;
    for (int x = 0; x < w; ++x) {
      dst[3 * x + 0] = row[comps * x + 0];
      dst[3 * x + 1] = row[comps * x + 1];
      dst[3 * x + 2] = row[comps * x + 2];
    }
  }
  return out;
}
}  // namespace

QImage StructureView::renderImage(int width, int height, QString* error) {
  auto fail = [&](const QString& message) {
    if (error) *error = message;
    return QImage();
  };
  if (width < 1 || height < 1 || width > 32768 || height > 32768)
    return fail(QStringLiteral("image size %1 x %2 is outside 1..32768").arg(width).arg(height));
  if (!d_->initialized) grabFramebuffer();  // creates the context and runs initializeGL, even hidden
  if (!d_->initialized || !context()) return fail(QStringLiteral("OpenGL could not be initialised for the 3D view"));

  makeCurrent();
  GLint maxRenderbuffer = 0, maxViewport[2] = {0, 0};
  QOpenGLFunctions* f = context()->functions();
  f->glGetIntegerv(GL_MAX_RENDERBUFFER_SIZE, &maxRenderbuffer);
  f->glGetIntegerv(GL_MAX_VIEWPORT_DIMS, maxViewport);
  const int limit = std::max(256, std::min({4096 * 2, static_cast<int>(maxRenderbuffer), static_cast<int>(maxViewport[0]),
                                            static_cast<int>(maxViewport[1])}));

  const int oldW = d_->window->GetSize()[0], oldH = d_->window->GetSize()[1];
  d_->inOffscreen = true;
  // The corner text keeps its proportion to the picture.
  const int oldFont = d_->label->GetTextProperty()->GetFontSize();
  const double textScale = std::max(1.0, 0.7 * height / std::max(1.0, static_cast<double>(oldH)));
  d_->label->GetTextProperty()->SetFontSize(static_cast<int>(std::lround(oldFont * textScale)));
  const int oldMeasureFont = d_->measureText->GetTextProperty()->GetFontSize();
  d_->measureText->GetTextProperty()->SetFontSize(static_cast<int>(std::lround(oldMeasureFont * textScale)));
  const int oldLabelFont = d_->labelMapper->GetLabelTextProperty()->GetFontSize();
  d_->labelMapper->GetLabelTextProperty()->SetFontSize(static_cast<int>(std::lround(oldLabelFont * textScale)));
  d_->renderer->UseFXAAOn();  // exports are pictures to keep
  vtkOpenGLState* state = d_->window->GetState();
  state->Reset();
  state->Push();
  QImage result;
  if (width <= limit && height <= limit) {
    // One offscreen pass: VTK renders into its own framebuffer object at the requested size.
    d_->window->SetSize(width, height);
    d_->window->Render();
    vtkNew<vtkWindowToImageFilter> grab;
    grab->SetInput(d_->window);
    grab->SetInputBufferTypeToRGB();
    grab->ReadFrontBufferOff();
    grab->ShouldRerenderOff();
    grab->Update();
    result = toQImage(grab->GetOutput());
  } else {
    // Tiles: render at 1/m of the size, m x m times (vtkRenderLargeImage), then crop.
    const int m = static_cast<int>(std::ceil(std::max(width, height) / static_cast<double>(limit)));
    const int tw = (width + m - 1) / m, th = (height + m - 1) / m;
    d_->window->SetSize(tw, th);
    vtkNew<vtkRenderLargeImage> large;
    large->SetInput(d_->renderer);
    large->SetMagnification(m);
    large->Update();
    QImage full = toQImage(large->GetOutput());
    result = full.copy((full.width() - width) / 2, (full.height() - height) / 2, width, height);
  }
  d_->window->SetSize(oldW, oldH);
  d_->label->GetTextProperty()->SetFontSize(oldFont);
  d_->measureText->GetTextProperty()->SetFontSize(oldMeasureFont);
  d_->labelMapper->GetLabelTextProperty()->SetFontSize(oldLabelFont);
  state->Pop();
  d_->inOffscreen = false;
  doneCurrent();
  update();
  if (result.isNull() || result.width() != width || result.height() != height)
    return fail(QStringLiteral("the offscreen render returned %1 x %2 instead of %3 x %4")
                    .arg(result.width()).arg(result.height()).arg(width).arg(height));
  return result;
}

bool StructureView::saveScreenshot(const QString& path, int width, int height, QString* error) {
  QImage image = renderImage(width, height, error);
  if (image.isNull()) return false;
  if (!image.save(path)) {
    if (error) *error = QStringLiteral("cannot write %1").arg(path);
    return false;
  }
  return true;
}

}  // namespace atomscope::gui
