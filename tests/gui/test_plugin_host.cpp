// Plugin host: every plugin of the build's plugin folder loads; broken files are reported with a
// reason and never crash; world-writable folders are refused.
#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QLibrary>
#include <QTemporaryDir>

#include "atomscope/gui/plugin_host.h"

using namespace atomscope::gui;

namespace {

QStringList libraryFiles(const QString& dir) {
  QStringList out;
  for (const QString& f : QDir(dir).entryList(QDir::Files))
    if (QLibrary::isLibrary(f)) out << f;
  return out;
}

const PluginRecord* recordFor(const PluginHost& host, const QString& fileName) {
  for (const auto& r : host.records())
    if (QFileInfo(r.file).fileName() == fileName) return &r;
  return nullptr;
}

}  // namespace

TEST(PluginHost, EveryPluginOfTheBuildLoads) {
  const QString dir = QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR);
  const QStringList files = libraryFiles(dir);
  ASSERT_FALSE(files.isEmpty()) << "no plugin was built into " << dir.toStdString();
  PluginHost host;
  const int loaded = host.loadDirectory(dir, nullptr);
  for (const auto& r : host.records())
    EXPECT_TRUE(r.loaded) << r.file.toStdString() << ": " << r.error.toStdString();
  EXPECT_EQ(loaded, files.size());
  EXPECT_EQ(host.failureCount(), 0);
  for (const auto& r : host.records()) {
    EXPECT_FALSE(r.name.isEmpty());
    EXPECT_FALSE(r.version.isEmpty());
    EXPECT_FALSE(r.description.isEmpty());
  }
}

TEST(PluginHost, BrokenFilesAreReportedNotFatal) {
  QTemporaryDir tmp;
  const QString dir = tmp.path();
  QFile::setPermissions(dir, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
  const QString testPlugins = QStringLiteral(ATOMSCOPE_TEST_PLUGIN_DIR);
  // A text file named like a library.
  {
    QFile bogus(dir + "/libbogus.so");
    ASSERT_TRUE(bogus.open(QIODevice::WriteOnly));
    bogus.write("this is not a shared library\n");
  }
  // A real shared library that is not a Qt plugin.
  const QString notPlugin = QFileInfo(QStringLiteral("/usr/lib/x86_64-linux-gnu/libz.so.1")).canonicalFilePath();
  ASSERT_TRUE(QFile::copy(notPlugin, dir + "/libnotaplugin.so"));
  for (const char* name : {"test_good_plugin.so", "test_wrong_iid_plugin.so", "test_missing_symbol_plugin.so"})
    ASSERT_TRUE(QFile::copy(testPlugins + "/" + name, dir + "/" + name)) << name;
  {
    QFile readme(dir + "/README.txt");  // not a library: ignored
    ASSERT_TRUE(readme.open(QIODevice::WriteOnly));
  }

  PluginHost host;
  QStringList messages;
  QObject::connect(&host, &PluginHost::message, [&](const QString& m, bool) { messages << m; });
  EXPECT_EQ(host.loadDirectory(dir, nullptr), 1);
  EXPECT_EQ(host.records().size(), 5);
  EXPECT_EQ(host.failureCount(), 4);

  const auto* good = recordFor(host, "test_good_plugin.so");
  ASSERT_TRUE(good);
  EXPECT_TRUE(good->loaded) << good->error.toStdString();
  EXPECT_EQ(good->name, "Test plugin");
  EXPECT_EQ(good->version, "1.2.3");
  EXPECT_EQ(good->menuEntries, QStringList{"Testing/Hello"});

  const auto* bogus = recordFor(host, "libbogus.so");
  ASSERT_TRUE(bogus);
  EXPECT_FALSE(bogus->loaded);
  EXPECT_TRUE(bogus->error.contains("not a Qt plugin")) << bogus->error.toStdString();

  const auto* lib = recordFor(host, "libnotaplugin.so");
  ASSERT_TRUE(lib);
  EXPECT_FALSE(lib->loaded);
  EXPECT_TRUE(lib->error.contains("not a Qt plugin")) << lib->error.toStdString();

  const auto* iid = recordFor(host, "test_wrong_iid_plugin.so");
  ASSERT_TRUE(iid);
  EXPECT_FALSE(iid->loaded);
  EXPECT_TRUE(iid->error.contains("org.example.SomethingElse/7")) << iid->error.toStdString();

  const auto* missing = recordFor(host, "test_missing_symbol_plugin.so");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->loaded);
  EXPECT_TRUE(missing->error.contains("atomscope_test_function_that_does_not_exist")) << missing->error.toStdString();

  // Each failure was also announced (the main window logs these messages).
  int failures = 0;
  for (const QString& m : messages) failures += m.contains("not loaded") ? 1 : 0;
  EXPECT_EQ(failures, 4);
}

TEST(PluginHost, WorldWritableFolderIsRefused) {
  QTemporaryDir tmp;
  ASSERT_TRUE(QFile::copy(QStringLiteral(ATOMSCOPE_TEST_PLUGIN_DIR "/test_good_plugin.so"),
                          tmp.path() + "/test_good_plugin.so"));
  QFile::setPermissions(tmp.path(), QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner | QFile::ReadOther |
                                        QFile::WriteOther | QFile::ExeOther);
  PluginHost host;
  EXPECT_EQ(host.loadDirectory(tmp.path(), nullptr), 0);
  ASSERT_EQ(host.records().size(), 1);
  EXPECT_FALSE(host.records().front().loaded);
  EXPECT_TRUE(host.records().front().error.contains("writable by every user")) << host.records().front().error.toStdString();
  EXPECT_TRUE(host.plugins().isEmpty());
}

TEST(PluginHost, FilesAreMatchedToPluginsByPattern) {
  PluginHost host;
  const auto& rec = host.loadFile(QStringLiteral(ATOMSCOPE_TEST_PLUGIN_DIR "/test_good_plugin.so"), nullptr);
  ASSERT_TRUE(rec.loaded) << rec.error.toStdString();
  EXPECT_EQ(host.pluginForFile("/data/x/Water.ATOMTEST"), rec.plugin);
  EXPECT_EQ(host.pluginForFile("/data/x/water.xyz.gz"), nullptr);
  EXPECT_TRUE(host.fileDialogFilter().contains("Atomscope test files (*.atomtest)"));
}
