#pragma once
// Renders a structure file to an image without the workbench: the headless path of the Structures
// plugin's "Export image" (atomscope-render). Needs an OpenGL context, so a display (xvfb-run on a
// server), like ParaView's pvpython rendering.
#include <QString>
#include <array>

#include "atomscope/gui/structure_view.h"

namespace atomscope::gui {

struct StructureRenderRequest {
  QString input;   // any format chem::readStructureFile reads
  QString output;  // .png, .jpg or .bmp (Qt's image writers)
  int width = 1600, height = 1200;
  int frame = 0;  // trajectory frame; negative counts from the end (-1 = last)
  StructureView::RenderStyle style = StructureView::RenderStyle::BallAndStick;
  StructureView::AtomLabels labels = StructureView::AtomLabels::None;
  std::array<int, 3> repeat{1, 1, 1};
  double azimuth = 0.0, elevation = 0.0;  // degrees, applied after the default view
  bool darkBackground = false, showCell = true, showAxes = true, showLabel = true;
};

// Reads the file, draws the frame and writes the image. On failure returns false with a message
// that names the file and what was wrong.
bool renderStructureFile(const StructureRenderRequest& request, QString* error);

// Parses "ball-and-stick", "space-filling", "licorice", "wireframe" (and short forms); false if unknown.
bool parseRenderStyle(const QString& text, StructureView::RenderStyle* style);
bool parseAtomLabels(const QString& text, StructureView::AtomLabels* labels);  // none, symbol, index, both

}  // namespace atomscope::gui
