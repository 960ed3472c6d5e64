// Frames per second of StructureView for 1k, 10k, 100k atoms (random dense periodic boxes of
// C/H/O at 0.1 atoms per cubic Angstrom), ball-and-stick and space filling, 800 x 600.
// Run under Xvfb:  xvfb-run -a -s "-screen 0 1280x800x24" ./atomscope_viewer_benchmark
// (build: a tests/bench/CMakeLists.txt entry linking atomscope_gui; see the report.)
#include <QApplication>
#include <QElapsedTimer>
#include <QSurfaceFormat>
#include <cmath>
#include <cstdio>
#include <random>

#include "atomscope/chem/bonds.h"
#include "atomscope/gui/structure_view.h"

using namespace atomscope;

int main(int argc, char** argv) {
  QSurfaceFormat::setDefaultFormat(gui::StructureView::defaultFormat());
  QApplication app(argc, argv);
  gui::StructureView view;
  view.resize(800, 600);
  view.show();
  for (int i = 0; i < 20; ++i) app.processEvents();
  std::printf("| atoms | bonds | style | build scene (ms) | frame (ms) | frames/s |\n|---|---|---|---|---|---|\n");
  for (int n : {1000, 10000, 100000}) {
    const double L = std::cbrt(n / 0.1);
    chem::Structure s;
    s.lattice = chem::Mat3{chem::Vec3{L, 0, 0}, chem::Vec3{0, L, 0}, chem::Vec3{0, 0, L}};
    s.pbc = {true, true, true};
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> u(0, L);
    const int zs[] = {1, 6, 8};
    for (int i = 0; i < n; ++i) s.addAtom(zs[i % 3], {u(rng), u(rng), u(rng)});
    for (auto style : {gui::StructureView::RenderStyle::BallAndStick, gui::StructureView::RenderStyle::SpaceFill}) {
      QElapsedTimer build;
      build.start();
      view.setRenderStyle(style);
      view.setStructure(s);
      const double buildMs = build.nsecsElapsed() / 1e6;
      view.repaint();  // first frame uploads buffers
      const int frames = n >= 100000 ? 10 : 30;
      QElapsedTimer t;
      t.start();
      for (int f = 0; f < frames; ++f) {
        view.rotateCamera(3.0);
        view.repaint();
        app.processEvents();
      }
      const double ms = t.nsecsElapsed() / 1e6 / frames;
      std::printf("| %d | %zu | %s | %.0f | %.1f | %.1f |\n", n, view.bonds().size(),
                  qPrintable(gui::StructureView::styleName(style)), buildMs, ms, 1000.0 / ms);
      std::fflush(stdout);
    }
  }
  return 0;
}
