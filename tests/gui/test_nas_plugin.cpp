// The NAS plugin, loaded from the build's plugin folder into a real main window, running tiny
// TangleNAS searches (modules/nas's nas.search, nas.evaluate, nas.random_search) on the CPU through
// the panel, on real TinyStories text (../shared/data/text/tinystories, ../shared/data/README.md)
// encoded with the 512-token tokenizer (../shared/data/lm/tok512.bin). Every number the panel shows
// is checked against the finished run's own files (run.json, metrics.jsonl, artifacts/arch.json,
// result.json, random_search.json), never against numbers written here. The panel lives in the
// plugin library, so it is driven through its widgets and its Q_INVOKABLE methods.
#ifdef ATOMSCOPE_HAVE_NAS
#include "atomscope/core/job.h"
#include "atomscope/lm/model_config.h"
#include "atomscope/lm/tokenizer.h"
#endif

#include <gtest/gtest.h>

#include <QAction>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileInfo>
#include <QLineEdit>
#include <QLineSeries>
#include <QMenuBar>
#include <QPushButton>
#include <QScatterSeries>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QXYSeries>
#include <cmath>
#include <map>
#include <set>

#include "atomscope/core/json.h"
#include "atomscope/gui/dialogs.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/panels.h"
#include "atomscope/gui/param_form.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {

using test::waitUntil;

// Five TinyStories stories (1,000-odd tok512 tokens): enough for a context of 16, small enough
// that tokenising and a 24-step search of a 2 x 1 x 2 x 2 space take a few CPU seconds.
const QString kNasText = QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/text/tinystories/tinystories_sample5.txt");
const QString kTokenizer = QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/lm/tok512.bin");

Json readNasJson(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return Json();
  const QByteArray b = f.readAll();
  return Json::parse(b.constData(), b.constData() + b.size(), nullptr, false);
}

// metrics.jsonl as the job wrote it: one object per line.
std::vector<Json> readMetricLines(const QString& runDir) {
  std::vector<Json> out;
  QFile f(QDir(runDir).filePath(QStringLiteral("metrics.jsonl")));
  if (!f.open(QIODevice::ReadOnly)) return out;
  while (!f.atEnd()) {
    const QByteArray line = f.readLine().trimmed();
    if (!line.isEmpty()) out.push_back(Json::parse(line.constData(), line.constData() + line.size(), nullptr, false));
  }
  return out;
}

// The window with every built plugin and the NAS panel shown.
struct NasBench {
  QTemporaryDir runs;
  MainWindow window{runs.path()};
  QWidget* panel = nullptr;

  NasBench() {
    window.resize(1280, 800);
    window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
    window.show();
    (void)QTest::qWaitForWindowExposed(&window);
    if (QAction* show = window.action(QStringLiteral("nasShow"))) show->trigger();
    panel = window.findChild<QWidget*>(QStringLiteral("nasPanel"));
  }
  ~NasBench() {
    window.jobs().cancelAll();
    window.jobs().waitForAll(30000);
  }

  template <class T>
  T* child(const char* name) const {
    return panel ? panel->findChild<T*>(QString::fromLatin1(name)) : nullptr;
  }
  void setText(const char* name, const QString& value) const {
    if (auto* e = child<QLineEdit>(name)) e->setText(value);
  }
  void setInt(const char* name, int value) const {
    if (auto* s = child<QSpinBox>(name)) s->setValue(value);
  }
  template <class R>
  R call(const char* method) const {
    R r{};
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, QReturnArgument<R>(QMetaType::fromType<R>().name(), r));
    return r;
  }
  bool callWith(const char* method, const QString& arg) const {
    bool ok = false;
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, Q_RETURN_ARG(bool, ok), Q_ARG(QString, arg));
    return ok;
  }
  bool busy() const { return call<bool>("isBusy"); }
  QString text(const char* method) const { return call<QString>(method); }
  // A tiny space and search on the sample text, CPU.
  void tinyForm(int steps = 24) const {
    setText("nasLayers", QStringLiteral("1,2"));
    setText("nasHeads", QStringLiteral("2"));
    setText("nasEmbed", QStringLiteral("16,32"));
    setText("nasMlpRatio", QStringLiteral("2,3"));
    setText("nasAtoms", QString());  // dense attention (the form keeps the last session's value)
    if (auto* m = child<QComboBox>("nasMethod")) m->setCurrentText(QStringLiteral("darts"));
    setInt("nasSteps", steps);
    setText("nasData", kNasText);
    setText("nasTokenizer", kTokenizer);
    setInt("nasContext", 16);
    setInt("nasBatch", 4);
    setInt("nasLogEvery", 4);
    setInt("nasSeed", 7);
    // A larger architecture learning rate than TangleNAS's 3e-4, so that 24 steps move the weights
    // visibly apart (the checks hold for any rate).
    if (auto* lr = child<QDoubleSpinBox>("nasArchLr")) lr->setValue(0.05);
    if (auto* pen = child<QDoubleSpinBox>("nasSizePenalty")) pen->setValue(0.0);
    setInt("nasValEvery", 0);
    if (auto* d = child<QComboBox>("nasDevice")) d->setCurrentText(QStringLiteral("cpu"));
  }
  bool idle(int timeoutMs = 90000) const { return waitUntil([&] { return !busy(); }, timeoutMs); }
  // Clicks Search and waits; returns the run folder the panel shows.
  QString searchAndWait() const {
    auto* b = child<QPushButton>("nasSearch");
    if (!b) return {};
    QTest::mouseClick(b, Qt::LeftButton);
    if (!busy() || !idle()) return {};
    return text("shownRun");
  }
  QString log() const { return window.logConsole()->plainText(); }
  QString runFolderCount() const { return QString::number(QDir(runs.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot).size()); }
};

QList<QPointF> linePoints(QChartView* view, const QString& name) {
  if (!view) return {};
  for (QAbstractSeries* s : view->chart()->series())
    if (s->objectName() == name)
      if (auto* line = qobject_cast<QXYSeries*>(s)) return line->points();
  return {};
}

QStringList seriesNames(QChartView* view) {
  QStringList names;
  if (view)
    for (QAbstractSeries* s : view->chart()->series()) names << s->objectName();
  return names;
}

const char* kDims[] = {"layers", "heads", "embed", "mlp_ratio"};

// The charts of the Search tab hold, for every metric the job wrote, one line with the job's points:
// step on x, the value on y, the last equal to the last line of metrics.jsonl. Checked for the
// architecture weights w.<dim>.<choice> (one line per choice of the form) and the losses.
void expectChartsMatchMetrics(const NasBench& w, const QString& runDir, const std::map<std::string, std::vector<long long>>& space) {
  const auto lines = readMetricLines(runDir);
  ASSERT_FALSE(lines.empty()) << runDir.toStdString();
  for (const char* dim : kDims) {
    auto* chart = w.child<QChartView>(qPrintable(QStringLiteral("nasWeights_%1").arg(QString::fromLatin1(dim))));
    ASSERT_NE(chart, nullptr) << dim;
    QStringList expected;
    for (long long c : space.at(dim)) expected << QStringLiteral("w.%1.%2").arg(QString::fromLatin1(dim)).arg(c);
    QStringList got = seriesNames(chart);
    got.sort();
    expected.sort();
    EXPECT_EQ(got, expected) << dim;
    for (const QString& key : expected) {
      std::vector<std::pair<double, double>> fromFile;  // (step, value) of every line with this key
      for (const auto& l : lines)
        if (l.contains(key.toStdString())) fromFile.emplace_back(l["step"].get<double>(), l[key.toStdString()].get<double>());
      const QList<QPointF> pts = linePoints(chart, key);
      ASSERT_EQ(pts.size(), static_cast<qsizetype>(fromFile.size())) << key.toStdString();
      ASSERT_FALSE(pts.isEmpty()) << key.toStdString();
      EXPECT_DOUBLE_EQ(pts.back().x(), fromFile.back().first) << key.toStdString();
      EXPECT_NEAR(pts.back().y(), fromFile.back().second, 1e-12) << key.toStdString();
      EXPECT_NEAR(pts.front().y(), fromFile.front().second, 1e-12) << key.toStdString();
    }
  }
  auto* loss = w.child<QChartView>("nasLossChart");
  ASSERT_NE(loss, nullptr);
  for (const char* key : {"loss", "val_loss", "arch_loss"}) {
    double last = NAN;
    long long n = 0;
    for (const auto& l : lines)
      if (l.contains(key)) {
        last = l[key].get<double>();
        ++n;
      }
    const QList<QPointF> pts = linePoints(loss, QString::fromLatin1(key));
    ASSERT_EQ(pts.size(), n) << key;
    ASSERT_GT(n, 0) << key;
    EXPECT_NEAR(pts.back().y(), last, 1e-12) << key;
  }
}

// The final architecture weights of a run: the last metrics.jsonl line that has w.<dim>.<choice>.
std::map<std::string, std::map<long long, double>> finalWeights(const QString& runDir) {
  std::map<std::string, std::map<long long, double>> out;
  for (const auto& l : readMetricLines(runDir))
    for (const auto& [k, v] : l.items())
      if (k.rfind("w.", 0) == 0) {
        const auto dot = k.rfind('.');
        out[k.substr(2, dot - 2)][std::stoll(k.substr(dot + 1))] = v.get<double>();
      }
  return out;
}

long long argmaxChoice(const std::map<long long, double>& w) {
  long long best = -1;
  double bestW = -1;
  for (const auto& [c, x] : w)
    if (x > bestW) {
      bestW = x;
      best = c;
    }
  return best;
}

TEST(NasPlugin, SearchChartsTheWeightsOfEveryChoiceAndExportsTheArchitecture) {
  NasBench w;
  ASSERT_NE(w.panel, nullptr) << "NAS > Show panel did not find the panel\n" << w.log().toStdString();
  bool menuFound = false;
  for (QAction* a : w.window.menuBar()->actions()) menuFound |= a->text().remove('&') == QStringLiteral("NAS");
  EXPECT_TRUE(menuFound);
  ASSERT_NE(w.window.action(QStringLiteral("nasSearchAction")), nullptr);
  EXPECT_EQ(w.window.action(QStringLiteral("nasSearchAction"))->shortcut(), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_S));
  for (const char* a : {"nasEvaluateAction", "nasRandomAction", "nasCancelAction", "nasExportAction", "nasOpenRunAction", "nasShow"})
    EXPECT_NE(w.window.action(QString::fromLatin1(a)), nullptr) << a;
  // The methods are the job's own choice list (nas.search's schema).
  auto* method = w.child<QComboBox>("nasMethod");
  ASSERT_NE(method, nullptr);
  QStringList methods;
  for (int i = 0; i < method->count(); ++i) methods << method->itemText(i);
  EXPECT_EQ(methods, (QStringList{QStringLiteral("darts"), QStringLiteral("gdas"), QStringLiteral("drnas")}));

  w.tinyForm();
  auto* penalty = w.child<QDoubleSpinBox>("nasSizePenalty");
  ASSERT_NE(penalty, nullptr);
  penalty->setValue(0.25);
  auto* timePenalty = w.child<QDoubleSpinBox>("nasTimePenalty");
  ASSERT_NE(timePenalty, nullptr);
  timePenalty->setValue(0.5);
  // What a person sees of the form (the Space tab, the size penalty and the early-stopping field on it).
  w.window.action(QStringLiteral("nasShow"))->trigger();
  QMetaObject::invokeMethod(w.panel, "showTab", Qt::DirectConnection, Q_ARG(QString, QStringLiteral("space")));
  QTest::qWait(300);
  EXPECT_TRUE(w.panel->grab().save(test::outputDir(QStringLiteral("nas")) + QStringLiteral("/nas_space_tab.png")));
  const QString runDir = w.searchAndWait();
  ASSERT_FALSE(runDir.isEmpty()) << w.text("statusText").toStdString() << "\n" << w.log().toStdString();
  const Json record = readNasJson(QDir(runDir).filePath(QStringLiteral("run.json")));
  ASSERT_TRUE(record.is_object());
  EXPECT_EQ(record.value("job", ""), "nas.search");
  EXPECT_EQ(record.value("status", ""), "completed");
  // The job got what the form says.
  const Json& params = record["params"];
  EXPECT_EQ(params.value("layers", ""), "1,2");
  EXPECT_EQ(params.value("embed", ""), "16,32");
  EXPECT_EQ(params.value("method", ""), "darts");
  EXPECT_EQ(params.value("steps", 0), 24);
  EXPECT_EQ(params.value("context", 0), 16);
  EXPECT_EQ(params.value("data", ""), kNasText.toStdString());
  EXPECT_EQ(params.value("tokenizer", ""), kTokenizer.toStdString());
  EXPECT_DOUBLE_EQ(params.value("arch_lr", 0.0), 0.05);
  EXPECT_DOUBLE_EQ(params.value("param_penalty", 0.0), 0.25);
  EXPECT_DOUBLE_EQ(params.value("time_penalty", 0.0), 0.5);
  EXPECT_EQ(record.value("device", ""), "cpu");

  // Live charts: one line per choice with the points the job streamed (= metrics.jsonl).
  const std::map<std::string, std::vector<long long>> space{{"layers", {1, 2}}, {"heads", {2}}, {"embed", {16, 32}}, {"mlp_ratio", {2, 3}}};
  expectChartsMatchMetrics(w, runDir, space);

  // The final weights in metrics.jsonl are the ones arch.json records, and the chosen architecture
  // is their argmax (DARTS: softmax of the alphas, so the argmax of either).
  const Json arch = readNasJson(QDir(runDir).filePath(QStringLiteral("artifacts/arch.json")));
  ASSERT_TRUE(arch.is_object() && arch.contains("weights") && arch.contains("architecture")) << arch.dump();
  EXPECT_EQ(arch["step_times"].size(), 8u);  // the time penalty measured every architecture of the space
  const auto weights = finalWeights(runDir);
  for (const char* dim : kDims) {
    const auto& fromArch = arch["weights"][dim];
    ASSERT_EQ(fromArch.size(), space.at(dim).size()) << dim;
    for (std::size_t k = 0; k < fromArch.size(); ++k)
      EXPECT_NEAR(weights.at(dim).at(space.at(dim)[k]), fromArch[k].get<double>(), 1e-12) << dim << " " << k;
  }
  const Json& chosen = arch["architecture"];
  std::map<std::string, long long> argmax;
  for (const char* dim : kDims) argmax[dim] = argmaxChoice(weights.at(dim));
  for (const char* dim : kDims) EXPECT_EQ(chosen[dim].get<long long>(), argmax[dim]) << dim;
  EXPECT_EQ(w.text("chosenArchitecture"), QStringLiteral("L%1 H%2 E%3 R%4")
                                              .arg(argmax["layers"]).arg(argmax["heads"]).arg(argmax["embed"]).arg(argmax["mlp_ratio"]));

  // Export: the file lm.train's parameters and the lm model config come from, with the argmax.
  QTemporaryDir out;
  const QString exported = out.filePath(QStringLiteral("chosen_arch.json"));
  ASSERT_TRUE(w.callWith("exportArchitecture", exported)) << w.text("lastError").toStdString();
  const Json ex = readNasJson(exported);
  ASSERT_TRUE(ex.is_object() && ex.contains("model_config") && ex.contains("lm_train_params")) << ex.dump();
#ifdef ATOMSCOPE_HAVE_NAS
  const auto config = lm::ModelConfig::fromJson(ex["model_config"]);
  EXPECT_EQ(config.nLayers, argmax["layers"]);
  EXPECT_EQ(config.nHeads, argmax["heads"]);
  EXPECT_EQ(config.nKvHeads, argmax["heads"]);
  EXPECT_EQ(config.dim, argmax["embed"]);
  EXPECT_EQ(config.hiddenDim, argmax["mlp_ratio"] * argmax["embed"]);
  EXPECT_EQ(config.vocabSize, lm::openTokenizer(kTokenizer.toStdString())->vocabSize());  // the search's tokenizer
  EXPECT_EQ(config.maxSeqLen, 16);   // the search's context
  // lm.train accepts the exported parameters as they are (its own schema validates them), and they
  // describe the same model: lm.train builds dim, n_layers, n_heads, n_kv_heads, hidden_dim from them.
  Json trainParams = ex["lm_train_params"];
  trainParams["data"] = kNasText.toStdString();
  trainParams["tokenizer"] = kTokenizer.toStdString();
  const auto lmTrain = core::JobRegistry::global().create("lm.train");
  Json validated;
  ASSERT_NO_THROW(validated = lmTrain->schema().validate(trainParams));
  EXPECT_EQ(validated["dim"].get<long long>(), config.dim);
  EXPECT_EQ(validated["n_layers"].get<long long>(), config.nLayers);
  EXPECT_EQ(validated["n_heads"].get<long long>(), config.nHeads);
  EXPECT_EQ(validated["n_kv_heads"].get<long long>(), config.nKvHeads);
  EXPECT_EQ(validated["hidden_dim"].get<long long>(), config.hiddenDim);
  EXPECT_EQ(validated["family"].get<std::string>(), "llama");
#endif

  // Train this architecture: lm.train's form, filled in with the exported parameters and the data.
  ASSERT_TRUE(w.call<bool>("trainArchitecture")) << w.text("lastError").toStdString();
  RunJobDialog* dialog = w.window.runJobDialog();
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(dialog->selectedJob(), QStringLiteral("lm.train"));
  ASSERT_NE(dialog->form(), nullptr);
  const Json formValues = dialog->form()->values();
  for (const char* k : {"dim", "n_layers", "n_heads", "n_kv_heads", "hidden_dim", "context"})
    EXPECT_EQ(formValues.value(k, -1LL), ex["lm_train_params"][k].get<long long>()) << k;
  EXPECT_EQ(formValues.value("data", ""), kNasText.toStdString());
  dialog->close();

  // Opening the finished run again (Open search run) refills the charts from its files alone.
  ASSERT_TRUE(w.callWith("showRun", runDir)) << w.text("lastError").toStdString();
  expectChartsMatchMetrics(w, runDir, space);
  EXPECT_EQ(w.text("chosenArchitecture"), QStringLiteral("L%1 H%2 E%3 R%4")
                                              .arg(argmax["layers"]).arg(argmax["heads"]).arg(argmax["embed"]).arg(argmax["mlp_ratio"]));
  // A folder that is not a search run is refused with the reason.
  EXPECT_FALSE(w.callWith("showRun", out.path()));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("no run.json"))) << w.text("lastError").toStdString();
}

// MASA's number of atoms on the form: the job searches it (w.atoms.<S> in the metrics, charted in
// their own chart, shown only for such a space), and the chosen architecture lm.train gets is MASA.
TEST(NasPlugin, MasaAtomsAreSearchedChartedAndExported) {
  NasBench w;
  ASSERT_NE(w.panel, nullptr) << w.log().toStdString();
  w.tinyForm();
  auto* atomsChart = w.child<QChartView>("nasWeights_atoms");
  ASSERT_NE(atomsChart, nullptr);
  EXPECT_TRUE(atomsChart->isHidden());  // a dense space has no atoms dimension
  w.setText("nasLayers", QStringLiteral("2,3"));
  w.setText("nasAtoms", QStringLiteral("1,2"));
  EXPECT_FALSE(atomsChart->isHidden());
  const QString runDir = w.searchAndWait();
  ASSERT_FALSE(runDir.isEmpty()) << w.text("statusText").toStdString() << "\n" << w.log().toStdString();
  const Json record = readNasJson(QDir(runDir).filePath(QStringLiteral("run.json")));
  EXPECT_EQ(record["params"].value("atoms", ""), "1,2");
  const auto lines = readMetricLines(runDir);
  for (const char* key : {"w.atoms.1", "w.atoms.2"}) {
    double last = NAN;
    long long n = 0;
    for (const auto& l : lines)
      if (l.contains(key)) last = l[key].get<double>(), ++n;
    const QList<QPointF> pts = linePoints(atomsChart, QString::fromLatin1(key));
    ASSERT_GT(n, 0) << key;
    ASSERT_EQ(pts.size(), n) << key;
    EXPECT_NEAR(pts.back().y(), last, 1e-12) << key;
  }
  const Json arch = readNasJson(QDir(runDir).filePath(QStringLiteral("artifacts/arch.json")));
  const long long chosen = arch["architecture"].value("atoms", 0LL);
  EXPECT_EQ(chosen, argmaxChoice(finalWeights(runDir).at("atoms")));
  EXPECT_EQ(arch["lm_train_params"].value("attention", ""), "masa-qkvo") << arch.dump();
  EXPECT_EQ(arch["lm_train_params"].value("atoms", 0LL), chosen) << arch.dump();
  EXPECT_TRUE(w.text("chosenArchitecture").endsWith(QStringLiteral(" S%1").arg(chosen))) << w.text("chosenArchitecture").toStdString();
  w.window.action(QStringLiteral("nasShow"))->trigger();
  QMetaObject::invokeMethod(w.panel, "showTab", Qt::DirectConnection, Q_ARG(QString, QStringLiteral("search")));
  QTest::qWait(500);
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("nas")) + QStringLiteral("/nas_search_atoms.png")));
  // A bad list is refused before anything starts.
  w.setText("nasAtoms", QStringLiteral("x"));
  const QString before = w.runFolderCount();
  QTest::mouseClick(w.child<QPushButton>("nasSearch"), Qt::LeftButton);
  EXPECT_FALSE(w.busy());
  EXPECT_EQ(w.runFolderCount(), before);
  EXPECT_TRUE(w.text("statusText").contains(QStringLiteral("atoms"))) << w.text("statusText").toStdString();
}

TEST(NasPlugin, BadSpaceShowsTheReasonAndStartsNothing) {
  NasBench w;
  ASSERT_NE(w.panel, nullptr);
  w.tinyForm();
  // 30 / 4 is no integer: nas.search's own rule (heads split every embedding size into an even head dim).
  w.setText("nasHeads", QStringLiteral("4"));
  w.setText("nasEmbed", QStringLiteral("16,30"));
  EXPECT_FALSE(w.call<bool>("search"));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("heads=4 does not split embed=30"))) << w.text("lastError").toStdString();
  EXPECT_FALSE(w.call<bool>("randomSearch"));
  // An empty choice list.
  w.setText("nasHeads", QStringLiteral("2"));
  w.setText("nasEmbed", QStringLiteral("16,32"));
  w.setText("nasMlpRatio", QString());
  EXPECT_FALSE(w.call<bool>("search"));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("'mlp_ratio' lists no choices"))) << w.text("lastError").toStdString();
  // A non-number.
  w.setText("nasMlpRatio", QStringLiteral("2,x"));
  EXPECT_FALSE(w.call<bool>("search"));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("'x' is not an integer"))) << w.text("lastError").toStdString();
  // Text data without a tokenizer.
  w.setText("nasMlpRatio", QStringLiteral("2"));
  w.setText("nasTokenizer", QString());
  EXPECT_FALSE(w.call<bool>("search"));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("Tokenizer"))) << w.text("lastError").toStdString();
  // Evaluate and export need a search.
  EXPECT_FALSE(w.call<bool>("evaluate"));
  EXPECT_FALSE(w.callWith("exportArchitecture", QDir(w.runs.path()).filePath(QStringLiteral("a.json"))));
  // The error is shown in the panel, and nothing ran: no job, no run folder.
  EXPECT_TRUE(w.text("statusText").contains(QStringLiteral("search"))) << w.text("statusText").toStdString();
  EXPECT_TRUE(w.window.jobs().jobIds().isEmpty());
  EXPECT_EQ(w.runFolderCount(), QStringLiteral("0"));
  EXPECT_FALSE(w.busy());
}

TEST(NasPlugin, EscCancelsTheSearch) {
  NasBench w;
  ASSERT_NE(w.panel, nullptr);
  w.tinyForm(1000000);
  w.setInt("nasLogEvery", 1);
  ASSERT_TRUE(w.call<bool>("search")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.busy());
  // Wait for the first streamed points, then Esc in the panel.
  auto* loss = w.child<QChartView>("nasLossChart");
  ASSERT_TRUE(waitUntil([&] { return !linePoints(loss, QStringLiteral("loss")).isEmpty(); }, 60000)) << w.log().toStdString();
  w.panel->setFocus();
  QTest::keyClick(w.panel, Qt::Key_Escape);
  ASSERT_TRUE(w.idle(30000));
  const int id = w.window.jobs().jobIds().value(0, -1);
  ASSERT_GE(id, 0);
  const JobState state = w.window.jobs().state(id);
  EXPECT_EQ(state.status, core::RunStatus::Cancelled);
  const Json record = readNasJson(QDir(state.runDir).filePath(QStringLiteral("run.json")));
  EXPECT_EQ(record.value("status", ""), "cancelled");
  EXPECT_TRUE(w.text("shownRun").isEmpty());
  EXPECT_TRUE(w.text("statusText").contains(QStringLiteral("Cancelled"))) << w.text("statusText").toStdString();
  auto* exportButton = w.child<QPushButton>("nasExport");
  ASSERT_NE(exportButton, nullptr);
  EXPECT_FALSE(exportButton->isEnabled());
}

// nas.evaluate of the searched architecture, a nas.random_search of the same space and a nas.evaluate of
// the largest architecture started outside the panel fill the Pareto plot: one point per evaluated
// architecture with the jobs' parameters and perplexities, each kind in its own series,
// the front over the non-dominated ones. Ends with the README's screenshot
// (resources/screenshots/nas_panel.png), written to <build>/test_output/nas/.
TEST(NasPlugin, EvaluateAndRandomSearchFillTheParetoPlot) {
  NasBench w;
  ASSERT_NE(w.panel, nullptr);
  w.tinyForm();
  const QString searchDir = w.searchAndWait();
  ASSERT_FALSE(searchDir.isEmpty()) << w.text("statusText").toStdString() << "\n" << w.log().toStdString();
  w.setInt("nasEvalSteps", 12);
  w.setInt("nasValEvery", 4);  // early stopping: the kept weights are those of step 4, 8 or 12
  ASSERT_TRUE(w.call<bool>("evaluate")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  w.setInt("nasSamples", 3);
  ASSERT_TRUE(w.call<bool>("randomSearch")) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  EXPECT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();

  // The runs, in start order: search, evaluate, random search.
  const QList<int> ids = w.window.jobs().jobIds();
  ASSERT_EQ(ids.size(), 3);
  const QString evalDir = w.window.jobs().state(ids[1]).runDir;
  const QString randomDir = w.window.jobs().state(ids[2]).runDir;
  const Json evalRecord = readNasJson(QDir(evalDir).filePath(QStringLiteral("run.json")));
  EXPECT_EQ(evalRecord.value("status", ""), "completed");
  EXPECT_EQ(evalRecord["params"].value("search", ""), searchDir.toStdString());
  EXPECT_EQ(evalRecord["params"].value("val_every", 0), 4);
  const Json result = readNasJson(QDir(evalDir).filePath(QStringLiteral("artifacts/result.json")));
  EXPECT_EQ(result.value("best_step", 0) % 4, 0) << result.dump();
  EXPECT_GE(result.value("best_step", 0), 4);
  const Json random = readNasJson(QDir(randomDir).filePath(QStringLiteral("artifacts/random_search.json")));
  EXPECT_EQ(readNasJson(QDir(randomDir).filePath(QStringLiteral("run.json")))["params"].value("val_every", 0), 4);
  ASSERT_TRUE(result.is_object() && random.is_object()) << result.dump() << random.dump();
  ASSERT_EQ(random["results"].size(), 3u);
  EXPECT_EQ(w.call<int>("paretoPointCount"), 4);
  // A run started elsewhere (as Jobs > Run job does): the largest architecture trained from scratch
  // joins the plot as "other" when it finishes.
  const int largestId = w.window.jobs().start(
      QStringLiteral("nas.evaluate"),
      Json{{"search", searchDir.toStdString()}, {"arch", "largest"}, {"mode", "scratch"}, {"steps", 8}, {"context", 16}, {"batch_size", 4}},
      QStringLiteral("cpu"), 5ULL);
  ASSERT_TRUE(waitUntil([&] { return w.window.jobs().state(largestId).finished; }, 90000));
  const QString largestDir = w.window.jobs().state(largestId).runDir;
  const Json largest = readNasJson(QDir(largestDir).filePath(QStringLiteral("artifacts/result.json")));
  ASSERT_TRUE(largest.is_object()) << w.log().toStdString();
  ASSERT_TRUE(waitUntil([&] { return w.call<int>("paretoPointCount") == 5; }, 5000)) << w.text("lastError").toStdString() << w.log().toStdString();

  auto* view = w.child<QChartView>("nasParetoChart");
  ASSERT_NE(view, nullptr);
  const QList<QPointF> searched = linePoints(view, QStringLiteral("paretoSearched"));
  ASSERT_EQ(searched.size(), 1);
  EXPECT_DOUBLE_EQ(searched[0].x(), result["params"].get<double>());
  EXPECT_NEAR(searched[0].y(), result["val_ppl"].get<double>(), 1e-9);
  const QList<QPointF> randomPts = linePoints(view, QStringLiteral("paretoRandom"));
  ASSERT_EQ(randomPts.size(), 3);
  std::vector<std::pair<double, double>> all{{result["params"].get<double>(), result["val_ppl"].get<double>()}};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& row = random["results"][i];
    EXPECT_DOUBLE_EQ(randomPts[static_cast<qsizetype>(i)].x(), row["params"].get<double>()) << i;
    EXPECT_NEAR(randomPts[static_cast<qsizetype>(i)].y(), row["val_ppl"].get<double>(), 1e-9) << i;
    all.emplace_back(row["params"].get<double>(), row["val_ppl"].get<double>());
  }
  const QList<QPointF> otherPts = linePoints(view, QStringLiteral("paretoOther"));
  ASSERT_EQ(otherPts.size(), 1);
  EXPECT_DOUBLE_EQ(otherPts[0].x(), largest["params"].get<double>());
  EXPECT_NEAR(otherPts[0].y(), largest["val_ppl"].get<double>(), 1e-9);
  all.emplace_back(largest["params"].get<double>(), largest["val_ppl"].get<double>());
  // The front: exactly the points no other point beats in both size and perplexity.
  std::set<std::pair<double, double>> expectedFront;
  for (const auto& p : all) {
    bool dominated = false;
    for (const auto& q : all)
      dominated |= (q.first <= p.first && q.second < p.second) || (q.first < p.first && q.second <= p.second);
    if (!dominated) expectedFront.insert(p);
  }
  std::set<std::pair<double, double>> front;
  for (const QPointF& p : linePoints(view, QStringLiteral("paretoFront"))) front.insert({p.x(), p.y()});
  EXPECT_EQ(front, expectedFront);

  // The screenshot: the search's charts, the dock at the width Show panel gives it.
  w.window.action(QStringLiteral("nasShow"))->trigger();
  QMetaObject::invokeMethod(w.panel, "showTab", Qt::DirectConnection, Q_ARG(QString, QStringLiteral("search")));
  QTest::qWait(500);
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("nas")) + QStringLiteral("/nas_panel.png")));
  // The widened dock still leaves the window at the 1280 pixels it was given.
  EXPECT_LE(w.window.width(), 1280);
  EXPECT_LE(w.panel->minimumSizeHint().width(), 320);
  QMetaObject::invokeMethod(w.panel, "showTab", Qt::DirectConnection, Q_ARG(QString, QStringLiteral("pareto")));
  QTest::qWait(300);
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("nas")) + QStringLiteral("/nas_pareto.png")));
  QMetaObject::invokeMethod(w.panel, "showTab", Qt::DirectConnection, Q_ARG(QString, QStringLiteral("space")));
  QTest::qWait(300);
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("nas")) + QStringLiteral("/nas_space.png")));
}

}  // namespace
}  // namespace atomscope::gui
