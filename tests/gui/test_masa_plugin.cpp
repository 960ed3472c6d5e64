// The MASA plugin, loaded from the build's plugin folder into a real main window, compressing
// stories260K (llama2.c's tinyllamas model, samples/models/stories260K; ../shared/data/README.md)
// through the GUI path (the panel starts masa.compress on the workbench's JobManager). Every
// number the charts show is checked against the finished run's own files (run.json,
// artifacts/report.json, artifacts/coefficients_*.npy), never against numbers written here.
// The panel lives in the plugin library, so it is driven through its widgets and its
// Q_INVOKABLE methods (the meta-object), as a script would.
#ifdef ATOMSCOPE_HAVE_MASA
#include "atomscope/lm/model_io.h"
#include "atomscope/masa/masa_format.h"
#endif

#include <gtest/gtest.h>

#include <QAbstractBarSeries>
#include <QAction>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineSeries>
#include <QMenuBar>
#include <QPushButton>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>

#include "atomscope/core/json.h"
#include "atomscope/core/npy.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/panels.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {

using test::waitUntil;

const QString kModel = QStringLiteral(ATOMSCOPE_SAMPLES_DIR "/models/stories260K/stories260K.bin");
// Five TinyStories stories (samples/README.md): calibration and a small evaluation text.
const QString kText = QStringLiteral(ATOMSCOPE_SAMPLES_DIR "/text/tinystories_sample5.txt");

Json readJson(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return Json();
  const QByteArray b = f.readAll();
  return Json::parse(b.constData(), b.constData() + b.size(), nullptr, false);
}

// The window with every built plugin and the MASA panel open.
struct MasaBench {
  QTemporaryDir runs;
  MainWindow window{runs.path()};
  QWidget* panel = nullptr;

  MasaBench() {
    window.resize(1280, 800);
    window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
    window.show();
    (void)QTest::qWaitForWindowExposed(&window);
    if (QAction* show = window.action(QStringLiteral("masaShow"))) show->trigger();
    panel = window.documents()->currentWidget();
    if (panel && panel->objectName() != QLatin1String("masaPanel")) panel = nullptr;
  }
  ~MasaBench() { window.jobs().cancelAll(); }

  template <class T>
  T* child(const char* name) const {
    return panel ? panel->findChild<T*>(QString::fromLatin1(name)) : nullptr;
  }
  void set(const char* method, const QString& value) const {
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, Q_ARG(QString, value));
  }
  void setRatio(double r) const { QMetaObject::invokeMethod(panel, "setRatio", Qt::DirectConnection, Q_ARG(double, r)); }
  bool busy() const {
    bool b = false;
    QMetaObject::invokeMethod(panel, "isBusy", Qt::DirectConnection, Q_RETURN_ARG(bool, b));
    return b;
  }
  QString text(const char* method) const {
    QString s;
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, Q_RETURN_ARG(QString, s));
    return s;
  }
  bool call(const char* method, const QString& arg) const {
    bool ok = false;
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, Q_RETURN_ARG(bool, ok), Q_ARG(QString, arg));
    return ok;
  }
  // Sets the form for stories260K and the sample text, cpu.
  void form(const QString& method, double ratio, const QString& evalText = kText) const {
    set("setModel", kModel);
    set("setMethod", method);
    setRatio(ratio);
    set("setCalibrationText", kText);
    set("setEvalText", evalText);
    set("setDevice", QStringLiteral("cpu"));
  }
  // Clicks Run and waits for the job; returns the run folder the panel shows.
  QString runAndWait(int timeoutMs = 60000) const {
    auto* run = child<QPushButton>("masaRun");
    if (!run) return {};
    QTest::mouseClick(run, Qt::LeftButton);
    if (!waitUntil([&] { return !busy(); }, timeoutMs)) return {};
    return text("shownRun");
  }
  QString log() const { return window.logConsole()->plainText(); }
};

QList<QPointF> pointsOf(QChartView* view, const QString& seriesName) {
  if (!view) return {};
  for (QAbstractSeries* s : view->chart()->series())
    if (s->objectName() == seriesName)
      if (auto* line = qobject_cast<QLineSeries*>(s)) return line->points();
  return {};
}

TEST(MasaPlugin, RunsMasaCompressAndTheChartsShowTheRunsNumbers) {
  MasaBench w;
  ASSERT_NE(w.panel, nullptr) << "MASA > Compress attention did not open the panel\n" << w.log().toStdString();
  bool menuFound = false;
  for (QAction* a : w.window.menuBar()->actions()) menuFound |= a->text().remove('&') == QStringLiteral("MASA");
  EXPECT_TRUE(menuFound);
  ASSERT_NE(w.window.action(QStringLiteral("masaReportAction")), nullptr);
  EXPECT_EQ(w.window.action(QStringLiteral("masaReportAction"))->shortcut(), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R));
  // The method list is the job's own choice list.
  auto* method = w.child<QComboBox>("masaMethod");
  ASSERT_NE(method, nullptr);
  QStringList methods;
  for (int i = 0; i < method->count(); ++i) methods << method->itemText(i);
  for (const char* m : {"matrix-pca", "matrix-pca-grouped", "matrix-pca-refined", "matrix-pca-refined-greedy", "svd", "svd-llm"})
    EXPECT_TRUE(methods.contains(QString::fromLatin1(m))) << m;

  // Matrix PCA at 40% removed: S = 2 atoms for every type of stories260K (5 layers).
  w.form(QStringLiteral("matrix-pca"), 0.4);
  const QString runDir = w.runAndWait();
  ASSERT_FALSE(runDir.isEmpty()) << w.text("statusText").toStdString() << "\n" << w.log().toStdString();
  const Json record = readJson(QDir(runDir).filePath(QStringLiteral("run.json")));
  ASSERT_TRUE(record.is_object());
  EXPECT_EQ(record.value("job", ""), "masa.compress");
  EXPECT_EQ(record.value("status", ""), "completed");
  // The GUI gave the job what the form says.
  EXPECT_EQ(record["params"].value("method", ""), "matrix-pca");
  EXPECT_DOUBLE_EQ(record["params"].value("ratio", 0.0), 0.4);
  EXPECT_EQ(record["params"].value("eval_text", ""), kText.toStdString());
  const Json report = readJson(QDir(runDir).filePath(QStringLiteral("artifacts/report.json")));
  ASSERT_TRUE(report.is_object() && report["types"].is_array() && report["types"].size() == 4) << report.dump();

  // Energy per atom direction: one line per type with the report's energies.
  auto* energy = w.child<QChartView>("masaEnergyChart");
  ASSERT_NE(energy, nullptr);
  for (const auto& t : report["types"]) {
    const QString role = QString::fromStdString(t["role"].get<std::string>());
    const auto& e = t["energy"][0];
    const QList<QPointF> pts = pointsOf(energy, QStringLiteral("energy_%1_0").arg(role));
    ASSERT_EQ(pts.size(), static_cast<qsizetype>(e.size())) << role.toStdString();
    for (std::size_t i = 0; i < e.size(); ++i) {
      EXPECT_DOUBLE_EQ(pts[static_cast<qsizetype>(i)].x(), static_cast<double>(i + 1));
      EXPECT_NEAR(pts[static_cast<qsizetype>(i)].y(), e[i].get<double>(), 1e-12) << role.toStdString() << " " << i;
    }
  }

  // Relative weight error per layer: one bar set per type with the report's values.
  auto* errors = w.child<QChartView>("masaErrorChart");
  ASSERT_NE(errors, nullptr);
  QAbstractBarSeries* bars = nullptr;
  for (QAbstractSeries* s : errors->chart()->series())
    if (s->objectName() == QLatin1String("errorBars")) bars = qobject_cast<QAbstractBarSeries*>(s);
  ASSERT_NE(bars, nullptr);
  ASSERT_EQ(bars->count(), 4);
  for (QBarSet* set : bars->barSets()) {
    const Json* type = nullptr;
    for (const auto& t : report["types"])
      if (QString::fromStdString(t["role"].get<std::string>()) == set->label()) type = &t;
    ASSERT_NE(type, nullptr) << set->label().toStdString();
    const auto& err = (*type)["relative_error"];
    ASSERT_EQ(set->count(), static_cast<int>(err.size()));
    for (int l = 0; l < set->count(); ++l) EXPECT_NEAR(set->at(l), err[static_cast<std::size_t>(l)].get<double>(), 1e-12);
  }

  // Coefficient heatmap: every projection in the selector shows its coefficients_<role>.npy.
  auto* projection = w.child<QComboBox>("masaProjection");
  auto* heatmap = w.child<QWidget>("masaHeatmap");
  ASSERT_TRUE(projection && heatmap);
  ASSERT_EQ(projection->count(), 4);
  w.child<QTabWidget>("masaTabs")->setCurrentIndex(1);
  for (int i = 0; i < projection->count(); ++i) {
    projection->setCurrentIndex(i);
    const QString role = projection->currentText().left(1);
    const core::NpyArray npy =
        core::readNpy(QDir(runDir).filePath(QStringLiteral("artifacts/coefficients_%1.npy").arg(role)).toStdString());
    ASSERT_EQ(npy.shape.size(), 2u);
    ASSERT_EQ(npy.dtype, core::DType::F32);
    EXPECT_EQ(npy.shape[0], 5);  // the 5 layers of stories260K
    // The report's atom count for the type is the heatmap's width.
    for (const auto& t : report["types"])
      if (QString::fromStdString(t["role"].get<std::string>()) == role) {
        EXPECT_EQ(npy.shape[1], t["atoms"].get<std::int64_t>());
      }
    EXPECT_EQ(heatmap->property("cellRows").toInt(), npy.shape[0]);
    EXPECT_EQ(heatmap->property("cellCols").toInt(), npy.shape[1]);
    const QVariantList shown = heatmap->property("cellValues").toList();
    ASSERT_EQ(static_cast<std::uint64_t>(shown.size()), npy.numel());
    const auto* values = reinterpret_cast<const float*>(npy.bytes.data());
    for (qsizetype k = 0; k < shown.size(); ++k) EXPECT_FLOAT_EQ(static_cast<float>(shown[k].toDouble()), values[k]);
  }

  // Perplexity versus compression: this run is a point of its method's line; the reference line
  // is the uncompressed perplexity the same run measured.
  auto* compare = w.child<QChartView>("masaCompareChart");
  const QList<QPointF> pts = pointsOf(compare, QStringLiteral("compare_matrix-pca"));
  ASSERT_EQ(pts.size(), 1);
  EXPECT_NEAR(pts[0].x(), 100.0 * report["attention_compression"].get<double>(), 1e-9);
  EXPECT_NEAR(pts[0].y(), report["perplexity_after"].get<double>(), 1e-12);
  const QList<QPointF> ref = pointsOf(compare, QStringLiteral("compare_reference"));
  ASSERT_EQ(ref.size(), 2);
  EXPECT_NEAR(ref[0].y(), report["perplexity_before"].get<double>(), 1e-12);
  // The summary line quotes the same perplexities.
  auto* summary = w.child<QLabel>("masaSummary");
  ASSERT_NE(summary, nullptr);
  EXPECT_TRUE(summary->text().contains(QString::number(report["perplexity_after"].get<double>(), 'f', 3)))
      << summary->text().toStdString();
  EXPECT_TRUE(summary->text().contains(QString::number(report["perplexity_before"].get<double>(), 'f', 3)));
  // Details: one row per layer.
  auto* layers = w.child<QTableWidget>("masaLayersTable");
  ASSERT_NE(layers, nullptr);
  EXPECT_EQ(layers->rowCount(), 5);

  // Pictures of the window and of every result tab, for people to look at.
  auto* tabs = w.child<QTabWidget>("masaTabs");
  for (int i = 0; i < tabs->count(); ++i) {
    tabs->setCurrentIndex(i);
    QCoreApplication::processEvents();
    EXPECT_TRUE(w.panel->grab().save(test::outputDir(QStringLiteral("masa")) + QStringLiteral("/masa_tab_%1.png").arg(tabs->tabText(i).toLower().replace(' ', '_'))));
  }
  tabs->setCurrentIndex(1);
  QCoreApplication::processEvents();
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("masa")) + QStringLiteral("/masa_panel.png")));
}

TEST(MasaPlugin, ExportsAMasaFolderAndAHuggingFaceFolderThatLoad) {
  MasaBench w;
  ASSERT_NE(w.panel, nullptr);
  w.form(QStringLiteral("matrix-pca-refined-greedy"), 0.4);
  const QString runDir = w.runAndWait();
  ASSERT_FALSE(runDir.isEmpty()) << w.text("statusText").toStdString() << "\n" << w.log().toStdString();
  const Json report = readJson(QDir(runDir).filePath(QStringLiteral("artifacts/report.json")));
  ASSERT_TRUE(report.is_object());
  // The refined method stores residual ranks per layer: the Details table shows the report's.
  auto* layers = w.child<QTableWidget>("masaLayersTable");
  ASSERT_NE(layers, nullptr);
  for (const auto& t : report["types"]) {
    const QString header = QString::fromStdString(t["role"].get<std::string>()) + QStringLiteral(" rank");
    int col = -1;
    for (int c = 0; c < layers->columnCount(); ++c)
      if (layers->horizontalHeaderItem(c)->text() == header) col = c;
    ASSERT_GE(col, 0) << header.toStdString();
    ASSERT_EQ(layers->rowCount(), static_cast<int>(t["ranks"].size()));
    for (int l = 0; l < layers->rowCount(); ++l)
      EXPECT_EQ(layers->item(l, col)->text().toLongLong(), t["ranks"][static_cast<std::size_t>(l)].get<long long>());
  }
  QTemporaryDir out;
  ASSERT_TRUE(out.isValid());

  const QString masaDir = out.filePath(QStringLiteral("exported-masa"));
  ASSERT_TRUE(w.call("exportMasaFolder", masaDir)) << w.text("lastError").toStdString();
  // A second export to the same folder is refused with a reason, and leaves the first intact.
  EXPECT_FALSE(w.call("exportMasaFolder", masaDir));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("already exists"))) << w.text("lastError").toStdString();
  EXPECT_FALSE(QFileInfo::exists(out.filePath(QStringLiteral(".exported-masa.partial"))));

  const QString hfDir = out.filePath(QStringLiteral("exported-hf"));
  ASSERT_TRUE(w.call("exportHfFolder", hfDir)) << w.text("lastError").toStdString();
  ASSERT_TRUE(waitUntil([&] { return !w.busy(); }, 60000));
  ASSERT_TRUE(QFileInfo::exists(QDir(hfDir).filePath(QStringLiteral("config.json"))))
      << w.text("statusText").toStdString() << "\n" << w.log().toStdString();
  ASSERT_TRUE(QFileInfo::exists(QDir(hfDir).filePath(QStringLiteral("model.safetensors"))));

#ifdef ATOMSCOPE_HAVE_MASA
  // modules/masa's loader reads the exported MASA folder; it stores what the run reported.
  atomscope::masa::MasaModel m;
  ASSERT_NO_THROW(m = atomscope::masa::loadMasaFolder(masaDir.toStdString()));
  EXPECT_EQ(m.attentionParameters, report["attention_params_after"].get<std::int64_t>());
  EXPECT_EQ(m.config.value("method", ""), "matrix-pca-refined-greedy");
  // The dense folder is a full Llama again: as many parameters as the uncompressed model.
  lm::LoadedModel dense;
  ASSERT_NO_THROW(dense = lm::loadModel(hfDir.toStdString()));
  EXPECT_EQ(dense.model->numParameters(), report["params_before"].get<std::int64_t>());
#endif
}

TEST(MasaPlugin, ReportWritesHtmlWithTheTablesAndAPdf) {
  MasaBench w;
  ASSERT_NE(w.panel, nullptr);
  w.form(QStringLiteral("matrix-pca"), 0.4);
  const QString runDir = w.runAndWait();
  ASSERT_FALSE(runDir.isEmpty()) << w.text("statusText").toStdString();
  const Json report = readJson(QDir(runDir).filePath(QStringLiteral("artifacts/report.json")));
  // Written beside the other test pictures, for people to open.
  const QString html = test::outputDir(QStringLiteral("masa")) + QStringLiteral("/masa-report.html");
  QFile::remove(html);
  QFile::remove(test::outputDir(QStringLiteral("masa")) + QStringLiteral("/masa-report.pdf"));
  ASSERT_TRUE(w.call("writeReport", html)) << w.text("lastError").toStdString();
  QFile h(html);
  ASSERT_TRUE(h.open(QIODevice::ReadOnly));
  const QString text = QString::fromUtf8(h.readAll());
  EXPECT_GT(text.size(), 1000);
  EXPECT_GE(text.count(QStringLiteral("<table")), 4);  // summary, types, layers, comparison
  for (const char* heading : {"perplexity before", "perplexity after", "attention parameters kept", "energy kept", "q error", "o error"})
    EXPECT_TRUE(text.contains(QString::fromLatin1(heading))) << heading;
  EXPECT_TRUE(text.contains(QStringLiteral("<td>matrix-pca</td>")));
  // The numbers of the run, as the report's tables print them.
  EXPECT_TRUE(text.contains(QString::number(report["perplexity_after"].get<double>(), 'f', 3)));
  EXPECT_TRUE(text.contains(QString::number(report["perplexity_before"].get<double>(), 'f', 3)));
  EXPECT_TRUE(text.contains(QString::number(report["types"][0]["relative_error"][0].get<double>(), 'f', 4)));
  // Charts and heatmaps embedded: energy, 4 coefficient maps, errors, comparison.
  EXPECT_GE(text.count(QStringLiteral("data:image/png;base64,")), 7);
  QFile pdf(test::outputDir(QStringLiteral("masa")) + QStringLiteral("/masa-report.pdf"));
  ASSERT_TRUE(pdf.open(QIODevice::ReadOnly));
  const QByteArray bytes = pdf.readAll();
  EXPECT_TRUE(bytes.startsWith("%PDF")) << bytes.left(16).toStdString();
  EXPECT_GT(bytes.size(), 20000);  // the images are in it
}

TEST(MasaPlugin, CancelKeepsThePreviousResultAndWritesNoOutput) {
  MasaBench w;
  ASSERT_NE(w.panel, nullptr);
  w.form(QStringLiteral("matrix-pca"), 0.4);
  const QString first = w.runAndWait();
  ASSERT_FALSE(first.isEmpty()) << w.text("statusText").toStdString();

  // The whole TinyStories validation head (380,658 predicted tokens): evaluating it takes minutes
  // on this CPU, so the job is still measuring the uncompressed model when Cancel is clicked.
  w.form(QStringLiteral("matrix-pca"), 0.6, QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/text/tinystories/tinystories_val_head.txt"));
  auto* run = w.child<QPushButton>("masaRun");
  auto* cancel = w.child<QPushButton>("masaCancel");
  ASSERT_TRUE(run && cancel);
  QTest::mouseClick(run, Qt::LeftButton);
  ASSERT_TRUE(w.busy());
  EXPECT_FALSE(run->isEnabled());
  EXPECT_TRUE(cancel->isEnabled());
  ASSERT_TRUE(waitUntil([&] { return w.text("statusText").contains(QStringLiteral("uncompressed")); }, 30000))
      << w.text("statusText").toStdString();
  QTest::mouseClick(cancel, Qt::LeftButton);
  ASSERT_TRUE(waitUntil([&] { return !w.busy(); }, 15000)) << "the job did not stop";
  EXPECT_TRUE(run->isEnabled());
  EXPECT_FALSE(cancel->isEnabled());
  EXPECT_TRUE(w.text("statusText").contains(QStringLiteral("cancelled"))) << w.text("statusText").toStdString();
  EXPECT_EQ(w.text("shownRun"), first);  // the panel still shows the finished run

  // The cancelled run is a record with status "cancelled" and no report, model or coefficients.
  QString cancelled;
  for (const QString& name : QDir(w.runs.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot))
    if (QDir(w.runs.path()).absoluteFilePath(name) != first) cancelled = QDir(w.runs.path()).absoluteFilePath(name);
  ASSERT_FALSE(cancelled.isEmpty());
  const Json record = readJson(QDir(cancelled).filePath(QStringLiteral("run.json")));
  EXPECT_EQ(record.value("status", ""), "cancelled");
  const QDir artifacts(QDir(cancelled).filePath(QStringLiteral("artifacts")));
  for (const char* name : {"report.json", "masa_model", "coefficients_q.npy", "energy.csv"})
    EXPECT_FALSE(QFileInfo::exists(artifacts.filePath(QString::fromLatin1(name)))) << name;

  // The GUI is usable: the next run completes, here with the target given as S = 1 atom per type.
  w.form(QStringLiteral("matrix-pca"), 0.2);
  QMetaObject::invokeMethod(w.panel, "setAtoms", Qt::DirectConnection, Q_ARG(int, 1));
  const QString again = w.runAndWait();
  ASSERT_FALSE(again.isEmpty()) << w.text("statusText").toStdString();
  EXPECT_NE(again, first);
  const Json params = readJson(QDir(again).filePath(QStringLiteral("run.json")))["params"];
  EXPECT_EQ(params.value("atoms", 0), 1);
  const Json report = readJson(QDir(again).filePath(QStringLiteral("artifacts/report.json")));
  for (const auto& t : report["types"]) EXPECT_EQ(t["atoms"].get<int>(), 1);
  EXPECT_EQ(w.child<QWidget>("masaHeatmap")->property("cellCols").toInt(), 1);
}

TEST(MasaPlugin, CompareMethodsRunsEachMethodAndRatioAndChartsThem) {
  MasaBench w;
  ASSERT_NE(w.panel, nullptr);
  w.form(QStringLiteral("matrix-pca"), 0.4);
  QMetaObject::invokeMethod(w.panel, "setCompareMethods", Qt::DirectConnection,
                            Q_ARG(QStringList, QStringList({QStringLiteral("matrix-pca"), QStringLiteral("svd")})));
  w.set("setCompareRatios", QStringLiteral("0.2, 0.6"));
  auto* compare = w.child<QPushButton>("masaCompare");
  ASSERT_NE(compare, nullptr);
  QTest::mouseClick(compare, Qt::LeftButton);
  int points = 0;
  ASSERT_TRUE(waitUntil(
      [&] {
        QMetaObject::invokeMethod(w.panel, "comparePointCount", Qt::DirectConnection, Q_RETURN_ARG(int, points));
        return points == 4 && !w.busy();
      },
      90000))
      << points << " points; " << w.text("statusText").toStdString() << "\n" << w.log().toStdString();

  // One run folder per method and ratio, each a separate masa.compress job.
  const QStringList runs = QDir(w.runs.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
  ASSERT_EQ(runs.size(), 4);
  auto* view = w.child<QChartView>("masaCompareChart");
  double reference = -1;
  int matched = 0;
  for (const QString& name : runs) {
    const QString dir = QDir(w.runs.path()).absoluteFilePath(name);
    const Json record = readJson(QDir(dir).filePath(QStringLiteral("run.json")));
    ASSERT_EQ(record.value("status", ""), "completed") << name.toStdString();
    const Json report = readJson(QDir(dir).filePath(QStringLiteral("artifacts/report.json")));
    const QString method = QString::fromStdString(report["method"].get<std::string>());
    if (report.contains("perplexity_before")) reference = report["perplexity_before"].get<double>();
    for (const QPointF& p : pointsOf(view, QStringLiteral("compare_%1").arg(method)))
      if (std::abs(p.x() - 100.0 * report["attention_compression"].get<double>()) < 1e-9 &&
          std::abs(p.y() - report["perplexity_after"].get<double>()) < 1e-12)
        ++matched;
  }
  EXPECT_EQ(matched, 4);
  EXPECT_EQ(pointsOf(view, QStringLiteral("compare_matrix-pca")).size(), 2);
  EXPECT_EQ(pointsOf(view, QStringLiteral("compare_svd")).size(), 2);
  // The uncompressed perplexity was measured once (by the first run) and is the reference line.
  ASSERT_GT(reference, 0);
  const QList<QPointF> ref = pointsOf(view, QStringLiteral("compare_reference"));
  ASSERT_EQ(ref.size(), 2);
  EXPECT_NEAR(ref[0].y(), reference, 1e-12);
  auto* table = w.child<QTableWidget>("masaCompareTable");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->rowCount(), 4);
  QCoreApplication::processEvents();
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("masa")) + QStringLiteral("/masa_compare.png")));

  // Cancel stops a comparison: on the whole validation head the first run is still measuring the
  // uncompressed model when Cancel is clicked, and none of the other five runs starts.
  w.set("setEvalText", QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/text/tinystories/tinystories_val_head.txt"));
  w.set("setCompareRatios", QStringLiteral("0.2, 0.4, 0.6"));
  QTest::mouseClick(compare, Qt::LeftButton);
  ASSERT_TRUE(w.busy());
  ASSERT_TRUE(waitUntil([&] { return w.text("statusText").contains(QStringLiteral("uncompressed")); }, 30000))
      << w.text("statusText").toStdString();
  QTest::mouseClick(w.child<QPushButton>("masaCancel"), Qt::LeftButton);
  ASSERT_TRUE(waitUntil([&] { return !w.busy(); }, 15000));
  QTest::qWait(300);  // a next run would have started by now
  EXPECT_FALSE(w.busy());
  EXPECT_TRUE(w.text("statusText").contains(QStringLiteral("comparison cancelled after 0 run(s)"))) << w.text("statusText").toStdString();
  EXPECT_EQ(QDir(w.runs.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot).size(), 5);
  EXPECT_TRUE(compare->isEnabled());
}

TEST(MasaPlugin, FollowsTheOpenedModelAndShowsRunsStartedElsewhere) {
  MasaBench w;
  ASSERT_NE(w.panel, nullptr);
  // Opening a model in the Models plugin (its lm.inspect run) makes it the model to compress.
  const QString model = QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/lm/stories260K.bin");
  ASSERT_NE(w.text("model"), model);
  QString error;
  ASSERT_TRUE(w.window.openFile(model, &error)) << error.toStdString();
  ASSERT_TRUE(waitUntil([&] { return w.text("model") == model; }, 30000)) << w.text("model").toStdString();
  // A masa.compress job started outside the panel (Jobs > Run job, --start) is shown when it finishes.
  const int id = w.window.jobs().start(QStringLiteral("masa.compress"),
                                       Json{{"model", kModel.toStdString()}, {"method", "svd"}, {"ratio", 0.2},
                                            {"eval_text", kText.toStdString()}, {"export", "none"}},
                                       QStringLiteral("cpu"));
  ASSERT_TRUE(waitUntil([&] { return w.window.jobs().state(id).finished; }, 60000));
  const QString runDir = w.window.jobs().state(id).runDir;
  ASSERT_TRUE(waitUntil([&] { return w.text("shownRun") == QDir(runDir).absolutePath(); }, 5000))
      << w.text("shownRun").toStdString() << " vs " << runDir.toStdString();
  const Json report = readJson(QDir(runDir).filePath(QStringLiteral("artifacts/report.json")));
  const QList<QPointF> pts = pointsOf(w.child<QChartView>("masaCompareChart"), QStringLiteral("compare_svd"));
  ASSERT_EQ(pts.size(), 1);
  EXPECT_NEAR(pts[0].y(), report["perplexity_after"].get<double>(), 1e-12);
  // svd stores no atoms: the heatmap says so instead of drawing an empty grid; no MASA folder to export.
  EXPECT_EQ(w.child<QWidget>("masaHeatmap")->property("cellRows").toInt(), 0);
  EXPECT_FALSE(w.child<QPushButton>("masaExportMasa")->isEnabled());
}

TEST(MasaPlugin, BadInputGivesAMessageAndStartsNothing) {
  MasaBench w;
  ASSERT_NE(w.panel, nullptr);
  w.form(QStringLiteral("matrix-pca"), 0.4);
  w.set("setModel", QStringLiteral("/nonexistent/model.bin"));
  QTest::mouseClick(w.child<QPushButton>("masaRun"), Qt::LeftButton);
  EXPECT_FALSE(w.busy());
  EXPECT_TRUE(w.text("statusText").contains(QStringLiteral("/nonexistent/model.bin does not exist")))
      << w.text("statusText").toStdString();
  EXPECT_TRUE(QDir(w.runs.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot).isEmpty());
  // A folder that is not a masa.compress run is refused with the file named.
  QTemporaryDir notARun;
  QFile f(notARun.filePath(QStringLiteral("run.json")));
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write(R"({"job": "lm.eval", "status": "completed"})");
  f.close();
  EXPECT_FALSE(w.call("showRun", notARun.path()));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("is not a masa.compress run"))) << w.text("lastError").toStdString();
  // Exporting before any run says so.
  EXPECT_FALSE(w.call("exportMasaFolder", notARun.filePath(QStringLiteral("x"))));
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("run a compression first"))) << w.text("lastError").toStdString();
}

}  // namespace
}  // namespace atomscope::gui
