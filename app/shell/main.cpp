// atomscope: the desktop workbench.
//   atomscope [--project DIR] [--open FILE]... [--screenshot FILE] [FILE...]
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QSurfaceFormat>
#include <QTimer>
#include <cstdio>

#include "atomscope/core/job.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/style.h"

using namespace atomscope;

int main(int argc, char** argv) {
  // VTK's render window inside a QOpenGLWidget needs an OpenGL 3.2 core context; the default
  // format must be set before the QApplication exists (STACK.md).
  QSurfaceFormat format;
  format.setRenderableType(QSurfaceFormat::OpenGL);
  format.setVersion(3, 2);
  format.setProfile(QSurfaceFormat::CoreProfile);
  format.setDepthBufferSize(24);
  format.setStencilBufferSize(8);
  format.setSamples(0);
  QSurfaceFormat::setDefaultFormat(format);

  QApplication app(argc, argv);
  QCoreApplication::setOrganizationName(QStringLiteral("Atomscope"));
  QCoreApplication::setApplicationName(QStringLiteral("Atomscope"));
  QCoreApplication::setApplicationVersion(QStringLiteral(ATOMSCOPE_VERSION));
  QGuiApplication::setDesktopFileName(QStringLiteral("org.atomscope.Atomscope"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Atomscope: a workbench for the atoms of models and of matter"));
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption projectOpt(QStringLiteral("project"), QStringLiteral("Runs root (default ./runs)."),
                                QStringLiteral("DIR"), QStringLiteral("runs"));
  QCommandLineOption screenshotOpt(QStringLiteral("screenshot"),
                                   QStringLiteral("Save a screenshot of the main window after start-up and exit."),
                                   QStringLiteral("FILE"));
  QCommandLineOption openOpt(QStringLiteral("open"), QStringLiteral("Open FILE (repeatable)."), QStringLiteral("FILE"));
  QCommandLineOption delayOpt(QStringLiteral("screenshot-delay"),
                              QStringLiteral("Milliseconds to wait before the screenshot (default 1500)."),
                              QStringLiteral("MS"), QStringLiteral("1500"));
  parser.addOptions({projectOpt, screenshotOpt, openOpt, delayOpt});
  parser.addPositionalArgument(QStringLiteral("files"), QStringLiteral("Files to open."), QStringLiteral("[FILE...]"));
  parser.process(app);

  gui::applyApplicationStyle(app);

  try {
    core::registerCoreJobs(core::JobRegistry::global());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atomscope: registering core jobs failed: %s\n", e.what());
  }

  const bool screenshot = parser.isSet(screenshotOpt);
  gui::MainWindow window(parser.value(projectOpt));
  window.loadPlugins();
  if (!screenshot) window.restoreLayout();  // screenshots use the default layout
  window.show();

  QStringList files = parser.values(openOpt) + parser.positionalArguments();
  int failures = 0;
  for (const QString& f : files) {
    QString error;
    if (!window.openFile(f, &error)) {
      ++failures;
      std::fprintf(stderr, "atomscope: cannot open %s: %s\n", qPrintable(f), qPrintable(error));
    }
  }

  if (screenshot) {
    const QString path = parser.value(screenshotOpt);
    bool ok = false;
    const int delay = parser.value(delayOpt).toInt(&ok);
    QTimer::singleShot(ok ? delay : 1500, &window, [&window, path, failures] {
      const bool saved = window.saveScreenshot(path);
      if (!saved) std::fprintf(stderr, "atomscope: cannot write screenshot %s\n", qPrintable(path));
      else std::printf("screenshot: %s\n", qPrintable(QFileInfo(path).absoluteFilePath()));
      QCoreApplication::exit(saved ? (failures ? 3 : 0) : 2);
    });
  }
  return app.exec();
}
