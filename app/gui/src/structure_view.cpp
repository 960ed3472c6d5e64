#include "atomscope/gui/structure_view.h"

#include <QElapsedTimer>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vtkActor.h>
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

namespace atomscope::gui {

namespace {

using chem::Vec3;

// Ball-and-stick proportions as Avogadro 2: atoms at 0.3 x van der Waals radius, thin bonds.
constexpr double kBallScale = 0.3;
constexpr double kBondRadius = 0.11;
constexpr double kLicoriceRadius = 0.2;

std::array<unsigned char, 3> atomColor(int z) {
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

  chem::Trajectory frames;
  int frame = 0;
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

  applyBackground();
  rebuildScene();
}

void StructureView::Impl::applyBackground() {
  if (dark) {
    renderer->GradientBackgroundOn();
    renderer->SetBackground(0.04, 0.05, 0.07);   // bottom
    renderer->SetBackground2(0.20, 0.23, 0.29);  // top
    label->GetTextProperty()->SetColor(0.85, 0.87, 0.90);
  } else {
    renderer->GradientBackgroundOff();
    renderer->SetBackground(1.0, 1.0, 1.0);
    label->GetTextProperty()->SetColor(0.15, 0.15, 0.15);
  }
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
    const auto c = atomColor(z);
    colors->SetTypedTuple(i, c.data());
    double rad = kBallScale * vdwRadius(z);
    if (renderStyle == RenderStyle::SpaceFill) rad = vdwRadius(z);
    if (renderStyle == RenderStyle::Licorice) rad = kLicoriceRadius;
    radius->SetValue(i, static_cast<float>(rad));
    verts->InsertNextCell(1, &i);
  }
  atomData->Initialize();
  atomData->SetPoints(points);
  atomData->SetVerts(verts);
  atomData->GetPointData()->AddArray(colors);
  atomData->GetPointData()->AddArray(radius);
  atomData->Modified();
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
    const auto ci = atomColor(s.numbers[static_cast<std::size_t>(b.i)]);
    const auto cj = atomColor(s.numbers[static_cast<std::size_t>(b.j)]);
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
    const auto ci = atomColor(s.numbers[static_cast<std::size_t>(b.i)]);
    const auto cj = atomColor(s.numbers[static_cast<std::size_t>(b.j)]);
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
    colors->InsertNextTypedTuple(atomColor(s.numbers[static_cast<std::size_t>(i)]).data());
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
  label->SetInput(text.c_str());
  label->SetVisibility(true);
}

void StructureView::Impl::rebuildScene() {
  const chem::Structure* s = current();
  static const chem::Structure kEmpty;
  const chem::Structure& st = s ? *s : kEmpty;
  bonds = st.empty() ? std::vector<chem::Bond>{} : chem::findBonds(st, bondOptions);
  static const std::vector<chem::Bond> kNoBonds;
  const bool wire = renderStyle == RenderStyle::Wireframe;
  buildAtoms(wire ? kEmpty : st);
  if (wire) {
    buildSticks(kEmpty, kNoBonds, kBondRadius);
    buildLines(st, bonds);
  } else {
    // Space filling hides bonds (the bond list stays available to callers).
    if (renderStyle == RenderStyle::SpaceFill)
      buildSticks(kEmpty, kNoBonds, kBondRadius);
    else
      buildSticks(st, bonds, renderStyle == RenderStyle::Licorice ? kLicoriceRadius : kBondRadius);
    buildLines(kEmpty, kNoBonds);
  }
  atomActor->SetVisibility(!wire && !st.empty());
  stickActor->SetVisibility(!wire && renderStyle != RenderStyle::SpaceFill && stickData->GetNumberOfPoints() > 0);
  lineActor->SetVisibility(wire && lineData->GetNumberOfPoints() > 0);
  buildCell(st);
  cellActor->SetVisibility(showCell && cellData->GetNumberOfPoints() > 0);
  updateLabel();
}

void StructureView::Impl::fitCamera() {
  const chem::Structure* s = current();
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
  e->accept();
}

void StructureView::mouseMoveEvent(QMouseEvent* e) {
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

void StructureView::keyPressEvent(QKeyEvent* e) {
  // VTK's default key bindings (e: exit, w/s: wireframe, 3: stereo) are not forwarded.
  if (e->key() == Qt::Key_R && !(e->modifiers() & (Qt::ControlModifier | Qt::AltModifier))) {
    resetCamera();
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
  d_->rebuildScene();
  d_->fitCamera();
  update();
  Q_EMIT structureChanged();
  Q_EMIT frameChanged(0);
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
  d_->cellActor->SetVisibility(show && d_->cellData->GetNumberOfPoints() > 0);
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
  update();
}

void StructureView::zoomCamera(double factor) {
  if (factor <= 0) return;
  d_->cameraUntouched = false;
  d_->renderer->GetActiveCamera()->Dolly(factor);
  d_->renderer->ResetCameraClippingRange();
  update();
}

double StructureView::lastRenderMilliseconds() const { return d_->lastRenderMs; }

QImage StructureView::grabImage() { return grabFramebuffer(); }

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
  d_->label->GetTextProperty()->SetFontSize(std::max(oldFont, static_cast<int>(std::lround(0.7 * oldFont * height / std::max(1.0, static_cast<double>(oldH))))));
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
