// main() of the GUI tests: a QApplication (OpenGL 3.2 core default format, as in the app) with
// settings and data folders redirected to a fresh temporary home, then GoogleTest.
#include <gtest/gtest.h>

#include <QApplication>
#include <QSurfaceFormat>
#include <QTemporaryDir>
#include <cstdlib>

#include "atomscope/core/job.h"
#include "atomscope/gui/style.h"
#include "test_util.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Test discovery at build time runs without a display: list the tests, create no window.
  if (::testing::GTEST_FLAG(list_tests)) return RUN_ALL_TESTS();

  QTemporaryDir home;
  if (!home.isValid()) return 2;
  setenv("XDG_CONFIG_HOME", qPrintable(home.filePath("config")), 1);
  setenv("XDG_DATA_HOME", qPrintable(home.filePath("data")), 1);
  setenv("XDG_CACHE_HOME", qPrintable(home.filePath("cache")), 1);

  QSurfaceFormat format;
  format.setRenderableType(QSurfaceFormat::OpenGL);
  format.setVersion(3, 2);
  format.setProfile(QSurfaceFormat::CoreProfile);
  format.setDepthBufferSize(24);
  QSurfaceFormat::setDefaultFormat(format);

  QApplication app(argc, argv);
  QCoreApplication::setOrganizationName(QStringLiteral("Atomscope"));
  QCoreApplication::setApplicationName(QStringLiteral("Atomscope"));
  QCoreApplication::setApplicationVersion(QStringLiteral("test"));
  atomscope::gui::applyApplicationStyle(app);

  atomscope::core::registerCoreJobs(atomscope::core::JobRegistry::global());
  atomscope::gui::test::registerTestJobs(atomscope::core::JobRegistry::global());
  return RUN_ALL_TESTS();
}
