// Frames per second of StructureView for 1k, 10k, 100k and 1M atoms (random dense periodic boxes
// of C/H/O at 0.1 atoms per cubic Angstrom), 800 x 600, camera turned 3 degrees per frame:
//   moving, full picture forced   sphere and stick impostors every frame while the camera turns
//                (the reduced picture switched off; no FXAA while moving);
//   moving, as shown   what users get: from 10k atoms the reduced picture (flat points, at most 50k
//                of them, no bonds) while anything moves, the full one 250 ms after it stops;
//   playback     trajectory playback of >= 10k atoms: the reduced picture, a new frame each time;
//   settled      the one antialiased (FXAA) redraw after things stop: render time of one frame;
//   reference    plain VTK in its own window, no Qt, no bonds: the same atoms as flat 3-pixel
//                points (the cheapest way through the GL pipeline: the machine's limit) and as
//                round point sprites (RenderPointsAsSpheres, 4 px).
// Run under Xvfb:  xvfb-run -a -s "-screen 0 1280x800x24" ./atomscope_viewer_benchmark [max_atoms]
#include <QApplication>
#include <QElapsedTimer>
#include <QSurfaceFormat>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkNew.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkUnsignedCharArray.h>

#include "atomscope/chem/bonds.h"
#include "atomscope/chem/elements.h"
#include "atomscope/gui/structure_view.h"

using namespace atomscope;

namespace {

std::string loadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

chem::Structure randomBox(int n) {
  const double L = std::cbrt(n / 0.1);
  chem::Structure s;
  s.lattice = chem::Mat3{chem::Vec3{L, 0, 0}, chem::Vec3{0, L, 0}, chem::Vec3{0, 0, L}};
  s.pbc = {true, true, true};
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0, L);
  const int zs[] = {1, 6, 8};
  for (int i = 0; i < n; ++i) s.addAtom(zs[i % 3], {u(rng), u(rng), u(rng)});
  return s;
}

int framesFor(int n) { return n >= 1000000 ? 3 : n >= 100000 ? 10 : 30; }

// Plain VTK: points (flat, or round sprites) in a vtkRenderWindow of the same size.
double referenceFps(const chem::Structure& s, bool sprites) {
  vtkNew<vtkPoints> points;
  points->SetDataTypeToFloat();
  points->SetNumberOfPoints(static_cast<vtkIdType>(s.size()));
  vtkNew<vtkUnsignedCharArray> colors;
  colors->SetNumberOfComponents(3);
  colors->SetNumberOfTuples(static_cast<vtkIdType>(s.size()));
  vtkNew<vtkCellArray> verts;
  for (vtkIdType i = 0; i < static_cast<vtkIdType>(s.size()); ++i) {
    const auto& r = s.positions[static_cast<std::size_t>(i)];
    points->SetPoint(i, r[0], r[1], r[2]);
    const auto c = chem::element(s.numbers[static_cast<std::size_t>(i)]).jmolColor;
    colors->SetTuple3(i, (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF);
    verts->InsertNextCell(1, &i);
  }
  vtkNew<vtkPolyData> poly;
  poly->SetPoints(points);
  poly->SetVerts(verts);
  poly->GetPointData()->SetScalars(colors);
  vtkNew<vtkPolyDataMapper> mapper;
  mapper->SetInputData(poly);
  vtkNew<vtkActor> actor;
  actor->SetMapper(mapper);
  actor->GetProperty()->SetRenderPointsAsSpheres(sprites);
  actor->GetProperty()->SetPointSize(sprites ? 4 : 3);
  actor->GetProperty()->SetLighting(sprites);
  vtkNew<vtkRenderer> renderer;
  renderer->AddActor(actor);
  vtkNew<vtkRenderWindow> window;
  window->SetSize(800, 600);
  window->AddRenderer(renderer);
  window->SetMultiSamples(0);
  renderer->ResetCamera();
  window->Render();
  const int frames = framesFor(static_cast<int>(s.size()));
  QElapsedTimer t;
  t.start();
  for (int f = 0; f < frames; ++f) {
    renderer->GetActiveCamera()->Azimuth(3.0);
    window->Render();
  }
  const double ms = static_cast<double>(t.nsecsElapsed()) / 1e6 / frames;
  return 1000.0 / ms;
}

}  // namespace

int main(int argc, char** argv) {
  QSurfaceFormat::setDefaultFormat(gui::StructureView::defaultFormat());
  QApplication app(argc, argv);
  const int maxAtoms = argc > 1 ? std::atoi(argv[1]) : 1000000;
  gui::StructureView view;
  view.resize(800, 600);
  view.show();
  for (int i = 0; i < 20; ++i) app.processEvents();
  std::printf("load average at start: %s\n\n", loadAverage().c_str());
  std::printf("| atoms | bonds | style | mode | build scene (ms) | frame (ms) | frames/s |\n|---|---|---|---|---|---|---|\n");
  for (int n : {1000, 10000, 100000, 1000000}) {
    if (n > maxAtoms) break;
    const chem::Structure s = randomBox(n);
    for (auto style : {gui::StructureView::RenderStyle::BallAndStick, gui::StructureView::RenderStyle::SpaceFill}) {
      view.grabImage();  // still: the scene below is built in full, not deferred as during motion
      QElapsedTimer build;
      build.start();
      view.setRenderStyle(style);
      view.setStructure(s);
      const double buildMs = static_cast<double>(build.nsecsElapsed()) / 1e6;
      // Settled picture, then the camera turning with the reduced picture off (the full impostor
      // picture every frame), then as users get it (reduced from 10k atoms while moving).
      for (bool reduced : {false, true}) {
        view.setInteractiveLodThreshold(reduced ? 10000 : 0);
        if (!reduced) {
          view.grabImage();  // settled: one antialiased frame
          std::printf("| %d | %zu | %s | settled (FXAA) | %.0f | %.1f | - |\n", n, view.bonds().size(),
                      qPrintable(gui::StructureView::styleName(style)), buildMs, view.lastRenderMilliseconds());
        }
        view.repaint();  // the first frame uploads buffers
        const int frames = framesFor(n);
        QElapsedTimer t;
        t.start();
        for (int f = 0; f < frames; ++f) {
          view.rotateCamera(3.0);
          view.repaint();
          app.processEvents();
        }
        const double ms = static_cast<double>(t.nsecsElapsed()) / 1e6 / frames;
        std::printf("| %d | %zu | %s | %s | %.0f | %.1f | %.1f |\n", n, view.bonds().size(),
                    qPrintable(gui::StructureView::styleName(style)),
                    reduced ? (n >= 10000 ? "moving, as shown (reduced picture)" : "moving, as shown (full picture)")
                            : "moving, full picture forced",
                    buildMs, ms, 1000.0 / ms);
        std::fflush(stdout);
        view.grabImage();  // back to still before the next mode
      }
    }
    if (n >= 10000) {
      // Playback of a trajectory (4 frames, atoms jiggled by up to 0.05 A): the reduced picture,
      // bonds deferred to the frame it stops on.
      chem::Trajectory frames(4, s);
      std::mt19937 rng(2);
      std::uniform_real_distribution<double> jiggle(-0.05, 0.05);
      for (auto& fr : frames)
        for (auto& r : fr.positions)
          for (double& x : r) x += jiggle(rng);
      view.setRenderStyle(gui::StructureView::RenderStyle::BallAndStick);
      view.setTrajectory(std::move(frames));
      view.setInteractiveLodThreshold(10000);
      view.setInteracting(true);
      view.repaint();
      const int count = framesFor(n);
      QElapsedTimer t;
      t.start();
      for (int f = 0; f < count; ++f) {
        view.setFrame((f + 1) % 4);
        view.repaint();
        app.processEvents();
      }
      const double ms = static_cast<double>(t.nsecsElapsed()) / 1e6 / count;
      std::printf("| %d | - | Ball and stick | playback (reduced, new frame each time) | - | %.1f | %.1f |\n", n, ms, 1000.0 / ms);
      view.setInteracting(false);
      std::fflush(stdout);
    }
    const double flat = referenceFps(s, false), sprites = referenceFps(s, true);
    std::printf("| %d | - | reference: plain VTK, flat points | - | - | %.1f | %.1f |\n", n, 1000.0 / flat, flat);
    std::printf("| %d | - | reference: plain VTK, point sprites | - | - | %.1f | %.1f |\n", n, 1000.0 / sprites, sprites);
    std::fflush(stdout);
  }
  std::printf("\nload average at end: %s\n", loadAverage().c_str());
  return 0;
}
