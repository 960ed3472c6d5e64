#include "nas_panel.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QCoreApplication>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>

#include "atomscope/core/job.h"
#include "atomscope/gui/escape_cancels.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/workbench.h"
#include "atomscope/nas/search_space.h"  // torch-free: the space checks nas.search makes
#include "nas_charts.h"

namespace atomscope::gui::nas {

namespace {

const char* kSearchJob = "nas.search";
const char* kEvaluateJob = "nas.evaluate";
const char* kRandomJob = "nas.random_search";

// The searchable dimensions in the module's order (metrics are "w.<dim>.<choice>").
struct DimInfo {
  const char* key;
  const char* title;
};
const DimInfo kDims[atomscope::nas::kNumDims] = {
    {"layers", "Layers"}, {"heads", "Heads"}, {"embed", "Embedding"}, {"mlp_ratio", "MLP ratio"}};

QString grouped(long long n) { return QLocale(QLocale::English).toString(n); }

// The first existing file among roots/relative: $ATOMSCOPE_SAMPLES_DIR, the installed share folder,
// the source tree's samples/ and ../shared/data (development builds).
QString findData(const QStringList& relatives) {
  QStringList roots;
  const QByteArray env = qgetenv("ATOMSCOPE_SAMPLES_DIR");
  if (!env.isEmpty()) roots << QString::fromLocal8Bit(env);
  const QString app = QCoreApplication::applicationDirPath();
#ifdef ATOMSCOPE_NAS_SHARED_DATA
  roots << QStringLiteral(ATOMSCOPE_NAS_SHARED_DATA);
#endif
  roots << app + QStringLiteral("/../share/atomscope/samples") << app + QStringLiteral("/../samples");
#ifdef ATOMSCOPE_NAS_SOURCE_SAMPLES
  roots << QStringLiteral(ATOMSCOPE_NAS_SOURCE_SAMPLES);
#endif
  for (const QString& rel : relatives)
    for (const QString& root : roots) {
      const QString f = QDir(root).filePath(rel);
      if (QFileInfo::exists(f)) return QFileInfo(f).absoluteFilePath();
    }
  return {};
}

QString specDefault(const core::ParamSchema& s, const char* name, const QString& fallback) {
  const auto* spec = s.find(name);
  if (!spec || spec->defaultValue.is_null()) return fallback;
  if (spec->defaultValue.is_string()) return QString::fromStdString(spec->defaultValue.get<std::string>());
  return QString::fromStdString(spec->defaultValue.dump());
}

QSpinBox* spin(QWidget* parent, const char* name, int lo, int hi, int value, const QString& tip) {
  auto* s = new QSpinBox(parent);
  s->setObjectName(QString::fromLatin1(name));
  s->setRange(lo, hi);
  s->setValue(value);
  s->setToolTip(tip);
  return s;
}

Json num(long long v) { return Json(v); }

}  // namespace

NasPanel::NasPanel(Workbench& workbench, QWidget* parent) : QWidget(parent), workbench_(workbench) {
  setObjectName(QStringLiteral("nasPanel"));
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(4, 4, 4, 4);
  tabs_ = new QTabWidget(this);
  tabs_->setObjectName(QStringLiteral("nasTabs"));
  tabs_->addTab(buildSpaceTab(), tr("Space"));
  tabs_->addTab(buildSearchTab(), tr("Search"));
  tabs_->addTab(buildParetoTab(), tr("Pareto"));
  v->addWidget(tabs_, 1);

  auto* buttons = new QGridLayout;
  searchButton_ = new QPushButton(tr("Search"), this);
  searchButton_->setObjectName(QStringLiteral("nasSearch"));
  searchButton_->setToolTip(tr("Run nas.search over this space (Ctrl+Alt+S)"));
  evaluateButton_ = new QPushButton(tr("Evaluate"), this);
  evaluateButton_->setObjectName(QStringLiteral("nasEvaluate"));
  evaluateButton_->setToolTip(tr("nas.evaluate: the chosen architecture with its inherited weights, fine-tuned; "
                                 "its perplexity and size go to the Pareto plot"));
  randomButton_ = new QPushButton(tr("Random search"), this);
  randomButton_->setObjectName(QStringLiteral("nasRandom"));
  randomButton_->setToolTip(tr("nas.random_search: random architectures of this space trained from scratch, "
                               "the same steps in all; they go to the Pareto plot"));
  cancelButton_ = new QPushButton(tr("Cancel"), this);
  cancelButton_->setObjectName(QStringLiteral("nasCancel"));
  cancelButton_->setToolTip(tr("Stop the running job (Esc)"));
  buttons->setSpacing(4);
  // No button sets the dock's minimum width: the window must still fit a 1280-pixel screen with
  // every dock open (the text elides instead).
  for (QPushButton* b : {searchButton_, evaluateButton_, randomButton_, cancelButton_}) b->setMinimumWidth(32);
  buttons->addWidget(searchButton_, 0, 0);
  buttons->addWidget(evaluateButton_, 0, 1);
  buttons->addWidget(randomButton_, 0, 2);
  buttons->addWidget(cancelButton_, 0, 3);
  v->addLayout(buttons);
  progress_ = new QProgressBar(this);
  progress_->setObjectName(QStringLiteral("nasProgress"));
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setMaximumHeight(14);
  v->addWidget(progress_);
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("nasStatus"));
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  status_->setMinimumHeight(status_->fontMetrics().height() * 2);
  v->addWidget(status_);

  connect(searchButton_, &QPushButton::clicked, this, [this] { search(); });
  connect(evaluateButton_, &QPushButton::clicked, this, [this] { evaluate(); });
  connect(randomButton_, &QPushButton::clicked, this, [this] { randomSearch(); });
  connect(cancelButton_, &QPushButton::clicked, this, &NasPanel::cancel);
  new EscapeCancels(this, [this] { return job_ >= 0; }, [this] { cancel(); });

  restoreSettings();
  updateButtons();
  refreshChoice();
  refreshPareto();

  JobManager& jobs = workbench_.jobs();
  jobManager_ = &jobs;
  connect(&jobs, &JobManager::metricsArrived, this,
          [this](int id, const std::vector<core::MetricPoint>& p) { onMetrics(id, p); });
  connect(&jobs, &JobManager::progressChanged, this,
          [this](int id, double f, const QString& stage, double) { onProgress(id, f, stage); });
  connect(&jobs, &JobManager::jobFinished, this, &NasPanel::onFinished);
}

NasPanel::~NasPanel() {
  auto* jobs = qobject_cast<JobManager*>(jobManager_.data());
  if (jobs && job_ >= 0 && jobs->contains(job_) && !jobs->state(job_).finished) jobs->cancel(job_);
}

// ---------------------------------------------------------------------------------------- tabs

QWidget* NasPanel::buildSpaceTab() {
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* page = new QWidget;
  page->setObjectName(QStringLiteral("nasSpacePage"));
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(2, 2, 2, 2);

  core::ParamSchema schema;
  try {
    schema = workbench_.jobs().registry().create(kSearchJob)->schema();
  } catch (const std::exception& e) {
    workbench_.log(tr("NAS: %1").arg(QString::fromUtf8(e.what())), true);
  }

  auto* space = new QGroupBox(tr("Search space (comma-separated choices)"), page);
  auto* sf = new QFormLayout(space);
  sf->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  auto choiceEdit = [&](QLineEdit*& edit, const char* name, const char* key, const QString& label) {
    edit = new QLineEdit(space);
    edit->setObjectName(QString::fromLatin1(name));
    edit->setText(specDefault(schema, key, QString()));
    if (const auto* spec = schema.find(key)) edit->setToolTip(QString::fromStdString(spec->help));
    edit->setMinimumWidth(60);
    sf->addRow(label, edit);
    connect(edit, &QLineEdit::textChanged, this, [this] { refreshChoice(); });
  };
  // A combo box of a choice parameter of nas.search: its choices, default and help.
  auto schemaCombo = [&](QWidget* parent, const char* name, const char* key, const QString& fallback) {
    auto* box = new QComboBox(parent);
    box->setObjectName(QString::fromLatin1(name));
    if (const auto* spec = schema.find(key)) {
      for (const auto& c : spec->choices) box->addItem(QString::fromStdString(c));
      box->setCurrentText(specDefault(schema, key, fallback));
      box->setToolTip(QString::fromStdString(spec->help));
    }
    return box;
  };
  family_ = schemaCombo(space, "nasFamily", "family", QStringLiteral("llama"));
  sf->addRow(tr("Family"), family_);
  connect(family_, &QComboBox::currentTextChanged, this, [this] { refreshChoice(); });
  choiceEdit(layers_, "nasLayers", "layers", tr("Layers"));
  choiceEdit(heads_, "nasHeads", "heads", tr("Heads"));
  choiceEdit(embed_, "nasEmbed", "embed", tr("Embedding"));
  choiceEdit(mlpRatio_, "nasMlpRatio", "mlp_ratio", tr("MLP ratio"));
  choiceEdit(atoms_, "nasAtoms", "atoms", tr("MASA atoms"));
  atoms_->setPlaceholderText(tr("empty: dense attention"));
  spaceInfo_ = new QLabel(space);
  spaceInfo_->setObjectName(QStringLiteral("nasSpaceInfo"));
  spaceInfo_->setWordWrap(true);
  sf->addRow(spaceInfo_);
  v->addWidget(space);

  auto* run = new QGroupBox(tr("Search"), page);
  auto* rf = new QFormLayout(run);
  rf->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  method_ = schemaCombo(run, "nasMethod", "method", QStringLiteral("darts"));
  rf->addRow(tr("Method"), method_);
  steps_ = spin(run, "nasSteps", 1, 10000000, specDefault(schema, "steps", QStringLiteral("200")).toInt(),
                tr("Optimizer steps of the search (random search: in all, shared equally)"));
  rf->addRow(tr("Steps"), steps_);
  timeBudget_ = new QDoubleSpinBox(run);
  timeBudget_->setObjectName(QStringLiteral("nasTimeBudget"));
  timeBudget_->setRange(0, 1e7);
  timeBudget_->setDecimals(0);
  timeBudget_->setSuffix(tr(" s"));
  timeBudget_->setSpecialValueText(tr("none"));
  timeBudget_->setToolTip(tr("Stop after this many seconds of training (0: no limit)"));
  rf->addRow(tr("Time budget"), timeBudget_);
  // A spin box of a float parameter of nas.search: its default and help.
  auto schemaDouble = [&](const char* name, const char* key, int decimals, double hi, double step, const QString& fallback) {
    auto* box = new QDoubleSpinBox(run);
    box->setObjectName(QString::fromLatin1(name));
    box->setDecimals(decimals);
    box->setRange(0, hi);
    box->setSingleStep(step);
    box->setValue(specDefault(schema, key, fallback).toDouble());
    if (const auto* spec = schema.find(key)) box->setToolTip(QString::fromStdString(spec->help));
    return box;
  };
  archLr_ = schemaDouble("nasArchLr", "arch_lr", 5, 10, 1e-4, QStringLiteral("0.0003"));
  rf->addRow(tr("Arch LR"), archLr_);
  sizePenalty_ = schemaDouble("nasSizePenalty", "param_penalty", 3, 100, 0.05, QStringLiteral("0"));
  sizePenalty_->setSpecialValueText(tr("none"));
  rf->addRow(tr("Size penalty"), sizePenalty_);
  timePenalty_ = schemaDouble("nasTimePenalty", "time_penalty", 3, 100, 0.05, QStringLiteral("0"));
  timePenalty_->setSpecialValueText(tr("none"));
  rf->addRow(tr("Time penalty"), timePenalty_);

  auto pathRow = [&](QLineEdit*& edit, const char* name, const QString& placeholder, const QString& filter, bool folder) {
    auto* row = new QHBoxLayout;
    edit = new QLineEdit(run);
    edit->setObjectName(QString::fromLatin1(name));
    edit->setPlaceholderText(placeholder);
    edit->setMinimumWidth(60);
    row->addWidget(edit, 1);
    auto* file = new QToolButton(run);
    file->setText(QStringLiteral("\u2026"));
    file->setToolTip(tr("Choose a file"));
    row->addWidget(file);
    QLineEdit* target = edit;
    connect(file, &QToolButton::clicked, this, [this, target, filter, folder] {
      QString f = QFileDialog::getOpenFileName(this, tr("Choose a file"), target->text(), filter);
      if (f.isEmpty()) return;
      // A token-shard folder is chosen through its index.json.
      if (folder && QFileInfo(f).fileName() == QLatin1String("index.json")) f = QFileInfo(f).absolutePath();
      target->setText(f);
    });
    return row;
  };
  rf->addRow(tr("Data"), pathRow(data_, "nasData", tr("text file or lm.tokenize folder"),
                                 tr("Text or token shards (*.txt index.json);;All files (*)"), true));
  rf->addRow(tr("Tokenizer"), pathRow(tokenizer_, "nasTokenizer", tr("needed for text data"),
                                      tr("Tokenizers (*.bin *.model *.json);;All files (*)"), false));
  context_ = spin(run, "nasContext", 2, 65536, specDefault(schema, "context", QStringLiteral("64")).toInt(),
                  tr("Training sequence length"));
  rf->addRow(tr("Context"), context_);
  batch_ = spin(run, "nasBatch", 1, 65536, specDefault(schema, "batch_size", QStringLiteral("8")).toInt(),
                tr("Sequences per step"));
  rf->addRow(tr("Batch"), batch_);
  logEvery_ = spin(run, "nasLogEvery", 1, 1000000, specDefault(schema, "log_every", QStringLiteral("10")).toInt(),
                   tr("Report the losses and architecture weights every N steps"));
  rf->addRow(tr("Log every"), logEvery_);
  device_ = new QComboBox(run);
  device_->setObjectName(QStringLiteral("nasDevice"));
  device_->setEditable(true);
  device_->addItems({QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")});
  rf->addRow(tr("Device"), device_);
  seed_ = spin(run, "nasSeed", 0, 2147483647, 0, tr("Random seed (weights, batches, architecture samples)"));
  rf->addRow(tr("Seed"), seed_);
  v->addWidget(run);

  auto* eval = new QGroupBox(tr("Evaluation and baseline"), page);
  auto* ef = new QFormLayout(eval);
  ef->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  evalMode_ = new QComboBox(eval);
  evalMode_->setObjectName(QStringLiteral("nasEvalMode"));
  evalMode_->addItem(tr("fine-tune inherited weights"), QStringLiteral("finetune"));
  evalMode_->addItem(tr("train from scratch"), QStringLiteral("scratch"));
  ef->addRow(tr("Evaluate"), evalMode_);
  evalSteps_ = spin(eval, "nasEvalSteps", 1, 10000000, 100, tr("nas.evaluate: training steps of the chosen architecture"));
  ef->addRow(tr("Eval steps"), evalSteps_);
  valEvery_ = spin(eval, "nasValEvery", 0, 10000000, 0,
                   tr("Evaluate and random search: measure the validation loss every N steps and keep the best weights "
                      "(early stopping). 0: measure once, at the end"));
  valEvery_->setSpecialValueText(tr("at the end only"));
  ef->addRow(tr("Keep best every"), valEvery_);
  samples_ = spin(eval, "nasSamples", 1, 100000, 4,
                  tr("nas.random_search: architectures sampled; each trains for Steps / samples steps"));
  ef->addRow(tr("Random samples"), samples_);
  v->addWidget(eval);
  v->addStretch(1);
  scroll->setWidget(page);
  return scroll;
}

QWidget* NasPanel::buildSearchTab() {
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* page = new QWidget;
  page->setObjectName(QStringLiteral("nasSearchPage"));
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(2, 2, 2, 2);
  choice_ = new QLabel(page);
  choice_->setObjectName(QStringLiteral("nasChoice"));
  choice_->setWordWrap(true);
  choice_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(choice_);
  auto* row = new QHBoxLayout;
  exportButton_ = new QPushButton(tr("Export architecture\u2026"), page);
  exportButton_->setObjectName(QStringLiteral("nasExport"));
  exportButton_->setToolTip(tr("Write the chosen architecture (arch.json: lm.train's parameters and the model config)"));
  trainButton_ = new QPushButton(tr("Train this architecture\u2026"), page);
  trainButton_->setObjectName(QStringLiteral("nasTrain"));
  trainButton_->setToolTip(tr("Open lm.train's form filled in with the chosen architecture and the search's data"));
  row->addWidget(exportButton_);
  row->addWidget(trainButton_);
  v->addLayout(row);
  connect(exportButton_, &QPushButton::clicked, this, &NasPanel::exportDialog);
  connect(trainButton_, &QPushButton::clicked, this, [this] { trainArchitecture(); });

  auto* caption = new QLabel(tr("Architecture weight of every choice over the steps (softmax of the alphas; "
                                 "for DrNAS the Dirichlet mean):"),
                              page);
  caption->setWordWrap(true);
  caption->setStyleSheet(QStringLiteral("color: gray"));
  v->addWidget(caption);
  auto* grid = new QGridLayout;
  grid->setSpacing(2);
  for (int d = 0; d < atomscope::nas::kNumDims; ++d) {
    auto* c = new SeriesChart(tr(kDims[d].title), page);
    c->setObjectName(QStringLiteral("nasWeights_%1").arg(QString::fromLatin1(kDims[d].key)));
    c->setBounds(0, 1);
    c->setLegendAlignment(Qt::AlignRight);
    c->setMinimumHeight(150);
    grid->addWidget(c, d / 2, d % 2);
    weightCharts_ << c;
  }
  // MASA's number of atoms, when the space has that dimension (metrics w.atoms.<S>).
  auto* atomsChart = new SeriesChart(tr("MASA atoms"), page);
  atomsChart->setObjectName(QStringLiteral("nasWeights_atoms"));
  atomsChart->setBounds(0, 1);
  atomsChart->setLegendAlignment(Qt::AlignRight);
  atomsChart->setMinimumHeight(150);
  grid->addWidget(atomsChart, atomscope::nas::kNumDims / 2, 0);
  weightCharts_ << atomsChart;
  v->addLayout(grid, 2);
  lossChart_ = new SeriesChart(tr("Losses"), page);
  lossChart_->setObjectName(QStringLiteral("nasLossChart"));
  lossChart_->setLegendAlignment(Qt::AlignRight);
  lossChart_->setMinimumHeight(150);
  v->addWidget(lossChart_, 1);
  scroll->setWidget(page);
  return scroll;
}

QWidget* NasPanel::buildParetoTab() {
  auto* page = new QWidget;
  page->setObjectName(QStringLiteral("nasParetoPage"));
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(2, 2, 2, 2);
  paretoView_ = new QChartView(new QChart, page);
  paretoView_->setObjectName(QStringLiteral("nasParetoChart"));
  paretoView_->setRenderHint(QPainter::Antialiasing);
  paretoView_->setMinimumHeight(220);
  v->addWidget(paretoView_, 3);
  paretoTable_ = new QTableWidget(page);
  paretoTable_->setObjectName(QStringLiteral("nasParetoTable"));
  paretoTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  paretoTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
  paretoTable_->verticalHeader()->setVisible(false);
  paretoTable_->horizontalHeader()->setStretchLastSection(true);
  v->addWidget(paretoTable_, 2);
  auto* clear = new QPushButton(tr("Clear plot"), page);
  clear->setObjectName(QStringLiteral("nasClearPareto"));
  connect(clear, &QPushButton::clicked, this, &NasPanel::clearPareto);
  auto* row = new QHBoxLayout;
  row->addStretch(1);
  row->addWidget(clear);
  v->addLayout(row);
  return page;
}

void NasPanel::showTab(const QString& which) {
  const int i = which == QLatin1String("search") ? 1 : which == QLatin1String("pareto") ? 2 : 0;
  tabs_->setCurrentIndex(i);
}

SeriesChart* NasPanel::weightChart(const QString& dim) const {
  for (int d = 0; d < atomscope::nas::kNumDims; ++d)
    if (dim == QLatin1String(kDims[d].key)) return weightCharts_.value(d);
  if (dim == QLatin1String("atoms")) return weightCharts_.value(atomscope::nas::kNumDims);
  return nullptr;
}

atomscope::nas::SearchSpace NasPanel::spaceFromForm() const {
  // The checks nas.search makes (search_space.h): each list parses, every head count splits every
  // embedding size (Llama: into an even head dim), atoms fit the smallest depth.
  atomscope::nas::SearchSpace s;
  s.vocabSize = 1;  // the tokenizer's, known only to the job; irrelevant to these checks
  if (context_) s.context = context_->value();  // the form is still being built on its first calls
  if (family_->count() > 0) s.family = atomscope::lm::modelFamilyFromString(family_->currentText().toStdString());
  const QLineEdit* edits[atomscope::nas::kNumDims] = {layers_, heads_, embed_, mlpRatio_};
  for (int d = 0; d < atomscope::nas::kNumDims; ++d)
    s.choices[d] = atomscope::nas::parseChoiceList(edits[d]->text().toStdString(), kDims[d].key);
  const std::string atoms = atoms_ ? atoms_->text().trimmed().toStdString() : std::string();
  if (!atoms.empty()) s.atoms = atomscope::nas::parseChoiceList(atoms, "atoms");
  s.validate();
  return s;
}

// ---------------------------------------------------------------------------------- parameters

std::optional<Json> NasPanel::commonParams(bool withSpace) {
  Json p = Json::object();
  if (withSpace) {
    // nas.search's own checks, before anything starts.
    const QLineEdit* edits[atomscope::nas::kNumDims] = {layers_, heads_, embed_, mlpRatio_};
    try {
      const auto s = spaceFromForm();
      if (family_->count() > 0) p["family"] = family_->currentText().toStdString();
      for (int d = 0; d < atomscope::nas::kNumDims; ++d) p[kDims[d].key] = edits[d]->text().trimmed().toStdString();
      if (s.hasAtoms()) p["atoms"] = atoms_->text().trimmed().toStdString();
    } catch (const std::exception& e) {
      fail(tr("Search space: %1").arg(QString::fromUtf8(e.what())));
      return std::nullopt;
    }
  }
  const QString data = data_->text().trimmed();
  if (data.isEmpty()) {
    fail(tr("Data: choose a text file or an lm.tokenize folder"));
    return std::nullopt;
  }
  if (!QFileInfo::exists(data)) {
    fail(tr("Data: %1 does not exist").arg(data));
    return std::nullopt;
  }
  const QString tok = tokenizer_->text().trimmed();
  const bool shards = QFileInfo(data).isDir() || QFileInfo(data).fileName() == QLatin1String("index.json");
  if (!shards && tok.isEmpty()) {
    fail(tr("Tokenizer: %1 is a text file; choose the tokenizer that encodes it").arg(QFileInfo(data).fileName()));
    return std::nullopt;
  }
  if (!tok.isEmpty() && !QFileInfo::exists(tok)) {
    fail(tr("Tokenizer: %1 does not exist").arg(tok));
    return std::nullopt;
  }
  p["data"] = data.toStdString();
  p["tokenizer"] = tok.toStdString();
  p["steps"] = num(steps_->value());
  p["time_budget_s"] = timeBudget_->value();
  p["context"] = num(context_->value());
  p["batch_size"] = num(batch_->value());
  return p;
}

std::optional<Json> NasPanel::searchParams() {
  auto p = commonParams(true);
  if (!p) return std::nullopt;
  (*p)["method"] = method_->currentText().toStdString();
  (*p)["log_every"] = num(logEvery_->value());
  (*p)["arch_lr"] = archLr_->value();
  (*p)["param_penalty"] = sizePenalty_->value();
  (*p)["time_penalty"] = timePenalty_->value();
  return p;
}

std::optional<Json> NasPanel::randomSearchParams() {
  auto p = commonParams(true);
  if (!p) return std::nullopt;
  (*p)["samples"] = num(samples_->value());
  (*p)["val_every"] = num(valEvery_->value());
  return p;
}

// ------------------------------------------------------------------------------------- actions

bool NasPanel::start(Kind kind, const Json& params) {
  if (isBusy()) {
    fail(tr("a NAS job of this panel is still running; cancel it first"));
    return false;
  }
  const char* job = kind == Kind::Search ? kSearchJob : kind == Kind::Evaluate ? kEvaluateJob : kRandomJob;
  try {
    job_ = workbench_.jobs().start(QString::fromLatin1(job), params, device_->currentText().trimmed(),
                                   static_cast<unsigned long long>(seed_->value()));
  } catch (const std::exception& e) {
    job_ = -1;
    fail(tr("%1 did not start: %2").arg(QString::fromLatin1(job), QString::fromUtf8(e.what())));
    return false;
  }
  ownJobs_ << job_;
  kind_ = kind;
  lastError_.clear();
  progress_->setValue(0);
  saveSettings();
  updateButtons();
  return true;
}

bool NasPanel::search() {
  const auto p = searchParams();
  if (!p) return false;
  if (!start(Kind::Search, *p)) return false;
  search_.reset();
  clearCharts();
  refreshChoice();
  setStatus(tr("Searching %1 architectures with %2\u2026").arg(spaceInfo_->property("count").toLongLong()).arg(method_->currentText()));
  showTab(QStringLiteral("search"));
  return true;
}

bool NasPanel::evaluate() {
  if (!search_ || search_->archFile.isEmpty()) {
    fail(tr("Evaluate: run a search (or open a finished search run) first"));
    return false;
  }
  Json p{{"search", search_->runDir.toStdString()},
         {"mode", evalMode_->currentData().toString().toStdString()},
         {"steps", num(evalSteps_->value())},
         {"val_every", num(valEvery_->value())},
         {"context", num(context_->value())},
         {"batch_size", num(batch_->value())}};
  // The search's own training settings where the run recorded them (its data, context and batch).
  for (const char* k : {"context", "batch_size"})
    if (search_->params.contains(k) && search_->params[k].is_number_integer()) p[k] = search_->params[k];
  if (!start(Kind::Evaluate, p)) return false;
  setStatus(tr("Evaluating %1\u2026").arg(chosenArchitecture()));
  return true;
}

bool NasPanel::randomSearch() {
  const auto p = randomSearchParams();
  if (!p) return false;
  if (!start(Kind::Random, *p)) return false;
  setStatus(tr("Random search: %1 architectures\u2026").arg(samples_->value()));
  return true;
}

void NasPanel::cancel() {
  auto* jobs = qobject_cast<JobManager*>(jobManager_.data());
  if (!jobs || job_ < 0) return;
  jobs->cancel(job_);
  setStatus(tr("Cancelling\u2026"));
}

// ---------------------------------------------------------------------------------------- jobs

void NasPanel::onMetrics(int id, const std::vector<core::MetricPoint>& points) {
  if (id != job_ || kind_ != Kind::Search) return;
  addMetrics(points);
}

void NasPanel::addMetrics(const std::vector<core::MetricPoint>& points) {
  static const QString kPrefix = QStringLiteral("w.");
  for (const auto& pt : points) {
    const double x = static_cast<double>(pt.step);
    for (const auto& [key, value] : pt.values) {
      const QString k = QString::fromStdString(key);
      if (k.startsWith(kPrefix)) {
        // w.<dim>.<choice>: the dimension's chart, one line per choice.
        const int dot = k.lastIndexOf(QLatin1Char('.'));
        const QString dim = k.mid(2, dot - 2);
        if (SeriesChart* c = weightChart(dim)) c->addPoint(k, k.mid(dot + 1), x, value);
      } else if (key == "loss") {
        lossChart_->addPoint(k, tr("train"), x, value);
      } else if (key == "arch_loss") {
        lossChart_->addPoint(k, tr("arch step"), x, value);
      } else if (key == "val_loss") {
        lossChart_->addPoint(k, tr("val"), x, value);
      }
    }
  }
  for (SeriesChart* c : weightCharts_) c->flush();
  lossChart_->flush();
}

void NasPanel::onProgress(int id, double fraction, const QString& stage) {
  if (id != job_) return;
  progress_->setValue(static_cast<int>(std::lround(1000.0 * std::clamp(fraction, 0.0, 1.0))));
  if (!stage.isEmpty()) status_->setText(stage.toHtmlEscaped());
}

void NasPanel::onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error) {
  if (id != job_) return;
  const Kind kind = kind_;
  job_ = -1;
  kind_ = Kind::None;
  updateButtons();
  if (status == core::RunStatus::Cancelled) {
    progress_->setValue(0);
    setStatus(tr("Cancelled; nothing was added."));
    if (kind == Kind::Search) search_.reset();
    refreshChoice();
    return;
  }
  if (status != core::RunStatus::Completed) {
    fail(tr("%1 failed: %2").arg(kind == Kind::Search ? QString::fromLatin1(kSearchJob)
                                 : kind == Kind::Evaluate ? QString::fromLatin1(kEvaluateJob)
                                                          : QString::fromLatin1(kRandomJob),
                                 error.isEmpty() ? tr("unknown error") : error));
    return;
  }
  progress_->setValue(1000);
  if (kind == Kind::Search) {
    // The charts already hold every point the job reported; the run adds arch.json.
    try {
      search_ = readSearchRun(runDir);
    } catch (const std::exception& e) {
      fail(QString::fromUtf8(e.what()));
      return;
    }
    refreshChoice();
    setStatus(tr("Search done: %1").arg(chosenArchitecture()));
    Q_EMIT runShown(search_->runDir);
  } else {
    if (addEvaluatedRun(runDir)) showTab(QStringLiteral("pareto"));
  }
}

// -------------------------------------------------------------------------------------- results

bool NasPanel::showRun(const QString& runDir) {
  if (isBusy() && kind_ == Kind::Search) {
    fail(tr("a search is running; cancel it before opening another"));
    return false;
  }
  SearchRun r;
  try {
    r = readSearchRun(runDir);
  } catch (const std::exception& e) {
    fail(QString::fromUtf8(e.what()));
    return false;
  }
  if (r.metrics.empty()) {
    fail(tr("%1 has no metrics (metrics.jsonl is missing or empty)").arg(runDir));
    return false;
  }
  search_ = std::move(r);
  clearCharts();
  addMetrics(search_->metrics);
  // The form takes the run's space and settings, so Evaluate and Random search use the same.
  const Json& p = search_->params;
  auto str = [&](const char* k) { return p.contains(k) && p[k].is_string() ? QString::fromStdString(p[k].get<std::string>()) : QString(); };
  auto intOf = [&](const char* k, QSpinBox* box) {
    if (p.contains(k) && p[k].is_number_integer()) box->setValue(static_cast<int>(p[k].get<long long>()));
  };
  for (auto [edit, key] : std::initializer_list<std::pair<QLineEdit*, const char*>>{
           {layers_, "layers"}, {heads_, "heads"}, {embed_, "embed"}, {mlpRatio_, "mlp_ratio"}})
    if (!str(key).isEmpty()) edit->setText(str(key));
  atoms_->setText(str("atoms"));  // runs without it searched dense attention
  if (!str("method").isEmpty()) method_->setCurrentText(str("method"));
  // Runs made before the family parameter are Llama searches.
  family_->setCurrentText(str("family").isEmpty() ? QStringLiteral("llama") : str("family"));
  if (!str("data").isEmpty()) data_->setText(str("data"));
  if (p.contains("tokenizer")) tokenizer_->setText(str("tokenizer"));
  intOf("steps", steps_);
  intOf("context", context_);
  intOf("batch_size", batch_);
  intOf("log_every", logEvery_);
  if (p.contains("arch_lr") && p["arch_lr"].is_number()) archLr_->setValue(p["arch_lr"].get<double>());
  // Runs made before the size penalty searched without one.
  sizePenalty_->setValue(p.contains("param_penalty") && p["param_penalty"].is_number() ? p["param_penalty"].get<double>() : 0.0);
  timePenalty_->setValue(p.contains("time_penalty") && p["time_penalty"].is_number() ? p["time_penalty"].get<double>() : 0.0);
  refreshChoice();
  progress_->setValue(1000);
  setStatus(search_->archFile.isEmpty() ? tr("Opened %1 (%2: no architecture was written)")
                                              .arg(QFileInfo(search_->runDir).fileName(), search_->status)
                                        : tr("Opened %1: %2").arg(QFileInfo(search_->runDir).fileName(), chosenArchitecture()));
  showTab(QStringLiteral("search"));
  Q_EMIT runShown(search_->runDir);
  return true;
}

QString NasPanel::chosenArchitecture() const {
  if (!search_ || !search_->arch.is_object()) return {};
  return archLabel(search_->arch.contains("architecture") ? search_->arch["architecture"] : Json());
}

bool NasPanel::addEvaluatedRun(const QString& runDir) {
  QList<ParetoPoint> pts;
  try {
    pts = readEvaluatedPoints(runDir);
  } catch (const std::exception& e) {
    fail(QString::fromUtf8(e.what()));
    return false;
  }
  const QString dir = QDir(runDir).absolutePath();
  for (const auto& p : points_)
    if (p.runDir == dir) {
      setStatus(tr("%1 is already in the plot").arg(QFileInfo(dir).fileName()));
      return true;
    }
  points_ << pts;
  refreshPareto();
  if (pts.size() == 1)
    setStatus(tr("%1: %2 parameters, validation perplexity %3").arg(pts[0].label, grouped(pts[0].params)).arg(pts[0].ppl, 0, 'f', 2));
  else
    setStatus(tr("Random search: %1 architectures added to the Pareto plot").arg(pts.size()));
  return true;
}

void NasPanel::clearPareto() {
  points_.clear();
  refreshPareto();
}

void NasPanel::clearCharts() {
  for (SeriesChart* c : weightCharts_) c->clear();
  lossChart_->clear();
}

void NasPanel::refreshChoice() {
  if (SeriesChart* c = weightChart(QStringLiteral("atoms"))) c->setVisible(!atoms_->text().trimmed().isEmpty());
  // The space's size, or what is wrong with it, under the form.
  {
    QString info;
    long long count = 0;
    try {
      const auto s = spaceFromForm();
      count = s.numArchitectures();
      info = tr("%1 architectures; largest: %2 layers, embedding %3").arg(count).arg(s.maxOf(atomscope::nas::Dim::Layers)).arg(s.maxOf(atomscope::nas::Dim::Embed));
      spaceInfo_->setStyleSheet(QStringLiteral("color: gray"));
    } catch (const std::exception& e) {
      info = QString::fromUtf8(e.what());
      spaceInfo_->setStyleSheet(QStringLiteral("color: #c62828"));
    }
    spaceInfo_->setText(info);
    spaceInfo_->setProperty("count", count);
  }
  const bool has = search_ && search_->arch.is_object();
  exportButton_->setEnabled(has);
  trainButton_->setEnabled(has);
  if (!has) {
    choice_->setText(isBusy() && kind_ == Kind::Search
                         ? tr("Searching: the weight of every choice and the losses appear as the job reports them.")
                         : tr("<b>TangleNAS</b>: set the space, then Search. The architecture weights of every choice "
                              "and the losses appear here; Open search run shows a finished one."));
    return;
  }
  const Json& a = search_->arch;
  const long long params = a.contains("params") && a["params"].is_number() ? a["params"].get<long long>() : -1;
  const double inherited = a.contains("inherited_val_loss") && a["inherited_val_loss"].is_number() ? std::exp(a["inherited_val_loss"].get<double>()) : NAN;
  choice_->setText(tr("Chosen: <b>%1</b> &middot; %2 parameters &middot; inherited perplexity %3 &middot; %4, %5 steps "
                      "<span style='color:gray'>%6</span>")
                       .arg(chosenArchitecture(), params >= 0 ? grouped(params) : QStringLiteral("\u2013"),
                            std::isfinite(inherited) ? QString::number(inherited, 'f', 2) : QStringLiteral("\u2013"),
                            QString::fromStdString(a.value("method", std::string())),
                            QString::number(a.value("steps", 0LL)), QFileInfo(search_->runDir).fileName().toHtmlEscaped()));
  choice_->setToolTip(search_->runDir);
}

void NasPanel::refreshPareto() {
  const QList<int> front = paretoFront(points_);
  QChart* old = paretoView_->chart();
  paretoView_->setChart(makeParetoChart(points_, front));
  delete old;
  const QStringList header{tr("architecture"), tr("kind"), tr("parameters"), tr("val ppl"), tr("front"), tr("run")};
  paretoTable_->clear();
  paretoTable_->setColumnCount(static_cast<int>(header.size()));
  paretoTable_->setHorizontalHeaderLabels(header);
  paretoTable_->setRowCount(static_cast<int>(points_.size()));
  for (int r = 0; r < points_.size(); ++r) {
    const auto& p = points_[r];
    const QString kind = p.kind == ParetoPoint::Kind::Searched ? tr("searched")
                         : p.kind == ParetoPoint::Kind::Other  ? tr("other")
                                                               : tr("random");
    const QStringList cells{p.label, kind,
                            grouped(p.params), QString::number(p.ppl, 'f', 2),
                            front.contains(r) ? QStringLiteral("\u2713") : QString(), QFileInfo(p.runDir).fileName()};
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = new QTableWidgetItem(cells[c]);
      if (c == 2 || c == 3) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      paretoTable_->setItem(r, c, item);
    }
  }
  paretoTable_->resizeColumnsToContents();
}

// --------------------------------------------------------------------------------------- export

bool NasPanel::exportArchitecture(const QString& path) {
  if (!search_ || search_->archFile.isEmpty()) {
    fail(tr("Export: no searched architecture yet (run a search or open a finished one)"));
    return false;
  }
  if (path.trimmed().isEmpty()) {
    fail(tr("Export: no file name given"));
    return false;
  }
  if (QFileInfo(path).canonicalFilePath() == QFileInfo(search_->archFile).canonicalFilePath()) {
    setStatus(tr("%1 is the run's own arch.json; nothing to write").arg(path));
    return true;
  }
  if (QFileInfo::exists(path) && !QFile::remove(path)) {
    fail(tr("Export: cannot replace %1").arg(path));
    return false;
  }
  if (!QFile::copy(search_->archFile, path)) {
    fail(tr("Export: cannot write %1").arg(path));
    return false;
  }
  setStatus(tr("Architecture %1 written to %2").arg(chosenArchitecture(), path));
  workbench_.log(tr("NAS: exported architecture %1 to %2").arg(chosenArchitecture(), path));
  return true;
}

void NasPanel::exportDialog() {
  if (!search_ || search_->archFile.isEmpty()) {
    fail(tr("Export: no searched architecture yet (run a search or open a finished one)"));
    return;
  }
  const QString suggested =
      QDir::home().filePath(QStringLiteral("arch-%1.json").arg(chosenArchitecture().replace(QLatin1Char(' '), QLatin1Char('-'))));
  const QString path = QFileDialog::getSaveFileName(this, tr("Export the chosen architecture (lm.train parameters)"),
                                                    suggested, tr("JSON (*.json)"));
  if (!path.isEmpty()) exportArchitecture(path);
}

bool NasPanel::trainArchitecture() {
  if (!search_ || !search_->arch.is_object() || !search_->arch.contains("lm_train_params")) {
    fail(tr("Train: no searched architecture yet (run a search or open a finished one)"));
    return false;
  }
  Json initial = search_->arch["lm_train_params"];
  // The search's data and tokenizer, so the form is ready to run.
  for (const char* k : {"data", "tokenizer"})
    if (search_->arch.contains(k) && search_->arch[k].is_string() && !search_->arch[k].get<std::string>().empty())
      initial[k] = search_->arch[k];
  workbench_.showJobForm(QStringLiteral("lm.train"), initial);
  setStatus(tr("lm.train's form is open with %1").arg(chosenArchitecture()));
  return true;
}

void NasPanel::openRunDialog() {
  const QString root = workbench_.jobs().runsRoot();
  const QString dir = QFileDialog::getExistingDirectory(this, tr("A nas.search run folder"), root);
  if (!dir.isEmpty()) showRun(dir);
}

// ------------------------------------------------------------------------------------ the rest

QString NasPanel::statusText() const { return status_->text(); }

void NasPanel::fail(const QString& message) {
  lastError_ = message;
  status_->setText(QStringLiteral("<span style='color:#c62828'>%1</span>").arg(message.toHtmlEscaped()));
  workbench_.log(tr("NAS: %1").arg(message), true);
}

void NasPanel::setStatus(const QString& text) {
  if (!text.isEmpty()) status_->setText(text.toHtmlEscaped());
}

void NasPanel::updateButtons() {
  const bool busy = isBusy();
  searchButton_->setEnabled(!busy);
  evaluateButton_->setEnabled(!busy);
  randomButton_->setEnabled(!busy);
  cancelButton_->setEnabled(busy);
}

void NasPanel::saveSettings() const {
  QSettings s(QStringLiteral("Atomscope"), QStringLiteral("Atomscope"));
  s.beginGroup(QStringLiteral("nas"));
  s.setValue(QStringLiteral("layers"), layers_->text());
  s.setValue(QStringLiteral("heads"), heads_->text());
  s.setValue(QStringLiteral("embed"), embed_->text());
  s.setValue(QStringLiteral("mlp_ratio"), mlpRatio_->text());
  s.setValue(QStringLiteral("atoms"), atoms_->text());
  s.setValue(QStringLiteral("method"), method_->currentText());
  s.setValue(QStringLiteral("family"), family_->currentText());
  s.setValue(QStringLiteral("steps"), steps_->value());
  s.setValue(QStringLiteral("data"), data_->text());
  s.setValue(QStringLiteral("tokenizer"), tokenizer_->text());
  s.setValue(QStringLiteral("context"), context_->value());
  s.setValue(QStringLiteral("batch_size"), batch_->value());
  s.setValue(QStringLiteral("device"), device_->currentText());
}

void NasPanel::restoreSettings() {
  QSettings s(QStringLiteral("Atomscope"), QStringLiteral("Atomscope"));
  s.beginGroup(QStringLiteral("nas"));
  auto text = [&](QLineEdit* e, const char* key) {
    const QString v = s.value(QString::fromLatin1(key)).toString();
    if (!v.isEmpty()) e->setText(v);
  };
  text(layers_, "layers");
  text(heads_, "heads");
  text(embed_, "embed");
  text(mlpRatio_, "mlp_ratio");
  atoms_->setText(s.value(QStringLiteral("atoms")).toString());
  if (s.contains(QStringLiteral("method"))) method_->setCurrentText(s.value(QStringLiteral("method")).toString());
  if (s.contains(QStringLiteral("family"))) family_->setCurrentText(s.value(QStringLiteral("family")).toString());
  if (s.contains(QStringLiteral("steps"))) steps_->setValue(s.value(QStringLiteral("steps")).toInt());
  if (s.contains(QStringLiteral("context"))) context_->setValue(s.value(QStringLiteral("context")).toInt());
  if (s.contains(QStringLiteral("batch_size"))) batch_->setValue(s.value(QStringLiteral("batch_size")).toInt());
  // TinyStories and the 512-token tokenizer (../shared/data, else the samples' five stories).
  auto existing = [&](const char* key, const QString& fallback) {
    const QString v = s.value(QString::fromLatin1(key)).toString();
    return !v.isEmpty() && QFileInfo::exists(v) ? v : fallback;
  };
  data_->setText(existing("data", findData({QStringLiteral("text/tinystories/tinystories_val_head.txt"),
                                            QStringLiteral("text/tinystories_sample5.txt")})));
  tokenizer_->setText(existing("tokenizer", findData({QStringLiteral("lm/tok512.bin"),
                                                      QStringLiteral("models/stories260K/tok512.bin")})));
  device_->setCurrentText(s.value(QStringLiteral("device"), QStringLiteral("auto")).toString());
}

}  // namespace atomscope::gui::nas
