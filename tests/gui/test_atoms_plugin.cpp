// The Atoms plugin, loaded from the build's plugin folder into a real main window, on a tiny SAE
// built through the jobs (sae.collect -> sae.train -> sae.index) on stories260K's residual stream
// (llama2.c's tinyllamas model, samples/models/stories260K) over TinyStories text
// (../shared/data/text/tinystories, ../shared/data/README.md). What the panel shows is checked
// against modules/sae's own API on the same files (AtomIndex, loadSae + captureSites + encode, the
// SAELens safetensors files), never against numbers written here.
#ifdef ATOMSCOPE_HAVE_SAE
#include <torch/torch.h>

#include "atomscope/core/safetensors.h"
#include "atomscope/lm/model_io.h"
#include "atomscope/lm/tokenizer.h"
#include "atomscope/sae/atom_index.h"
#include "atomscope/sae/collect.h"
#include "atomscope/sae/sae.h"
#include "atomscope/sae/sae_browse_jobs.h"
#include "atomscope/sae/sae_jobs.h"
#include "atomscope/sae/statistics.h"

#include <gtest/gtest.h>

#include <QAbstractBarSeries>
#include <QAction>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLineSeries>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>
#include <algorithm>
#include <cmath>
#include <cctype>
#include <set>
#include <sstream>

#include "atomscope/core/job.h"
#include "atomscope/core/json.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/main_window.h"
#include "atomscope/gui/panels.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {

using test::waitUntil;
namespace fs = std::filesystem;

const QString kModel = QStringLiteral(ATOMSCOPE_SAMPLES_DIR "/models/stories260K/stories260K.bin");
const QString kText = QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/text/tinystories/tinystories_val_head.txt");
const QString kSite = QStringLiteral("resid_post.2");

// Screenshots of the panel for inspection (README's screenshots come from here).
// Runs a job on a JobManager and waits; the run folder, or empty (failure message in *error).
QString runJob(JobManager& jobs, const QString& job, const Json& params, QString* error, int timeoutMs = 60000) {
  const int id = jobs.start(job, params, QStringLiteral("cpu"), 1);
  if (id < 0) return {};
  if (!waitUntil([&] { return jobs.state(id).finished; }, timeoutMs)) return {};
  const auto s = jobs.state(id);
  if (error) *error = s.error;
  return s.status == core::RunStatus::Completed ? s.runDir : QString();
}

// The tiny SAE, built once for the suite in a temporary folder: 4000 activations of resid_post.2,
// 128 latents (2x over-complete), target L0 4, 150 steps (about 20 s on a loaded 2-core machine).
struct TinySae {
  QTemporaryDir dir;
  QString activations, sae, index, error;
  bool ok = false;
};

TinySae& tinySae() {
  static TinySae t;
  static bool built = false;
  if (built) return t;
  built = true;
  // The host (or the plugin, once loaded) registers these; this runs before any window exists.
  auto& registry = core::JobRegistry::global();
  if (!registry.contains("sae.collect")) sae::registerSaeJobs(registry);
  sae::registerSaeBrowseJobs(registry);
  JobManager jobs;
  jobs.setRunsRoot(t.dir.path() + QStringLiteral("/runs"));
  const QString collect = runJob(jobs, QStringLiteral("sae.collect"),
                                 Json{{"model", kModel.toStdString()}, {"data", kText.toStdString()}, {"layers", "2"},
                                      {"context", 128}, {"max_activations", 4000}},
                                 &t.error);
  if (collect.isEmpty()) return t;
  t.activations = collect + QStringLiteral("/artifacts/activations");
  const QString train = runJob(jobs, QStringLiteral("sae.train"),
                               Json{{"activations", t.activations.toStdString()}, {"latents", 128}, {"steps", 150},
                                    {"batch", 256}, {"target_l0", 4.0}, {"eval_rows", 1000}, {"dead_window", 20000}},
                               &t.error);
  if (train.isEmpty()) return t;
  t.sae = train + QStringLiteral("/artifacts/sae");
  const QString index = runJob(jobs, QStringLiteral("sae.index"),
                               Json{{"sae", t.sae.toStdString()}, {"activations", t.activations.toStdString()}, {"top_k", 5},
                                    {"left", 8}, {"right", 3}, {"promoted", 5}},
                               &t.error);
  if (index.isEmpty()) return t;
  t.index = index + QStringLiteral("/artifacts/atoms.db");
  t.ok = true;
  return t;
}

// The window with every built plugin and the Atoms panel open.
struct AtomsBench {
  QTemporaryDir runs;
  MainWindow window{runs.path()};
  QWidget* panel = nullptr;

  AtomsBench() {
    window.resize(1280, 800);
    window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
    window.show();
    (void)QTest::qWaitForWindowExposed(&window);
    if (QAction* show = window.action(QStringLiteral("atomsShow"))) show->trigger();
    panel = window.documents()->currentWidget();
    if (panel && panel->objectName() != QLatin1String("atomsPanel")) panel = nullptr;
  }
  ~AtomsBench() { window.jobs().cancelAll(); }

  template <class T>
  T* child(const char* name) const {
    return panel ? panel->findChild<T*>(QString::fromLatin1(name)) : nullptr;
  }
  bool call(const char* method, const QString& arg) const {
    bool ok = false;
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, Q_RETURN_ARG(bool, ok), Q_ARG(QString, arg));
    return ok;
  }
  QVariantList list(const char* method) const {
    QVariantList v;
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, Q_RETURN_ARG(QVariantList, v));
    return v;
  }
  QString text(const char* method) const {
    QString s;
    QMetaObject::invokeMethod(panel, method, Qt::DirectConnection, Q_RETURN_ARG(QString, s));
    return s;
  }
  bool busy() const {
    bool b = false;
    QMetaObject::invokeMethod(panel, "isBusy", Qt::DirectConnection, Q_RETURN_ARG(bool, b));
    return b;
  }
  bool idle(int ms = 30000) const { return waitUntil([&] { return !busy(); }, ms); }
  QString log() const { return window.logConsole()->plainText(); }
};

std::vector<int> ids(const QVariantList& v) {
  std::vector<int> out;
  for (const auto& x : v) out.push_back(x.toInt());
  return out;
}

TEST(AtomsPlugin, ListRowsAreTheIndexsAtomsAndSortAndFilterWork) {
  auto& t = tinySae();
  ASSERT_TRUE(t.ok) << "building the SAE through the jobs failed: " << t.error.toStdString();
  AtomsBench w;
  ASSERT_NE(w.panel, nullptr) << "Atoms > Atom browser did not open the panel\n" << w.log().toStdString();
  ASSERT_TRUE(w.call("openIndex", t.index)) << w.text("lastError").toStdString();
  const auto idx = sae::AtomIndex::open(t.index.toStdString());
  auto* table = w.child<QTableWidget>("atomsTable");
  ASSERT_NE(table, nullptr);
  // Rows = the index's atoms, each with its stored frequency; dead atoms (frequency 0) marked.
  ASSERT_EQ(table->rowCount(), idx.atomCount());
  std::map<int, double> freq;
  for (const auto& a : idx.atoms()) freq[static_cast<int>(a.id)] = a.frequency;
  for (int r = 0; r < table->rowCount(); ++r) {
    const int id = table->item(r, 0)->data(Qt::DisplayRole).toInt();
    ASSERT_TRUE(freq.count(id));
    EXPECT_DOUBLE_EQ(table->item(r, 1)->data(Qt::DisplayRole).toDouble(), freq[id]);
    EXPECT_EQ(table->item(r, 5)->text() == QStringLiteral("dead"), freq[id] <= 0) << "atom " << id;
  }
  // Sorting by frequency, descending then ascending: the index's frequencies in that order.
  QMetaObject::invokeMethod(w.panel, "sortBy", Qt::DirectConnection, Q_ARG(int, 1), Q_ARG(bool, false));
  auto order = ids(w.list("visibleAtoms"));
  ASSERT_EQ(order.size(), freq.size());
  for (std::size_t i = 1; i < order.size(); ++i) EXPECT_GE(freq[order[i - 1]], freq[order[i]]);
  const int mostFrequent = order.front();
  QMetaObject::invokeMethod(w.panel, "sortBy", Qt::DirectConnection, Q_ARG(int, 1), Q_ARG(bool, true));
  order = ids(w.list("visibleAtoms"));
  for (std::size_t i = 1; i < order.size(); ++i) EXPECT_LE(freq[order[i - 1]], freq[order[i]]);
  // Text filter: a word of the most frequent atom's top context; shown = the atoms FTS5 finds.
  const auto contexts = idx.contexts(mostFrequent);
  ASSERT_FALSE(contexts.empty());
  std::string word;  // a whole word of the stored text (FTS5 matches words, not token pieces)
  {
    std::istringstream words(contexts.front().text);
    std::string s;
    while (words >> s && word.empty()) {
      s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return !std::isalpha(static_cast<unsigned char>(c)); }), s.end());
      if (s.size() >= 4) word = s;
    }
  }
  ASSERT_FALSE(word.empty()) << contexts.front().text;
  QMetaObject::invokeMethod(w.panel, "setFilterText", Qt::DirectConnection, Q_ARG(QString, QString::fromStdString(word)));
  std::set<int> expected;
  for (const auto& c : idx.search(word, 1 << 30)) expected.insert(static_cast<int>(c.atom));
  auto shown = ids(w.list("visibleAtoms"));
  EXPECT_EQ(std::set<int>(shown.begin(), shown.end()), expected) << "filter '" << word << "'";
  EXPECT_TRUE(expected.count(mostFrequent));
  // Frequency range (text filter cleared): shown = atoms with lo <= frequency <= hi.
  QMetaObject::invokeMethod(w.panel, "setFilterText", Qt::DirectConnection, Q_ARG(QString, QString()));
  std::vector<double> freqs;
  for (const auto& [id, f] : freq) freqs.push_back(f);
  std::sort(freqs.begin(), freqs.end());
  const double lo = freqs[freqs.size() / 2], hi = freqs.back();
  QMetaObject::invokeMethod(w.panel, "setFrequencyRange", Qt::DirectConnection, Q_ARG(double, lo), Q_ARG(double, hi));
  expected.clear();
  for (const auto& [id, f] : freq)
    if (f >= lo && f <= hi) expected.insert(id);
  shown = ids(w.list("visibleAtoms"));
  EXPECT_EQ(std::set<int>(shown.begin(), shown.end()), expected);
  EXPECT_LT(expected.size(), freq.size());
}

TEST(AtomsPlugin, AtomPageHighlightsTheIndexsActivationsAndListsNeighbours) {
  auto& t = tinySae();
  ASSERT_TRUE(t.ok) << t.error.toStdString();
  AtomsBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.call("openIndex", t.index)) << w.text("lastError").toStdString();
  EXPECT_EQ(w.text("saeFolder"), t.sae);  // the sae.index run that wrote the index names its SAE
  ASSERT_TRUE(w.idle()) << "sae.neighbors did not finish";
  const auto idx = sae::AtomIndex::open(t.index.toStdString());
  const auto byFreq = idx.atoms("frequency", 1);
  ASSERT_EQ(byFreq.size(), 1u);
  const int atom = static_cast<int>(byFreq.front().id);
  QMetaObject::invokeMethod(w.panel, "showAtom", Qt::DirectConnection, Q_ARG(int, atom));
  // Every context token with the activation the index stored, highlighted in proportion to it.
  const auto contexts = idx.contexts(atom);
  const auto shown = w.list("highlightedTokens");
  double top = 0;
  for (const auto& c : contexts)
    for (const auto& tok : c.tokens) top = std::max(top, tok.value("a", 0.0));
  ASSERT_GT(top, 0);
  std::size_t k = 0;
  for (std::size_t ci = 0; ci < contexts.size(); ++ci)
    for (const auto& tok : contexts[ci].tokens) {
      ASSERT_LT(k, static_cast<std::size_t>(shown.size()));
      const auto m = shown[static_cast<int>(k++)].toMap();
      EXPECT_EQ(m["context"].toInt(), static_cast<int>(ci));
      EXPECT_EQ(m["t"].toString().toStdString(), tok.value("t", ""));
      EXPECT_DOUBLE_EQ(m["a"].toDouble(), tok.value("a", 0.0));
      EXPECT_NEAR(m["alpha"].toDouble(), tok.value("a", 0.0) / top, 1e-12);
    }
  EXPECT_EQ(k, static_cast<std::size_t>(shown.size()));
  // The page's HTML holds the focus token's text of the top context.
  auto* page = w.child<QTextBrowser>("atomsPage");
  ASSERT_NE(page, nullptr);
  EXPECT_TRUE(page->toPlainText().contains(QStringLiteral("Atom %1").arg(atom)));
  // Histogram: the index's counts.
  auto* hist = w.child<QChartView>("atomsHistogram");
  ASSERT_NE(hist, nullptr);
  ASSERT_EQ(hist->chart()->series().size(), 1);
  auto* bars = qobject_cast<QAbstractBarSeries*>(hist->chart()->series().front());
  ASSERT_NE(bars, nullptr);
  const auto& counts = byFreq.front().histogram["counts"];
  ASSERT_EQ(bars->barSets().front()->count(), static_cast<int>(counts.size()));
  for (int i = 0; i < static_cast<int>(counts.size()); ++i)
    EXPECT_DOUBLE_EQ(bars->barSets().front()->at(i), counts[static_cast<std::size_t>(i)].get<double>());
  // Neighbours: the plain-cosine one is the largest |cos| of the SAE's raw atoms (torch here); the
  // AIP one is the largest cosine after whitening, u^T S v / (|u|_S |v|_S) with S = E[x x^T]^-1
  // estimated here on every stored activation (the SAE's whitening used its training rows, so
  // values agree to the estimate's noise).
  auto s = sae::loadSae(t.sae.toStdString());
  const auto D = s->rawAtoms().to(torch::kFloat64).detach();
  const auto Dn = D / D.norm(2, 1, true);
  auto cosines = torch::matmul(Dn, Dn.t())[atom].clone();
  cosines[atom] = -2;
  QVariantList plain, aip;
  QMetaObject::invokeMethod(w.panel, "neighbours", Qt::DirectConnection, Q_RETURN_ARG(QVariantList, plain), Q_ARG(QString, QStringLiteral("cosine")));
  QMetaObject::invokeMethod(w.panel, "neighbours", Qt::DirectConnection, Q_RETURN_ARG(QVariantList, aip), Q_ARG(QString, QStringLiteral("aip")));
  ASSERT_FALSE(plain.isEmpty()) << w.log().toStdString();
  ASSERT_FALSE(aip.isEmpty());
  EXPECT_EQ(plain.front().toMap()["atom"].toInt(), cosines.argmax().item<int>());
  EXPECT_NEAR(plain.front().toMap()["cos"].toDouble(), cosines.max().item<double>(), 1e-5);
  const auto reader = sae::ActivationReader::open(t.activations.toStdString());
  const auto x = reader.rows(kSite.toStdString(), 0, reader.rows()).to(torch::kFloat64);
  const auto S = torch::inverse(torch::matmul(x.t(), x) / static_cast<double>(x.size(0)));
  auto aipOf = [&](int j) {
    const auto u = D[atom], v = D[j];
    return (torch::dot(u, torch::mv(S, v)) / torch::sqrt(torch::dot(u, torch::mv(S, u)) * torch::dot(v, torch::mv(S, v)))).item<double>();
  };
  double best = -2;
  for (int j = 0; j < D.size(0); ++j)
    if (j != atom) best = std::max(best, aipOf(j));
  const int shownAip = aip.front().toMap()["atom"].toInt();
  EXPECT_NEAR(aip.front().toMap()["cos"].toDouble(), aipOf(shownAip), 0.05);
  EXPECT_NEAR(aipOf(shownAip), best, 0.05);
  QTest::qWait(200);
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("atoms")) + QStringLiteral("/atoms_page.png")));
  // Clicking a neighbour link opens its page.
  page->anchorClicked(QUrl(QStringLiteral("atom:%1").arg(shownAip)));
  int now = -1;
  QMetaObject::invokeMethod(w.panel, "shownAtom", Qt::DirectConnection, Q_RETURN_ARG(int, now));
  EXPECT_EQ(now, shownAip);
}

TEST(AtomsPlugin, TryTextShowsTheAtomsTheSaeEncodesOnEachToken) {
  auto& t = tinySae();
  ASSERT_TRUE(t.ok) << t.error.toStdString();
  AtomsBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.call("openIndex", t.index)) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  const QString text = QStringLiteral("Once upon a time, there was a little girl named Lily. She loved to play outside.");
  ASSERT_TRUE(w.call("tryText", text)) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle()) << "sae.encode_text did not finish";
  int n = 0;
  QMetaObject::invokeMethod(w.panel, "tryTokenCount", Qt::DirectConnection, Q_RETURN_ARG(int, n));
  // Reference: the module's API on the same model, tokenizer and SAE.
  auto loaded = lm::loadModel(kModel.toStdString());
  loaded.model->eval();
  ASSERT_TRUE(loaded.tokenizer.has_value());
  auto tok = lm::openTokenizer(*loaded.tokenizer);
  const auto tokens = tok->encode(text.toStdString(), true, false);
  ASSERT_EQ(n, static_cast<int>(tokens.size()));
  torch::NoGradGuard ng;
  const auto idT = torch::tensor(std::vector<std::int64_t>(tokens.begin(), tokens.end())).unsqueeze(0);
  const auto acts = sae::captureSites(*loaded.model, idT, {sae::Site::parse(kSite.toStdString())});
  auto s = sae::loadSae(t.sae.toStdString());
  const auto z = s->encode(acts.at(kSite.toStdString())[0].to(torch::kFloat32));
  int withAtoms = 0;
  for (int i = 1; i < n; ++i) {  // position 0 is BOS, left out of training as in sae.collect
    QVariantList atoms;
    QMetaObject::invokeMethod(w.panel, "tokenAtoms", Qt::DirectConnection, Q_RETURN_ARG(QVariantList, atoms), Q_ARG(int, i));
    const auto [vals, idx] = torch::topk(z[i], 8);
    int expected = 0;
    for (int k = 0; k < 8; ++k) expected += vals[k].item<double>() > 0;
    ASSERT_EQ(atoms.size(), expected) << "token " << i;
    for (int k = 0; k < expected; ++k) {
      EXPECT_EQ(atoms[k].toMap()["atom"].toInt(), idx[k].item<int>()) << "token " << i << " rank " << k;
      EXPECT_NEAR(atoms[k].toMap()["a"].toDouble(), vals[k].item<double>(), 1e-4);
    }
    withAtoms += expected > 0;
  }
  EXPECT_GT(withAtoms, n / 2);
  // Selecting a token lists its atoms in the detail view.
  QMetaObject::invokeMethod(w.panel, "selectToken", Qt::DirectConnection, Q_ARG(int, 3));
  QTest::qWait(200);
  EXPECT_TRUE(w.window.grab().save(test::outputDir(QStringLiteral("atoms")) + QStringLiteral("/atoms_try_text.png")));
  QVariantList atoms3;
  QMetaObject::invokeMethod(w.panel, "tokenAtoms", Qt::DirectConnection, Q_RETURN_ARG(QVariantList, atoms3), Q_ARG(int, 3));
  auto* detail = w.child<QTextBrowser>("atomsTryDetail");
  ASSERT_NE(detail, nullptr);
  for (const auto& a : atoms3) EXPECT_TRUE(detail->toPlainText().contains(QStringLiteral("#%1").arg(a.toMap()["atom"].toInt())));
}

TEST(AtomsPlugin, ExportThenImportGivesIdenticalWeightsAndBadFoldersAreRefused) {
  auto& t = tinySae();
  ASSERT_TRUE(t.ok) << t.error.toStdString();
  AtomsBench w;
  ASSERT_NE(w.panel, nullptr);
  ASSERT_TRUE(w.call("openSae", t.sae)) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.idle());
  QTemporaryDir out;
  const QString exported = out.path() + QStringLiteral("/exported");
  ASSERT_TRUE(w.call("exportSae", exported));
  ASSERT_TRUE(w.idle());
  ASSERT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();
  ASSERT_TRUE(w.call("importSae", exported));
  ASSERT_TRUE(w.idle());
  ASSERT_TRUE(w.text("lastError").isEmpty()) << w.text("lastError").toStdString();
  const QString imported = w.text("lastImported");
  ASSERT_TRUE(QFileInfo::exists(imported + QStringLiteral("/cfg.json")));
  // The SAELens tensors, byte for byte, in the original, the export and the import.
  const auto a = core::SafetensorsReader::open((t.sae + QStringLiteral("/sae_weights.safetensors")).toStdString());
  for (const QString& other : {exported, imported}) {
    const auto b = core::SafetensorsReader::open((other + QStringLiteral("/sae_weights.safetensors")).toStdString());
    for (const char* name : {"W_enc", "W_dec", "b_enc", "b_dec", "threshold"}) {
      ASSERT_TRUE(a.contains(name) && b.contains(name)) << name;
      const auto x = a.bytes(name), y = b.bytes(name);
      ASSERT_EQ(x.size(), y.size()) << name;
      EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin())) << name << " differs in " << other.toStdString();
    }
  }
  // The imported SAE is the panel's now and encodes as the original does.
  EXPECT_EQ(w.text("saeFolder"), imported);
  auto s0 = sae::loadSae(t.sae.toStdString()), s1 = sae::loadSae(imported.toStdString());
  const auto x = torch::randn({16, s0->dIn()});
  EXPECT_TRUE(torch::equal(s0->encode(x), s1->encode(x)));
  // A folder without cfg.json: the job fails and the panel says which file is missing.
  const QString empty = out.path() + QStringLiteral("/empty");
  QDir().mkpath(empty);
  ASSERT_TRUE(w.call("importSae", empty));
  ASSERT_TRUE(w.idle());
  EXPECT_TRUE(w.text("lastError").contains(QStringLiteral("cfg.json"))) << w.text("lastError").toStdString();
}

TEST(AtomsPlugin, AnalyzeRunsFinishedElsewhereDrawTheirR2QStarPointsPerBasis) {
  auto& t = tinySae();
  ASSERT_TRUE(t.ok) << t.error.toStdString();
  AtomsBench w;
  ASSERT_NE(w.panel, nullptr);
  // sae.analyze started on the workbench (as the Run sae.analyze form does), small: two targets,
  // 50 steps per SAE (the chart's plumbing is under test, not the SAEs' quality). The panel follows
  // finished sae.analyze runs.
  QString error;
  const QString run = runJob(w.window.jobs(), QStringLiteral("sae.analyze"),
                             Json{{"activations", t.activations.toStdString()}, {"targets", "2,4"}, {"latents", 128},
                                  {"steps", 50}, {"batch", 256}, {"eval_rows", 1000}, {"dead_window", 20000}},
                             &error, 120000);
  ASSERT_FALSE(run.isEmpty()) << error.toStdString();
  ASSERT_TRUE(waitUntil([&] {
    QStringList sites;
    QMetaObject::invokeMethod(w.panel, "analysisSites", Qt::DirectConnection, Q_RETURN_ARG(QStringList, sites));
    return sites == QStringList{kSite};
  }, 5000)) << w.log().toStdString();
  auto* view = w.child<QChartView>("atomsAnalysisChart");
  ASSERT_NE(view, nullptr);
  // Reference: the run's own results.json, one point (q* under the AIP, R^2) per target L0.
  QFile f(run + QStringLiteral("/artifacts/results.json"));
  ASSERT_TRUE(f.open(QIODevice::ReadOnly));
  const QByteArray bytes = f.readAll();
  const Json results = Json::parse(bytes.constData(), bytes.constData() + bytes.size());
  std::map<std::string, std::map<double, QPointF>> expected;
  for (const auto& r : results["results"])
    expected[r["basis"].get<std::string>()][r["target_l0"].get<double>()] =
        QPointF(r["aip"]["q_star"].get<double>(), r["r2"].get<double>());
  ASSERT_EQ(expected.size(), 3u);  // neurons, features, atoms
  ASSERT_EQ(view->chart()->series().size(), 3);
  // The title says which rows were measured: the held-out ones, as many as the run measured.
  const auto measured = results["results"][0]["rows"].get<std::int64_t>();
  EXPECT_TRUE(view->chart()->title().contains(QStringLiteral("on %1 held-out rows").arg(measured)))
      << view->chart()->title().toStdString();
  for (QAbstractSeries* series : view->chart()->series()) {
    auto* line = qobject_cast<QLineSeries*>(series);
    ASSERT_NE(line, nullptr);
    const std::string basis = line->objectName().toStdString();
    ASSERT_TRUE(expected.count(basis)) << basis;
    const auto pts = line->points();
    ASSERT_EQ(pts.size(), static_cast<int>(expected[basis].size())) << basis;
    int i = 0;
    for (const auto& [target, p] : expected[basis]) {
      EXPECT_DOUBLE_EQ(pts[i].x(), p.x()) << basis << " L0 " << target;
      EXPECT_DOUBLE_EQ(pts[i].y(), p.y()) << basis << " L0 " << target;
      ++i;
    }
  }
}

}  // namespace
}  // namespace atomscope::gui
#endif  // ATOMSCOPE_HAVE_SAE
