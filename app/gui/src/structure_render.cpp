#include "atomscope/gui/structure_render.h"

#include <QDir>
#include <QFileInfo>
#include <QImage>
#include <QImageWriter>
#include <exception>

#include "atomscope/chem/formats.h"

namespace atomscope::gui {

bool parseRenderStyle(const QString& text, StructureView::RenderStyle* style) {
  const QString t = text.trimmed().toLower();
  if (t == QLatin1String("ball-and-stick") || t == QLatin1String("balls") || t == QLatin1String("bs"))
    *style = StructureView::RenderStyle::BallAndStick;
  else if (t == QLatin1String("space-filling") || t == QLatin1String("spacefill") || t == QLatin1String("vdw"))
    *style = StructureView::RenderStyle::SpaceFill;
  else if (t == QLatin1String("licorice") || t == QLatin1String("sticks"))
    *style = StructureView::RenderStyle::Licorice;
  else if (t == QLatin1String("wireframe") || t == QLatin1String("lines"))
    *style = StructureView::RenderStyle::Wireframe;
  else
    return false;
  return true;
}

bool parseAtomLabels(const QString& text, StructureView::AtomLabels* labels) {
  const QString t = text.trimmed().toLower();
  if (t == QLatin1String("none")) *labels = StructureView::AtomLabels::None;
  else if (t == QLatin1String("symbol")) *labels = StructureView::AtomLabels::Symbol;
  else if (t == QLatin1String("index")) *labels = StructureView::AtomLabels::Index;
  else if (t == QLatin1String("both") || t == QLatin1String("symbol-and-index")) *labels = StructureView::AtomLabels::SymbolAndIndex;
  else return false;
  return true;
}

bool renderStructureFile(const StructureRenderRequest& r, QString* error) {
  auto fail = [&](const QString& message) {
    if (error) *error = message;
    return false;
  };
  const QByteArray suffix = QFileInfo(r.output).suffix().toLower().toUtf8();
  if (r.output.isEmpty()) return fail(QStringLiteral("no output image given"));
  if (!QImageWriter::supportedImageFormats().contains(suffix))
    return fail(QStringLiteral("%1: unsupported image type '%2' (use .png, .jpg or .bmp)").arg(r.output, QString::fromUtf8(suffix)));
  for (int n : r.repeat)
    if (n < 1 || n > 64) return fail(QStringLiteral("repeat counts must be 1..64"));
  chem::Trajectory frames;
  try {
    frames = chem::readStructureFile(r.input.toStdString());
  } catch (const std::exception& e) {
    return fail(QString::fromUtf8(e.what()));
  }
  if (frames.empty()) return fail(QStringLiteral("%1: no structures in the file").arg(r.input));
  const int n = static_cast<int>(frames.size());
  const int frame = r.frame < 0 ? n + r.frame : r.frame;
  if (frame < 0 || frame >= n)
    return fail(QStringLiteral("%1: frame %2 does not exist (the file has %3)").arg(r.input).arg(r.frame).arg(n));

  StructureView view;
  view.resize(std::min(r.width, 1600), std::min(r.height, 1200));
  view.setRenderStyle(r.style);
  view.setDarkBackground(r.darkBackground);
  view.setShowCell(r.showCell);
  view.setShowAxes(r.showAxes);
  view.setShowLabel(r.showLabel);
  view.setTrajectory(std::move(frames));
  view.setFrame(frame);
  if (r.repeat != std::array<int, 3>{1, 1, 1}) view.setRepeat(r.repeat[0], r.repeat[1], r.repeat[2]);
  view.setAtomLabels(r.labels);
  view.resetCamera();
  if (r.azimuth != 0.0 || r.elevation != 0.0) view.rotateCamera(r.azimuth, r.elevation);
  const QFileInfo outInfo(r.output);
  if (!QDir().mkpath(outInfo.absolutePath()))
    return fail(QStringLiteral("%1: cannot create the folder %2").arg(r.output, outInfo.absolutePath()));
  QString why;
  if (!view.saveScreenshot(r.output, r.width, r.height, &why))
    return fail(why.contains(r.output) ? why : QStringLiteral("%1: %2").arg(r.output, why));
  return true;
}

}  // namespace atomscope::gui
