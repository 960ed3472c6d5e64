#include "masa_panel.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QLocale>
#include <QProgressBar>
#include <QRegularExpression>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <cmath>
#include <memory>

#include "atomscope/core/job.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/report_writer.h"
#include "atomscope/gui/workbench.h"
#include "coefficient_heatmap.h"

namespace atomscope::gui::masa {

namespace {

const char* kCompressJob = "masa.compress";

QString grouped(long long n) { return QLocale(QLocale::English).toString(n); }
QString percent(double f, int digits = 1) { return QStringLiteral("%1%").arg(100.0 * f, 0, 'f', digits); }
QString ppl(double v) { return v >= 0 ? QString::number(v, 'f', 3) : QStringLiteral("\u2013"); }

// Folders the samples may be in: $ATOMSCOPE_SAMPLES_DIR, the installed share folder, the build's
// source tree (development builds).
QString samplesFile(const QString& relative) {
  QStringList roots;
  const QByteArray env = qgetenv("ATOMSCOPE_SAMPLES_DIR");
  if (!env.isEmpty()) roots << QString::fromLocal8Bit(env);
  const QString app = QCoreApplication::applicationDirPath();
  roots << app + QStringLiteral("/../share/atomscope/samples") << app + QStringLiteral("/../samples");
#ifdef ATOMSCOPE_MASA_SOURCE_SAMPLES
  roots << QStringLiteral(ATOMSCOPE_MASA_SOURCE_SAMPLES);
#endif
  for (const QString& root : roots) {
    const QString f = QDir(root).filePath(relative);
    if (QFileInfo::exists(f)) return QFileInfo(f).absoluteFilePath();
  }
  return {};
}

QTableWidget* makeTable(QWidget* parent, const QString& name) {
  auto* t = new QTableWidget(parent);
  t->setObjectName(name);
  t->setEditTriggers(QAbstractItemView::NoEditTriggers);
  t->setSelectionBehavior(QAbstractItemView::SelectRows);
  t->setAlternatingRowColors(true);
  t->verticalHeader()->setVisible(false);
  t->horizontalHeader()->setStretchLastSection(true);
  return t;
}

void fillTable(QTableWidget* t, const QStringList& header, const QList<QStringList>& rows) {
  t->clear();
  t->setColumnCount(static_cast<int>(header.size()));
  t->setHorizontalHeaderLabels(header);
  t->setRowCount(static_cast<int>(rows.size()));
  for (int r = 0; r < rows.size(); ++r)
    for (int c = 0; c < rows[r].size() && c < header.size(); ++c) {
      auto* item = new QTableWidgetItem(rows[r][c]);
      if (c > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      t->setItem(r, c, item);
    }
  t->resizeColumnsToContents();
}

QChartView* makeChartView(QWidget* parent, const QString& name) {
  auto* v = new QChartView(new QChart, parent);
  v->setObjectName(name);
  v->setRenderHint(QPainter::Antialiasing);
  v->setMinimumHeight(220);
  return v;
}

void replaceChart(QChartView* view, QChart* chart) {
  QChart* old = view->chart();
  view->setChart(chart);
  delete old;
}

// The tables of the report and of the Details tab.
QList<QStringList> summaryRows(const CompressionRun& r, double reference) {
  const double before = r.perplexityBefore >= 0 ? r.perplexityBefore : reference;
  return {{QObject::tr("method"), r.method},
          {QObject::tr("target"), r.atomsParam > 0 ? QObject::tr("S = %1 atoms per type").arg(r.atomsParam)
                                                   : QObject::tr("ratio %1 removed").arg(r.ratio, 0, 'g', 3)},
          {QObject::tr("attention parameters removed"), percent(r.compression)},
          {QObject::tr("attention parameters kept"),
           QStringLiteral("%1 of %2").arg(grouped(r.attentionAfter), grouped(r.attentionBefore))},
          {QObject::tr("model parameters"), QStringLiteral("%1 \u2192 %2").arg(grouped(r.paramsBefore), grouped(r.paramsAfter))},
          {QObject::tr("perplexity before"), ppl(before)},
          {QObject::tr("perplexity after"), ppl(r.perplexityAfter)},
          {QObject::tr("evaluation tokens"), r.evalTokens > 0 ? grouped(r.evalTokens) : QStringLiteral("\u2013")}};
}

QStringList typesHeader() {
  return {QObject::tr("type"),  QObject::tr("before"), QObject::tr("budget"),      QObject::tr("after"),
          QObject::tr("kept"),  QObject::tr("atoms"),  QObject::tr("energy kept"), QObject::tr("mean error")};
}

QList<QStringList> typesRows(const CompressionRun& r) {
  QList<QStringList> rows;
  for (const auto& t : r.types) {
    double e = 0, err = 0;
    for (int g = 0; g < t.energy.size(); ++g) e += t.keptEnergy(g) / t.energy.size();
    for (double x : t.relativeError) err += x;
    if (!t.relativeError.empty()) err /= static_cast<double>(t.relativeError.size());
    rows << QStringList{t.role,
                        grouped(t.paramsBefore),
                        grouped(t.budget),
                        grouped(t.paramsAfter),
                        percent(static_cast<double>(t.paramsAfter) / static_cast<double>(std::max(1LL, t.paramsBefore))),
                        QString::number(t.atoms),
                        t.energy.isEmpty() ? QStringLiteral("\u2013") : percent(e),
                        QString::number(err, 'f', 4)};
  }
  return rows;
}

// Rank columns only where the method stores per-layer low-rank factors (SVD, refinements).
bool hasRanks(const TypeResult& t) {
  for (long long r : t.ranks)
    if (r > 0) return true;
  return false;
}

QStringList layersHeader(const CompressionRun& r) {
  QStringList h{QObject::tr("layer")};
  for (const auto& t : r.types) {
    h << QObject::tr("%1 error").arg(t.role);
    if (hasRanks(t)) h << QObject::tr("%1 rank").arg(t.role);
  }
  return h;
}

QList<QStringList> layersRows(const CompressionRun& r) {
  QList<QStringList> rows;
  for (int l = 0; l < r.layerCount(); ++l) {
    QStringList row{QString::number(l)};
    for (const auto& t : r.types) {
      row << (l < static_cast<int>(t.relativeError.size()) ? QString::number(t.relativeError[static_cast<std::size_t>(l)], 'f', 4)
                                                           : QString());
      if (hasRanks(t))
        row << (l < static_cast<int>(t.ranks.size()) ? QString::number(t.ranks[static_cast<std::size_t>(l)]) : QString());
    }
    rows << row;
  }
  return rows;
}

QStringList compareHeader() {
  return {QObject::tr("method"), QObject::tr("ratio"), QObject::tr("removed"), QObject::tr("attention params kept"),
          QObject::tr("perplexity after"), QObject::tr("run")};
}

QList<QStringList> compareRows(const QList<ComparePoint>& points) {
  QList<QStringList> rows;
  for (const auto& p : points)
    rows << QStringList{p.method, QString::number(p.ratio, 'g', 3), percent(p.compression), grouped(p.attentionAfter),
                        ppl(p.perplexity), QFileInfo(p.runDir).fileName()};
  return rows;
}

}  // namespace

MasaPanel::MasaPanel(Workbench& workbench, QWidget* parent) : QWidget(parent), workbench_(workbench) {
  setObjectName(QStringLiteral("masaPanel"));
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->setObjectName(QStringLiteral("masaSplitter"));
  auto* scroll = new QScrollArea(split);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setWidget(buildForm());
  scroll->setMinimumWidth(scroll->widget()->sizeHint().width() + 16);
  split->addWidget(scroll);
  split->addWidget(buildResults());
  split->setStretchFactor(0, 0);
  split->setStretchFactor(1, 1);
  split->setCollapsible(0, false);
  split->setCollapsible(1, false);
  layout->addWidget(split);

  restoreSettings();
  updateTargetWidgets();
  refreshCharts();

  JobManager& jobs = workbench_.jobs();
  jobManager_ = &jobs;
  connect(&jobs, &JobManager::progressChanged, this,
          [this](int id, double f, const QString& stage, double) { onProgress(id, f, stage); });
  connect(&jobs, &JobManager::jobFinished, this, &MasaPanel::onFinished);
}

MasaPanel::~MasaPanel() {
  // A closed panel stops its job (the Jobs panel keeps the record).
  auto* jobs = qobject_cast<JobManager*>(jobManager_.data());
  if (jobs && job_ >= 0 && jobs->contains(job_) && !jobs->state(job_).finished) jobs->cancel(job_);
}

QWidget* MasaPanel::buildForm() {
  auto* page = new QWidget;
  page->setObjectName(QStringLiteral("masaForm"));
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(0, 0, 6, 0);

  auto* box = new QGroupBox(tr("Compress attention"), page);
  auto* form = form_ = new QFormLayout(box);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);

  auto pathRow = [&](QLineEdit*& edit, const char* name, const QString& placeholder, bool folderButton) {
    auto* row = new QHBoxLayout;
    edit = new QLineEdit(box);
    edit->setObjectName(QString::fromLatin1(name));
    edit->setPlaceholderText(placeholder);
    edit->setMinimumWidth(110);
    row->addWidget(edit, 1);
    auto* file = new QToolButton(box);
    file->setText(QStringLiteral("\u2026"));
    file->setToolTip(tr("Choose a file"));
    row->addWidget(file);
    QLineEdit* target = edit;
    connect(file, &QToolButton::clicked, this, [this, target, folderButton] {
      const QString filter = folderButton ? tr("Models (*.bin config.json);;All files (*)") : tr("Text (*.txt);;All files (*)");
      QString f = QFileDialog::getOpenFileName(this, tr("Choose a file"), target->text(), filter);
      if (f.isEmpty()) return;
      if (folderButton && QFileInfo(f).fileName() == QLatin1String("config.json")) f = QFileInfo(f).absolutePath();
      target->setText(f);
    });
    if (folderButton) {
      auto* folder = new QToolButton(box);
      folder->setText(tr("Folder"));
      folder->setToolTip(tr("Choose a Hugging Face model folder"));
      row->addWidget(folder);
      connect(folder, &QToolButton::clicked, this, [this, target] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("Hugging Face model folder"), target->text());
        if (!d.isEmpty()) target->setText(d);
      });
    }
    return row;
  };

  form->addRow(tr("Model"), pathRow(model_, "masaModel", tr("a llama2.c .bin or a Hugging Face folder"), true));

  // Methods and their help come from the job's own schema (one declaration).
  method_ = new QComboBox(box);
  method_->setObjectName(QStringLiteral("masaMethod"));
  try {
    const auto schema = workbench_.jobs().registry().create(kCompressJob)->schema();
    if (const auto* spec = schema.find("method")) {
      for (const auto& c : spec->choices) method_->addItem(QString::fromStdString(c));
      method_->setToolTip(QString::fromStdString(spec->help));
    }
  } catch (const std::exception& e) {
    workbench_.log(tr("MASA: %1").arg(QString::fromUtf8(e.what())), true);
  }
  form->addRow(tr("Method"), method_);

  auto* targetRow = new QHBoxLayout;
  target_ = new QComboBox(box);
  target_->setObjectName(QStringLiteral("masaTarget"));
  target_->addItem(tr("Ratio removed"), QStringLiteral("ratio"));
  target_->addItem(tr("Atoms S per type"), QStringLiteral("atoms"));
  ratio_ = new QDoubleSpinBox(box);
  ratio_->setObjectName(QStringLiteral("masaRatio"));
  ratio_->setRange(0.01, 0.99);
  ratio_->setSingleStep(0.05);
  ratio_->setDecimals(2);
  ratio_->setValue(0.4);
  ratio_->setToolTip(tr("Fraction of each projection type's attention parameters removed"));
  atoms_ = new QSpinBox(box);
  atoms_->setObjectName(QStringLiteral("masaAtoms"));
  atoms_->setRange(1, 1 << 16);
  atoms_->setValue(2);
  atoms_->setToolTip(tr("Atoms per projection type; the budget is what matrix PCA with S atoms stores"));
  targetRow->addWidget(target_);
  targetRow->addWidget(ratio_, 1);
  targetRow->addWidget(atoms_, 1);
  form->addRow(tr("Target"), targetRow);

  groups_ = new QSpinBox(box);
  groups_->setObjectName(QStringLiteral("masaGroups"));
  groups_->setRange(1, 1 << 16);
  groups_->setValue(2);
  groups_->setToolTip(tr("matrix-pca-grouped: groups of consecutive layers"));
  form->addRow(tr("Groups"), groups_);

  form->addRow(tr("Calibration"), pathRow(calibText_, "masaCalibrationText", tr("text (whitening, refinement, grouping)"), false));
  form->addRow(tr("Evaluate on"), pathRow(evalText_, "masaEvalText", tr("text for perplexity (empty: none)"), false));
  evalTokens_ = new QSpinBox(box);
  evalTokens_->setObjectName(QStringLiteral("masaEvalTokens"));
  evalTokens_->setRange(0, 1 << 30);
  evalTokens_->setSpecialValueText(tr("all"));
  evalTokens_->setSingleStep(1024);
  evalTokens_->setToolTip(tr("Evaluate only the first N tokens of the text"));
  form->addRow(tr("Eval tokens"), evalTokens_);
  device_ = new QComboBox(box);
  device_->setObjectName(QStringLiteral("masaDevice"));
  device_->setEditable(true);
  device_->addItems({QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")});
  form->addRow(tr("Device"), device_);
  v->addWidget(box);

  auto* buttons = new QHBoxLayout;
  run_ = new QPushButton(tr("Run"), page);
  run_->setObjectName(QStringLiteral("masaRun"));
  run_->setToolTip(tr("Run masa.compress with these settings"));
  cancel_ = new QPushButton(tr("Cancel"), page);
  cancel_->setObjectName(QStringLiteral("masaCancel"));
  cancel_->setEnabled(false);
  buttons->addWidget(run_);
  buttons->addWidget(cancel_);
  v->addLayout(buttons);
  progress_ = new QProgressBar(page);
  progress_->setObjectName(QStringLiteral("masaProgress"));
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setFormat(QStringLiteral("%p%"));
  v->addWidget(progress_);
  status_ = new QLabel(page);
  status_->setObjectName(QStringLiteral("masaStatus"));
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  status_->setMinimumHeight(status_->fontMetrics().height() * 2);
  v->addWidget(status_);

  auto* out = new QGroupBox(tr("Export and report"), page);
  auto* ov = new QVBoxLayout(out);
  exportMasa_ = new QPushButton(tr("Export MASA folder\u2026"), out);
  exportMasa_->setObjectName(QStringLiteral("masaExportMasa"));
  exportMasa_->setToolTip(tr("The compact MASA folder: atoms, coefficients and the rest of the model (safetensors)"));
  exportHf_ = new QPushButton(tr("Export Hugging Face folder\u2026"), out);
  exportHf_->setObjectName(QStringLiteral("masaExportHf"));
  exportHf_->setToolTip(tr("The compressed model as a dense Hugging Face folder (masa.export)"));
  report_ = new QPushButton(tr("Report (HTML + PDF)\u2026"), out);
  report_->setObjectName(QStringLiteral("masaReport"));
  report_->setToolTip(tr("Charts and tables of this run and of the comparison (Ctrl+Shift+R)"));
  ov->addWidget(exportMasa_);
  ov->addWidget(exportHf_);
  ov->addWidget(report_);
  v->addWidget(out);
  v->addStretch(1);

  connect(run_, &QPushButton::clicked, this, &MasaPanel::run);
  connect(cancel_, &QPushButton::clicked, this, &MasaPanel::cancel);
  connect(exportMasa_, &QPushButton::clicked, this, &MasaPanel::exportMasaDialog);
  connect(exportHf_, &QPushButton::clicked, this, &MasaPanel::exportHfDialog);
  connect(report_, &QPushButton::clicked, this, &MasaPanel::reportDialog);
  connect(target_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { updateTargetWidgets(); });
  connect(method_, &QComboBox::currentTextChanged, this, [this] { updateTargetWidgets(); });
  return page;
}

QWidget* MasaPanel::buildResults() {
  auto* page = new QWidget(this);
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(0, 0, 0, 0);
  summary_ = new QLabel(page);
  summary_->setObjectName(QStringLiteral("masaSummary"));
  summary_->setTextFormat(Qt::RichText);
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(summary_);

  tabs_ = new QTabWidget(page);
  tabs_->setObjectName(QStringLiteral("masaTabs"));
  energyView_ = makeChartView(tabs_, QStringLiteral("masaEnergyChart"));
  tabs_->addTab(energyView_, tr("Energy"));

  auto* coef = new QWidget(tabs_);
  auto* cv = new QVBoxLayout(coef);
  auto* sel = new QHBoxLayout;
  projection_ = new QComboBox(coef);
  projection_->setObjectName(QStringLiteral("masaProjection"));
  projection_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  sel->addWidget(new QLabel(tr("Projection"), coef));
  sel->addWidget(projection_);
  sel->addStretch(1);
  cv->addLayout(sel);
  heatmap_ = new CoefficientHeatmap(coef);
  heatmap_->setObjectName(QStringLiteral("masaHeatmap"));
  cv->addWidget(heatmap_, 1);
  tabs_->addTab(coef, tr("Coefficients"));
  connect(projection_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { refreshCoefficients(); });

  errorView_ = makeChartView(tabs_, QStringLiteral("masaErrorChart"));
  tabs_->addTab(errorView_, tr("Weight error"));

  auto* cmp = new QWidget(tabs_);
  auto* cmpLayout = new QVBoxLayout(cmp);
  cmpLayout->setContentsMargins(4, 4, 4, 4);
  // One compact row of controls, so the chart keeps the width.
  auto* controls = new QHBoxLayout;
  compareMethods_ = new QToolButton(cmp);
  compareMethods_->setObjectName(QStringLiteral("masaCompareMethods"));
  compareMethods_->setPopupMode(QToolButton::InstantPopup);
  compareMethods_->setToolButtonStyle(Qt::ToolButtonTextOnly);
  auto* methodsMenu = new QMenu(compareMethods_);
  for (int i = 0; i < method_->count(); ++i) {
    const QString m = method_->itemText(i);
    QAction* a = methodsMenu->addAction(m);
    a->setCheckable(true);
    a->setChecked(m == QLatin1String("matrix-pca") || m == QLatin1String("matrix-pca-refined-greedy") ||
                  m == QLatin1String("svd") || m == QLatin1String("svd-llm"));
    connect(a, &QAction::toggled, this, [this] { updateCompareMethodsText(); });
  }
  compareMethods_->setMenu(methodsMenu);
  controls->addWidget(new QLabel(tr("Methods"), cmp));
  controls->addWidget(compareMethods_);
  controls->addSpacing(8);
  controls->addWidget(new QLabel(tr("Ratios"), cmp));
  compareRatios_ = new QLineEdit(QStringLiteral("0.2, 0.4, 0.6"), cmp);
  compareRatios_->setObjectName(QStringLiteral("masaCompareRatios"));
  compareRatios_->setToolTip(tr("Fractions of the attention parameters removed, separated by commas"));
  compareRatios_->setMinimumWidth(110);
  compareRatios_->setMaximumWidth(170);
  controls->addWidget(compareRatios_);
  compare_ = new QPushButton(tr("Compare methods"), cmp);
  compare_->setObjectName(QStringLiteral("masaCompare"));
  compare_->setToolTip(tr("One masa.compress run per method and ratio, in sequence (Cancel stops the sequence)"));
  auto* clear = new QPushButton(tr("Clear"), cmp);
  clear->setObjectName(QStringLiteral("masaCompareClear"));
  controls->addWidget(compare_);
  controls->addWidget(clear);
  controls->addStretch(1);
  cmpLayout->addLayout(controls);
  updateCompareMethodsText();
  auto* vsplit = new QSplitter(Qt::Vertical, cmp);
  compareView_ = makeChartView(vsplit, QStringLiteral("masaCompareChart"));
  vsplit->addWidget(compareView_);
  compareTable_ = makeTable(vsplit, QStringLiteral("masaCompareTable"));
  vsplit->addWidget(compareTable_);
  vsplit->setStretchFactor(0, 3);
  vsplit->setStretchFactor(1, 1);
  vsplit->setCollapsible(0, false);
  cmpLayout->addWidget(vsplit, 1);
  tabs_->addTab(cmp, tr("Compare"));
  connect(compare_, &QPushButton::clicked, this, &MasaPanel::compareMethods);
  connect(clear, &QPushButton::clicked, this, &MasaPanel::clearComparison);
  connect(compareTable_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    if (row >= 0 && row < points_.size()) {
      if (!showRun(points_[row].runDir)) setStatus(lastError_, true);
    }
  });

  auto* details = new QWidget(tabs_);
  auto* dv = new QVBoxLayout(details);
  dv->addWidget(new QLabel(tr("Per projection type"), details));
  typesTable_ = makeTable(details, QStringLiteral("masaTypesTable"));
  dv->addWidget(typesTable_, 1);
  dv->addWidget(new QLabel(tr("Per layer: relative weight error and low-rank or residual rank"), details));
  layersTable_ = makeTable(details, QStringLiteral("masaLayersTable"));
  dv->addWidget(layersTable_, 2);
  tabs_->addTab(details, tr("Details"));
  v->addWidget(tabs_, 1);
  return page;
}

// ---- form ----

void MasaPanel::setModel(const QString& path) { model_->setText(path); }
QString MasaPanel::model() const { return model_->text().trimmed(); }
void MasaPanel::setMethod(const QString& method) {
  const int i = method_->findText(method);
  if (i >= 0) method_->setCurrentIndex(i);
}
void MasaPanel::setRatio(double ratio) {
  target_->setCurrentIndex(0);
  ratio_->setValue(ratio);
}
void MasaPanel::setAtoms(int atoms) {
  target_->setCurrentIndex(atoms > 0 ? 1 : 0);
  if (atoms > 0) atoms_->setValue(atoms);
}
void MasaPanel::setCalibrationText(const QString& path) { calibText_->setText(path); }
void MasaPanel::setEvalText(const QString& path) { evalText_->setText(path); }
void MasaPanel::setEvalMaxTokens(int tokens) { evalTokens_->setValue(tokens); }
void MasaPanel::setDevice(const QString& device) { device_->setCurrentText(device); }

void MasaPanel::setCompareMethods(const QStringList& methods) {
  for (QAction* a : compareMethods_->menu()->actions()) a->setChecked(methods.contains(a->text()));
}

void MasaPanel::setCompareRatios(const QString& ratios) { compareRatios_->setText(ratios); }

void MasaPanel::updateCompareMethodsText() {
  QStringList on;
  for (QAction* a : compareMethods_->menu()->actions())
    if (a->isChecked()) on << a->text();
  compareMethods_->setText(on.isEmpty() ? tr("none") : on.size() <= 2 ? on.join(QStringLiteral(", ")) : tr("%n method(s)", nullptr, on.size()));
  compareMethods_->setToolTip(on.join(QLatin1Char('\n')));
}

void MasaPanel::updateTargetWidgets() {
  const bool byAtoms = target_->currentData().toString() == QLatin1String("atoms");
  ratio_->setVisible(!byAtoms);
  atoms_->setVisible(byAtoms);
  const bool grouped = method_->currentText() == QLatin1String("matrix-pca-grouped");
  groups_->setEnabled(grouped);
  form_->setRowVisible(groups_, grouped);
}

Json MasaPanel::compressParams() const {
  Json p{{"model", model().toStdString()}, {"method", method_->currentText().toStdString()}};
  if (target_->currentData().toString() == QLatin1String("atoms")) p["atoms"] = atoms_->value();
  else p["ratio"] = ratio_->value();
  if (groups_->isEnabled()) p["groups"] = groups_->value();
  const QString calib = calibText_->text().trimmed(), eval = evalText_->text().trimmed();
  if (!calib.isEmpty()) p["calibration_text"] = calib.toStdString();
  if (!eval.isEmpty()) {
    p["eval_text"] = eval.toStdString();
    p["max_tokens"] = evalTokens_->value();
  }
  p["export"] = "masa";  // the compact folder is always kept, so Export can copy it or expand it
  return p;
}

QString MasaPanel::statusText() const { return status_->text(); }

void MasaPanel::setStatus(const QString& text, bool error) {
  status_->setText(text);
  status_->setStyleSheet(error ? QStringLiteral("color: #c0392b;") : QString());
  if (error && !text.isEmpty()) workbench_.log(tr("MASA: %1").arg(text), true);
}

void MasaPanel::setBusy(bool busy) {
  run_->setEnabled(!busy);
  compare_->setEnabled(!busy);
  cancel_->setEnabled(busy);
  exportHf_->setEnabled(!busy);
  if (!busy) progress_->setValue(progress_->value() == 1000 ? 1000 : 0);
}

// ---- jobs ----

bool MasaPanel::startCompress(const Json& params, Mode mode) {
  const QString job = mode == Mode::ExportHf ? QStringLiteral("masa.export") : QString::fromLatin1(kCompressJob);
  try {
    const QString device = device_->currentText().trimmed().isEmpty() ? QStringLiteral("auto") : device_->currentText().trimmed();
    job_ = workbench_.jobs().start(job, params, device);
  } catch (const std::exception& e) {
    job_ = -1;
    setStatus(tr("%1 could not start: %2").arg(job, QString::fromUtf8(e.what())), true);
    return false;
  }
  ownJobs_ << job_;
  mode_ = mode;
  progress_->setValue(0);
  setBusy(true);
  return true;
}

void MasaPanel::run() {
  if (isBusy()) return;
  const QString m = model();
  if (m.isEmpty() || !QFileInfo::exists(m)) {
    setStatus(m.isEmpty() ? tr("Choose a model first.") : tr("%1 does not exist.").arg(m), true);
    return;
  }
  Json p = compressParams();
  p["eval_before"] = true;
  saveSettings();
  if (startCompress(p, Mode::Single))
    setStatus(tr("compressing with %1\u2026").arg(method_->currentText()));
}

void MasaPanel::cancel() {
  if (job_ >= 0) {
    queue_.clear();  // a cancelled comparison stops here
    workbench_.jobs().cancel(job_);
    setStatus(tr("cancelling\u2026"));
  }
}

void MasaPanel::compareMethods() {
  if (isBusy()) return;
  QStringList methods;
  for (QAction* a : compareMethods_->menu()->actions())
    if (a->isChecked()) methods << a->text();
  QList<double> ratios;
  for (const QString& part : compareRatios_->text().split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts)) {
    bool ok = false;
    const double r = part.toDouble(&ok);
    if (!ok || !(r > 0 && r < 1)) {
      setStatus(tr("Ratio '%1' is not a number strictly between 0 and 1.").arg(part), true);
      return;
    }
    ratios << r;
  }
  if (methods.isEmpty() || ratios.isEmpty()) {
    setStatus(tr("Tick at least one method and give at least one ratio."), true);
    return;
  }
  if (evalText_->text().trimmed().isEmpty()) {
    setStatus(tr("A comparison needs a text to evaluate perplexity on."), true);
    return;
  }
  queue_.clear();
  for (const QString& m : methods)
    for (double r : ratios) queue_ << Pending{m, r};
  compareDone_ = compareFailed_ = 0;
  tabs_->setCurrentIndex(3);
  saveSettings();
  startNextComparison();
}

void MasaPanel::startNextComparison() {
  if (queue_.isEmpty()) {
    finishComparison(false);
    return;
  }
  const Pending next = queue_.takeFirst();
  Json p = compressParams();
  p["method"] = next.method.toStdString();
  p.erase("atoms");
  p["ratio"] = next.ratio;
  if (next.method == QLatin1String("matrix-pca-grouped")) p["groups"] = groups_->value();
  else p.erase("groups");
  p["export"] = "none";
  updateReferenceKey(p);
  p["eval_before"] = reference_ < 0;  // the uncompressed perplexity once per model and text
  const int total = compareDone_ + compareFailed_ + static_cast<int>(queue_.size()) + 1;
  if (!startCompress(p, Mode::Compare)) {
    ++compareFailed_;
    startNextComparison();
    return;
  }
  setStatus(tr("comparison %1 of %2: %3 at ratio %4\u2026")
                .arg(compareDone_ + compareFailed_ + 1)
                .arg(total)
                .arg(next.method)
                .arg(next.ratio, 0, 'g', 3));
}

void MasaPanel::finishComparison(bool cancelled) {
  const QString text = cancelled ? tr("comparison cancelled after %1 run(s)").arg(compareDone_)
                                 : tr("comparison done: %1 run(s), %2 failed").arg(compareDone_).arg(compareFailed_);
  setStatus(text, false);
  Q_EMIT comparisonFinished(compareDone_, compareFailed_);
}

void MasaPanel::onProgress(int id, double fraction, const QString& stage) {
  if (id != job_) return;
  progress_->setValue(static_cast<int>(std::lround(std::clamp(fraction, 0.0, 1.0) * 1000)));
  if (!stage.isEmpty()) {
    QString prefix;
    if (mode_ == Mode::Compare)
      prefix = tr("%1 of %2 \u00b7 ").arg(compareDone_ + compareFailed_ + 1).arg(compareDone_ + compareFailed_ + 1 + queue_.size());
    status_->setText(prefix + stage);
    status_->setStyleSheet(QString());
  }
}

void MasaPanel::onForeignFinished(int id, core::RunStatus status, const QString& runDir) {
  auto* jobs = qobject_cast<JobManager*>(jobManager_.data());
  if (!jobs || !jobs->contains(id) || jobs->state(id).job != QLatin1String(kCompressJob)) return;
  if (status != core::RunStatus::Completed) return;
  if (!showRun(runDir)) setStatus(lastError_, true);
}

void MasaPanel::onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error) {
  if (id != job_) {
    if (!ownJobs_.contains(id)) onForeignFinished(id, status, runDir);
    return;
  }
  job_ = -1;
  const Mode mode = mode_;
  setBusy(false);
  if (status == core::RunStatus::Cancelled) {
    progress_->setValue(0);
    queue_.clear();
    if (mode == Mode::Compare) finishComparison(true);
    else if (mode == Mode::ExportHf) {
      setStatus(tr("export cancelled; nothing was written"));
      Q_EMIT exportFinished(false, tr("cancelled"));
    } else setStatus(tr("cancelled; the panel still shows the previous result"));
    return;
  }
  if (mode == Mode::ExportHf) {
    QString why = error;
    if (status == core::RunStatus::Completed) {
      const Json record = readRunRecord(runDir, &why);
      const QString hf = why.isEmpty() ? runArtifact(runDir, record, QStringLiteral("hf_model")) : QString();
      if (why.isEmpty() && hf.isEmpty()) why = tr("masa.export left no hf_model in %1").arg(runDir);
      if (why.isEmpty() && copyFolder(hf, exportDestination_, &why)) {
        progress_->setValue(1000);
        setStatus(tr("Hugging Face folder written to %1").arg(exportDestination_));
        workbench_.log(tr("MASA: exported the dense Hugging Face folder to %1").arg(exportDestination_));
        Q_EMIT exportFinished(true, exportDestination_);
        return;
      }
    }
    if (why.isEmpty()) why = tr("masa.export failed");
    setStatus(tr("Export failed: %1").arg(why), true);
    Q_EMIT exportFinished(false, why);
    return;
  }
  if (status != core::RunStatus::Completed) {
    const QString msg = tr("masa.compress failed: %1").arg(error.isEmpty() ? tr("unknown error") : error);
    setStatus(msg, true);
    if (mode == Mode::Compare) {
      ++compareFailed_;
      startNextComparison();
    }
    return;
  }
  progress_->setValue(1000);
  const bool shown = showRun(runDir);
  if (!shown) setStatus(lastError_, true);
  if (mode == Mode::Compare) {
    shown ? ++compareDone_ : ++compareFailed_;
    startNextComparison();
  }
}

// ---- results ----

void MasaPanel::updateReferenceKey(const Json& params) {
  // The same model evaluated on the same text (run.json fills in defaults the form leaves out).
  auto s = [&](const char* k) {
    return params.contains(k) && params[k].is_string() ? QString::fromStdString(params[k].get<std::string>()) : QString();
  };
  const long long maxTokens = params.contains("max_tokens") && params["max_tokens"].is_number() ? params["max_tokens"].get<long long>() : 0;
  const QString key = QStringList{s("model"), s("eval_text"), QString::number(maxTokens)}.join(QLatin1Char('|'));
  if (key == referenceKey_) return;
  // Another model or text: earlier points and the reference do not belong on the same chart.
  referenceKey_ = key;
  reference_ = -1;
  points_.clear();
  refreshCompare();
}

bool MasaPanel::showRun(const QString& runDir) {
  CompressionRun r;
  try {
    r = readCompressionRun(runDir);
  } catch (const std::exception& e) {
    lastError_ = QString::fromUtf8(e.what());
    return false;
  }
  updateReferenceKey(r.params);
  if (r.perplexityBefore >= 0) reference_ = r.perplexityBefore;
  addComparePoint(r);
  result_ = std::move(r);
  if (!isBusy()) progress_->setValue(1000);  // a finished run, whoever started it
  refreshCharts();
  const CompressionRun& c = *result_;
  if (mode_ != Mode::Compare || job_ < 0)
    setStatus(tr("%1: %2 of the attention parameters removed%3")
                  .arg(c.method, percent(c.compression))
                  .arg(c.hasPerplexityAfter() ? tr(", perplexity %1 \u2192 %2").arg(ppl(c.perplexityBefore >= 0 ? c.perplexityBefore : reference_), ppl(c.perplexityAfter))
                                              : QString()));
  Q_EMIT runShown(c.runDir);
  return true;
}

void MasaPanel::addComparePoint(const CompressionRun& r) {
  if (!r.hasPerplexityAfter()) return;
  for (const auto& p : points_)
    if (p.runDir == r.runDir) return;
  points_ << ComparePoint{r.method, r.ratio, r.compression, r.attentionAfter, r.perplexityAfter, r.runDir};
  refreshCompare();
}

void MasaPanel::clearComparison() {
  points_.clear();
  refreshCompare();
}

void MasaPanel::refreshCharts() {
  const bool has = result_.has_value();
  exportMasa_->setEnabled(has && !result_->masaFolder.isEmpty());
  exportHf_->setEnabled(has && !result_->masaFolder.isEmpty() && !isBusy());
  report_->setEnabled(has || !points_.isEmpty());
  if (!has) {
    summary_->setText(tr("<b>MASA</b>: matrix atoms shared across layers. Choose a model and a target, then Run; "
                         "the energy per atom, the coefficients, the weight errors and the perplexity appear here."));
    replaceChart(energyView_, new QChart);
    replaceChart(errorView_, new QChart);
    heatmap_->clear();
    refreshCompare();
    return;
  }
  const CompressionRun& r = *result_;
  const double before = r.perplexityBefore >= 0 ? r.perplexityBefore : reference_;
  summary_->setText(tr("<b>%1</b> &nbsp; %2 &middot; %3 &middot; attention %4 \u2192 %5 parameters (<b>%6 removed</b>)"
                       " &middot; perplexity <b>%7 \u2192 %8</b> <span style='color:gray'>%9</span>")
                        .arg(QFileInfo(r.model).fileName().toHtmlEscaped(), r.method.toHtmlEscaped(),
                             r.atomsParam > 0 ? tr("S = %1").arg(r.atomsParam) : tr("ratio %1").arg(r.ratio, 0, 'g', 3),
                             grouped(r.attentionBefore), grouped(r.attentionAfter), percent(r.compression), ppl(before),
                             ppl(r.perplexityAfter), QFileInfo(r.runDir).fileName().toHtmlEscaped()));
  summary_->setToolTip(r.runDir);
  replaceChart(energyView_, makeEnergyChart(r));
  replaceChart(errorView_, makeErrorChart(r));
  {
    const QSignalBlocker block(projection_);
    const QString keep = projection_->currentText();
    projection_->clear();
    for (const auto& c : r.coefficients) projection_->addItem(c.label());
    const int i = projection_->findText(keep);
    projection_->setCurrentIndex(i >= 0 ? i : 0);
  }
  refreshCoefficients();
  refreshDetails();
}

void MasaPanel::refreshCoefficients() {
  if (!result_ || result_->coefficients.isEmpty()) {
    heatmap_->clear(result_ ? tr("%1 stores no shared atoms (a per-matrix method): no coefficients").arg(result_->method)
                            : QString());
    return;
  }
  const int i = std::clamp(projection_->currentIndex(), 0, static_cast<int>(result_->coefficients.size()) - 1);
  const Coefficients& c = result_->coefficients[i];
  QList<int> layers = c.layers;
  if (layers.isEmpty())
    if (const auto* t = result_->type(c.role); t && c.group < t->groups.size()) layers = t->groups[c.group];
  heatmap_->setMatrix(c.values, c.rows, c.cols, layers,
                      tr("Coefficients of %1 [layers \u00d7 atoms]").arg(c.label()));
}

void MasaPanel::refreshCompare() {
  replaceChart(compareView_, makeCompareChart(points_, reference_));
  fillTable(compareTable_, compareHeader(), compareRows(points_));
  if (report_) report_->setEnabled(result_.has_value() || !points_.isEmpty());
}

void MasaPanel::refreshDetails() {
  if (!result_) return;
  fillTable(typesTable_, typesHeader(), typesRows(*result_));
  fillTable(layersTable_, layersHeader(*result_), layersRows(*result_));
}

// ---- export and report ----

bool MasaPanel::exportMasaFolder(const QString& destination) {
  auto fail = [&](const QString& why) {
    lastError_ = why;
    setStatus(tr("Export failed: %1").arg(why), true);
    return false;
  };
  if (!result_) return fail(tr("run a compression first"));
  if (result_->masaFolder.isEmpty())
    return fail(tr("run %1 has no MASA folder (it was run with export=none or hf)").arg(QFileInfo(result_->runDir).fileName()));
  QString why;
  if (!copyFolder(result_->masaFolder, destination, &why)) return fail(why);
  setStatus(tr("MASA folder written to %1").arg(destination));
  workbench_.log(tr("MASA: exported the compact MASA folder to %1").arg(destination));
  return true;
}

bool MasaPanel::exportHfFolder(const QString& destination) {
  auto fail = [&](const QString& why) {
    lastError_ = why;
    setStatus(tr("Export failed: %1").arg(why), true);
    return false;
  };
  if (isBusy()) return fail(tr("a job of this panel is still running"));
  if (!result_) return fail(tr("run a compression first"));
  if (result_->masaFolder.isEmpty())
    return fail(tr("run %1 has no MASA folder to expand").arg(QFileInfo(result_->runDir).fileName()));
  if (QFileInfo::exists(destination) && !(QFileInfo(destination).isDir() && QDir(destination).isEmpty()))
    return fail(tr("%1 already exists and is not an empty folder").arg(destination));
  exportDestination_ = destination;
  if (!startCompress(Json{{"masa", result_->masaFolder.toStdString()}, {"dtype", "float32"}}, Mode::ExportHf))
    return fail(statusText());
  setStatus(tr("writing the dense Hugging Face folder\u2026"));
  return true;
}

void MasaPanel::exportMasaDialog() {
  if (!result_) return;
  const QString suggested = QDir::home().filePath(
      QStringLiteral("%1-%2-masa").arg(QFileInfo(result_->model).completeBaseName(), result_->method));
  const QString dest = QFileDialog::getSaveFileName(this, tr("Export the compact MASA folder (a new folder)"), suggested);
  if (dest.isEmpty()) return;
  exportMasaFolder(dest);
}

void MasaPanel::exportHfDialog() {
  if (!result_) return;
  const QString suggested = QDir::home().filePath(
      QStringLiteral("%1-%2-hf").arg(QFileInfo(result_->model).completeBaseName(), result_->method));
  const QString dest = QFileDialog::getSaveFileName(this, tr("Export a dense Hugging Face folder (a new folder)"), suggested);
  if (dest.isEmpty()) return;
  exportHfFolder(dest);
}

void MasaPanel::reportDialog() {
  const QString suggested = QDir::home().filePath(
      result_ ? QStringLiteral("masa-%1-report.html").arg(result_->method) : QStringLiteral("masa-report.html"));
  const QString path = QFileDialog::getSaveFileName(this, tr("MASA report (an .html and a .pdf are written)"), suggested,
                                                    tr("HTML (*.html)"));
  if (path.isEmpty()) return;
  if (!writeReport(path)) setStatus(tr("Report failed: %1").arg(lastError_), true);
}

bool MasaPanel::writeReport(const QString& htmlPath) {
  if (!result_ && points_.isEmpty()) {
    lastError_ = tr("nothing to report yet: run a compression first");
    return false;
  }
  ReportWriter report(tr("MASA compression report"));
  const QSize chartSize(900, 480);
  auto chart = [&](QChart* c, const QString& caption) {
    std::unique_ptr<QChart> owned(c);
    report.addChart(owned.get(), chartSize, caption);
  };
  if (result_) {
    const CompressionRun& r = *result_;
    report.addParagraph(tr("Model %1, compressed with %2 on %3. Run folder: %4.")
                            .arg(r.model, r.method, QDateTime::currentDateTime().toString(Qt::ISODate), r.runDir));
    report.addHeading(tr("Summary"));
    report.addTable({tr("quantity"), tr("value")}, summaryRows(r, reference_), tr("Attention compression and perplexity"));
    report.addTable(typesHeader(), typesRows(r), tr("Per projection type: parameters, atoms, energy and error"));
    report.addHeading(tr("Energy kept per atom"));
    chart(makeEnergyChart(r), tr("Energy share of each principal direction; the first atoms of each type are kept."));
    if (!r.coefficients.isEmpty()) {
      report.addHeading(tr("Coefficients"));
      CoefficientHeatmap map;
      map.resize(640, 360);
      for (const auto& c : r.coefficients) {
        QList<int> layers = c.layers;
        if (layers.isEmpty())
          if (const auto* t = r.type(c.role); t && c.group < t->groups.size()) layers = t->groups[c.group];
        map.setMatrix(c.values, c.rows, c.cols, layers, tr("Coefficients of %1 [layers \u00d7 atoms]").arg(c.label()));
        report.addImage(map.renderImage(QSize(640, std::clamp(90 + 36 * c.rows, 200, 520))),
                        tr("Coefficients c_ls of %1; colour scale from \u2212%2 to +%2.").arg(c.label()).arg(map.scale(), 0, 'g', 3));
      }
    }
    report.addHeading(tr("Relative weight error per layer"));
    chart(makeErrorChart(r), tr("||W - W^||_F / ||W||_F per layer and projection."));
    report.addTable(layersHeader(r), layersRows(r), tr("Per layer: relative error and low-rank or residual rank"));
  }
  if (!points_.isEmpty()) {
    report.addHeading(tr("Perplexity versus compression"));
    chart(makeCompareChart(points_, reference_), tr("One line per method; dashed: the uncompressed model."));
    report.addTable(compareHeader(), compareRows(points_),
                    tr("Methods compared (uncompressed perplexity %1)").arg(ppl(reference_)));
  }
  const QFileInfo fi(htmlPath);
  const QString base = fi.absolutePath() + QLatin1Char('/') + fi.completeBaseName();
  QString why;
  if (!report.writeHtml(base + QStringLiteral(".html"), ReportWriter::ImageMode::Embedded, &why) ||
      !report.writePdf(base + QStringLiteral(".pdf"), &why)) {
    lastError_ = why;
    return false;
  }
  setStatus(tr("Report written to %1.html and .pdf").arg(base));
  workbench_.log(tr("MASA: report written to %1.html and %1.pdf").arg(base));
  return true;
}

// ---- settings ----

void MasaPanel::saveSettings() const {
  QSettings s(QStringLiteral("Atomscope"), QStringLiteral("Atomscope"));
  s.beginGroup(QStringLiteral("masa"));
  s.setValue(QStringLiteral("model"), model());
  s.setValue(QStringLiteral("method"), method_->currentText());
  s.setValue(QStringLiteral("target"), target_->currentData().toString());
  s.setValue(QStringLiteral("ratio"), ratio_->value());
  s.setValue(QStringLiteral("atoms"), atoms_->value());
  s.setValue(QStringLiteral("calibration_text"), calibText_->text());
  s.setValue(QStringLiteral("eval_text"), evalText_->text());
  s.setValue(QStringLiteral("eval_tokens"), evalTokens_->value());
  s.setValue(QStringLiteral("device"), device_->currentText());
  s.setValue(QStringLiteral("compare_ratios"), compareRatios_->text());
}

void MasaPanel::restoreSettings() {
  QSettings s(QStringLiteral("Atomscope"), QStringLiteral("Atomscope"));
  s.beginGroup(QStringLiteral("masa"));
  const QString sampleModel = samplesFile(QStringLiteral("models/stories260K/stories260K.bin"));
  const QString sampleText = samplesFile(QStringLiteral("text/tinystories_sample5.txt"));
  auto existing = [&](const QString& key, const QString& fallback) {
    const QString v = s.value(key).toString();
    return !v.isEmpty() && QFileInfo::exists(v) ? v : fallback;
  };
  model_->setText(existing(QStringLiteral("model"), sampleModel));
  setMethod(s.value(QStringLiteral("method"), QStringLiteral("matrix-pca-refined-greedy")).toString());
  target_->setCurrentIndex(s.value(QStringLiteral("target")).toString() == QLatin1String("atoms") ? 1 : 0);
  ratio_->setValue(s.value(QStringLiteral("ratio"), 0.4).toDouble());
  atoms_->setValue(s.value(QStringLiteral("atoms"), 2).toInt());
  calibText_->setText(s.contains(QStringLiteral("calibration_text")) ? s.value(QStringLiteral("calibration_text")).toString() : sampleText);
  evalText_->setText(s.contains(QStringLiteral("eval_text")) ? s.value(QStringLiteral("eval_text")).toString() : sampleText);
  evalTokens_->setValue(s.value(QStringLiteral("eval_tokens"), 0).toInt());
  device_->setCurrentText(s.value(QStringLiteral("device"), QStringLiteral("auto")).toString());
  if (s.contains(QStringLiteral("compare_ratios"))) compareRatios_->setText(s.value(QStringLiteral("compare_ratios")).toString());
}

}  // namespace atomscope::gui::masa
