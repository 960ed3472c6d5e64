// The Force Field plugin, loaded from the build's plugin folder into a real main window with the
// Structures plugin, on the first frame of samples/structures/ethanol_rmd17_100frames.xyz (rMD17
// ethanol) and GFN2-xTB (Debian's /usr/bin/xtb; CI installs it through packaging/setup.sh). What
// the panel shows is checked against the jobs' own files (predicted.xyz, metrics.jsonl, the parity
// CSVs) read with modules/chem, and the energy also against xtb's own "TOTAL ENERGY" line.
#include <gtest/gtest.h>

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QChart>
#include <QChartView>
#include <QLineSeries>
#include <QScatterSeries>
#include <QMessageBox>
#include <QPushButton>
#include <QProcess>
#include <QSlider>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>
#include <cmath>
#include <fstream>

#include "atomscope/chem/xyz.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/metric_chart.h"
#include "atomscope/gui/panels.h"
#include "atomscope/gui/structure_view.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {

using test::waitUntil;

const QString kEthanol = QStringLiteral(ATOMSCOPE_SAMPLES_DIR "/structures/ethanol_rmd17_100frames.xyz");
// xtb's Hartree in eV (CODATA 2018, the value modules/forcefield converts with).
constexpr double kHartreeEv = 27.211386024367243;
// The charts' energy line: the energy less the first step's.
const QString kDeltaE = QStringLiteral("Energy change");

bool haveXtb() { return !QStandardPaths::findExecutable(QStringLiteral("xtb")).isEmpty(); }

#define REQUIRE_XTB() \
  if (!haveXtb()) GTEST_SKIP() << "no xtb binary on PATH (packaging/setup.sh installs Debian's xtb)"

// The window with every built plugin, a structure file open in the Structures view, and the panel.
struct ForceFieldBench {
  QTemporaryDir runs;
  MainWindow window{runs.path()};
  QWidget* panel = nullptr;

  ForceFieldBench() {
    window.resize(1280, 800);
    window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
    window.show();
    (void)QTest::qWaitForWindowExposed(&window);
    if (QAction* show = window.action(QStringLiteral("ffShow"))) show->trigger();
    panel = window.findChild<QWidget*>(QStringLiteral("forceFieldPanel"));
  }
  ~ForceFieldBench() { window.jobs().cancelAll(); }

  bool open(const QString& path) {
    QString error;
    return window.openFile(path, &error);
  }
  template <class R = bool, class... A>
  R call(const char* method, A... args) const {
    R r{};
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, QReturnArgument<R>(QMetaType::fromType<R>().name(), r),
                              args...);
    return r;
  }
  void set(const char* method, const QString& v) const { QMetaObject::invokeMethod(panel, method, Q_ARG(QString, v)); }
  void setInt(const char* method, int v) const { QMetaObject::invokeMethod(panel, method, Q_ARG(int, v)); }
  void setDouble(const char* method, double v) const { QMetaObject::invokeMethod(panel, method, Q_ARG(double, v)); }
  bool busy() const { return call<bool>("isBusy"); }
  bool idle(int ms = 60000) const { return waitUntil([&] { return !busy(); }, ms); }
  QString text(const char* method) const { return call<QString>(method); }
  QWidget* currentDocument() const { return window.documents()->currentWidget(); }
  StructureView* currentView() const {
    QWidget* doc = currentDocument();
    return doc ? doc->findChild<StructureView*>(QStringLiteral("structureView")) : nullptr;
  }
  MetricChart* chart() const { return panel->findChild<MetricChart*>(QStringLiteral("ffChart")); }
};

// Energies of a metric in a run's metrics.jsonl (the job's own record), in step order.
std::vector<double> recordedMetric(const QString& runDir, const std::string& name) {
  std::ifstream in((runDir + QStringLiteral("/metrics.jsonl")).toStdString());
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) {
    const Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains(name)) out.push_back(j[name].get<double>());
    else if (j.contains("values") && j["values"].contains(name)) out.push_back(j["values"][name].get<double>());
  }
  return out;
}

// xtb's own total energy of a structure (eV), from its stdout, as tests/forcefield/test_xtb.cpp reads it.
double xtbPrintedEnergy(const chem::Structure& s, const QString& dir) {
  chem::writeXyz((dir + QStringLiteral("/ref.xyz")).toStdString(), {s});
  QProcess p;
  p.setWorkingDirectory(dir);
  auto env = QProcessEnvironment::systemEnvironment();
  env.insert(QStringLiteral("OMP_NUM_THREADS"), QStringLiteral("1"));
  p.setProcessEnvironment(env);
  p.start(QStringLiteral("xtb"), {QStringLiteral("ref.xyz"), QStringLiteral("--gfn"), QStringLiteral("2"),
                                 QStringLiteral("--acc"), QStringLiteral("0.01")});
  p.waitForFinished(60000);
  for (const QString& line : QString::fromUtf8(p.readAllStandardOutput()).split(QLatin1Char('\n')))
    if (line.contains(QStringLiteral("TOTAL ENERGY"))) {
      const QStringList parts = line.split(QLatin1Char(' '), Qt::SkipEmptyParts);  // | TOTAL ENERGY x Eh |
      if (parts.size() >= 4) return parts[3].toDouble() * kHartreeEv;
    }
  return NAN;
}

TEST(ForceFieldPlugin, PredictShowsXtbEnergyAndOneArrowPerAtom) {
  REQUIRE_XTB();
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr) << "Force Field > Show panel found no panel";
  ASSERT_TRUE(w.open(kEthanol));
  const auto frames = chem::readXyz(kEthanol.toStdString());
  const chem::Structure& shown = frames.front();  // the Structures view shows frame 0 first
  w.set("setModel", QStringLiteral("xtb"));
  w.set("setDevice", QStringLiteral("cpu"));
  ASSERT_TRUE(w.call<bool>("predict")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle()) << w.text("statusText").toStdString();
  ASSERT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();

  // The job's artifact: the structure shown, with energy and forces.
  const QString run = w.text("lastRun");
  const auto predicted = chem::readXyz((run + QStringLiteral("/artifacts/predicted.xyz")).toStdString());
  ASSERT_EQ(predicted.size(), 1u);
  const chem::Structure& p = predicted.front();
  ASSERT_EQ(p.size(), shown.size());
  for (std::size_t i = 0; i < p.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(p.positions[i][c], shown.positions[i][c], 1e-6);
  ASSERT_TRUE(p.energy().has_value());
  ASSERT_NE(p.forces(), nullptr);

  // The energy shown is the job's (and xtb's own printed total energy).
  const double e = w.call<double>("energy");
  EXPECT_DOUBLE_EQ(e, *p.energy());
  EXPECT_TRUE(w.text("energyText").contains(QString::number(*p.energy(), 'f', 6))) << w.text("energyText").toStdString();
  QTemporaryDir tmp;
  EXPECT_NEAR(e, xtbPrintedEnergy(shown, tmp.path()), 1e-5);
  double fmax = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    fmax = std::max(fmax, std::hypot(p.forces()->at(i, 0), p.forces()->at(i, 1), p.forces()->at(i, 2)));
  EXPECT_DOUBLE_EQ(w.call<double>("maxForce"), fmax);

  // The result is open in the Structures view with one force arrow per atom.
  StructureView* view = w.currentView();
  ASSERT_NE(view, nullptr);
  ASSERT_NE(view->structure(), nullptr);
  EXPECT_EQ(view->structure()->size(), shown.size());
  EXPECT_EQ(view->vectorProperty(), QStringLiteral("forces"));
  EXPECT_EQ(view->drawnVectorCount(), static_cast<int>(shown.size()));

  // The TF32 box reaches the job as its tf32 parameter (off unless ticked).
  auto tf32Of = [&](const QString& runDir) {
    return core::RunDir::open(runDir.toStdString()).record()["params"].value("tf32", false);
  };
  EXPECT_FALSE(tf32Of(run));
  QMetaObject::invokeMethod(w.panel, "setTf32", Q_ARG(bool, true));
  ASSERT_TRUE(w.call<bool>("predict")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  EXPECT_NE(w.text("lastRun"), run);
  EXPECT_TRUE(tf32Of(w.text("lastRun")));
}

// The bundled PONITA model (samples/models/ponita_3bpa) is offered in the model list, and predicting with it
// runs ff.predict on that file: energy and one force arrow per atom on ethanol (C, H, O: elements it knows).
TEST(ForceFieldPlugin, SamplePonitaModelIsOfferedAndPredicts) {
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.open(kEthanol));
  auto* models = w.panel->findChild<QComboBox*>(QStringLiteral("ffModel"));
  ASSERT_NE(models, nullptr);
  const int i = models->findText(QStringLiteral("PONITA 3BPA (sample)"));
  ASSERT_GE(i, 0) << "the sample model is not in the list";
  const QString sample = QDir::cleanPath(QStringLiteral(ATOMSCOPE_SAMPLES_DIR "/models/ponita_3bpa/model.pt"));
  EXPECT_EQ(QDir::cleanPath(models->itemData(i).toString()), sample);
  models->setCurrentIndex(i);
  w.set("setDevice", QStringLiteral("cpu"));
  ASSERT_TRUE(w.call<bool>("predict")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle()) << w.text("statusText").toStdString();
  ASSERT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();
  const QString run = w.text("lastRun");
  EXPECT_EQ(QDir::cleanPath(QString::fromStdString(
                core::RunDir::open(run.toStdString()).record()["params"]["model"].get<std::string>())),
            sample);
  const auto predicted = chem::readXyz((run + QStringLiteral("/artifacts/predicted.xyz")).toStdString());
  ASSERT_EQ(predicted.size(), 1u);
  ASSERT_TRUE(predicted.front().energy().has_value());
  EXPECT_DOUBLE_EQ(w.call<double>("energy"), *predicted.front().energy());
  ASSERT_NE(w.currentView(), nullptr);
  EXPECT_EQ(w.currentView()->drawnVectorCount(), 9);  // ethanol's 9 atoms
}

TEST(ForceFieldPlugin, FiveStepOptimisationChartsFallingEnergyAndPlaysTrajectory) {
  REQUIRE_XTB();
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.open(kEthanol));
  w.set("setModel", QStringLiteral("xtb"));
  w.set("setDevice", QStringLiteral("cpu"));
  w.set("setOptimizer", QStringLiteral("fire"));
  w.setDouble("setFmax", 1e-4);  // not reached in 5 steps: all 5 run
  w.setInt("setOptimizeSteps", 5);
  ASSERT_TRUE(w.call<bool>("optimize")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle()) << w.text("statusText").toStdString();
  ASSERT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();

  // The chart's energy line holds the job's recorded energies less the first, and they fall (a
  // descent method).
  const QString run = w.text("lastRun");
  const auto recorded = recordedMetric(run, "energy");
  ASSERT_GE(recorded.size(), 5u);
  MetricChart* chart = w.chart();
  ASSERT_NE(chart, nullptr);
  QLineSeries* energy = chart->series(kDeltaE);
  ASSERT_NE(energy, nullptr);
  ASSERT_TRUE(waitUntil([&] { return energy->count() == static_cast<int>(recorded.size()); }, 3000))
      << energy->count() << " points drawn, " << recorded.size() << " recorded";
  for (int i = 0; i < energy->count(); ++i)
    EXPECT_NEAR(energy->at(i).y(), recorded[static_cast<std::size_t>(i)] - recorded[0], 1e-9);
  EXPECT_LT(recorded.back(), recorded.front());
  EXPECT_LT(energy->at(energy->count() - 1).y(), 0.0);

  // The trajectory opened in the Structures view and plays.
  const auto traj = chem::readXyz((run + QStringLiteral("/artifacts/trajectory.xyz")).toStdString());
  ASSERT_EQ(traj.size(), recorded.size());
  StructureView* view = w.currentView();
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->frameCount(), static_cast<int>(traj.size()));
  auto* play = w.currentDocument()->findChild<QToolButton*>(QStringLiteral("playButton"));
  ASSERT_NE(play, nullptr);
  EXPECT_TRUE(play->isChecked());
}

TEST(ForceFieldPlugin, MdChartsEnergyAndTemperatureAndEscCancels) {
  REQUIRE_XTB();
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.open(kEthanol));
  w.set("setModel", QStringLiteral("xtb"));
  w.set("setDevice", QStringLiteral("cpu"));
  w.set("setIntegrator", QStringLiteral("nvt"));
  w.setInt("setMdSteps", 1000000);
  w.setInt("setSampleEvery", 1);
  ASSERT_TRUE(w.call<bool>("runMd")) << w.text("lastError").toStdString();
  MetricChart* chart = w.chart();
  ASSERT_NE(chart, nullptr);
  // Steps stream into the chart, and the frames the job has written into a live document tab.
  ASSERT_TRUE(waitUntil([&] { return chart->displayedPointCount(QStringLiteral("temperature")) >= 3; }, 20000));
  ASSERT_TRUE(waitUntil([&] { return w.call<int>("liveFrames") > 0; }, 20000));
  auto* live = w.window.findChild<StructureView*>(QStringLiteral("ffLiveView"));
  ASSERT_NE(live, nullptr);
  ASSERT_NE(live->structure(), nullptr);
  const chem::Structure liveFrame = *live->structure();
  const int liveFrames = w.call<int>("liveFrames");
  // Then Esc in the panel stops the run.
  QElapsedTimer clock;
  clock.start();
  QTest::keyClick(w.panel, Qt::Key_Escape);
  ASSERT_TRUE(w.idle(5000));
  EXPECT_LT(clock.elapsed(), 2000);
  EXPECT_EQ(w.text("statusText"), QStringLiteral("Cancelled."));
  const QString run = w.text("lastRun");
  ASSERT_FALSE(run.isEmpty());
  // Both lines hold what the job recorded (the total energy as its change, and the temperature).
  const auto total = recordedMetric(run, "total");
  const auto temperature = recordedMetric(run, "temperature");
  ASSERT_GE(temperature.size(), 3u);
  EXPECT_EQ(chart->displayedPointCount(kDeltaE), static_cast<int>(total.size()));
  EXPECT_EQ(chart->displayedPointCount(QStringLiteral("temperature")), static_cast<int>(temperature.size()));
  // The trajectory so far opened in the Structures view, in place of the live tab; the live tab
  // had shown its frame number liveFrames.
  const auto traj = chem::readXyz((run + QStringLiteral("/artifacts/trajectory.xyz")).toStdString());
  StructureView* view = w.currentView();
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->frameCount(), static_cast<int>(traj.size()));
  ASSERT_GE(static_cast<int>(traj.size()), liveFrames);
  const chem::Structure& same = traj[static_cast<std::size_t>(liveFrames - 1)];
  ASSERT_EQ(same.size(), liveFrame.size());
  for (std::size_t i = 0; i < same.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(same.positions[i][c], liveFrame.positions[i][c], 1e-9);
  EXPECT_TRUE(waitUntil([&] { return !w.window.findChild<StructureView*>(QStringLiteral("ffLiveView")); }, 2000));
}

TEST(ForceFieldPlugin, EvaluateDrawsOneParityPointPerFrameAndForceComponent) {
  REQUIRE_XTB();
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr);
  w.set("setModel", QStringLiteral("xtb"));
  w.set("setDevice", QStringLiteral("cpu"));
  w.set("setReferenceData", kEthanol);
  w.setInt("setEvaluateLimit", 3);
  w.set("setEnergyUnit", QStringLiteral("kcal/mol"));  // rMD17 (samples/README.md)
  ASSERT_TRUE(w.call<bool>("evaluate")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle()) << w.text("statusText").toStdString();
  ASSERT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();
  // 3 frames of 9 atoms (the file's own counts): 3 energies, 3 x 9 x 3 force components.
  const auto frames = chem::readXyz(kEthanol.toStdString());
  const int atoms = static_cast<int>(frames.front().size());
  int energies = 0, forces = 0;
  QMetaObject::invokeMethod(w.panel, "parityPointCount", Qt::DirectConnection, Q_RETURN_ARG(int, energies),
                            Q_ARG(QString, QStringLiteral("energy")));
  QMetaObject::invokeMethod(w.panel, "parityPointCount", Qt::DirectConnection, Q_RETURN_ARG(int, forces),
                            Q_ARG(QString, QStringLiteral("forces")));
  EXPECT_EQ(energies, 3);
  EXPECT_EQ(forces, 3 * atoms * 3);
  // The energy plot's reference axis is the file's energies in eV: kcal/mol times ASE's
  // units.kcal / units.mol = 0.04336410390059322 (python3-ase), in frame order.
  auto* chartView = w.panel->findChild<QChartView*>(QStringLiteral("ffParityEnergy"));
  ASSERT_NE(chartView, nullptr);
  QScatterSeries* points = nullptr;
  for (QAbstractSeries* series : chartView->chart()->series())
    if (auto* scatter = qobject_cast<QScatterSeries*>(series)) points = scatter;
  ASSERT_NE(points, nullptr);
  ASSERT_EQ(points->count(), 3);
  for (int k = 0; k < 3; ++k) {
    const double ref = *frames[static_cast<std::size_t>(k)].energy() * 0.04336410390059322;
    EXPECT_NEAR(points->at(k).x(), ref, 1e-9 * std::abs(ref));
  }
}

// Answers the next modal message box (the TorchScript confirmation) with `button`; counts the boxes.
struct BoxAnswerer {
  int seen = 0;
  void answerNext(QMessageBox::StandardButton button) {
    QTimer::singleShot(100, [this, button] { answer(button, 50); });
  }
  void answer(QMessageBox::StandardButton button, int triesLeft) {
    if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
      ++seen;
      box->button(button)->click();
    } else if (triesLeft > 0) {
      QTimer::singleShot(100, [this, button, triesLeft] { answer(button, triesLeft - 1); });
    }
  }
};

// The MACE TorchScript file in ../shared/data/mlip_models (H/C/O/Zr, README there): code, so the
// panel asks first; No runs nothing, Yes runs it and is remembered for the file.
TEST(ForceFieldPlugin, TorchScriptModelRunsOnlyAfterTheUserTrustsIt) {
  const QString mace = QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/mlip_models/mace_toy_test_compiled.model");
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.open(kEthanol));
  w.set("setModel", mace);
  w.set("setDevice", QStringLiteral("cpu"));
  BoxAnswerer boxes;
  boxes.answerNext(QMessageBox::No);
  EXPECT_FALSE(w.call<bool>("predict"));
  EXPECT_EQ(boxes.seen, 1);
  EXPECT_FALSE(w.busy());
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("not trusted"))) << w.text("lastError").toStdString();

  boxes.answerNext(QMessageBox::Yes);
  ASSERT_TRUE(w.call<bool>("predict")) << w.text("lastError").toStdString();
  EXPECT_EQ(boxes.seen, 2);
  ASSERT_TRUE(w.idle()) << w.text("statusText").toStdString();
  ASSERT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();
  const auto predicted =
      chem::readXyz((w.text("lastRun") + QStringLiteral("/artifacts/predicted.xyz")).toStdString());
  ASSERT_EQ(predicted.size(), 1u);
  ASSERT_TRUE(predicted.front().energy().has_value());
  EXPECT_DOUBLE_EQ(w.call<double>("energy"), *predicted.front().energy());
  StructureView* view = w.currentView();
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->drawnVectorCount(), static_cast<int>(predicted.front().size()));

  // Asked once per file: the second run starts without a box.
  QTimer::singleShot(100, [&] { boxes.answer(QMessageBox::No, 0); });  // would count a box if one came
  ASSERT_TRUE(w.call<bool>("predict")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  QTest::qWait(200);
  EXPECT_EQ(boxes.seen, 2);
}

TEST(ForceFieldPlugin, ClearErrorsForNoStructureAndBadModelFile) {
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr);
  // Only the Start page is shown: nothing to predict on.
  w.set("setModel", QStringLiteral("xtb"));
  EXPECT_FALSE(w.call<bool>("predict"));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("No structure shown"))) << w.text("lastError").toStdString();
  // A text file given as the model: refused before any job starts, the file named.
  ASSERT_TRUE(w.open(kEthanol));
  w.set("setModel", kEthanol);
  EXPECT_FALSE(w.call<bool>("predict"));
  EXPECT_FALSE(w.busy());
  const QString error = w.text("lastError");
  EXPECT_TRUE(error.contains(QStringLiteral("ethanol_rmd17_100frames.xyz"))) << error.toStdString();
  EXPECT_TRUE(error.contains(QStringLiteral("not a zip archive"))) << error.toStdString();
  // The main actions have their shortcuts.
  EXPECT_EQ(w.window.action(QStringLiteral("ffPredictAction"))->shortcut(), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_P));
  EXPECT_EQ(w.window.action(QStringLiteral("ffOptimizeAction"))->shortcut(), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O));
  EXPECT_EQ(w.window.action(QStringLiteral("ffMdAction"))->shortcut(), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_D));
  EXPECT_EQ(w.window.action(QStringLiteral("ffEvaluateAction"))->shortcut(), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_V));
}

// The screenshot for the README (resources/screenshots/forcefield_panel.png): a short optimisation
// chart of the aspirin sample, then its forces as arrows. Written to <build>/test_output/forcefield/.
TEST(ForceFieldPlugin, Screenshot) {
  REQUIRE_XTB();
  ForceFieldBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.open(QStringLiteral(ATOMSCOPE_SAMPLES_DIR "/structures/aspirin_md17_15frames.xyz")));
  w.set("setModel", QStringLiteral("xtb"));
  w.set("setDevice", QStringLiteral("cpu"));
  w.setDouble("setFmax", 1e-4);
  w.setInt("setOptimizeSteps", 12);
  ASSERT_TRUE(w.call<bool>("optimize")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  // Stop playback on the last (relaxed) frame, then predict on it so the arrows show.
  if (auto* play = w.currentDocument()->findChild<QToolButton*>(QStringLiteral("playButton")))
    if (play->isChecked()) play->click();
  if (auto* slider = w.currentDocument()->findChild<QSlider*>(QStringLiteral("frameSlider")))
    slider->setValue(slider->maximum());
  ASSERT_TRUE(w.call<bool>("predict")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  QTest::qWait(600);
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("forcefield")) + QStringLiteral("/forcefield_panel.png")));
}

}  // namespace
}  // namespace atomscope::gui
