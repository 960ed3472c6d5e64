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
#ifdef ATOMSCOPE_HAVE_ALL_JOBS
#include "atomscope/all_jobs.h"
#endif
#include "atomscope/core/memory_limits.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/style.h"

using namespace atomscope;

int main(int argc, char** argv) {
  core::keepFreedHostMemory();  // before any thread allocates: tensors reuse freed pages
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
  QCommandLineOption startOpt(QStringLiteral("start"),
                              QStringLiteral("Start JOB at start-up with its default parameters, or with "
                                             "JOB:key=value,key=value (repeatable)."),
                              QStringLiteral("JOB"));
  parser.addOptions({projectOpt, screenshotOpt, openOpt, delayOpt, startOpt});
  parser.addPositionalArgument(QStringLiteral("files"), QStringLiteral("Files to open."), QStringLiteral("[FILE...]"));
  parser.process(app);

  gui::applyApplicationStyle(app);

  try {
#ifdef ATOMSCOPE_HAVE_ALL_JOBS
    registerAllJobs(core::JobRegistry::global());  // every module's jobs (core ones included)
#else
    core::registerCoreJobs(core::JobRegistry::global());
#endif
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

  for (const QString& spec : parser.values(startOpt)) {
    const QString job = spec.section(QLatin1Char(':'), 0, 0);
    const QString rest = spec.section(QLatin1Char(':'), 1);
    try {
      auto instance = core::JobRegistry::global().create(job.toStdString());
      const auto schema = instance->schema();
      Json params = Json::object();
      for (const QString& kv : rest.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const QString key = kv.section(QLatin1Char('='), 0, 0), value = kv.section(QLatin1Char('='), 1);
        params[key.toStdString()] = schema.valueFromText(key.toStdString(), value.toStdString());
      }
      QString device = window.settings().device();
      if (params.contains("device") && params["device"].is_string())
        device = QString::fromStdString(params["device"].get<std::string>());
      window.jobs().start(job, params, device);
    } catch (const std::exception& e) {
      ++failures;
      window.log(QStringLiteral("Cannot start %1: %2").arg(spec, QString::fromUtf8(e.what())), true);
      std::fprintf(stderr, "atomscope: cannot start %s: %s\n", qPrintable(spec), e.what());
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
