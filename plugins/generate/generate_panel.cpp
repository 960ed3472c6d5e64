#include "generate_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <exception>
#include <fstream>

#include "atomscope/chem/formats.h"
#include "atomscope/chem/xyz.h"
#include "atomscope/core/job.h"
#include "atomscope/gui/escape_cancels.h"
#include "atomscope/gui/samples.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/metric_chart.h"
#include "atomscope/gui/workbench.h"
#include "structure_gallery.h"

namespace atomscope::gui::generate {

namespace {

constexpr int kValidRole = Qt::UserRole + 1;
const QColor kValidColour(56, 142, 60, 110);
const QColor kInvalidColour(198, 40, 40, 110);

QString artifact(const QString& runDir, const QString& name) { return runDir + QStringLiteral("/artifacts/") + name; }

QString percent(double v) { return QStringLiteral("%1%").arg(100.0 * v, 0, 'f', 1); }

// A folder from adit.prepare holds manifest.json; anything else is a source to prepare first.
bool isPreparedData(const QString& path) { return QFileInfo::exists(path + QStringLiteral("/manifest.json")); }

}  // namespace

GeneratePanel::GeneratePanel(Workbench& workbench, QWidget* parent) : QWidget(parent), workbench_(workbench) {
  setObjectName(QStringLiteral("generatePanel"));
  new EscapeCancels(this, [this] { return genJob_ >= 0 || trainJob_ >= 0; }, [this] { cancel(); });
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  tabs_ = new QTabWidget(this);
  tabs_->setObjectName(QStringLiteral("generateTabs"));
  tabs_->addTab(buildGenerateTab(), tr("Generate"));
  tabs_->addTab(buildTrainingTab(), tr("Training"));
  layout->addWidget(tabs_);
  findSampleModel();

  JobManager& jobs = workbench_.jobs();
  connect(&jobs, &JobManager::progressChanged, this,
          [this](int id, double f, const QString& stage, double) { onProgress(id, f, stage); });
  connect(&jobs, &JobManager::metricsArrived, this,
          [this](int id, const std::vector<core::MetricPoint>& p) { onMetrics(id, p); });
  connect(&jobs, &JobManager::jobFinished, this,
          [this](int id, core::RunStatus s, const QString& dir, const QString& err) { onFinished(id, s, dir, err); });
  updateButtons();
}

GeneratePanel::~GeneratePanel() = default;

QWidget* GeneratePanel::buildGenerateTab() {
  auto* page = new QWidget(this);
  auto* split = new QSplitter(Qt::Horizontal, page);
  auto* pageLayout = new QHBoxLayout(page);
  pageLayout->setContentsMargins(0, 0, 0, 0);
  pageLayout->addWidget(split);

  // Left: the form, scrolled when the tab is short (each row keeps its height).
  auto* leftScroll = new QScrollArea(split);
  leftScroll->setWidgetResizable(true);
  leftScroll->setFrameShape(QFrame::NoFrame);
  auto* left = new QWidget(leftScroll);
  auto* leftLayout = new QVBoxLayout(left);
  auto* modelBox = new QGroupBox(tr("Model"), left);
  auto* modelForm = new QFormLayout(modelBox);
  auto pathRow = [&](QLineEdit*& edit, const char* name, const QString& filter) {
    auto* row = new QWidget(modelBox);
    auto* h = new QHBoxLayout(row);
    h->setContentsMargins(0, 0, 0, 0);
    edit = new QLineEdit(row);
    edit->setObjectName(QString::fromLatin1(name));
    auto* browse = new QToolButton(row);
    browse->setText(QStringLiteral("\u2026"));
    QLineEdit* e = edit;
    connect(browse, &QToolButton::clicked, this, [this, e, filter] {
      const QString f = QFileDialog::getOpenFileName(this, tr("Model file"), QFileInfo(e->text()).absolutePath(), filter);
      if (!f.isEmpty()) e->setText(f);
    });
    h->addWidget(edit, 1);
    h->addWidget(browse);
    return row;
  };
  modelForm->addRow(tr("DiT"), pathRow(ditEdit_, "generateDit", tr("ADiT DiT (dit.pt *.pt)")));
  modelForm->addRow(tr("VAE"), pathRow(vaeEdit_, "generateVae", tr("ADiT VAE (vae.pt *.pt)")));
  modelHint_ = new QLabel(modelBox);
  modelHint_->setObjectName(QStringLiteral("generateModelHint"));
  modelHint_->setWordWrap(true);
  modelForm->addRow(modelHint_);
  leftLayout->addWidget(modelBox);

  auto* genBox = new QGroupBox(tr("Sampling"), left);
  auto* form = new QFormLayout(genBox);
  kind_ = new QComboBox(genBox);
  kind_->setObjectName(QStringLiteral("generateKind"));
  kind_->addItem(tr("Molecule"), QStringLiteral("molecule"));
  kind_->addItem(tr("Crystal"), QStringLiteral("crystal"));
  form->addRow(tr("Kind"), kind_);
  spaceGroup_ = new QSpinBox(genBox);
  spaceGroup_->setRange(0, 230);
  spaceGroup_->setSpecialValueText(tr("any"));
  spaceGroup_->setToolTip(tr("Space group the crystals are conditioned on (any: none)."));
  form->addRow(tr("Space group"), spaceGroup_);
  connect(kind_, &QComboBox::currentIndexChanged, this, [this] { spaceGroup_->setEnabled(kind_->currentIndex() == 1); });
  spaceGroup_->setEnabled(false);
  composition_ = new QLineEdit(genBox);
  composition_->setObjectName(QStringLiteral("generateComposition"));
  composition_->setPlaceholderText(tr("from the training set"));
  composition_->setToolTip(tr("A formula every sample takes, e.g. C7H10O2 (DiTs trained with composition conditioning). "
                              "Empty: compositions drawn from the training set, or atom counts for older DiTs."));
  form->addRow(tr("Formula"), composition_);
  count_ = new QSpinBox(genBox);
  count_->setRange(1, 100000);
  count_->setValue(16);
  form->addRow(tr("Count"), count_);
  steps_ = new QSpinBox(genBox);
  steps_->setRange(1, 100000);
  steps_->setValue(100);
  steps_->setToolTip(tr("Flow integration steps (the paper: 100)."));
  form->addRow(tr("Steps"), steps_);
  guidance_ = new QDoubleSpinBox(genBox);
  guidance_->setRange(0.0, 20.0);
  guidance_->setSingleStep(0.25);
  guidance_->setValue(1.0);
  guidance_->setToolTip(tr("Classifier-free guidance scale (1 = none, twice as fast; the paper: 2). On the sample model 1 "
                           "gives more valid and more unique structures."));
  form->addRow(tr("Guidance"), guidance_);
  seed_ = new QSpinBox(genBox);
  seed_->setRange(0, 2147483647);
  seed_->setValue(1);
  seed_->setToolTip(tr("The same seed gives the same structures."));
  form->addRow(tr("Seed"), seed_);
  batch_ = new QSpinBox(genBox);
  batch_->setRange(1, 100000);
  batch_->setValue(16);
  batch_->setToolTip(tr("Structures per batch: progress and Cancel act between batches."));
  form->addRow(tr("Batch"), batch_);
  device_ = new QComboBox(genBox);
  device_->addItems({QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")});
  form->addRow(tr("Device"), device_);
  form->addRow(tr("Relax with"), pathRow(relaxEdit_, "generateRelax", tr("Force-field models (*.pt *.model)")));
  relaxEdit_->setPlaceholderText(tr("none, xtb or a model file"));
  relaxEdit_->setToolTip(tr("Relax every sample before it is shown: 'xtb' (GFN2-xTB), a PONITA model or a MACE "
                            "TorchScript file. Empty: the structures as generated."));
  leftLayout->addWidget(genBox);

  auto* buttons = new QHBoxLayout;
  generateButton_ = new QPushButton(tr("Generate"), left);
  generateButton_->setObjectName(QStringLiteral("generateButton"));
  generateButton_->setToolTip(tr("Ctrl+G"));
  cancelButton_ = new QPushButton(tr("Cancel"), left);
  cancelButton_->setObjectName(QStringLiteral("generateCancel"));
  cancelButton_->setToolTip(tr("Esc"));
  connect(generateButton_, &QPushButton::clicked, this, [this] { generate(); });
  connect(cancelButton_, &QPushButton::clicked, this, [this] { cancel(); });
  buttons->addWidget(generateButton_);
  buttons->addWidget(cancelButton_);
  leftLayout->addLayout(buttons);
  progress_ = new QProgressBar(left);
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setTextVisible(false);
  leftLayout->addWidget(progress_);
  status_ = new QLabel(tr("Ready."), left);
  status_->setObjectName(QStringLiteral("generateStatus"));
  status_->setWordWrap(true);
  leftLayout->addWidget(status_);
  leftLayout->addStretch(1);
  leftScroll->setWidget(left);
  leftScroll->setMinimumWidth(300);
  leftScroll->setMaximumWidth(400);

  // Right: filter, gallery, export.
  auto* right = new QWidget(split);
  auto* rightLayout = new QVBoxLayout(right);
  auto* filterRow = new QHBoxLayout;
  validOnly_ = new QCheckBox(tr("Valid only"), right);
  validOnly_->setObjectName(QStringLiteral("generateValidOnly"));
  filterKind_ = new QComboBox(right);
  filterKind_->addItem(tr("All kinds"), QStringLiteral("all"));
  filterKind_->addItem(tr("Molecules"), QStringLiteral("molecule"));
  filterKind_->addItem(tr("Crystals"), QStringLiteral("crystal"));
  minAtoms_ = new QSpinBox(right);
  maxAtoms_ = new QSpinBox(right);
  minAtoms_->setRange(0, 100000);
  maxAtoms_->setRange(0, 100000);
  maxAtoms_->setValue(100000);
  shown_ = new QLabel(right);
  shown_->setObjectName(QStringLiteral("generateShown"));
  filterRow->addWidget(validOnly_);
  filterRow->addWidget(filterKind_);
  filterRow->addWidget(new QLabel(tr("atoms"), right));
  filterRow->addWidget(minAtoms_);
  filterRow->addWidget(new QLabel(QStringLiteral("\u2013"), right));
  filterRow->addWidget(maxAtoms_);
  filterRow->addStretch(1);
  filterRow->addWidget(shown_);
  rightLayout->addLayout(filterRow);
  // The evaluation sits above the gallery, always in view (in the form column it scrolled out of sight).
  evaluation_ = new QLabel(right);
  evaluation_->setObjectName(QStringLiteral("generateEvaluation"));
  evaluation_->setWordWrap(true);
  evaluation_->setTextFormat(Qt::RichText);
  rightLayout->addWidget(evaluation_);
  auto refilter = [this] {
    filter_.validOnly = validOnly_->isChecked();
    const QString k = filterKind_->currentData().toString();
    filter_.kind = k == QLatin1String("molecule") ? 0 : k == QLatin1String("crystal") ? 1 : -1;
    filter_.minAtoms = minAtoms_->value();
    filter_.maxAtoms = maxAtoms_->value();
    applyFilter();
  };
  connect(validOnly_, &QCheckBox::toggled, this, refilter);
  connect(filterKind_, &QComboBox::currentIndexChanged, this, refilter);
  connect(minAtoms_, &QSpinBox::valueChanged, this, refilter);
  connect(maxAtoms_, &QSpinBox::valueChanged, this, refilter);

  galleryBox_ = new QVBoxLayout;
  auto* placeholder = new QLabel(tr("Generated structures appear here, in 3D, the valid ones in green."), right);
  placeholder->setObjectName(QStringLiteral("generatePlaceholder"));
  placeholder->setAlignment(Qt::AlignCenter);
  galleryBox_->addWidget(placeholder, 1);
  rightLayout->addLayout(galleryBox_, 1);

  auto* exportRow = new QHBoxLayout;
  exportSelection_ = new QPushButton(tr("Export selection\u2026"), right);
  exportShown_ = new QPushButton(tr("Export all shown\u2026"), right);
  connect(exportSelection_, &QPushButton::clicked, this, [this] { exportDialog(true); });
  connect(exportShown_, &QPushButton::clicked, this, [this] { exportDialog(false); });
  exportRow->addStretch(1);
  exportRow->addWidget(exportSelection_);
  exportRow->addWidget(exportShown_);
  rightLayout->addLayout(exportRow);
  split->addWidget(leftScroll);
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  return page;
}

QWidget* GeneratePanel::buildTrainingTab() {
  auto* page = new QWidget(this);
  auto* layout = new QVBoxLayout(page);
  auto* box = new QGroupBox(tr("Training data and settings"), page);
  auto* form = new QFormLayout(box);
  auto* dataRow = new QWidget(box);
  auto* h = new QHBoxLayout(dataRow);
  h->setContentsMargins(0, 0, 0, 0);
  trainData_ = new QLineEdit(dataRow);
  trainData_->setObjectName(QStringLiteral("generateTrainData"));
  trainData_->setPlaceholderText(tr("a folder from adit.prepare, or a structure / SMILES file to prepare first"));
  auto* browse = new QToolButton(dataRow);
  browse->setText(QStringLiteral("\u2026"));
  connect(browse, &QToolButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Training structures"), QString(),
                                                   tr("Structures (*.xyz *.extxyz *.csv *.smi *.txt);;All files (*)"));
    if (!f.isEmpty()) trainData_->setText(f);
  });
  h->addWidget(trainData_, 1);
  h->addWidget(browse);
  form->addRow(tr("Data"), dataRow);
  prepareLimit_ = new QSpinBox(box);
  prepareLimit_->setRange(0, 100000000);
  prepareLimit_->setSpecialValueText(tr("all"));
  prepareLimit_->setToolTip(tr("First N structures of a source file (adit.prepare's limit)."));
  form->addRow(tr("Use first"), prepareLimit_);
  trainSize_ = new QComboBox(box);
  trainSize_->addItems({QStringLiteral("tiny"), QStringLiteral("S"), QStringLiteral("B"), QStringLiteral("L")});
  trainSize_->setCurrentText(QStringLiteral("S"));
  form->addRow(tr("Size"), trainSize_);
  trainSteps_ = new QSpinBox(box);
  trainSteps_->setRange(1, 100000000);
  trainSteps_->setValue(2000);
  form->addRow(tr("Steps"), trainSteps_);
  trainBatch_ = new QSpinBox(box);
  trainBatch_->setRange(1, 100000);
  trainBatch_->setValue(64);
  form->addRow(tr("Batch"), trainBatch_);
  trainLr_ = new QDoubleSpinBox(box);
  trainLr_->setDecimals(6);
  trainLr_->setRange(1e-6, 1.0);
  trainLr_->setSingleStep(1e-4);
  trainLr_->setValue(1e-4);
  form->addRow(tr("Learning rate"), trainLr_);
  continueDit_ = new QCheckBox(tr("Continue the Generate tab's DiT"), box);
  continueDit_->setObjectName(QStringLiteral("generateContinueDit"));
  continueDit_->setToolTip(tr("Train DiT goes on training that DiT (its size is kept; it must have been trained with "
                              "the same VAE) instead of starting a new one."));
  form->addRow(QString(), continueDit_);
  trainDevice_ = new QComboBox(box);
  trainDevice_->addItems({QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")});
  form->addRow(tr("Device"), trainDevice_);
  layout->addWidget(box);

  auto* buttons = new QHBoxLayout;
  trainVaeButton_ = new QPushButton(tr("Train VAE"), page);
  trainDitButton_ = new QPushButton(tr("Train DiT"), page);
  trainDitButton_->setToolTip(tr("Uses the VAE of the Generate tab (set by Train VAE when it finishes)."));
  trainCancel_ = new QPushButton(tr("Cancel"), page);
  connect(trainVaeButton_, &QPushButton::clicked, this, [this] { trainVae(); });
  connect(trainDitButton_, &QPushButton::clicked, this, [this] { trainDit(); });
  connect(trainCancel_, &QPushButton::clicked, this, [this] {
    if (trainJob_ >= 0) workbench_.jobs().cancel(trainJob_);
  });
  buttons->addWidget(trainVaeButton_);
  buttons->addWidget(trainDitButton_);
  buttons->addWidget(trainCancel_);
  buttons->addStretch(1);
  layout->addLayout(buttons);
  trainProgress_ = new QProgressBar(page);
  trainProgress_->setRange(0, 1000);
  trainProgress_->setValue(0);
  layout->addWidget(trainProgress_);
  trainStatus_ = new QLabel(tr("Train a VAE first, then the DiT on its latents."), page);
  trainStatus_->setObjectName(QStringLiteral("generateTrainStatus"));
  trainStatus_->setWordWrap(true);
  layout->addWidget(trainStatus_);
  auto* charts = new QHBoxLayout;
  vaeChart_ = new MetricChart(page);
  vaeChart_->setObjectName(QStringLiteral("generateVaeChart"));
  vaeChart_->setTitle(tr("VAE loss"));
  ditChart_ = new MetricChart(page);
  ditChart_->setObjectName(QStringLiteral("generateDitChart"));
  ditChart_->setTitle(tr("DiT loss (flow matching)"));
  charts->addWidget(vaeChart_);
  charts->addWidget(ditChart_);
  layout->addLayout(charts, 1);
  return page;
}

void GeneratePanel::findSampleModel() {
  for (const QString& root : gui::sampleRoots()) {
    const QDir models(root + QStringLiteral("/models"));
    if (!models.exists()) continue;
    for (const QString& sub : models.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
      const QString dit = models.filePath(sub + QStringLiteral("/dit.pt"));
      const QString vae = models.filePath(sub + QStringLiteral("/vae.pt"));
      if (QFileInfo::exists(dit) && QFileInfo::exists(vae)) {
        ditEdit_->setText(QFileInfo(dit).absoluteFilePath());
        vaeEdit_->setText(QFileInfo(vae).absoluteFilePath());
        modelHint_->setText(tr("Sample model: %1").arg(QDir::cleanPath(models.filePath(sub))));
        return;
      }
    }
  }
  modelHint_->setText(tr("No sample ADiT model found in samples/models. Choose a dit.pt (adit.train_dit) and its "
                         "vae.pt (adit.train_vae), or train a pair in the Training tab."));
}

// ---- form ---------------------------------------------------------------------------------------

void GeneratePanel::setVae(const QString& path) { vaeEdit_->setText(path); }
void GeneratePanel::setDit(const QString& path) { ditEdit_->setText(path); }
QString GeneratePanel::vae() const { return vaeEdit_->text().trimmed(); }
QString GeneratePanel::dit() const { return ditEdit_->text().trimmed(); }
void GeneratePanel::setKind(const QString& kind) {
  const int i = kind_->findData(kind);
  if (i >= 0) kind_->setCurrentIndex(i);
}
void GeneratePanel::setSpaceGroup(int sg) { spaceGroup_->setValue(sg); }
void GeneratePanel::setComposition(const QString& formula) { composition_->setText(formula); }
void GeneratePanel::setCount(int n) { count_->setValue(n); }
void GeneratePanel::setSteps(int n) { steps_->setValue(n); }
void GeneratePanel::setGuidance(double g) { guidance_->setValue(g); }
void GeneratePanel::setSeed(int s) { seed_->setValue(s); }
void GeneratePanel::setBatchSize(int b) { batch_->setValue(b); }
void GeneratePanel::setDevice(const QString& d) { device_->setCurrentText(d); }
void GeneratePanel::setRelaxModel(const QString& model) { relaxEdit_->setText(model); }

Json GeneratePanel::sampleParams() const {
  const bool crystal = kind_->currentData().toString() == QLatin1String("crystal");
  return Json{{"vae", vae().toStdString()},
              {"dit", dit().toStdString()},
              {"kind", kind_->currentData().toString().toStdString()},
              {"space_group", crystal ? spaceGroup_->value() : 0},
              {"composition", composition_->text().trimmed().toStdString()},
              {"count", count_->value()},
              {"steps", steps_->value()},
              {"guidance", guidance_->value()},
              {"batch_size", batch_->value()},
              {"relax_model", relaxModel().toStdString()}};
}

QString GeneratePanel::relaxModel() const {
  const QString m = relaxEdit_->text().trimmed();
  return m.compare(QStringLiteral("none"), Qt::CaseInsensitive) == 0 ? QString() : m;
}

QString GeneratePanel::statusText() const { return status_->text(); }

void GeneratePanel::fail(const QString& message) {
  lastError_ = message;
  status_->setText(message);
  status_->setStyleSheet(QStringLiteral("color: #e57373;"));
  workbench_.log(tr("Generate: %1").arg(message), true);
}

void GeneratePanel::updateButtons() {
  generateButton_->setEnabled(genJob_ < 0);
  cancelButton_->setEnabled(genJob_ >= 0);
  trainVaeButton_->setEnabled(trainJob_ < 0);
  trainDitButton_->setEnabled(trainJob_ < 0);
  trainCancel_->setEnabled(trainJob_ >= 0);
  const bool any = !structures_.empty();
  exportSelection_->setEnabled(any);
  exportShown_->setEnabled(any);
}

// ---- generation ---------------------------------------------------------------------------------

bool GeneratePanel::generate() {
  if (genJob_ >= 0) {
    lastError_ = tr("a generation is already running");
    return false;
  }
  lastError_.clear();
  status_->setStyleSheet(QString());
  if (!workbench_.jobs().registry().contains("adit.sample"))
    return fail(tr("adit.sample is not available in this build (modules/adit missing)")), false;
  for (const auto& [label, path] : {std::pair{tr("DiT"), dit()}, std::pair{tr("VAE"), vae()}}) {
    if (path.isEmpty()) return fail(tr("Choose a %1 file first. %2").arg(label, modelHint_->text())), false;
    if (!QFileInfo(path).isFile()) return fail(tr("%1 file %2 does not exist").arg(label, path)), false;
  }
  try {
    genJob_ = workbench_.jobs().start(QStringLiteral("adit.sample"), sampleParams(), device_->currentText(),
                                      static_cast<unsigned long long>(seed_->value()));
  } catch (const std::exception& e) {
    genJob_ = -1;
    return fail(QString::fromUtf8(e.what())), false;
  }
  genPhase_ = Phase::Sample;
  progress_->setValue(0);
  status_->setText(relaxModel().isEmpty()
                       ? tr("Sampling %1 %2(s)\u2026").arg(count_->value()).arg(kind_->currentText().toLower())
                       : tr("Sampling %1 %2(s), then relaxing with %3\u2026")
                             .arg(count_->value())
                             .arg(kind_->currentText().toLower(), QFileInfo(relaxModel()).fileName()));
  updateButtons();
  return true;
}

void GeneratePanel::cancel() {
  if (genJob_ >= 0) {
    workbench_.jobs().cancel(genJob_);
    status_->setText(tr("Cancelling\u2026"));
  } else if (trainJob_ >= 0) {
    workbench_.jobs().cancel(trainJob_);
    trainStatus_->setText(tr("Cancelling\u2026"));
  }
}

void GeneratePanel::startEvaluate() {
  try {
    genJob_ = workbench_.jobs().start(QStringLiteral("adit.evaluate"),
                                      Json{{"structures", samplesFile_.toStdString()},
                                           {"kind", kind_->currentData().toString().toStdString()}},
                                      QStringLiteral("cpu"));
    genPhase_ = Phase::Evaluate;
    status_->setText(tr("Evaluating %1 structures\u2026").arg(structures_.size()));
  } catch (const std::exception& e) {
    genJob_ = -1;
    genPhase_ = Phase::None;
    fail(tr("adit.evaluate did not start: %1").arg(QString::fromUtf8(e.what())));
  }
}

void GeneratePanel::showEvaluation(const QString& runDir) {
  const QString file = artifact(runDir, QStringLiteral("metrics.json"));
  std::ifstream in(file.toStdString());
  Json rows;
  try {
    in >> rows;
  } catch (const std::exception& e) {
    fail(tr("%1: %2").arg(file, QString::fromUtf8(e.what())));
    return;
  }
  QStringList lines;
  for (const auto& r : rows) {
    const QString ds = QString::fromStdString(r.value("dataset", std::string()));
    QString line = tr("<b>%1</b>: %2 generated, %3 valid (%4)")
                       .arg(ds)
                       .arg(r.value("total", 0))
                       .arg(r.value("valid", 0))
                       .arg(percent(r.value("valid_rate", 0.0)));
    if (ds == QLatin1String("molecule"))
      line += tr(", %1 also neutral (%2)").arg(r.value("valid_neutral", 0)).arg(percent(r.value("valid_neutral_rate", 0.0)));
    if (r.contains("composition_valid_rate"))  // where crystals fail: atom types or geometry
      line += tr(" [composition %1, distances %2]")
                  .arg(percent(r.value("composition_valid_rate", 0.0)))
                  .arg(percent(r.value("structure_valid_rate", 0.0)));
    line += tr(", unique %1").arg(percent(r.value("unique_rate", 0.0)));
    if (r.contains("formula_match_rate"))  // a composition-conditioned DiT: how often it obeyed
      line += tr(", formula as asked %1 of %2").arg(r.value("formula_matched", 0)).arg(r.value("formula_asked", 0));
    lines << line;
  }
  evaluation_->setText(tr("adit.evaluate: ") + lines.join(QStringLiteral("<br>")));
}

void GeneratePanel::onProgress(int id, double fraction, const QString& stage) {
  if (id == genJob_) {
    progress_->setValue(static_cast<int>(fraction * 1000));
    status_->setText((genPhase_ == Phase::Evaluate ? tr("Evaluating: %1") : tr("Sampling: %1")).arg(stage));
  } else if (id == trainJob_) {
    trainProgress_->setValue(static_cast<int>(fraction * 1000));
    trainStatus_->setText(stage);
  }
}

void GeneratePanel::onMetrics(int id, const std::vector<core::MetricPoint>& points) {
  if (id != trainJob_ || (trainPhase_ != Phase::TrainVae && trainPhase_ != Phase::TrainDit)) return;
  std::vector<core::MetricPoint> loss;
  loss.reserve(points.size());
  for (const auto& p : points) {
    const auto it = p.values.find("loss");
    if (it != p.values.end()) loss.push_back({p.step, p.seconds, {{"loss", it->second}}});
  }
  (trainPhase_ == Phase::TrainVae ? vaeChart_ : ditChart_)->addPoints(loss);
}

void GeneratePanel::onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error) {
  if (id == genJob_) {
    const Phase phase = genPhase_;
    genJob_ = -1;
    genPhase_ = Phase::None;
    if (status == core::RunStatus::Cancelled) {
      status_->setText(tr("Cancelled."));
    } else if (status != core::RunStatus::Completed) {
      fail(tr("%1 failed: %2").arg(phase == Phase::Evaluate ? QStringLiteral("adit.evaluate") : QStringLiteral("adit.sample"), error));
    } else if (phase == Phase::Sample) {
      sampleRun_ = runDir;
      samplesFile_ = artifact(runDir, QStringLiteral("samples.extxyz"));
      evaluation_->clear();
      if (loadStructures(samplesFile_)) startEvaluate();
    } else if (phase == Phase::Evaluate) {
      evaluateRun_ = runDir;
      showEvaluation(runDir);
      progress_->setValue(1000);
      status_->setText(formulaAsked_ > 0 ? tr("Done: %1 structures, %2 valid, %3 of %4 with the formula asked.")
                                               .arg(structures_.size())
                                               .arg(validCount())
                                               .arg(formulaMatched_)
                                               .arg(formulaAsked_)
                                         : tr("Done: %1 structures, %2 valid.").arg(structures_.size()).arg(validCount()));
      workbench_.log(tr("Generate: %1 structures in %2").arg(structures_.size()).arg(sampleRun_));
    }
    updateButtons();
    return;
  }
  if (id != trainJob_) return;
  const Phase phase = trainPhase_;
  trainJob_ = -1;
  trainPhase_ = Phase::None;
  if (status == core::RunStatus::Cancelled) {
    trainStatus_->setText(tr("Cancelled; the run keeps its last checkpoint (resume it from the Runs browser)."));
  } else if (status != core::RunStatus::Completed) {
    trainStatus_->setText(tr("Failed: %1").arg(error));
    trainStatus_->setStyleSheet(QStringLiteral("color: #e57373;"));
    workbench_.log(tr("Generate training: %1").arg(error), true);
  } else if (phase == Phase::Prepare) {
    trainData_->setText(artifact(runDir, QStringLiteral("data")));
    const Phase next = afterPrepare_;
    afterPrepare_ = Phase::None;
    updateButtons();
    startTraining(next);
    return;
  } else if (phase == Phase::TrainVae) {
    trainedVae_ = artifact(runDir, QStringLiteral("vae.pt"));
    vaeEdit_->setText(trainedVae_);
    trainStatus_->setText(tr("VAE trained: %1. Train the DiT next.").arg(trainedVae_));
  } else if (phase == Phase::TrainDit) {
    trainedDit_ = artifact(runDir, QStringLiteral("dit.pt"));
    ditEdit_->setText(trainedDit_);
    modelHint_->setText(tr("Model trained in this session."));
    trainStatus_->setText(tr("DiT trained: %1. It is now the Generate tab's model.").arg(trainedDit_));
  }
  updateButtons();
}

// ---- gallery ------------------------------------------------------------------------------------

bool GeneratePanel::loadStructures(const QString& path) {
  chem::Trajectory frames;
  try {
    frames = chem::readStructureFile(path.toStdString());
  } catch (const std::exception& e) {
    return fail(QString::fromUtf8(e.what())), false;
  }
  structures_ = std::move(frames);
  formulaAsked_ = formulaMatched_ = 0;
  verdicts_.clear();
  verdicts_.reserve(structures_.size());
  for (const auto& s : structures_) {
    try {
      verdicts_.push_back(judge(s));
    } catch (const std::exception& e) {
      Verdict v;
      v.crystal = s.isPeriodic();
      v.reason = e.what();
      verdicts_.push_back(v);
    }
  }
  if (gallery_) gallery_->deleteLater();
  if (auto* placeholder = findChild<QLabel*>(QStringLiteral("generatePlaceholder"))) placeholder->hide();
  gallery_ = new StructureGallery(path, structures_, this);
  gallery_->setObjectName(QStringLiteral("generateGallery"));
  if (auto* title = gallery_->findChild<QLabel*>())
    title->setText(tr("%1: %2 structures, %3 valid (green). Double-click one to open it in the Structures view.")
                       .arg(QFileInfo(path).fileName())
                       .arg(structures_.size())
                       .arg(validCount()));
  QListWidget* list = gallery_->list();
  list->setSelectionMode(QAbstractItemView::ExtendedSelection);
  list->setGridSize(QSize(StructureGallery::kThumbnailSize + 24, StructureGallery::kThumbnailSize + 62));
  for (int i = 0; i < list->count(); ++i) {
    QListWidgetItem* item = list->item(i);
    const Verdict& v = verdicts_[static_cast<std::size_t>(i)];
    QString mark = v.valid ? (v.crystal || v.neutral ? tr("\u2714 valid") : tr("\u2714 valid (charged/radical)"))
                           : tr("\u2718 invalid");
    item->setText(item->text() + QStringLiteral("\n") + mark);
    item->setBackground(v.valid ? kValidColour : kInvalidColour);
    item->setData(kValidRole, v.valid);
    QString tip = item->toolTip();
    if (!v.smiles.empty()) tip += QStringLiteral("\n") + QString::fromStdString(v.smiles);
    if (!v.reason.empty()) tip += QStringLiteral("\n") + QString::fromStdString(v.reason);
    const auto& info = structures_[static_cast<std::size_t>(i)].info;
    if (const auto asked = info.find("asked_formula"); asked != info.end() && asked->is_string()) {
      const QString want = QString::fromStdString(asked->get<std::string>());
      const QString got = QString::fromStdString(structures_[static_cast<std::size_t>(i)].formula());
      ++formulaAsked_;
      formulaMatched_ += want == got;
      tip += want == got ? tr("\nasked %1: obeyed").arg(want) : tr("\nasked %1, got %2").arg(want, got);
    }
    item->setToolTip(tip);
  }
  connect(list, &QListWidget::itemDoubleClicked, this,
          [this](QListWidgetItem* item) { openInStructures(item->data(Qt::UserRole).toInt()); });
  galleryBox_->addWidget(gallery_, 1);
  applyFilter();
  updateButtons();
  return true;
}

QString GeneratePanel::itemToolTip(int i) const {
  return gallery_ && i >= 0 && i < gallery_->list()->count() ? gallery_->list()->item(i)->toolTip() : QString();
}

int GeneratePanel::validCount() const {
  int n = 0;
  for (const auto& v : verdicts_) n += v.valid;
  return n;
}

bool GeneratePanel::itemValid(int i) const {
  return i >= 0 && i < static_cast<int>(verdicts_.size()) && verdicts_[static_cast<std::size_t>(i)].valid;
}

bool GeneratePanel::itemShown(int i) const {
  return gallery_ && i >= 0 && i < gallery_->list()->count() && !gallery_->list()->item(i)->isHidden();
}

QString GeneratePanel::itemCaption(int i) const {
  return gallery_ && i >= 0 && i < gallery_->list()->count() ? gallery_->list()->item(i)->text() : QString();
}

int GeneratePanel::shownCount() const {
  int n = 0;
  for (int i = 0; i < itemCount(); ++i) n += itemShown(i);
  return n;
}

void GeneratePanel::applyFilter() {
  if (!gallery_) {
    shown_->clear();
    return;
  }
  QListWidget* list = gallery_->list();
  for (int i = 0; i < list->count(); ++i) {
    const auto k = static_cast<std::size_t>(i);
    const bool show = filter_.accepts(structures_[k], verdicts_[k]);
    list->item(i)->setHidden(!show);
    if (!show) list->item(i)->setSelected(false);
  }
  shown_->setText(tr("%1 of %2 shown, %3 valid").arg(shownCount()).arg(itemCount()).arg(validCount()));
}

void GeneratePanel::setFilterValidOnly(bool on) { validOnly_->setChecked(on); }
void GeneratePanel::setFilterKind(const QString& kind) {
  const int i = filterKind_->findData(kind);
  if (i >= 0) filterKind_->setCurrentIndex(i);
}
void GeneratePanel::setFilterAtoms(int lo, int hi) {
  minAtoms_->setValue(lo);
  maxAtoms_->setValue(hi);
}

void GeneratePanel::selectItems(const QList<int>& indices) {
  if (!gallery_) return;
  QListWidget* list = gallery_->list();
  list->clearSelection();
  for (int i : indices)
    if (i >= 0 && i < list->count()) list->item(i)->setSelected(true);
}

QList<int> GeneratePanel::selectedItems() const {
  QList<int> out;
  if (!gallery_) return out;
  QListWidget* list = gallery_->list();
  for (int i = 0; i < list->count(); ++i)
    if (list->item(i)->isSelected() && !list->item(i)->isHidden()) out << i;
  return out;
}

chem::Trajectory GeneratePanel::pick(bool selectionOnly) const {
  chem::Trajectory out;
  if (selectionOnly) {
    for (int i : selectedItems()) out.push_back(structures_[static_cast<std::size_t>(i)]);
  } else {
    for (int i = 0; i < itemCount(); ++i)
      if (itemShown(i)) out.push_back(structures_[static_cast<std::size_t>(i)]);
  }
  return out;
}

bool GeneratePanel::exportStructures(const QString& path, bool selectionOnly) {
  const chem::Trajectory chosen = pick(selectionOnly);
  try {
    generate::exportStructures(path, chosen);
  } catch (const std::exception& e) {
    return fail(QString::fromUtf8(e.what())), false;
  }
  workbench_.log(tr("Generate: exported %1 structure(s) to %2").arg(chosen.size()).arg(path));
  return true;
}

void GeneratePanel::exportDialog(bool selectionOnly) {
  const chem::Trajectory chosen = pick(selectionOnly);
  if (chosen.empty()) {
    fail(selectionOnly ? tr("Export: select structures in the gallery first") : tr("Export: no structure shown"));
    return;
  }
  bool anyCrystal = false, anyMolecule = false;
  for (const auto& s : chosen) (s.isPeriodic() ? anyCrystal : anyMolecule) = true;
  const QString path = QFileDialog::getSaveFileName(this, tr("Export structures"), QStringLiteral("generated.extxyz"),
                                                    exportFilter(anyCrystal, anyMolecule));
  if (!path.isEmpty()) exportStructures(path, selectionOnly);
}

bool GeneratePanel::openInStructures(int index) {
  if (index < 0 || index >= itemCount()) return false;
  const chem::Structure& s = structures_[static_cast<std::size_t>(index)];
  const QString file = opened_.filePath(
      QStringLiteral("generated_%1_%2.extxyz").arg(index).arg(QString::fromStdString(s.formula())));
  try {
    chem::writeXyz(file.toStdString(), chem::Trajectory{s});
  } catch (const std::exception& e) {
    return fail(QString::fromUtf8(e.what())), false;
  }
  QString error;
  if (!workbench_.openFile(file, &error)) return fail(tr("Cannot open structure %1: %2").arg(index).arg(error)), false;
  return true;
}

// ---- training -----------------------------------------------------------------------------------

void GeneratePanel::showTraining() { tabs_->setCurrentIndex(1); }
void GeneratePanel::setTrainData(const QString& path) { trainData_->setText(path); }
void GeneratePanel::setTrainSize(const QString& size) { trainSize_->setCurrentText(size); }
void GeneratePanel::setContinueDit(bool on) { continueDit_->setChecked(on); }
void GeneratePanel::setTrainSteps(int steps) { trainSteps_->setValue(steps); }
void GeneratePanel::setTrainBatch(int batch) { trainBatch_->setValue(batch); }
void GeneratePanel::setTrainLr(double lr) { trainLr_->setValue(lr); }
void GeneratePanel::setPrepareLimit(int limit) { prepareLimit_->setValue(limit); }
bool GeneratePanel::trainVae() { return startTraining(Phase::TrainVae); }
bool GeneratePanel::trainDit() { return startTraining(Phase::TrainDit); }

int GeneratePanel::lossPoints(const QString& which) const {
  const MetricChart* c = which == QLatin1String("dit") ? ditChart_ : vaeChart_;
  return c->displayedPointCount(QStringLiteral("loss"));
}

bool GeneratePanel::startTraining(Phase phase) {
  auto refuse = [this](const QString& why) {
    lastError_ = why;
    trainStatus_->setText(why);
    trainStatus_->setStyleSheet(QStringLiteral("color: #e57373;"));
    workbench_.log(tr("Generate training: %1").arg(why), true);
    return false;
  };
  if (trainJob_ >= 0) return refuse(tr("a training job is already running"));
  trainStatus_->setStyleSheet(QString());
  const QString data = trainData_->text().trimmed();
  if (data.isEmpty()) return refuse(tr("Choose the training data first (a folder from adit.prepare or a structure file)"));
  if (!QFileInfo::exists(data)) return refuse(tr("training data %1 does not exist").arg(data));
  QString job;
  Json params;
  if (!isPreparedData(data)) {
    job = QStringLiteral("adit.prepare");
    params = Json{{"sources", data.toStdString()}, {"limit", prepareLimit_->value()}};
    afterPrepare_ = phase;
    phase = Phase::Prepare;
  } else {
    params = Json{{"data", data.toStdString()},           {"size", trainSize_->currentText().toStdString()},
                  {"steps", trainSteps_->value()},         {"batch_size", trainBatch_->value()},
                  {"lr", trainLr_->value()},               {"checkpoint_every", std::max(1, trainSteps_->value() / 4)}};
    if (phase == Phase::TrainVae) {
      job = QStringLiteral("adit.train_vae");
      vaeChart_->clearData();
    } else {
      if (vae().isEmpty() || !QFileInfo(vae()).isFile())
        return refuse(tr("Train DiT needs a VAE file (train one first, or choose one in the Generate tab)"));
      job = QStringLiteral("adit.train_dit");
      params["vae"] = vae().toStdString();
      if (continueDit_->isChecked()) {
        if (dit().isEmpty() || !QFileInfo(dit()).isFile())
          return refuse(tr("Continue needs a DiT file: choose one in the Generate tab"));
        params["init"] = dit().toStdString();
      }
      ditChart_->clearData();
    }
  }
  if (!workbench_.jobs().registry().contains(job.toStdString()))
    return refuse(tr("%1 is not available in this build").arg(job));
  // Jobs that report the loss every N steps: about 200 points per run for the chart.
  if (phase != Phase::Prepare && workbench_.jobs().registry().create(job.toStdString())->schema().find("log_every"))
    params["log_every"] = std::max(1, trainSteps_->value() / 200);
  try {
    trainJob_ = workbench_.jobs().start(job, params, trainDevice_->currentText());
  } catch (const std::exception& e) {
    trainJob_ = -1;
    return refuse(QString::fromUtf8(e.what()));
  }
  trainPhase_ = phase;
  trainProgress_->setValue(0);
  trainStatus_->setText(tr("%1 running\u2026").arg(job));
  updateButtons();
  return true;
}

}  // namespace atomscope::gui::generate
