#include "forcefield_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMainWindow>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QTabWidget>
#include <QTextStream>
#include <QToolButton>
#include <QVBoxLayout>
#include <cmath>
#include <exception>
#include <fstream>
#include <limits>

#include "atomscope/chem/xyz.h"
#include "atomscope/gui/escape_cancels.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/metric_chart.h"
#include "atomscope/gui/samples.h"
#include "atomscope/gui/structure_view.h"
#include "atomscope/gui/workbench.h"
#include "parity_chart.h"

namespace atomscope::gui::forcefield {

namespace {

constexpr int kMaxRecent = 8;
const QString kXtb = QStringLiteral("xtb");
const QString kRecentKey = QStringLiteral("forcefield/recentModels");

QString artifact(const QString& runDir, const QString& name) { return runDir + QStringLiteral("/artifacts/") + name; }

Json readJson(const QString& path) {
  std::ifstream in(path.toStdString());
  if (!in) return Json::object();
  try {
    Json j;
    in >> j;
    return j;
  } catch (const std::exception&) {
    return Json::object();
  }
}

// Columns `a` and `b` of a CSV with a header line (ff.evaluate's parity files).
bool readColumns(const QString& path, int a, int b, std::vector<double>& x, std::vector<double>& y) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly | QIODevice::Text)) return false;
  QTextStream in(&f);
  in.readLine();
  while (!in.atEnd()) {
    const QStringList cols = in.readLine().split(QLatin1Char(','));
    if (cols.size() <= std::max(a, b)) continue;
    bool okA = false, okB = false;
    const double va = cols[a].toDouble(&okA), vb = cols[b].toDouble(&okB);
    if (okA && okB) {
      x.push_back(va);
      y.push_back(vb);
    }
  }
  return true;
}

// What a model file is, from its bytes (as modules/forcefield decides, without running anything):
// "ponita", "torchscript", or empty with *why set when it is neither.
QString modelKind(const QString& path, QString* why) {
  QFile f(path);
  if (!f.exists()) {
    *why = QObject::tr("model file %1 does not exist").arg(path);
    return {};
  }
  if (!f.open(QIODevice::ReadOnly)) {
    *why = QObject::tr("model file %1 cannot be read").arg(path);
    return {};
  }
  const QByteArray bytes = f.readAll();
  if (!bytes.startsWith("PK\x03\x04")) {
    *why = QObject::tr("%1 is not a model file: neither a PONITA archive nor TorchScript (not a zip archive)").arg(path);
    return {};
  }
  return bytes.contains("ponita_config") ? QStringLiteral("ponita") : QStringLiteral("torchscript");
}

QString fmt(double v, int digits = 6) { return QString::number(v, 'f', digits); }

// The chart's energy line: energy minus the first step's (eV). The chart orders lines by name and
// gives the second its right axis: this name sorts before "fmax" and "temperature".
const std::string kDeltaE = "Energy change";

}  // namespace

ForceFieldPanel::ForceFieldPanel(Workbench& workbench, QWidget* parent)
    : QWidget(parent),
      workbench_(workbench),
      energy_(std::numeric_limits<double>::quiet_NaN()),
      maxForce_(std::numeric_limits<double>::quiet_NaN()),
      energy0_(std::numeric_limits<double>::quiet_NaN()) {
  setObjectName(QStringLiteral("forceFieldPanel"));
  new EscapeCancels(this, [this] { return job_ >= 0; }, [this] { cancel(); });
  // No minimum width: the Run page scrolls, so the dock never pushes the window past a 1280-pixel screen.
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(2, 2, 2, 2);
  tabs_ = new QTabWidget(this);
  tabs_->setObjectName(QStringLiteral("forceFieldTabs"));
  tabs_->addTab(buildRunTab(), tr("Run"));
  tabs_->addTab(buildParityTab(), tr("Parity"));
  layout->addWidget(tabs_);

  JobManager& jobs = workbench_.jobs();
  connect(&jobs, &JobManager::progressChanged, this, [this](int id, double f, const QString& stage, double) {
    if (id != job_) return;
    progress_->setValue(static_cast<int>(std::lround(1000 * f)));
    status_->setText(stage);
  });
  connect(&jobs, &JobManager::metricsArrived, this,
          [this](int id, const std::vector<core::MetricPoint>& p) { onMetrics(id, p); });
  connect(&jobs, &JobManager::jobFinished, this,
          [this](int id, core::RunStatus s, const QString& dir, const QString& err) { onFinished(id, s, dir, err); });
  updateButtons();
}

ForceFieldPanel::~ForceFieldPanel() {
  if (job_ >= 0) workbench_.jobs().cancel(job_);
}

QWidget* ForceFieldPanel::buildRunTab() {
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* page = new QWidget(scroll);
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(4, 4, 4, 4);

  auto* modelBox = new QGroupBox(tr("Model"), page);
  auto* mf = new QFormLayout(modelBox);
  auto* row = new QWidget(modelBox);
  auto* h = new QHBoxLayout(row);
  h->setContentsMargins(0, 0, 0, 0);
  model_ = new QComboBox(row);
  model_->setObjectName(QStringLiteral("ffModel"));
  model_->setToolTip(tr("xtb (GFN2-xTB), a PONITA model from ff.train, or a TorchScript MLIP (MACE)"));
  model_->addItem(tr("xtb (GFN2)"), kXtb);
  // The bundled PONITA model (3BPA: C, H, N, O), so that a new user has a learned force field at once.
  if (const QString sample = findSample(QStringLiteral("models/ponita_3bpa/model.pt")); !sample.isEmpty()) {
    model_->addItem(tr("PONITA 3BPA (sample)"), sample);
    model_->setItemData(model_->count() - 1, tr("%1\nPONITA trained on 3BPA at 300 K (C, H, N, O); see samples/README.md").arg(sample),
                        Qt::ToolTipRole);
  }
  for (const QString& f : QSettings().value(kRecentKey).toStringList())
    if (QFileInfo::exists(f) && model_->findData(f) < 0) model_->addItem(QFileInfo(f).fileName(), f);
  model_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  model_->setMinimumContentsLength(8);
  auto* browse = new QToolButton(row);
  browse->setObjectName(QStringLiteral("ffBrowseModel"));
  browse->setText(QStringLiteral("\u2026"));
  browse->setToolTip(tr("Open a model file"));
  connect(browse, &QToolButton::clicked, this, [this] { browseModel(); });
  h->addWidget(model_, 1);
  h->addWidget(browse);
  mf->addRow(tr("Model"), row);
  device_ = new QComboBox(modelBox);
  device_->setObjectName(QStringLiteral("ffDevice"));
  device_->addItems({QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")});
  mf->addRow(tr("Device"), device_);
  tf32_ = new QCheckBox(tr("TF32 matrix products"), modelBox);
  tf32_->setObjectName(QStringLiteral("ffTf32"));
  tf32_->setToolTip(tr("On a CUDA GPU, run the model's matrix products in TF32 (tensor cores): several times faster "
                       "for large systems; energies and forces move by about 1e-3 relative. Off, a PONITA model's "
                       "per-edge products still use the tensor cores, as three TF32 products of split factors with "
                       "float32's accuracy. No effect on the CPU or xtb."));
  mf->addRow(QString(), tf32_);
  v->addWidget(modelBox);

  // Parameters of each action on a page of their own, so the chart keeps the height.
  auto* params = new QTabWidget(page);
  params->setObjectName(QStringLiteral("ffParams"));
  params->setDocumentMode(true);
  auto* optBox = new QWidget(params);
  auto* of = new QFormLayout(optBox);
  optimizer_ = new QComboBox(optBox);
  optimizer_->addItem(QStringLiteral("FIRE"), QStringLiteral("fire"));
  optimizer_->addItem(QStringLiteral("L-BFGS"), QStringLiteral("lbfgs"));
  of->addRow(tr("Optimiser"), optimizer_);
  fmax_ = new QDoubleSpinBox(optBox);
  fmax_->setDecimals(4);
  fmax_->setRange(1e-4, 10.0);
  fmax_->setSingleStep(0.01);
  fmax_->setValue(0.05);
  fmax_->setSuffix(tr(" eV/Å"));
  fmax_->setToolTip(tr("Stop when every atom's force is below this"));
  of->addRow(tr("fmax"), fmax_);
  optSteps_ = new QSpinBox(optBox);
  optSteps_->setRange(1, 1000000);
  optSteps_->setValue(200);
  of->addRow(tr("Max steps"), optSteps_);
  params->addTab(optBox, tr("Optimise"));

  auto* mdBox = new QWidget(params);
  auto* df = new QFormLayout(mdBox);
  integrator_ = new QComboBox(mdBox);
  integrator_->addItem(tr("Verlet (NVE)"), QStringLiteral("nve"));
  integrator_->addItem(tr("Langevin (NVT)"), QStringLiteral("nvt"));
  df->addRow(tr("Integrator"), integrator_);
  timestep_ = new QDoubleSpinBox(mdBox);
  timestep_->setDecimals(3);
  timestep_->setRange(1e-3, 10.0);
  timestep_->setValue(0.5);
  timestep_->setSuffix(tr(" fs"));
  df->addRow(tr("Time step"), timestep_);
  temperature_ = new QDoubleSpinBox(mdBox);
  temperature_->setRange(0.0, 1e5);
  temperature_->setValue(300.0);
  temperature_->setSuffix(tr(" K"));
  temperature_->setToolTip(tr("Initial (and Langevin's target) temperature"));
  df->addRow(tr("Temperature"), temperature_);
  mdSteps_ = new QSpinBox(mdBox);
  mdSteps_->setRange(1, 100000000);
  mdSteps_->setValue(200);
  df->addRow(tr("Steps"), mdSteps_);
  friction_ = new QDoubleSpinBox(mdBox);
  friction_->setDecimals(4);
  friction_->setRange(0.0, 10.0);
  friction_->setValue(0.01);
  friction_->setSuffix(tr(" 1/fs"));
  friction_->setToolTip(tr("Langevin friction (NVT only)"));
  df->addRow(tr("Friction"), friction_);
  sampleEvery_ = new QSpinBox(mdBox);
  sampleEvery_->setRange(1, 1000000);
  sampleEvery_->setValue(5);
  sampleEvery_->setToolTip(tr("Keep a frame and a chart point every N steps"));
  df->addRow(tr("Sample every"), sampleEvery_);
  connect(integrator_, &QComboBox::currentIndexChanged, this,
          [this](int i) { friction_->setEnabled(i == 1); });
  friction_->setEnabled(false);
  params->addTab(mdBox, tr("MD"));

  auto* evalBox = new QWidget(params);
  auto* ef = new QFormLayout(evalBox);
  auto* dataRow = new QWidget(evalBox);
  auto* dh = new QHBoxLayout(dataRow);
  dh->setContentsMargins(0, 0, 0, 0);
  refData_ = new QLineEdit(dataRow);
  refData_->setObjectName(QStringLiteral("ffReferenceData"));
  refData_->setPlaceholderText(tr("labelled extended XYZ"));
  auto* dataBrowse = new QToolButton(dataRow);
  dataBrowse->setText(QStringLiteral("\u2026"));
  connect(dataBrowse, &QToolButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Reference data"), QString(),
                                                   tr("Extended XYZ (*.xyz *.extxyz);;All files (*)"));
    if (!f.isEmpty()) refData_->setText(f);
  });
  dh->addWidget(refData_, 1);
  dh->addWidget(dataBrowse);
  ef->addRow(tr("Data"), dataRow);
  evalLimit_ = new QSpinBox(evalBox);
  evalLimit_->setRange(0, 100000000);
  evalLimit_->setSpecialValueText(tr("all"));
  ef->addRow(tr("Frames"), evalLimit_);
  energyUnit_ = new QComboBox(evalBox);
  energyUnit_->setObjectName(QStringLiteral("ffEnergyUnit"));
  energyUnit_->addItems({QStringLiteral("eV"), QStringLiteral("kcal/mol"), QStringLiteral("kJ/mol"), QStringLiteral("Hartree")});
  energyUnit_->setToolTip(tr("Unit of the file's energies (forces: that unit per Å); MD17 files use kcal/mol"));
  ef->addRow(tr("Energy unit"), energyUnit_);
  params->addTab(evalBox, tr("Evaluate"));
  v->addWidget(params);

  auto* buttons = new QGridLayout;
  auto button = [&](QPushButton*& b, const QString& text, const char* name, const QString& tip, int r, int c) {
    b = new QPushButton(text, page);
    b->setObjectName(QString::fromLatin1(name));
    b->setToolTip(tip);
    buttons->addWidget(b, r, c);
  };
  button(predictButton_, tr("Predict"), "ffPredict", tr("Energy and forces of the structure shown (Ctrl+Alt+P)"), 0, 0);
  button(optimizeButton_, tr("Optimise"), "ffOptimize", tr("Relax the structure shown (Ctrl+Alt+O)"), 0, 1);
  button(mdButton_, tr("MD"), "ffMd", tr("Molecular dynamics from the structure shown (Ctrl+Alt+D)"), 1, 0);
  button(evaluateButton_, tr("Evaluate"), "ffEvaluate", tr("Errors and parity plots against labelled data (Ctrl+Alt+V)"), 1, 1);
  button(cancelButton_, tr("Cancel"), "ffCancel", tr("Stop the running job (Esc)"), 2, 0);
  buttons->addWidget(cancelButton_, 2, 0, 1, 2);
  connect(predictButton_, &QPushButton::clicked, this, [this] { predict(); });
  connect(optimizeButton_, &QPushButton::clicked, this, [this] { optimize(); });
  connect(mdButton_, &QPushButton::clicked, this, [this] { runMd(); });
  connect(evaluateButton_, &QPushButton::clicked, this, [this] { evaluate(); });
  connect(cancelButton_, &QPushButton::clicked, this, [this] { cancel(); });
  v->addLayout(buttons);

  progress_ = new QProgressBar(page);
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progress_->setMaximumHeight(8);
  v->addWidget(progress_);
  status_ = new QLabel(tr("Open a structure, pick a model, then Predict."), page);
  status_->setObjectName(QStringLiteral("ffStatus"));
  status_->setWordWrap(true);
  v->addWidget(status_);
  result_ = new QLabel(page);
  result_->setObjectName(QStringLiteral("ffResult"));
  result_->setTextFormat(Qt::RichText);
  result_->setWordWrap(true);
  result_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(result_);
  chart_ = new MetricChart(page);
  chart_->setObjectName(QStringLiteral("ffChart"));
  chart_->setTitle(tr("Energy per step"));
  chart_->setMinimumHeight(220);
  v->addWidget(chart_, 1);

  scroll->setWidget(page);
  return scroll;
}

QWidget* ForceFieldPanel::buildParityTab() {
  auto* page = new QWidget(this);
  auto* v = new QVBoxLayout(page);
  v->setContentsMargins(4, 4, 4, 4);
  evalSummary_ = new QLabel(tr("Run Evaluate to see predicted against reference values."), page);
  evalSummary_->setObjectName(QStringLiteral("ffEvalSummary"));
  evalSummary_->setWordWrap(true);
  evalSummary_->setTextFormat(Qt::RichText);
  evalSummary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(evalSummary_);
  parityEnergy_ = new ParityChart(tr("Energy"), tr("eV"), page);
  parityEnergy_->setObjectName(QStringLiteral("ffParityEnergy"));
  parityForces_ = new ParityChart(tr("Force components"), tr("eV/Å"), page);
  parityForces_->setObjectName(QStringLiteral("ffParityForces"));
  v->addWidget(parityEnergy_, 1);
  v->addWidget(parityForces_, 1);
  return page;
}

// ---- form ----

void ForceFieldPanel::setModel(const QString& spec) {
  if (spec == kXtb || spec.isEmpty()) {
    model_->setCurrentIndex(0);
    return;
  }
  const QString path = QFileInfo(spec).absoluteFilePath();
  int i = model_->findData(path);
  if (i < 0) {
    model_->addItem(QFileInfo(path).fileName(), path);
    i = model_->count() - 1;
  }
  model_->setItemData(i, path, Qt::ToolTipRole);
  model_->setCurrentIndex(i);
}

QString ForceFieldPanel::model() const { return model_->currentData().toString(); }

void ForceFieldPanel::browseModel() {
  const QString f = QFileDialog::getOpenFileName(
      this, tr("Force-field model"), QString(),
      tr("Models (*.pt *.model *.pth);;All files (*)"));
  if (f.isEmpty()) return;
  QString why;
  if (modelKind(f, &why).isEmpty()) {
    fail(why);
    return;
  }
  setModel(f);
  addRecentModel(QFileInfo(f).absoluteFilePath());
}

void ForceFieldPanel::addRecentModel(const QString& path) {
  QSettings settings;
  QStringList recent = settings.value(kRecentKey).toStringList();
  recent.removeAll(path);
  recent.prepend(path);
  while (recent.size() > kMaxRecent) recent.removeLast();
  settings.setValue(kRecentKey, recent);
}

void ForceFieldPanel::setTf32(bool on) { tf32_->setChecked(on); }

void ForceFieldPanel::setDevice(const QString& device) {
  const int i = device_->findText(device);
  if (i >= 0) device_->setCurrentIndex(i);
}
void ForceFieldPanel::setOptimizer(const QString& method) {
  const int i = optimizer_->findData(method);
  if (i >= 0) optimizer_->setCurrentIndex(i);
}
void ForceFieldPanel::setFmax(double fmax) { fmax_->setValue(fmax); }
void ForceFieldPanel::setOptimizeSteps(int steps) { optSteps_->setValue(steps); }
void ForceFieldPanel::setIntegrator(const QString& ensemble) {
  const int i = integrator_->findData(ensemble);
  if (i >= 0) integrator_->setCurrentIndex(i);
}
void ForceFieldPanel::setTimestep(double fs) { timestep_->setValue(fs); }
void ForceFieldPanel::setTemperature(double kelvin) { temperature_->setValue(kelvin); }
void ForceFieldPanel::setMdSteps(int steps) { mdSteps_->setValue(steps); }
void ForceFieldPanel::setFriction(double perFs) { friction_->setValue(perFs); }
void ForceFieldPanel::setSampleEvery(int steps) { sampleEvery_->setValue(steps); }
void ForceFieldPanel::setReferenceData(const QString& path) { refData_->setText(path); }
void ForceFieldPanel::setEvaluateLimit(int frames) { evalLimit_->setValue(frames); }
void ForceFieldPanel::setEnergyUnit(const QString& unit) {
  const int i = energyUnit_->findText(unit);
  if (i >= 0) energyUnit_->setCurrentIndex(i);
}

QString ForceFieldPanel::statusText() const { return status_->text(); }
double ForceFieldPanel::energy() const { return energy_; }
double ForceFieldPanel::maxForce() const { return maxForce_; }
QString ForceFieldPanel::energyText() const { return result_->text(); }

int ForceFieldPanel::parityPointCount(const QString& which) const {
  return which == QLatin1String("energy") ? parityEnergy_->pointCount() : parityForces_->pointCount();
}

void ForceFieldPanel::showTab(const QString& which) { tabs_->setCurrentIndex(which == QLatin1String("parity") ? 1 : 0); }

// ---- actions ----

const chem::Structure* ForceFieldPanel::currentStructure(QString* why) const {
  auto* docs = workbench_.mainWindow()->findChild<QTabWidget*>(QStringLiteral("documents"));
  QWidget* current = docs ? docs->currentWidget() : nullptr;
  // A Structures document's view (galleries and other tabs hold no single structure).
  auto* view = current ? current->findChild<StructureView*>(QStringLiteral("structureView")) : nullptr;
  const chem::Structure* s = view ? view->structure() : nullptr;
  if (!s || s->empty()) {
    if (why) *why = tr("No structure shown: open a structure in the Structures view (File > Open) and keep its tab in front.");
    return nullptr;
  }
  return s;
}

std::optional<QString> ForceFieldPanel::modelSpec() {
  const QString spec = model();
  if (spec == kXtb) return spec;
  QString why;
  const QString kind = modelKind(spec, &why);
  if (kind.isEmpty()) {
    fail(why);
    return std::nullopt;
  }
  // A TorchScript file is code: the workbench's trust gate asks about it once per file when the
  // job starts (JobManager::setTrustGate, TrustStore).
  return spec;  // the job tells PONITA from TorchScript by the same bytes
}

QString ForceFieldPanel::writeInput(const chem::Structure& s) {
  // The frame as drawn, without stale per-atom results (the job computes its own).
  chem::Structure clean;
  clean.numbers = s.numbers;
  clean.positions = s.positions;
  clean.lattice = s.lattice;
  clean.pbc = s.pbc;
  const QString path = inputs_.filePath(QStringLiteral("input_%1.xyz").arg(++inputCount_));
  chem::writeXyz(path.toStdString(), {clean});
  return path;
}

bool ForceFieldPanel::predict() { return start(Kind::Predict); }
bool ForceFieldPanel::optimize() { return start(Kind::Optimize); }
bool ForceFieldPanel::runMd() { return start(Kind::Md); }
bool ForceFieldPanel::evaluate() { return start(Kind::Evaluate); }

bool ForceFieldPanel::start(Kind kind) {
  lastError_.clear();
  if (job_ >= 0) {
    fail(tr("A force-field job is running: wait for it or cancel it (Esc)."));
    return false;
  }
  Json params = Json::object();
  QString jobName;
  if (kind == Kind::Evaluate) {
    const QString data = refData_->text().trimmed();
    if (data.isEmpty() || !QFileInfo(data).isFile()) {
      fail(data.isEmpty() ? tr("Evaluate: choose a labelled extended XYZ file (Data).")
                          : tr("Evaluate: %1 does not exist").arg(data));
      return false;
    }
    params["data"] = data.toStdString();
    params["limit"] = evalLimit_->value();
    params["energy_unit"] = energyUnit_->currentText().toStdString();
    jobName = QStringLiteral("ff.evaluate");
  } else {
    QString why;
    const chem::Structure* s = currentStructure(&why);
    if (!s) {
      fail(why);
      return false;
    }
    QString input;
    try {
      input = writeInput(*s);
    } catch (const std::exception& e) {
      fail(tr("Cannot write the structure for the job: %1").arg(QString::fromUtf8(e.what())));
      return false;
    }
    if (kind == Kind::Predict) {
      jobName = QStringLiteral("ff.predict");
      params["structures"] = input.toStdString();
    } else if (kind == Kind::Optimize) {
      jobName = QStringLiteral("ff.optimize");
      params["structure"] = input.toStdString();
      params["method"] = optimizer_->currentData().toString().toStdString();
      params["fmax"] = fmax_->value();
      params["max_steps"] = optSteps_->value();
    } else {
      jobName = QStringLiteral("ff.md");
      params["structure"] = input.toStdString();
      params["ensemble"] = integrator_->currentData().toString().toStdString();
      params["timestep"] = timestep_->value();
      params["temperature"] = temperature_->value();
      params["steps"] = mdSteps_->value();
      params["friction"] = friction_->value();
      params["sample_every"] = sampleEvery_->value();
    }
  }
  const auto spec = modelSpec();
  if (!spec) return false;
  params["model"] = spec->toStdString();
  params["tf32"] = tf32_->isChecked();
  try {
    job_ = workbench_.jobs().start(jobName, params, device_->currentText());
  } catch (const std::exception& e) {
    fail(tr("%1 did not start: %2").arg(jobName, QString::fromUtf8(e.what())));
    return false;
  }
  kind_ = kind;
  // The workbench raises its Jobs dock when a job starts; this panel's chart is the live view.
  for (QWidget* w = parentWidget(); w; w = w->parentWidget())
    if (auto* dock = qobject_cast<QDockWidget*>(w)) {
      dock->raise();
      break;
    }
  progress_->setValue(0);
  status_->setText(tr("%1 running\u2026").arg(jobName));
  if (kind == Kind::Optimize || kind == Kind::Md) {
    chart_->clearData();
    energy0_ = std::numeric_limits<double>::quiet_NaN();
    // The frames as the job writes them, in a document tab of their own (the trajectory with its
    // frame bar replaces it when the job ends).
    closeLive();
    live_ = new StructureView;
    live_->setObjectName(QStringLiteral("ffLiveView"));
    liveFile_.clear();
    liveOffset_ = 0;
    liveFrames_ = 0;
    workbench_.addDocument(live_, tr("Live: %1").arg(jobName));
    chart_->setTitle(kind == Kind::Md ? tr("MD: total energy change (eV), temperature (K)")
                                      : tr("Optimisation: energy change (eV), fmax (eV/Å)"));
  }
  updateButtons();
  return true;
}

void ForceFieldPanel::cancel() {
  if (job_ >= 0) {
    workbench_.jobs().cancel(job_);
    status_->setText(tr("Cancelling\u2026"));
  }
}

void ForceFieldPanel::onMetrics(int id, const std::vector<core::MetricPoint>& points) {
  if (id != job_ || points.empty() || (kind_ != Kind::Optimize && kind_ != Kind::Md)) return;
  updateLive();
  // The chart's first line (left axis) is the energy relative to the first step: changes of a few
  // meV stay readable next to totals of thousands of eV. The second (right axis) is fmax for an
  // optimisation, the temperature for MD.
  const char* energyKey = kind_ == Kind::Md ? "total" : "energy";
  const char* secondKey = kind_ == Kind::Md ? "temperature" : "fmax";
  std::vector<core::MetricPoint> shown;
  shown.reserve(points.size());
  for (const auto& p : points) {
    core::MetricPoint q{p.step, p.seconds, {}};
    if (auto it = p.values.find(energyKey); it != p.values.end() && std::isfinite(it->second)) {
      if (std::isnan(energy0_)) energy0_ = it->second;
      q.values[kDeltaE] = it->second - energy0_;
    }
    if (auto it = p.values.find(secondKey); it != p.values.end()) q.values[secondKey] = it->second;
    if (!q.values.empty()) shown.push_back(std::move(q));
  }
  chart_->addPoints(shown);
}

void ForceFieldPanel::onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error) {
  if (id != job_) return;
  const Kind kind = kind_;
  job_ = -1;
  kind_ = Kind::None;
  lastRun_ = runDir;
  progress_->setValue(status == core::RunStatus::Completed ? 1000 : progress_->value());
  updateButtons();
  if (status == core::RunStatus::Failed) {
    closeLive();
    fail(error.isEmpty() ? tr("The job failed (see the log).") : error);
    return;
  }
  const bool cancelled = status == core::RunStatus::Cancelled;
  status_->setText(cancelled ? tr("Cancelled.") : tr("Done."));
  closeLive();
  if (kind == Kind::Predict && !cancelled) showPrediction(runDir);
  else if (kind == Kind::Optimize || kind == Kind::Md) showTrajectory(runDir, status);
  else if (kind == Kind::Evaluate && !cancelled) showEvaluation(runDir);
}

void ForceFieldPanel::showPrediction(const QString& runDir) {
  const QString file = artifact(runDir, QStringLiteral("predicted.xyz"));
  chem::Trajectory frames;
  try {
    frames = chem::readXyz(file.toStdString());
  } catch (const std::exception& e) {
    fail(QString::fromUtf8(e.what()));
    return;
  }
  if (frames.empty() || !frames.front().energy() || !frames.front().forces()) {
    fail(tr("%1: no energy or forces").arg(file));
    return;
  }
  const chem::Structure& s = frames.front();
  energy_ = *s.energy();
  const chem::AtomProperty* f = s.forces();
  maxForce_ = 0;
  for (std::size_t i = 0; i < f->atomCount(); ++i)
    maxForce_ = std::max(maxForce_, std::hypot(f->at(i, 0), f->at(i, 1), f->at(i, 2)));
  const QString calc = s.info.contains("calculator") && s.info["calculator"].is_string()
                           ? QString::fromStdString(s.info["calculator"].get<std::string>())
                           : model();
  result_->setText(tr("<b>%1</b> (%2 atoms) with %3<br>Energy: <b>%4 eV</b><br>Largest force: <b>%5 eV/Å</b>")
                       .arg(QString::fromStdString(s.formula()))
                       .arg(s.size())
                       .arg(calc.toHtmlEscaped(), fmt(energy_), fmt(maxForce_, 4)));
  status_->setText(tr("Predicted; forces shown as arrows in the Structures view."));
  // The result opens in the Structures view with the forces as arrows.
  QString error;
  if (!workbench_.openFile(file, &error)) {
    fail(error);
    return;
  }
  auto* docs = workbench_.mainWindow()->findChild<QTabWidget*>(QStringLiteral("documents"));
  if (QWidget* doc = docs ? docs->currentWidget() : nullptr)
    if (auto* vectors = doc->findChild<QComboBox*>(QStringLiteral("vectorsCombo"))) {
      const int i = vectors->findData(QStringLiteral("forces"));
      if (i >= 0) vectors->setCurrentIndex(i);
    }
}

void ForceFieldPanel::showTrajectory(const QString& runDir, core::RunStatus status) {
  const Json run = readJson(runDir + QStringLiteral("/run.json"));
  const Json summary = run.contains("summary") ? run["summary"] : Json::object();
  QString text;
  if (summary.contains("energy_eV")) {
    text = tr("Final energy: <b>%1 eV</b>, fmax %2 eV/Å after %3 steps (%4)")
               .arg(fmt(summary["energy_eV"].get<double>()), fmt(summary.value("fmax_eV_per_A", 0.0), 4))
               .arg(summary.value("steps", 0))
               .arg(summary.value("converged", false) ? tr("converged") : tr("not converged"));
  } else if (summary.contains("mean_temperature_K")) {
    text = tr("Mean temperature <b>%1 K</b>; energy drift %2 eV/atom/ps")
               .arg(fmt(summary["mean_temperature_K"].get<double>(), 1),
                    QString::number(summary.value("drift_eV_per_atom_per_ps", 0.0), 'g', 3));
  } else if (status == core::RunStatus::Cancelled) {
    text = tr("Cancelled: the trajectory so far is shown.");
  }
  result_->setText(text);
  const QString file = artifact(runDir, QStringLiteral("trajectory.xyz"));
  if (QFileInfo(file).size() == 0) return;  // cancelled before the first frame
  QString error;
  if (!workbench_.openFile(file, &error)) {
    fail(error);
    return;
  }
  // Play it in the Structures view (its frame bar has play/pause and the slider).
  auto* docs = workbench_.mainWindow()->findChild<QTabWidget*>(QStringLiteral("documents"));
  if (QWidget* doc = docs ? docs->currentWidget() : nullptr)
    if (auto* play = doc->findChild<QToolButton*>(QStringLiteral("playButton")))
      if (play->isEnabled() && !play->isChecked()) play->click();
}

void ForceFieldPanel::updateLive() {
  if (!live_ || job_ < 0) return;
  if (liveFile_.isEmpty()) {
    // The run folder is known once the job has started writing: find it by the job's record.
    const QString dir = workbench_.jobs().state(job_).runDir;
    if (dir.isEmpty()) return;
    liveFile_ = artifact(dir, QStringLiteral("trajectory.xyz"));
  }
  QFile f(liveFile_);
  if (!f.open(QIODevice::ReadOnly) || f.size() <= liveOffset_) return;
  f.seek(liveOffset_);
  const QByteArray text = f.readAll();
  // Only whole frames: an atom count line, a comment line and that many atom lines. The job's
  // stream is flushed in blocks, so the tail may be a part of a frame.
  qint64 pos = 0, complete = 0;
  int frames = 0;
  auto nextLine = [&](qint64 from) { const qint64 n = text.indexOf('\n', from); return n < 0 ? -1 : n + 1; };
  while (pos < text.size()) {
    qint64 at = nextLine(pos);
    if (at < 0) break;
    bool ok = false;
    const long long atoms = text.mid(pos, at - pos).trimmed().toLongLong(&ok);
    if (!ok || atoms < 0) break;
    for (long long k = 0; k <= atoms && at >= 0; ++k) at = nextLine(at);
    if (at < 0) break;
    pos = complete = at;
    ++frames;
  }
  if (frames == 0) return;
  try {
    const auto read = chem::readXyzString(std::string_view(text.constData(), static_cast<std::size_t>(complete)),
                                          liveFile_.toStdString());
    if (read.empty()) return;
    liveOffset_ += complete;
    liveFrames_ += static_cast<int>(read.size());
    live_->setStructure(read.back());  // the newest frame
  } catch (const std::exception&) {
    // A frame the reader refuses: wait for the finished file (opened when the job ends).
  }
}

void ForceFieldPanel::closeLive() {
  if (live_) live_->deleteLater();  // its tab goes with it
  live_ = nullptr;
}

void ForceFieldPanel::showEvaluation(const QString& runDir) {
  std::vector<double> er, ep, fr, fp;
  readColumns(artifact(runDir, QStringLiteral("parity_energy.csv")), 2, 3, er, ep);
  readColumns(artifact(runDir, QStringLiteral("parity_forces.csv")), 3, 4, fr, fp);
  parityEnergy_->setData(er, ep);
  parityForces_->setData(fr, fp);
  const Json m = readJson(artifact(runDir, QStringLiteral("metrics.json")));
  auto num = [&](const char* key) { return m.contains(key) && m[key].is_number() ? m[key].get<double>() : NAN; };
  evalSummary_->setText(tr("%1 frames. Energy MAE <b>%2 meV</b> (RMSE %3 meV, %4 meV/atom); force MAE <b>%5 meV/Å</b> (RMSE %6)")
                            .arg(er.size())
                            .arg(fmt(1000 * num("energy_mae_eV"), 2), fmt(1000 * num("energy_rmse_eV"), 2),
                                 fmt(1000 * num("energy_mae_per_atom_eV"), 2), fmt(1000 * num("force_mae_eV_per_A"), 2),
                                 fmt(1000 * num("force_rmse_eV_per_A"), 2)));
  status_->setText(tr("Evaluated: parity plots in the Parity tab."));
  tabs_->setCurrentIndex(1);
}

void ForceFieldPanel::fail(const QString& message) {
  lastError_ = message;
  status_->setText(QStringLiteral("<span style='color:#c62828'>%1</span>").arg(message.toHtmlEscaped()));
  workbench_.log(tr("Force Field: %1").arg(message), true);
}

void ForceFieldPanel::updateButtons() {
  const bool busy = job_ >= 0;
  for (QPushButton* b : {predictButton_, optimizeButton_, mdButton_, evaluateButton_}) b->setEnabled(!busy);
  cancelButton_->setEnabled(busy);
}

}  // namespace atomscope::gui::forcefield
