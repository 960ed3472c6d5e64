// atomscope-render: draws a structure file to an image, headless (the Structures plugin's image
// export from the command line). Needs a display for OpenGL: on a server run it under xvfb-run.
//   atomscope-render FILE -o IMAGE.png [--size 1600x1200] [--style ball-and-stick] [--frame N]
//                    [--repeat 2,2,1] [--labels symbol] [--azimuth DEG] [--elevation DEG] [--dark]
//                    [--no-cell] [--no-axes] [--no-text]
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QSurfaceFormat>
#include <cstdio>

#include "atomscope/gui/structure_render.h"

using namespace atomscope;

int main(int argc, char** argv) {
  QSurfaceFormat::setDefaultFormat(gui::StructureView::defaultFormat());  // OpenGL 3.2 core for VTK
  QApplication app(argc, argv);
  QCoreApplication::setApplicationName(QStringLiteral("atomscope-render"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Draw a molecule or crystal file to an image, as the Structures view does."));
  parser.addHelpOption();
  const QCommandLineOption out({QStringLiteral("o"), QStringLiteral("output")}, QStringLiteral("Image to write (.png, .jpg, .bmp)."), QStringLiteral("IMAGE"));
  const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Width x height in pixels (default 1600x1200)."), QStringLiteral("WxH"), QStringLiteral("1600x1200"));
  const QCommandLineOption style(QStringLiteral("style"), QStringLiteral("ball-and-stick, space-filling, licorice or wireframe."), QStringLiteral("STYLE"), QStringLiteral("ball-and-stick"));
  const QCommandLineOption frame(QStringLiteral("frame"), QStringLiteral("Trajectory frame, from 0; -1 is the last (default 0)."), QStringLiteral("N"), QStringLiteral("0"));
  const QCommandLineOption repeat(QStringLiteral("repeat"), QStringLiteral("Supercell repeat a,b,c (default 1,1,1)."), QStringLiteral("A,B,C"), QStringLiteral("1,1,1"));
  const QCommandLineOption labels(QStringLiteral("labels"), QStringLiteral("Atom labels: none, symbol, index or both."), QStringLiteral("KIND"), QStringLiteral("none"));
  const QCommandLineOption azimuth(QStringLiteral("azimuth"), QStringLiteral("Turn the view about the vertical axis (degrees)."), QStringLiteral("DEG"), QStringLiteral("0"));
  const QCommandLineOption elevation(QStringLiteral("elevation"), QStringLiteral("Tilt the view (degrees)."), QStringLiteral("DEG"), QStringLiteral("0"));
  const QCommandLineOption dark(QStringLiteral("dark"), QStringLiteral("Dark background."));
  const QCommandLineOption noCell(QStringLiteral("no-cell"), QStringLiteral("Hide the unit cell."));
  const QCommandLineOption noAxes(QStringLiteral("no-axes"), QStringLiteral("Hide the axes."));
  const QCommandLineOption noText(QStringLiteral("no-text"), QStringLiteral("Hide the formula text."));
  parser.addOptions({out, size, style, frame, repeat, labels, azimuth, elevation, dark, noCell, noAxes, noText});
  parser.addPositionalArgument(QStringLiteral("file"), QStringLiteral("Structure file (XYZ, CIF, POSCAR, PDB, SDF, ...)."));
  parser.process(app);

  auto usageError = [](const QString& message) {
    std::fprintf(stderr, "atomscope-render: %s\n", qPrintable(message));
    return 2;
  };
  if (parser.positionalArguments().size() != 1) return usageError(QStringLiteral("give exactly one structure file (see --help)"));
  if (!parser.isSet(out)) return usageError(QStringLiteral("give the image to write with -o IMAGE.png"));

  gui::StructureRenderRequest r;
  r.input = parser.positionalArguments().front();
  r.output = parser.value(out);
  const QStringList wh = parser.value(size).toLower().split(QLatin1Char('x'));
  bool okW = false, okH = false;
  if (wh.size() == 2) {
    r.width = wh[0].toInt(&okW);
    r.height = wh[1].toInt(&okH);
  }
  if (!okW || !okH) return usageError(QStringLiteral("--size must be WIDTHxHEIGHT, got '%1'").arg(parser.value(size)));
  if (!gui::parseRenderStyle(parser.value(style), &r.style)) return usageError(QStringLiteral("unknown --style '%1'").arg(parser.value(style)));
  if (!gui::parseAtomLabels(parser.value(labels), &r.labels)) return usageError(QStringLiteral("unknown --labels '%1'").arg(parser.value(labels)));
  bool ok = false;
  r.frame = parser.value(frame).toInt(&ok);
  if (!ok) return usageError(QStringLiteral("--frame must be an integer"));
  const QStringList rep = parser.value(repeat).split(QLatin1Char(','));
  if (rep.size() != 3) return usageError(QStringLiteral("--repeat must be A,B,C"));
  for (int i = 0; i < 3; ++i) {
    r.repeat[static_cast<std::size_t>(i)] = rep[i].toInt(&ok);
    if (!ok) return usageError(QStringLiteral("--repeat must be three integers"));
  }
  r.azimuth = parser.value(azimuth).toDouble(&ok);
  if (!ok) return usageError(QStringLiteral("--azimuth must be a number"));
  r.elevation = parser.value(elevation).toDouble(&ok);
  if (!ok) return usageError(QStringLiteral("--elevation must be a number"));
  r.darkBackground = parser.isSet(dark);
  r.showCell = !parser.isSet(noCell);
  r.showAxes = !parser.isSet(noAxes);
  r.showLabel = !parser.isSet(noText);

  QString error;
  if (!gui::renderStructureFile(r, &error)) {
    std::fprintf(stderr, "atomscope-render: %s\n", qPrintable(error));
    return 1;
  }
  std::printf("%s\n", qPrintable(QFileInfo(r.output).absoluteFilePath()));
  return 0;
}
