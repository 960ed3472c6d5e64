// The main window: docks and title, screenshots that are not blank, file dispatch to plugins
// (menu, drop), the Run job dialog driving core.gemm_benchmark with live progress and metrics,
// cancel within 1 s, event-loop latency under load, runs browser, properties and reports.
#include <gtest/gtest.h>

#include <QAction>
#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenuBar>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>
#include <QTreeWidget>
#include <QUrl>
#include <cmath>

#include "atomscope/core/run_dir.h"
#include "atomscope/gui/dialogs.h"
#include "atomscope/gui/jobs_panel.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/metric_chart.h"
#include "atomscope/gui/panels.h"
#include "atomscope/gui/param_form.h"
#include "atomscope/gui/runs_browser.h"
#include "test_util.h"

using namespace atomscope;
using namespace atomscope::gui;

namespace {

struct ImageStats {
  double lumaStdDev = 0;
  int distinctColours = 0;
};

ImageStats stats(const QImage& image) {
  const QImage img = image.convertToFormat(QImage::Format_RGB32);
  QSet<QRgb> colours;
  double sum = 0, sum2 = 0;
  long long n = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const QRgb p = img.pixel(x, y);
      colours.insert(p);
      const double l = 0.2126 * qRed(p) + 0.7152 * qGreen(p) + 0.0722 * qBlue(p);
      sum += l;
      sum2 += l * l;
      ++n;
    }
  const double mean = sum / n;
  return {std::sqrt(std::max(0.0, sum2 / n - mean * mean)), static_cast<int>(colours.size())};
}

class MainWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.isValid());
    runsRoot_ = tmp_.filePath("project/runs");
    window_ = std::make_unique<MainWindow>(runsRoot_);
    window_->resize(1280, 800);
    window_->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(window_.get()));
    window_->activateWindow();
    ASSERT_TRUE(QTest::qWaitForWindowActive(window_.get()));
  }
  void TearDown() override {
    window_->jobs().cancelAll();
    window_->jobs().waitForAll(5000);
    window_.reset();
  }
  // Opens Jobs > Run job (Ctrl+R), selects `job`, returns the dialog.
  RunJobDialog* openRunDialog(const QString& job) {
    QTest::keyClick(window_.get(), Qt::Key_R, Qt::ControlModifier);
    RunJobDialog* dlg = window_->runJobDialog();
    if (!dlg || !dlg->isVisible()) return nullptr;
    if (!dlg->selectJob(job)) return nullptr;
    return dlg;
  }

  QTemporaryDir tmp_;
  QString runsRoot_;
  std::unique_ptr<MainWindow> window_;
};

}  // namespace

TEST_F(MainWindowTest, HasTheDocksMenusTitleAndStatus) {
  EXPECT_EQ(window_->windowTitle(), "Atomscope — " + QDir::toNativeSeparators(QFileInfo(runsRoot_).absoluteFilePath()));
  for (const char* dock : {"projectDock", "propertiesDock", "jobsDock", "logDock"}) {
    auto* d = window_->findChild<QDockWidget*>(dock);
    ASSERT_TRUE(d) << dock;
    EXPECT_TRUE(d->isVisible()) << dock;
  }
  QStringList menus;
  for (QAction* a : window_->menuBar()->actions()) menus << a->text().remove('&');
  EXPECT_EQ(menus, (QStringList{"File", "Edit", "View", "Jobs", "Help"}));
  EXPECT_EQ(window_->action("actionOpen")->shortcut(), QKeySequence::keyBindings(QKeySequence::Open).value(0));
  EXPECT_EQ(window_->action("actionRunJob")->shortcut(), QKeySequence("Ctrl+R"));
  EXPECT_EQ(window_->action("actionQuit")->shortcut(), QKeySequence("Ctrl+Q"));
  EXPECT_EQ(window_->action("actionFullScreen")->shortcut(), QKeySequence("F11"));
  EXPECT_EQ(window_->action("actionScreenshot")->shortcut(), QKeySequence("Ctrl+Shift+S"));
  EXPECT_EQ(window_->action("actionCancelJob")->shortcut(), QKeySequence("Esc"));
  EXPECT_TRUE(window_->statusText().contains("Device:"));
  EXPECT_TRUE(window_->statusText().contains("0 running"));
  // Plugins get their own menus before Help.
  QMenu* m = window_->menu("Structures");
  EXPECT_EQ(window_->menu("Structures"), m);
  EXPECT_EQ(window_->menuBar()->actions().at(window_->menuBar()->actions().size() - 2)->text(), "Structures");
}

TEST_F(MainWindowTest, ScreenshotIsNotBlank) {
  QTest::qWait(200);
  const QImage img = window_->grab().toImage();
  ASSERT_FALSE(img.isNull());
  EXPECT_EQ(img.size(), window_->size() * window_->devicePixelRatioF());
  const ImageStats s = stats(img);
  // A blank or single-colour window has a standard deviation near 0 and a handful of colours;
  // docks, text, icons and the start page give far more.
  EXPECT_GT(s.lumaStdDev, 15.0);
  EXPECT_GT(s.distinctColours, 200);
  const QString path = tmp_.filePath("shot.png");
  ASSERT_TRUE(window_->saveScreenshot(path));
  EXPECT_EQ(QImage(path).size(), img.size());
}

TEST_F(MainWindowTest, LoadsTheBuildPluginsWithoutFailures) {
  const int loaded = window_->loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
  EXPECT_GE(loaded, 1);
  EXPECT_EQ(window_->pluginHost().failureCount(), 0);
  EXPECT_EQ(window_->logConsole()->errorCount(), 0) << window_->logConsole()->plainText().toStdString();
}

TEST_F(MainWindowTest, OpenDispatchesByExtensionAndDropOpensFiles) {
  ASSERT_EQ(window_->loadPlugins({QStringLiteral(ATOMSCOPE_TEST_PLUGIN_DIR)}), 1);  // good one; others fail
  EXPECT_EQ(window_->pluginHost().failureCount(), 2);
  EXPECT_TRUE(window_->logConsole()->plainText().contains("org.example.SomethingElse/7"));
  // The plugin's panel and menu arrived through the Workbench.
  EXPECT_TRUE(window_->findChild<QDockWidget*>("pluginDock_Test_panel"));
  EXPECT_TRUE(window_->menu("Testing")->actions().size() == 1);

  const QString good = tmp_.filePath("hello.atomtest");
  const QString bad = tmp_.filePath("broken.atomtest");
  const QString unknown = tmp_.filePath("notes.unknownext");
  for (const auto& [path, text] : {std::pair{good, "hello atoms"}, std::pair{bad, "bad content"}, std::pair{unknown, "?"}}) {
    QFile f(path);
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(text);
  }
  const int tabs = window_->documents()->count();
  QString error;
  EXPECT_TRUE(window_->openFile(good, &error)) << error.toStdString();
  EXPECT_EQ(window_->documents()->count(), tabs + 1);
  EXPECT_EQ(window_->settings().recentFiles().value(0), QFileInfo(good).absoluteFilePath());

  EXPECT_FALSE(window_->openFile(bad, &error));
  EXPECT_TRUE(error.contains("line 1")) << error.toStdString();
  EXPECT_FALSE(window_->openFile(unknown, &error));
  EXPECT_TRUE(error.contains("no loaded plugin")) << error.toStdString();
  EXPECT_FALSE(window_->openFile(tmp_.filePath("missing.atomtest"), &error));
  EXPECT_EQ(window_->documents()->count(), tabs + 1);

  // Drag and drop of a file onto the window opens it the same way.
  QFile::copy(good, tmp_.filePath("dropped.atomtest"));
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(tmp_.filePath("dropped.atomtest"))});
  QDragEnterEvent enter(QPoint(600, 400), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(window_.get(), &enter);
  EXPECT_TRUE(enter.isAccepted());
  QDropEvent drop(QPointF(600, 400), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(window_.get(), &drop);
  EXPECT_EQ(window_->documents()->count(), tabs + 2);
  EXPECT_EQ(window_->documents()->tabText(window_->documents()->currentIndex()), "dropped.atomtest");
  EXPECT_EQ(window_->settings().recentFiles().value(0), QFileInfo(tmp_.filePath("dropped.atomtest")).absoluteFilePath());
}

TEST_F(MainWindowTest, GemmBenchmarkFromTheRunDialogShowsProgressMetricsAndCancels) {
  RunJobDialog* dlg = openRunDialog("core.gemm_benchmark");
  ASSERT_TRUE(dlg) << "Ctrl+R did not open the Run job dialog with core.gemm_benchmark";
  ParamForm* form = dlg->form();
  ASSERT_TRUE(form);
  // Set values through the generated widgets.
  auto* size = qobject_cast<QSpinBox*>(form->editor("size"));
  auto* iterations = qobject_cast<QSpinBox*>(form->editor("iterations"));
  auto* dtype = qobject_cast<QComboBox*>(form->editor("dtype"));
  auto* device = qobject_cast<QComboBox*>(form->editor("device"));
  ASSERT_TRUE(size && iterations && dtype && device);
  size->setValue(192);
  iterations->setValue(1000000);
  dtype->setCurrentText("float32");
  device->setCurrentText("cpu");
  EXPECT_EQ(form->values()["size"], 192);
  QTest::mouseClick(dlg->runButton(), Qt::LeftButton);
  const int id = dlg->startedJobId();
  ASSERT_GE(id, 0) << dlg->errorText().toStdString();
  JobManager& jobs = window_->jobs();
  EXPECT_EQ(jobs.state(id).job, "core.gemm_benchmark");

  // Progress and metrics arrive in the jobs panel.
  JobsPanel* panel = window_->jobsPanel();
  ASSERT_TRUE(test::waitUntil([&] { return panel->chartFor(id) && panel->chartFor(id)->receivedPointCount() >= 5; }, 20000))
      << "no metrics arrived";
  MetricChart* chart = panel->chartFor(id);
  EXPECT_TRUE(chart->seriesNames().contains("tflops"));
  EXPECT_GT(chart->displayedPointCount("tflops"), 0);
  ASSERT_TRUE(test::waitUntil([&] { return panel->progressBarFor(id)->value() > 0; }, 20000));
  // The stage text ("product i of n") is on the bar's tooltip and in the detail line of the selected job.
  EXPECT_TRUE(panel->progressBarFor(id)->toolTip().contains("product")) << panel->progressBarFor(id)->toolTip().toStdString();
  auto* detail = panel->findChild<QLabel*>("jobDetail");
  ASSERT_TRUE(detail);
  EXPECT_TRUE(detail->text().contains("product")) << detail->text().toStdString();
  EXPECT_TRUE(detail->text().contains("ETA"));
  EXPECT_TRUE(window_->statusText().contains("1 running")) << window_->statusText().toStdString();

  // Cancel with the row's button: run.json says cancelled within 1 s.
  const QString runDir = test::onlyRunDir(runsRoot_);
  ASSERT_FALSE(runDir.isEmpty());
  EXPECT_EQ(core::RunDir::open(runDir.toStdString()).status(), core::RunStatus::Running);
  QElapsedTimer t;
  t.start();
  QTest::mouseClick(panel->cancelButtonFor(id), Qt::LeftButton);
  bool cancelled = false;
  while (t.elapsed() < 3000 && !cancelled) {
    QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
    try {
      cancelled = core::RunDir::open(runDir.toStdString()).status() == core::RunStatus::Cancelled;
    } catch (const std::exception&) {  // never torn (atomic rename), but do not fail on a race
    }
  }
  const qint64 latency = t.elapsed();
  EXPECT_TRUE(cancelled);
  EXPECT_LT(latency, 1000) << "run.json said cancelled after " << latency << " ms";
  ASSERT_TRUE(test::waitUntil([&] { return jobs.state(id).finished; }, 5000));
  EXPECT_EQ(jobs.state(id).status, core::RunStatus::Cancelled);
  EXPECT_FALSE(panel->cancelButtonFor(id)->isEnabled());
  EXPECT_TRUE(window_->logConsole()->plainText().contains("cancelled"));
  std::printf("[ measure  ] cancel -> run.json cancelled: %lld ms\n", static_cast<long long>(latency));
}

TEST_F(MainWindowTest, EventLoopStaysResponsiveWhileJobsRun) {
  JobManager& jobs = window_->jobs();
  // 15k metrics/s with a log line every 100 points, plus a CPU GEMM on the other core.
  const int flood = jobs.start("test.flood", {{"points", 45000}, {"seconds", 3.0}, {"log_every", 100}}, "cpu");
  const int gemm = jobs.start("core.gemm_benchmark",
                              {{"device", "cpu"}, {"size", 256}, {"iterations", 1000000}, {"dtype", "float32"}}, "cpu");
  // The stall is the largest gap between ticks of a 10 ms timer less the time the GUI thread waited
  // for a CPU within it: with ctest -j 2 on two cores the scheduler alone can delay a tick by 150 ms.
  test::GapMeter meter;
  QElapsedTimer clock;
  clock.start();
  meter.start();
  test::waitUntil([&] { return clock.elapsed() > 2500; }, 10000);
  meter.stop();
  const long long metricsSeen = window_->jobsPanel()->chartFor(flood)->receivedPointCount();
  jobs.cancel(gemm);
  jobs.cancel(flood);
  std::printf("[ measure  ] max event-loop gap %lld ms (%.0f ms of it waiting for a CPU, GUI-thread CPU %.0f ms), "
              "stall %.0f ms, ending %lld ms after the start; %lld flood metrics shown\n",
              static_cast<long long>(meter.maxGap()), meter.queueInMaxGap(), meter.cpuInMaxGap(), meter.maxStall(),
              static_cast<long long>(meter.maxGapEnd()), metricsSeen);
  EXPECT_GT(metricsSeen, 10000) << "the flood did not reach the GUI";
  EXPECT_GT(meter.ticks(), 100);
  EXPECT_LT(meter.maxStall(), 100) << "the GUI thread was held for " << meter.maxStall() << " ms (" << meter.maxGap()
                                   << " ms between timer ticks)";
  EXPECT_TRUE(jobs.waitForAll(5000));
}

TEST_F(MainWindowTest, FinishedRunIsBrowsableWithPropertiesCurvesAndReport) {
  JobManager& jobs = window_->jobs();
  QSignalSpy finished(&jobs, &JobManager::jobFinished);
  const int id = jobs.start("core.gemm_benchmark",
                            {{"device", "cpu"}, {"size", 64}, {"iterations", 12}, {"dtype", "float32"}, {"warmup", 1}}, "cpu");
  ASSERT_TRUE(test::waitUntil([&] { return finished.count() == 1; }, 30000));
  ASSERT_EQ(jobs.state(id).status, core::RunStatus::Completed) << jobs.state(id).error.toStdString();
  const QString runDir = jobs.state(id).runDir;

  RunsBrowser* runs = window_->runsBrowser();
  ASSERT_TRUE(test::waitUntil([&] { return runs->runCount() == 1; }, 3000));
  const RunSummary* s = runs->summary(runDir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, "completed");
  EXPECT_EQ(s->job, "core.gemm_benchmark");
  ASSERT_TRUE(runs->selectRun(runDir));
  PropertiesPanel* props = window_->propertiesPanel();
  EXPECT_EQ(props->value("Parameters", "size"), "64");
  EXPECT_EQ(props->value("Run", "status"), "completed");
  EXPECT_FALSE(props->value("Summary", "median_tflops").isEmpty());

  // Double-click: a document with the run's curves (12 iterations -> 12 points per metric).
  auto* tree = runs->tree();
  const QRect r = tree->visualItemRect(tree->currentItem());
  // A real double-click: press/release then the double-click event on the same row.
  QTest::mouseClick(tree->viewport(), Qt::LeftButton, Qt::NoModifier, r.center());
  QTest::mouseDClick(tree->viewport(), Qt::LeftButton, Qt::NoModifier, r.center());
  auto* chart = qobject_cast<MetricChart*>(window_->documents()->currentWidget());
  ASSERT_TRUE(chart);
  EXPECT_EQ(chart->displayedPointCount("tflops"), 12);
  EXPECT_EQ(chart->displayedPointCount("ms"), 12);

  // Reports: HTML with the parameter values and PDF.
  const QString html = tmp_.filePath("run.html"), pdf = tmp_.filePath("run.pdf");
  QString error;
  ASSERT_TRUE(window_->exportRunReport(runDir, html, &error)) << error.toStdString();
  ASSERT_TRUE(window_->exportRunReport(runDir, pdf, &error)) << error.toStdString();
  QFile h(html);
  ASSERT_TRUE(h.open(QIODevice::ReadOnly));
  const QString text = QString::fromUtf8(h.readAll());
  EXPECT_TRUE(text.contains("<td>size</td><td>64</td>"));
  EXPECT_TRUE(text.contains("<td>median_tflops</td>"));
  EXPECT_EQ(text.count("data:image/png;base64,"), 2);  // tflops and ms charts
  QFile p(pdf);
  ASSERT_TRUE(p.open(QIODevice::ReadOnly));
  EXPECT_TRUE(p.read(5) == "%PDF-");
}

TEST_F(MainWindowTest, PreferencesPersistAndFeedTheJobForms) {
  {
    PreferencesDialog dlg(window_->settings());
    dlg.deviceCombo()->setCurrentText("cpu");
    dlg.threadsSpin()->setValue(3);
    dlg.precisionCombo()->setCurrentText("bf16");
    dlg.accept();
  }
  AppSettings fresh;  // a new QSettings reads what was written
  EXPECT_EQ(fresh.device(), "cpu");
  EXPECT_EQ(fresh.threads(), 3);
  EXPECT_EQ(fresh.precision(), "bf16");
  RunJobDialog* dlg = openRunDialog("core.gemm_benchmark");
  ASSERT_TRUE(dlg);
  EXPECT_EQ(dlg->form()->values()["device"], "cpu");
  EXPECT_EQ(dlg->form()->values()["dtype"], "bfloat16");
  dlg->reject();
  fresh.setDevice("auto");
  fresh.setPrecision("fp32");
}

TEST_F(MainWindowTest, RunDialogListsJobsByCategoryAndShowsErrors) {
  RunJobDialog* dlg = openRunDialog("test.flood");
  ASSERT_TRUE(dlg);
  QStringList categories;
  for (int i = 0; i < dlg->jobTree()->topLevelItemCount(); ++i) categories << dlg->jobTree()->topLevelItem(i)->text(0);
  EXPECT_TRUE(categories.contains("Devices")) << categories.join(",").toStdString();
  EXPECT_TRUE(categories.contains("Testing"));
  ASSERT_TRUE(qobject_cast<QSpinBox*>(dlg->form()->editor("points")));
  // An unbounded-above int is a line edit: a value below its minimum can be typed.
  auto* offset = qobject_cast<QLineEdit*>(dlg->form()->editor("step_offset"));
  ASSERT_TRUE(offset);
  offset->clear();
  QTest::keyClicks(offset, "-5");
  EXPECT_EQ(dlg->startSelected(), -1);
  EXPECT_TRUE(dlg->errorText().contains("step_offset")) << dlg->errorText().toStdString();
  EXPECT_TRUE(dlg->isVisible());
  EXPECT_EQ(window_->jobs().jobIds().size(), 0);
  dlg->reject();
}

TEST_F(MainWindowTest, EscapeCancelsTheSelectedJob) {
  JobManager& jobs = window_->jobs();
  const int id = jobs.start("test.flood", {{"points", 1000000}, {"seconds", 100.0}}, "cpu");
  ASSERT_TRUE(test::waitUntil([&] { return jobs.state(id).metricCount > 10; }, 10000));
  EXPECT_EQ(window_->jobsPanel()->selectedJobId(), id);
  window_->activateWindow();
  QTest::keyClick(window_.get(), Qt::Key_Escape);
  ASSERT_TRUE(test::waitUntil([&] { return jobs.state(id).finished; }, 3000));
  EXPECT_EQ(jobs.state(id).status, core::RunStatus::Cancelled);
}

TEST_F(MainWindowTest, DialogsRenderAndAboutPluginsGivesReasons) {
  window_->loadPlugins({QStringLiteral(ATOMSCOPE_TEST_PLUGIN_DIR)});
  AboutPluginsDialog about(window_->pluginHost(), window_->pluginFolders(), window_.get());
  about.resize(820, 460);
  about.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&about));
  QStringList rows;
  QTreeWidget* tree = about.tree();
  for (int i = 0; i < tree->topLevelItemCount(); ++i) {
    auto* item = tree->topLevelItem(i);
    rows << item->text(0) + "|" + item->text(2) + "|" + item->text(3);  // name, status, where it came from
    for (int j = 0; j < item->childCount(); ++j) rows << "  " + item->child(j)->text(0) + "=" + item->child(j)->text(4);
  }
  const QString all = rows.join("\n");
  EXPECT_TRUE(all.contains("Test plugin|loaded|given folder")) << all.toStdString();  // a folder the test passed
  EXPECT_TRUE(all.contains("Menu entries=Testing/Hello")) << all.toStdString();
  EXPECT_TRUE(all.contains("test_wrong_iid_plugin.so|failed")) << all.toStdString();
  EXPECT_TRUE(all.contains("Reason=wrong interface id")) << all.toStdString();
  EXPECT_TRUE(all.contains("atomscope_test_function_that_does_not_exist")) << all.toStdString();

  RunJobDialog* dlg = openRunDialog("core.gemm_benchmark");
  ASSERT_TRUE(dlg);
  QTest::qWait(100);
  const QImage aboutShot = about.grab().toImage(), runShot = dlg->grab().toImage();
  EXPECT_GT(stats(aboutShot).distinctColours, 50);
  EXPECT_GT(stats(runShot).distinctColours, 50);
  EXPECT_GT(stats(runShot).lumaStdDev, 10.0);
  // Set ATOMSCOPE_TEST_SCREENSHOT_DIR to look at them.
  const QString dir = qEnvironmentVariable("ATOMSCOPE_TEST_SCREENSHOT_DIR");
  if (!dir.isEmpty()) {
    aboutShot.save(dir + "/about_plugins.png");
    runShot.save(dir + "/run_job_dialog.png");
  }
  dlg->reject();
}
