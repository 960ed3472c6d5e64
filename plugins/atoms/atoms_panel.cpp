#include "atoms_panel.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QPushButton>
#include <QSet>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QUrl>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <map>

#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/own_turn.h"
#include "atomscope/gui/workbench.h"
#include "atomscope/sae/atom_index.h"

namespace atomscope::gui::atoms {

namespace {

Json readJsonFile(const QString& path, QString* error) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    if (error) *error = QObject::tr("cannot read %1").arg(path);
    return Json();
  }
  const QByteArray b = f.readAll();
  Json j = Json::parse(b.constData(), b.constData() + b.size(), nullptr, false);
  if (j.is_discarded() && error) *error = QObject::tr("%1 is not valid JSON").arg(path);
  return j;
}

QString esc(const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); }

// Orange highlight whose opacity follows the activation.
QString highlight(double alpha) {
  return QStringLiteral("background-color: rgba(255, 140, 0, %1);").arg(std::clamp(alpha, 0.0, 1.0) * 0.9, 0, 'f', 3);
}

QString fmt(double v, int prec = 4) { return QString::number(v, 'g', prec); }

}  // namespace

AtomsPanel::AtomsPanel(Workbench& workbench, QWidget* parent) : QWidget(parent), workbench_(workbench) {
  setObjectName(QStringLiteral("atomsPanel"));
  build();
  jobManager_ = &workbench_.jobs();
  connect(&workbench_.jobs(), &JobManager::jobFinished, this,
          [this](int id, core::RunStatus status, const QString& runDir, const QString& error) {
            onFinished(id, static_cast<int>(status), runDir, error);
          });
}

AtomsPanel::~AtomsPanel() {
  auto* jobs = qobject_cast<JobManager*>(jobManager_.data());
  if (!jobs) return;
  for (auto it = pending_.begin(); it != pending_.end(); ++it)
    if (jobs->contains(it.key()) && !jobs->state(it.key()).finished) jobs->cancel(it.key());
}

void AtomsPanel::build() {
  auto* v = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  auto button = [&](const QString& text, const char* name, auto fn) {
    auto* b = new QPushButton(text, this);
    b->setObjectName(QString::fromLatin1(name));
    connect(b, &QPushButton::clicked, this, fn);
    bar->addWidget(b);
    return b;
  };
  button(tr("Open index\u2026"), "atomsOpenIndex", [this] { openIndexDialog(); });
  button(tr("Open SAE\u2026"), "atomsOpenSae", [this] { openSaeDialog(); });
  button(tr("Build index\u2026"), "atomsBuildIndex", [this] {
    Json init = Json::object();
    if (!sae_.isEmpty()) init["sae"] = sae_.toStdString();
    if (!activations_.isEmpty()) init["activations"] = activations_.toStdString();
    workbench_.showJobForm(QStringLiteral("sae.index"), init);
  });
  button(tr("Export SAELens\u2026"), "atomsExport", [this] { exportDialog(); });
  button(tr("Import SAELens\u2026"), "atomsImport", [this] { importDialog(); });
  status_ = new QLabel(tr("No atom index open: Atoms > Open atom index (a sae.index run's atoms.db)."), this);
  status_->setObjectName(QStringLiteral("atomsStatus"));
  bar->addWidget(status_, 1);
  v->addLayout(bar);
  tabs_ = new QTabWidget(this);
  tabs_->setObjectName(QStringLiteral("atomsTabs"));
  tabs_->addTab(buildAtomsTab(), tr("Atoms"));
  tabs_->addTab(buildTryTab(), tr("Try text"));
  tabs_->addTab(buildChartTab(), tr("R\u00b2 vs q*"));
  v->addWidget(tabs_, 1);
}

QWidget* AtomsPanel::buildAtomsTab() {
  auto* split = new QSplitter(Qt::Horizontal);
  auto* left = new QWidget;
  auto* lv = new QVBoxLayout(left);
  lv->setContentsMargins(0, 0, 0, 0);
  auto* fl = new QHBoxLayout;
  filter_ = new QLineEdit(left);
  filter_->setObjectName(QStringLiteral("atomsFilter"));
  filter_->setPlaceholderText(tr("Search contexts (FTS5: words, \"phrase\", pre*, AND/OR/NOT)"));
  connect(filter_, &QLineEdit::returnPressed, this, [this] { setFilterText(filter_->text()); });
  fl->addWidget(filter_, 1);
  fl->addWidget(new QLabel(tr("freq"), left));
  auto spin = [&](const char* name, double value) {
    auto* s = new QDoubleSpinBox(left);
    s->setObjectName(QString::fromLatin1(name));
    s->setDecimals(4);
    s->setRange(0, 1);
    s->setSingleStep(0.001);
    s->setValue(value);
    connect(s, &QDoubleSpinBox::valueChanged, this, [this] { setFrequencyRange(freqMin_->value(), freqMax_->value()); });
    fl->addWidget(s);
    return s;
  };
  freqMin_ = spin("atomsFreqMin", 0);
  fl->addWidget(new QLabel(QStringLiteral("\u2013"), left));
  freqMax_ = spin("atomsFreqMax", 1);
  lv->addLayout(fl);
  table_ = new QTableWidget(0, ColCount, left);
  table_->setObjectName(QStringLiteral("atomsTable"));
  table_->setHorizontalHeaderLabels({tr("Atom"), tr("Frequency"), tr("Mean act."), tr("Max act."), tr("Promotes"), tr("")});
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setStretchLastSection(true);
  // Column widths from the first 200 rows: measuring every row of a 16k-atom list takes seconds.
  table_->horizontalHeader()->setResizeContentsPrecision(200);
  table_->setSortingEnabled(true);
  connect(table_, &QTableWidget::currentCellChanged, this, [this](int row, int, int, int) {
    if (row < 0) return;
    if (auto* it = table_->item(row, ColAtom)) showAtom(it->data(Qt::DisplayRole).toInt());
  });
  lv->addWidget(table_, 1);
  split->addWidget(left);

  auto* right = new QSplitter(Qt::Vertical);
  page_ = new QTextBrowser;
  page_->setObjectName(QStringLiteral("atomsPage"));
  page_->setOpenLinks(false);
  connect(page_, &QTextBrowser::anchorClicked, this, &AtomsPanel::onLink);
  right->addWidget(page_);
  histogram_ = new QChartView;
  histogram_->setObjectName(QStringLiteral("atomsHistogram"));
  histogram_->setRenderHint(QPainter::Antialiasing);
  histogram_->setMinimumHeight(180);
  histogram_->chart()->setTitle(tr("Activation histogram"));
  histogram_->chart()->legend()->hide();
  right->addWidget(histogram_);
  right->setStretchFactor(0, 3);
  right->setStretchFactor(1, 1);
  split->addWidget(right);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 3);
  return split;
}

QWidget* AtomsPanel::buildTryTab() {
  auto* w = new QWidget;
  auto* v = new QVBoxLayout(w);
  tryEdit_ = new QLineEdit(w);
  tryEdit_->setObjectName(QStringLiteral("atomsTryEdit"));
  tryEdit_->setPlaceholderText(tr("Type a text and press Enter: the model runs on it (sae.encode_text)"));
  connect(tryEdit_, &QLineEdit::returnPressed, this, [this] { tryText(tryEdit_->text()); });
  v->addWidget(tryEdit_);
  auto* split = new QSplitter(Qt::Vertical, w);
  tryView_ = new QTextBrowser(split);
  tryView_->setObjectName(QStringLiteral("atomsTryView"));
  tryView_->setOpenLinks(false);
  connect(tryView_, &QTextBrowser::anchorClicked, this, &AtomsPanel::onLink);
  // Hovering a token lists its atoms too.
  connect(tryView_, &QTextBrowser::highlighted, this, [this](const QUrl& url) {
    if (url.scheme() == QLatin1String("tok")) selectToken(url.path().toInt());
  });
  tryDetail_ = new QTextBrowser(split);
  tryDetail_->setObjectName(QStringLiteral("atomsTryDetail"));
  tryDetail_->setOpenLinks(false);
  connect(tryDetail_, &QTextBrowser::anchorClicked, this, &AtomsPanel::onLink);
  split->addWidget(tryView_);
  split->addWidget(tryDetail_);
  v->addWidget(split, 1);
  return w;
}

QWidget* AtomsPanel::buildChartTab() {
  auto* w = new QWidget;
  auto* v = new QVBoxLayout(w);
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Site"), w));
  siteBox_ = new QComboBox(w);
  siteBox_->setObjectName(QStringLiteral("atomsSite"));
  connect(siteBox_, &QComboBox::currentTextChanged, this, [this](const QString&) { drawAnalysis(); });
  bar->addWidget(siteBox_, 1);
  auto* open = new QPushButton(tr("Open sae.analyze run\u2026"), w);
  open->setObjectName(QStringLiteral("atomsOpenAnalysis"));
  connect(open, &QPushButton::clicked, this, [this] { openAnalysisDialog(); });
  bar->addWidget(open);
  auto* run = new QPushButton(tr("Run sae.analyze\u2026"), w);
  run->setObjectName(QStringLiteral("atomsRunAnalyze"));
  connect(run, &QPushButton::clicked, this, [this] { runAnalyze(); });
  bar->addWidget(run);
  v->addLayout(bar);
  analysisChart_ = new QChartView(w);
  analysisChart_->setObjectName(QStringLiteral("atomsAnalysisChart"));
  analysisChart_->setRenderHint(QPainter::Antialiasing);
  analysisChart_->chart()->setTitle(tr("No sae.analyze results: open a run or run sae.analyze"));
  v->addWidget(analysisChart_, 1);
  return w;
}

// ------------------------------------------------------------------------------------- opening

void AtomsPanel::fail(const QString& message) {
  lastError_ = message;
  status_->setText(message);
  workbench_.log(tr("Atoms: %1").arg(message), true);
}

bool AtomsPanel::openIndex(const QString& atomsDb) {
  QString file = atomsDb;
  if (QFileInfo(file).isDir()) {
    for (const QString& c : {file + QStringLiteral("/atoms.db"), file + QStringLiteral("/artifacts/atoms.db")})
      if (QFileInfo::exists(c)) file = c;
  }
  try {
    index_ = std::make_unique<sae::AtomIndex>(sae::AtomIndex::open(file.toStdString()));
  } catch (const std::exception& e) {
    fail(QString::fromStdString(e.what()));
    return false;
  }
  indexFile_ = file;
  lastError_.clear();
  const Json meta = index_->meta();
  if (meta.contains("activations") && meta["activations"].is_string())
    activations_ = QString::fromStdString(meta["activations"].get<std::string>());
  fillTable();
  // Start on the most frequent atom's page.
  sortBy(ColFrequency, false);
  if (table_->rowCount() > 0) {
    table_->setCurrentCell(0, ColAtom);
    showAtom(table_->item(0, ColAtom)->data(Qt::DisplayRole).toInt());
  }
  status_->setText(tr("%1 atoms from %2").arg(index_->atomCount()).arg(QDir::toNativeSeparators(file)));
  // The index does not store its SAE's folder; the sae.index run that wrote it (run.json beside
  // artifacts/) has it as a parameter.
  QString error;
  const Json record = readJsonFile(QFileInfo(file).absolutePath() + QStringLiteral("/../run.json"), &error);
  if (record.is_object() && record.contains("params") && record["params"].contains("sae") && record["params"]["sae"].is_string()) {
    QString s = QString::fromStdString(record["params"]["sae"].get<std::string>());
    if (!QFileInfo::exists(s + QStringLiteral("/cfg.json")) && QFileInfo::exists(s + QStringLiteral("/artifacts/sae/cfg.json")))
      s += QStringLiteral("/artifacts/sae");
    if (QFileInfo::exists(s + QStringLiteral("/cfg.json")) && QDir(s).canonicalPath() != QDir(sae_).canonicalPath()) openSae(s);
  }
  return true;
}

bool AtomsPanel::openSae(const QString& folder) {
  QString f = folder;
  if (!QFileInfo::exists(f + QStringLiteral("/cfg.json")) && QFileInfo::exists(f + QStringLiteral("/artifacts/sae/cfg.json")))
    f += QStringLiteral("/artifacts/sae");
  QString error;
  const Json cfg = readJsonFile(f + QStringLiteral("/cfg.json"), &error);
  if (!error.isEmpty() || !cfg.is_object()) {
    fail(error.isEmpty() ? tr("%1/cfg.json is not an SAE configuration").arg(f) : error);
    return false;
  }
  if (!QFileInfo::exists(f + QStringLiteral("/sae_weights.safetensors"))) {
    fail(tr("%1 has no sae_weights.safetensors").arg(f));
    return false;
  }
  sae_ = f;
  lastError_.clear();
  if (cfg.contains("atomscope") && cfg["atomscope"].contains("info") && cfg["atomscope"]["info"].contains("activations"))
    activations_ = QString::fromStdString(cfg["atomscope"]["info"]["activations"].get<std::string>());
  neighbours_ = Json();
  Json params{{"sae", f.toStdString()}};
  if (!activations_.isEmpty()) params["activations"] = activations_.toStdString();
  startJob(QStringLiteral("sae.neighbors"), params, [this](const QString& runDir) {
    QString err;
    neighbours_ = readJsonFile(runDir + QStringLiteral("/artifacts/neighbors.json"), &err);
    if (!err.isEmpty()) fail(err);
    if (shownAtom_ >= 0) showAtom(shownAtom_);
  });
  return true;
}

int AtomsPanel::startJob(const QString& job, const Json& params, std::function<void(const QString&)> onDone) {
  const int id = workbench_.jobs().start(job, params, device_);
  if (id < 0) {
    fail(tr("could not start %1").arg(job));
    return id;
  }
  pending_.insert(id, std::move(onDone));
  return id;
}

void AtomsPanel::onFinished(int id, int status, const QString& runDir, const QString& error) {
  const JobState state = workbench_.jobs().state(id);
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    // Runs started elsewhere (Jobs > Run job, the Build index / Run sae.analyze forms) are shown too.
    if (status != static_cast<int>(core::RunStatus::Completed)) return;
    // In a turn of its own, after the other panels have taken the finished run (own_turn.h).
    const QString job = state.job;
    inOwnTurn(this, [this, job, runDir] {
      if (job == QLatin1String("sae.index")) openIndex(runDir + QStringLiteral("/artifacts/atoms.db"));
      else if (job == QLatin1String("sae.analyze")) showAnalysis(runDir);
    });
    return;
  }
  auto fn = std::move(it.value());
  pending_.erase(it);
  if (status != static_cast<int>(core::RunStatus::Completed)) {
    fail(tr("%1 did not finish: %2").arg(state.job, error.isEmpty() ? tr("cancelled") : error));
    return;
  }
  fn(runDir);
}

// ---------------------------------------------------------------------------------------- list

void AtomsPanel::fillTable() {
  table_->setSortingEnabled(false);
  table_->clearContents();
  const auto atoms = index_->atoms("id");
  const auto promoted = index_->promotedByAtom(5);
  table_->setRowCount(static_cast<int>(atoms.size()));
  int row = 0;
  for (const auto& a : atoms) {
    auto num = [&](int col, double v) {
      auto* it = new QTableWidgetItem;
      it->setData(Qt::DisplayRole, v);  // numeric, so the header sorts by value
      table_->setItem(row, col, it);
      return it;
    };
    num(ColAtom, static_cast<double>(a.id))->setData(Qt::DisplayRole, static_cast<int>(a.id));
    num(ColFrequency, a.frequency);
    num(ColMean, a.meanActivation);
    num(ColMax, a.maxActivation);
    QStringList toks;
    if (auto it = promoted.find(a.id); it != promoted.end())
      for (const auto& p : it->second) toks << QString::fromStdString(p.token).trimmed();
    table_->setItem(row, ColPromoted, new QTableWidgetItem(toks.join(QStringLiteral(", "))));
    const bool dead = a.frequency <= 0;
    table_->setItem(row, ColStatus, new QTableWidgetItem(dead ? tr("dead") : QString()));
    if (dead)
      for (int c = 0; c < ColCount; ++c) table_->item(row, c)->setForeground(QColor(150, 150, 150));
    ++row;
  }
  table_->setSortingEnabled(true);
  table_->resizeColumnsToContents();
  applyFilter();
}

int AtomsPanel::atomRowCount() const { return table_->rowCount(); }

QVariantList AtomsPanel::visibleAtoms() const {
  QVariantList out;
  for (int r = 0; r < table_->rowCount(); ++r)
    if (!table_->isRowHidden(r)) out << table_->item(r, ColAtom)->data(Qt::DisplayRole).toInt();
  return out;
}

void AtomsPanel::setFilterText(const QString& ftsQuery) {
  filterText_ = ftsQuery.trimmed();
  if (filter_->text() != ftsQuery) filter_->setText(ftsQuery);
  applyFilter();
}

void AtomsPanel::setFrequencyRange(double lo, double hi) {
  freqLo_ = lo;
  freqHi_ = hi;
  const QSignalBlocker b1(freqMin_), b2(freqMax_);
  freqMin_->setValue(lo);
  freqMax_->setValue(hi);
  applyFilter();
}

void AtomsPanel::sortBy(int column, bool ascending) { table_->sortByColumn(column, ascending ? Qt::AscendingOrder : Qt::DescendingOrder); }

void AtomsPanel::applyFilter() {
  if (!index_) return;
  QSet<int> matching;
  const bool byText = !filterText_.isEmpty();
  if (byText) {
    try {
      for (const auto& c : index_->search(filterText_.toStdString(), 1 << 30)) matching.insert(static_cast<int>(c.atom));
    } catch (const std::exception& e) {
      fail(QString::fromStdString(e.what()));
      return;
    }
  }
  int shown = 0;
  for (int r = 0; r < table_->rowCount(); ++r) {
    const int id = table_->item(r, ColAtom)->data(Qt::DisplayRole).toInt();
    const double f = table_->item(r, ColFrequency)->data(Qt::DisplayRole).toDouble();
    const bool show = (!byText || matching.contains(id)) && f >= freqLo_ && f <= freqHi_;
    table_->setRowHidden(r, !show);
    shown += show;
  }
  status_->setText(tr("%1 of %2 atoms shown").arg(shown).arg(table_->rowCount()));
}

// ------------------------------------------------------------------------------------ atom page

QVariantList AtomsPanel::neighbours(const QString& geometry) const {
  QVariantList out;
  const std::string g = geometry.toStdString();
  if (!neighbours_.is_object() || !neighbours_.contains(g) || shownAtom_ < 0) return out;
  const auto& rows = neighbours_[g];
  if (shownAtom_ >= static_cast<int>(rows.size())) return out;
  for (const auto& n : rows[static_cast<std::size_t>(shownAtom_)])
    out << QVariantMap{{QStringLiteral("atom"), n["atom"].get<int>()}, {QStringLiteral("cos"), n["cos"].get<double>()}};
  return out;
}

void AtomsPanel::showAtom(int atom) {
  if (!index_) return;
  const auto a = index_->atom(atom);
  if (!a) {
    fail(tr("atom %1 is not in the index").arg(atom));
    return;
  }
  shownAtom_ = atom;
  highlighted_.clear();
  promoted_.clear();
  QString html;
  html += tr("<h2>Atom %1%2</h2>").arg(atom).arg(a->frequency <= 0 ? tr(" (dead)") : QString());
  html += tr("<p>frequency %1 &middot; mean activation %2 &middot; max %3 &middot; threshold %4</p>")
              .arg(fmt(a->frequency), fmt(a->meanActivation), fmt(a->maxActivation), fmt(a->threshold));
  const auto contexts = index_->contexts(atom);
  double top = 0;
  for (const auto& c : contexts)
    for (const auto& t : c.tokens) top = std::max(top, t.value("a", 0.0));
  html += tr("<h3>Top contexts</h3>");
  int ci = 0;
  for (const auto& c : contexts) {
    html += QStringLiteral("<p style=\"white-space: pre-wrap; font-family: monospace;\">%1&nbsp;&nbsp;").arg(fmt(c.activation, 3));
    int ti = 0;
    for (const auto& t : c.tokens) {
      const double act = t.value("a", 0.0);
      const double alpha = top > 0 ? act / top : 0;
      const QString text = QString::fromStdString(t.value("t", ""));
      QString style = act > 0 ? highlight(alpha) : QString();
      if (ti == c.focus) style += QStringLiteral("text-decoration: underline;");
      html += QStringLiteral("<span style=\"%1\" title=\"%2\">%3</span>").arg(style, fmt(act), text.toHtmlEscaped());
      highlighted_ << QVariantMap{{QStringLiteral("context"), ci}, {QStringLiteral("token"), ti}, {QStringLiteral("t"), text},
                                  {QStringLiteral("a"), act}, {QStringLiteral("alpha"), alpha}};
      ++ti;
    }
    html += QStringLiteral("</p>");
    ++ci;
  }
  if (contexts.empty()) html += tr("<p><i>No activating contexts.</i></p>");
  html += tr("<h3>Promoted tokens</h3><p>");
  for (const auto& p : index_->promoted(atom)) {
    promoted_ << QString::fromStdString(p.token);
    html += QStringLiteral("<code>%1</code> (%2) &nbsp; ").arg(esc(p.token), fmt(p.logit, 3));
  }
  html += QStringLiteral("</p>");
  auto neighbourList = [&](const QString& g, const QString& title) {
    html += QStringLiteral("<h3>%1</h3><p>").arg(title);
    const auto list = neighbours(g);
    if (list.isEmpty()) html += tr("<i>%1</i>").arg(sae_.isEmpty() ? tr("open the SAE to see neighbours") : tr("computing (sae.neighbors)\u2026"));
    for (const auto& v : list) {
      const auto m = v.toMap();
      html += QStringLiteral("<a href=\"atom:%1\">#%1</a> (%2) &nbsp; ").arg(m[QStringLiteral("atom")].toInt()).arg(fmt(m[QStringLiteral("cos")].toDouble(), 3));
    }
    html += QStringLiteral("</p>");
  };
  neighbourList(QStringLiteral("aip"), tr("Nearest atoms under the AIP (cosine after whitening)"));
  neighbourList(QStringLiteral("cosine"), tr("Nearest atoms under plain cosine"));
  page_->setHtml(html);
  drawHistogram(a->histogram);
}

void AtomsPanel::drawHistogram(const Json& h) {
  QChart* chart = histogram_->chart();
  chart->removeAllSeries();
  for (QAbstractAxis* ax : chart->axes()) {
    chart->removeAxis(ax);
    delete ax;
  }
  chart->setTitle(tr("Activation histogram of atom %1 (nonzero activations)").arg(shownAtom_));
  if (!h.is_object() || !h.contains("counts") || !h.contains("edges")) return;
  auto* set = new QBarSet(tr("count"));
  set->setObjectName(QStringLiteral("atomsHistogramSet"));
  QStringList labels;
  const auto& edges = h["edges"];
  const auto& counts = h["counts"];
  for (std::size_t i = 0; i < counts.size(); ++i) {
    *set << counts[i].get<double>();
    const double mid = i + 1 < edges.size() ? 0.5 * (edges[i].get<double>() + edges[i + 1].get<double>()) : 0;
    labels << QString::number(mid, 'g', 2);
  }
  auto* series = new QBarSeries;
  series->append(set);
  series->setBarWidth(1.0);
  chart->addSeries(series);
  auto* x = new QBarCategoryAxis;
  x->append(labels);
  x->setTitleText(tr("activation (bin centre)"));
  x->setLabelsAngle(-90);  // 20 bins: horizontal labels would be elided
  QFont small = x->labelsFont();
  small.setPointSizeF(small.pointSizeF() * 0.8);
  x->setLabelsFont(small);
  auto* y = new QValueAxis;
  y->setTitleText(tr("count"));
  y->setLabelFormat(QStringLiteral("%d"));
  chart->addAxis(x, Qt::AlignBottom);
  chart->addAxis(y, Qt::AlignLeft);
  series->attachAxis(x);
  series->attachAxis(y);
}

void AtomsPanel::onLink(const QUrl& url) {
  if (url.scheme() == QLatin1String("atom")) {
    const int atom = url.path().toInt();
    tabs_->setCurrentIndex(0);
    // Select its row (shows the page through currentCellChanged) or show it directly.
    for (int r = 0; r < table_->rowCount(); ++r)
      if (table_->item(r, ColAtom)->data(Qt::DisplayRole).toInt() == atom) {
        table_->setCurrentCell(r, ColAtom);
        break;
      }
    showAtom(atom);
  } else if (url.scheme() == QLatin1String("tok")) {
    selectToken(url.path().toInt());
  }
}

// ------------------------------------------------------------------------------------- try text

bool AtomsPanel::tryText(const QString& text) {
  if (sae_.isEmpty()) {
    fail(tr("open an SAE (or an atom index that names one) before trying a text"));
    return false;
  }
  if (text.trimmed().isEmpty()) return false;
  if (tryEdit_->text() != text) tryEdit_->setText(text);
  tabs_->setCurrentIndex(1);
  tryResult_ = Json();
  selectedToken_ = -1;
  tryView_->setHtml(tr("<i>running the model (sae.encode_text)\u2026</i>"));
  tryDetail_->clear();
  return startJob(QStringLiteral("sae.encode_text"), Json{{"sae", sae_.toStdString()}, {"text", text.toStdString()}, {"top", 8}},
                  [this](const QString& runDir) {
                    QString err;
                    tryResult_ = readJsonFile(runDir + QStringLiteral("/artifacts/tokens.json"), &err);
                    if (!err.isEmpty()) fail(err);
                    renderTryText();
                  }) >= 0;
}

int AtomsPanel::tryTokenCount() const {
  return tryResult_.is_object() && tryResult_.contains("tokens") ? static_cast<int>(tryResult_["tokens"].size()) : 0;
}

QString AtomsPanel::tryTokenText(int i) const {
  if (i < 0 || i >= tryTokenCount()) return {};
  return QString::fromStdString(tryResult_["tokens"][static_cast<std::size_t>(i)].value("t", ""));
}

QVariantList AtomsPanel::tokenAtoms(int i) const {
  QVariantList out;
  if (i < 0 || i >= tryTokenCount()) return out;
  for (const auto& a : tryResult_["tokens"][static_cast<std::size_t>(i)]["atoms"])
    out << QVariantMap{{QStringLiteral("atom"), a["atom"].get<int>()}, {QStringLiteral("a"), a["a"].get<double>()}};
  return out;
}

void AtomsPanel::renderTryText() {
  double top = 0;
  for (int i = 0; i < tryTokenCount(); ++i) {
    if (tryResult_["tokens"][static_cast<std::size_t>(i)].value("bos", false)) continue;
    const auto atoms = tokenAtoms(i);
    if (!atoms.isEmpty()) top = std::max(top, atoms.front().toMap()[QStringLiteral("a")].toDouble());
  }
  QString html = QStringLiteral("<p style=\"font-size: large; white-space: pre-wrap;\">");
  for (int i = 0; i < tryTokenCount(); ++i) {
    if (tryResult_["tokens"][static_cast<std::size_t>(i)].value("bos", false)) continue;  // not trained on (sae.collect skips it)
    const auto atoms = tokenAtoms(i);
    const double a = atoms.isEmpty() ? 0 : atoms.front().toMap()[QStringLiteral("a")].toDouble();
    QString style = QStringLiteral("color: black; text-decoration: none;") + (a > 0 && top > 0 ? highlight(a / top) : QString());
    if (i == selectedToken_) style += QStringLiteral("border: 1px solid black; text-decoration: underline;");
    html += QStringLiteral("<a href=\"tok:%1\" style=\"%2\">%3</a>").arg(i).arg(style, tryTokenText(i).toHtmlEscaped());
  }
  html += QStringLiteral("</p>");
  if (tryTokenCount() > 0) html += tr("<p><i>Click or hover a token to list the atoms that fire on it.</i></p>");
  tryView_->setHtml(html);
}

void AtomsPanel::selectToken(int i) {
  if (i < 0 || i >= tryTokenCount() || i == selectedToken_) return;
  selectedToken_ = i;
  const auto& tok = tryResult_["tokens"][static_cast<std::size_t>(i)];
  QString html = tr("<h3>Token %1: <code>%2</code> &middot; %3 atoms active</h3>")
                     .arg(i)
                     .arg(tryTokenText(i).toHtmlEscaped())
                     .arg(tok.value("l0", 0));
  html += QStringLiteral("<table cellpadding=\"3\"><tr><th>atom</th><th>activation</th><th>promotes</th></tr>");
  for (const auto& v : tokenAtoms(i)) {
    const auto m = v.toMap();
    const int atom = m[QStringLiteral("atom")].toInt();
    QStringList toks;
    if (index_)
      for (const auto& p : index_->promoted(atom)) {
        if (toks.size() >= 5) break;
        toks << QString::fromStdString(p.token).trimmed().toHtmlEscaped();
      }
    html += QStringLiteral("<tr><td><a href=\"atom:%1\">#%1</a></td><td>%2</td><td>%3</td></tr>")
                .arg(atom)
                .arg(fmt(m[QStringLiteral("a")].toDouble()))
                .arg(toks.join(QStringLiteral(", ")));
  }
  html += QStringLiteral("</table>");
  tryDetail_->setHtml(html);
}

// ---------------------------------------------------------------------------------------- R^2-q*

bool AtomsPanel::showAnalysis(const QString& runDir) {
  QString err;
  const Json j = readJsonFile(runDir + QStringLiteral("/artifacts/results.json"), &err);
  if (!err.isEmpty() || !j.is_object() || !j.contains("results")) {
    fail(err.isEmpty() ? tr("%1 holds no sae.analyze results (artifacts/results.json)").arg(runDir) : err);
    return false;
  }
  analysis_ = j;
  QStringList sites;
  for (const auto& r : j["results"]) {
    const QString s = QString::fromStdString(r.value("site", ""));
    if (!sites.contains(s)) sites << s;
  }
  const QSignalBlocker block(siteBox_);
  siteBox_->clear();
  siteBox_->addItems(sites);
  drawAnalysis();
  tabs_->setCurrentIndex(2);
  return true;
}

QStringList AtomsPanel::analysisSites() const {
  QStringList out;
  for (int i = 0; i < siteBox_->count(); ++i) out << siteBox_->itemText(i);
  return out;
}

void AtomsPanel::setAnalysisSite(const QString& site) { siteBox_->setCurrentText(site); }

void AtomsPanel::drawAnalysis() {
  QChart* chart = analysisChart_->chart();
  chart->removeAllSeries();
  for (QAbstractAxis* ax : chart->axes()) {
    chart->removeAxis(ax);
    delete ax;
  }
  if (!analysis_.is_object()) return;
  const std::string site = siteBox_->currentText().toStdString();
  // Which rows were measured matters as much as the numbers: a dictionary fitted to few rows reconstructs those
  // almost exactly and held-out ones poorly.
  const bool onTraining = analysis_.value("evaluated_on", "held_out") == "training";
  const auto& all = analysis_["results"];
  const auto measured = all.empty() ? std::int64_t{0} : all[0].value("rows", std::int64_t{0});
  const QString rows = onTraining ? tr("on %1 of its %2 training rows").arg(measured).arg(analysis_.value("train_rows", std::int64_t{0}))
                                  : tr("on %1 held-out rows").arg(measured);
  chart->setTitle(tr("R\u00b2 vs q* (AIP) at %1 %2, one point per target L0").arg(siteBox_->currentText(), rows));
  // basis -> target -> (q*, R^2)
  std::map<std::string, std::map<double, QPointF>> pts;
  for (const auto& r : analysis_["results"])
    if (r.value("site", "") == site)
      pts[r.value("basis", "")][r.value("target_l0", 0.0)] = QPointF(r["aip"].value("q_star", 0.0), r.value("r2", 0.0));
  auto* x = new QValueAxis;
  x->setTitleText(tr("q* (AIP)"));
  x->setRange(0, 1);
  auto* y = new QValueAxis;
  y->setTitleText(tr("R\u00b2"));
  double ylo = 1;
  for (const auto& [b, m] : pts)
    for (const auto& [t, p] : m) ylo = std::min(ylo, p.y());
  y->setRange(std::min(0.0, std::floor(ylo * 10) / 10), 1);
  chart->addAxis(x, Qt::AlignBottom);
  chart->addAxis(y, Qt::AlignLeft);
  for (const auto& [basis, m] : pts) {
    auto* s = new QLineSeries;
    s->setName(QString::fromStdString(basis));
    s->setObjectName(QString::fromStdString(basis));
    s->setPointsVisible(true);
    s->setPointLabelsVisible(true);
    s->setPointLabelsFormat(QStringLiteral("@xPoint, @yPoint"));
    s->setPointLabelsVisible(false);
    for (const auto& [t, p] : m) s->append(p);
    chart->addSeries(s);
    s->attachAxis(x);
    s->attachAxis(y);
  }
}

void AtomsPanel::runAnalyze() {
  Json init = Json::object();
  if (!activations_.isEmpty()) init["activations"] = activations_.toStdString();
  // The form lets the user choose sites, targets and training length; the finished run comes back
  // through onFinished (a sae.analyze run started elsewhere).
  workbench_.showJobForm(QStringLiteral("sae.analyze"), init);
}

// --------------------------------------------------------------------------------- export/import

bool AtomsPanel::exportSae(const QString& outFolder) {
  if (sae_.isEmpty()) {
    fail(tr("no SAE is open to export"));
    return false;
  }
  return startJob(QStringLiteral("sae.export"), Json{{"sae", sae_.toStdString()}, {"out", outFolder.toStdString()}},
                  [this, outFolder](const QString&) { status_->setText(tr("exported to %1 (SAELens layout)").arg(outFolder)); }) >= 0;
}

bool AtomsPanel::importSae(const QString& folder) {
  return startJob(QStringLiteral("sae.import"), Json{{"folder", folder.toStdString()}}, [this](const QString& runDir) {
           lastImported_ = runDir + QStringLiteral("/artifacts/sae");
           openSae(lastImported_);
           status_->setText(tr("imported %1; build its index (Build index\u2026) to browse its atoms").arg(lastImported_));
         }) >= 0;
}

void AtomsPanel::exportDialog() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Export the SAE (SAELens layout) into"));
  if (!dir.isEmpty()) exportSae(dir);
}

void AtomsPanel::importDialog() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("A SAELens folder (cfg.json + sae_weights.safetensors)"));
  if (!dir.isEmpty()) importSae(dir);
}

void AtomsPanel::openIndexDialog() {
  const QString f = QFileDialog::getOpenFileName(this, tr("Atom index"), QString(), tr("Atom index (atoms.db)"));
  if (!f.isEmpty()) openIndex(f);
}

void AtomsPanel::openSaeDialog() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("SAE folder or sae.train run"));
  if (!dir.isEmpty()) openSae(dir);
}

void AtomsPanel::openAnalysisDialog() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("A sae.analyze run folder"));
  if (!dir.isEmpty()) showAnalysis(dir);
}

}  // namespace atomscope::gui::atoms
