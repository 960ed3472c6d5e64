// Trust in the workbench (issue 11 item 5): TrustStore asks once per TorchScript file and again
// when the file changes, passes nothing that is a pickle, and plugins come only from the install's
// and the user's folders, each record saying which. The TorchScript file is the shared MACE model
// (torch.jit.save); the pickle is made by /usr/bin/python3's pickle module here.
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSettings>
#include <cstdlib>
#include <filesystem>

#include "atomscope/core/code_files.h"
#include "atomscope/gui/plugin_host.h"
#include "atomscope/gui/trust_store.h"
#include "test_util.h"

using namespace atomscope;
namespace fs = std::filesystem;

namespace {

const fs::path kData = ATOMSCOPE_SHARED_DATA_DIR;

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

}  // namespace

TEST(TrustStore, AsksOncePerTorchScriptFileAndAgainWhenItChanges) {
  test::ScopedTempDir dir("trust");
  core::CodeTrust::reset();
  const auto model = dir / "mace.model";
  fs::copy_file(kData / "mlip_models/mace_toy_test_compiled.model", model);
  QSettings settings(q(dir / "settings.ini"), QSettings::IniFormat);
  int asked = 0;
  bool answer = true;
  auto asker = [&](QWidget*, const QString& path, const QString& kind) {
    ++asked;
    EXPECT_EQ(path, q(model));
    EXPECT_EQ(kind, QStringLiteral("TorchScript model"));
    return answer;
  };
  {
    gui::TrustStore store(&settings);
    store.setAsker(asker);
    EXPECT_FALSE(store.isTrusted(q(model)));
    EXPECT_TRUE(store.confirm(nullptr, q(model)));
    EXPECT_EQ(asked, 1);
    EXPECT_TRUE(core::CodeTrust::isTrusted(model));  // the CLI-side check now lets it through
  }
  core::CodeTrust::reset();
  {
    gui::TrustStore again(&settings);  // a later session: remembered, not asked
    again.setAsker(asker);
    answer = false;
    EXPECT_TRUE(again.confirmParams(nullptr, Json{{"model", model.string()}, {"steps", 10}}));
    EXPECT_EQ(asked, 1);
    EXPECT_TRUE(core::CodeTrust::isTrusted(model));
    // The file changes: asked again; this time the user says no.
    { QFile f(q(model)); ASSERT_TRUE(f.open(QIODevice::Append)); f.write("x", 1); }
    EXPECT_FALSE(again.isTrusted(q(model)));
    EXPECT_FALSE(again.confirm(nullptr, q(model)));
    EXPECT_EQ(asked, 2);
  }
  core::CodeTrust::reset();
}

TEST(TrustStore, DataPassesAndPicklesAreRefusedWithTheReason) {
  test::ScopedTempDir dir("trust");
  QSettings settings(q(dir / "settings.ini"), QSettings::IniFormat);
  gui::TrustStore store(&settings);
  int asked = 0;
  QString shown;
  store.setAsker([&](QWidget*, const QString&, const QString&) { return ++asked, true; });
  store.setNotifier([&](QWidget*, const QString& m) { shown = m; });
  EXPECT_TRUE(store.confirm(nullptr, q(kData / "lm/stories260K.bin")));  // llama2.c floats: not code
  EXPECT_EQ(asked, 0);
  const auto pickle = dir / "checkpoint.pt";
  const std::string cmd = "/usr/bin/python3 -c \"import pickle; pickle.dump([1, 2, 3], open('" + pickle.string() +
                          "', 'wb'), protocol=4)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_FALSE(store.confirmParams(nullptr, Json{{"model", pickle.string()}}));
  EXPECT_EQ(asked, 0);  // never offered: pickles are not loaded at all
  EXPECT_TRUE(shown.contains(q(pickle))) << shown.toStdString();
  EXPECT_TRUE(shown.contains(QStringLiteral("safetensors"))) << shown.toStdString();
}

TEST(PluginFolders, OnlyTheInstallAndUserFoldersAreSearchedAndRecordsSayWhich) {
  test::ScopedTempDir dir("plugins");
  ::setenv("ATOMSCOPE_PLUGIN_PATH", dir.path().c_str(), 1);  // no longer a way in
  const QStringList searched = gui::PluginHost::defaultSearchPaths();
  ::unsetenv("ATOMSCOPE_PLUGIN_PATH");
  EXPECT_FALSE(searched.contains(QFileInfo(q(dir.path())).canonicalFilePath()));
  for (const QString& f : searched)
    EXPECT_NE(gui::PluginHost::folderOrigin(f), QStringLiteral("given folder")) << f.toStdString();
  for (const QString& f : gui::PluginHost::installFolders())  // those that exist next to this test binary
    if (QFileInfo(f).isDir()) EXPECT_EQ(gui::PluginHost::folderOrigin(f), QStringLiteral("installation"));
  EXPECT_EQ(gui::PluginHost::folderOrigin(gui::PluginHost::installFolders().front()),
            QFileInfo(gui::PluginHost::installFolders().front()).isDir() ? QStringLiteral("installation")
                                                                        : QStringLiteral("given folder"));
  // A folder writable by everyone is refused, the record saying why and where it was.
  const auto open = dir / "open";
  fs::create_directories(open);
  fs::permissions(open, fs::perms::all);
  gui::PluginHost host;
  EXPECT_EQ(host.loadDirectory(q(open), nullptr), 0);
  ASSERT_EQ(host.records().size(), 1);
  EXPECT_TRUE(host.records().front().error.contains(QStringLiteral("writable by every user")));
  EXPECT_EQ(host.records().front().origin, QStringLiteral("given folder"));
}

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
