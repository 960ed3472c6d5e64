#include "structure_document.h"

#include <QAbstractTableModel>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QKeyEvent>
#include <QLabel>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "atomscope/chem/elements.h"
#include "atomscope/gui/structure_view.h"
#include "structure_io.h"

namespace atomscope::gui {

// Per-atom table of the structure shown: index, element, x, y, z, then every per-atom array
// (one column per component). A model, so 100k atoms cost nothing until rows are seen.
class AtomTableModel : public QAbstractTableModel {
 public:
  explicit AtomTableModel(QObject* parent) : QAbstractTableModel(parent) {}

  void setStructure(const chem::Structure* s) {
    beginResetModel();
    s_ = s;
    columns_.clear();
    if (s_)
      for (const auto& [name, p] : s_->atomProperties)
        for (int c = 0; c < p.columns; ++c)
          columns_.push_back({name, c, p.columns == 1 ? QString::fromStdString(name)
                                                     : QStringLiteral("%1[%2]").arg(QString::fromStdString(name)).arg(c)});
    endResetModel();
  }
  int rowCount(const QModelIndex& parent = {}) const override {
    return parent.isValid() || !s_ ? 0 : static_cast<int>(s_->size());
  }
  int columnCount(const QModelIndex& parent = {}) const override {
    return parent.isValid() ? 0 : 5 + static_cast<int>(columns_.size());
  }
  QVariant data(const QModelIndex& index, int role) const override {
    if (!s_ || role != Qt::DisplayRole || index.row() >= rowCount()) return {};
    const auto i = static_cast<std::size_t>(index.row());
    const int c = index.column();
    if (c == 0) return index.row();
    if (c == 1) {
      const int z = s_->numbers[i];
      return chem::isValidAtomicNumber(z) ? QString::fromLatin1(chem::element(z).symbol) : QString::number(z);
    }
    if (c <= 4) return QString::number(s_->positions[i][static_cast<std::size_t>(c - 2)], 'f', 5);
    // Looked up by name each time: the view rebuilds the structure it shows (style, repeat).
    const Column& col = columns_[static_cast<std::size_t>(c - 5)];
    const chem::AtomProperty* p = s_->atomProperty(col.name);
    if (!p || col.c >= p->columns || i >= p->atomCount()) return {};
    if (p->type == chem::AtomProperty::Type::String) return QString::fromStdString(p->strings[i * p->columns + col.c]);
    return QString::number(p->at(i, col.c), 'g', 8);
  }
  QVariant headerData(int section, Qt::Orientation o, int role) const override {
    if (o != Qt::Horizontal || role != Qt::DisplayRole) return QAbstractTableModel::headerData(section, o, role);
    static const char* fixed[] = {"#", "Element", "x (Å)", "y (Å)", "z (Å)"};
    if (section < 5) return QString::fromUtf8(fixed[section]);
    return columns_[static_cast<std::size_t>(section - 5)].title;
  }

 private:
  struct Column {
    std::string name;
    int c;
    QString title;
  };
  const chem::Structure* s_ = nullptr;
  std::vector<Column> columns_;
};

namespace {
// 3-column numeric per-atom arrays of the first frame: what can be drawn as arrows.
QStringList vectorArrays(const chem::Structure& s) {
  QStringList names;
  for (const auto& [name, p] : s.atomProperties)
    if (p.columns == 3 && p.type == chem::AtomProperty::Type::Real) names << QString::fromStdString(name);
  return names;
}
}  // namespace

StructureDocument::StructureDocument(const QString& path, chem::Trajectory frames, QWidget* parent)
    : QWidget(parent), path_(path) {
  const int frameCount = static_cast<int>(frames.size());
  const bool periodic = !frames.empty() && frames.front().isPeriodic();
  const QStringList vectorNames = frames.empty() ? QStringList() : vectorArrays(frames.front());
  view_ = new StructureView(this);
  view_->setObjectName(QStringLiteral("structureView"));
  view_->setTrajectory(std::move(frames));

  // Display controls.
  auto* controls = new QWidget(this);
  auto* cl = new QHBoxLayout(controls);
  cl->setContentsMargins(6, 4, 6, 2);
  style_ = new QComboBox(controls);
  style_->setObjectName(QStringLiteral("styleCombo"));
  for (auto st : {StructureView::RenderStyle::BallAndStick, StructureView::RenderStyle::SpaceFill,
                  StructureView::RenderStyle::Licorice, StructureView::RenderStyle::Wireframe})
    style_->addItem(StructureView::styleName(st), static_cast<int>(st));
  style_->setToolTip(tr("Drawing style (keys 1-4 in the Structures menu)"));
  cell_ = new QCheckBox(tr("Cell"), controls);
  cell_->setObjectName(QStringLiteral("cellCheck"));
  cell_->setChecked(true);
  cell_->setEnabled(periodic);
  axes_ = new QCheckBox(tr("Axes"), controls);
  axes_->setObjectName(QStringLiteral("axesCheck"));
  axes_->setChecked(true);
  labels_ = new QComboBox(controls);
  labels_->setObjectName(QStringLiteral("labelsCombo"));
  labels_->addItem(tr("No labels"), static_cast<int>(StructureView::AtomLabels::None));
  labels_->addItem(tr("Symbols"), static_cast<int>(StructureView::AtomLabels::Symbol));
  labels_->addItem(tr("Indices"), static_cast<int>(StructureView::AtomLabels::Index));
  labels_->addItem(tr("Symbol + index"), static_cast<int>(StructureView::AtomLabels::SymbolAndIndex));
  labels_->setToolTip(tr("Atom labels (up to %1 atoms)").arg(StructureView::kMaxAtomLabels));
  cl->addWidget(style_);
  cl->addWidget(cell_);
  cl->addWidget(axes_);
  cl->addWidget(labels_);
  auto* repeatLabel = new QLabel(tr("Repeat"), controls);
  cl->addSpacing(8);
  cl->addWidget(repeatLabel);
  const char* axisNames[3] = {"a", "b", "c"};
  for (int k = 0; k < 3; ++k) {
    repeat_[k] = new QSpinBox(controls);
    repeat_[k]->setObjectName(QStringLiteral("repeat_%1").arg(QLatin1String(axisNames[k])));
    repeat_[k]->setRange(1, 10);
    repeat_[k]->setPrefix(QStringLiteral("%1 ").arg(QLatin1String(axisNames[k])));
    repeat_[k]->setEnabled(periodic);
    repeat_[k]->setToolTip(tr("Supercell: copies along %1").arg(QLatin1String(axisNames[k])));
    cl->addWidget(repeat_[k]);
  }
  repeatLabel->setEnabled(periodic);
  cl->addSpacing(8);
  vectors_ = new QComboBox(controls);
  vectors_->setObjectName(QStringLiteral("vectorsCombo"));
  vectors_->addItem(tr("No arrows"), QString());
  for (const QString& n : vectorNames) vectors_->addItem(tr("Arrows: %1").arg(n), n);
  vectors_->setEnabled(!vectorNames.isEmpty());
  vectorScale_ = new QDoubleSpinBox(controls);
  vectorScale_->setObjectName(QStringLiteral("vectorScale"));
  vectorScale_->setDecimals(4);
  vectorScale_->setRange(0.0001, 1000.0);
  vectorScale_->setSuffix(tr(" Å/unit"));
  vectorScale_->setToolTip(tr("Arrow length per unit of the per-atom vector"));
  vectorScale_->setEnabled(false);
  cl->addWidget(vectors_);
  cl->addWidget(vectorScale_);
  cl->addStretch(1);

  // Side panel: structure properties, per-atom table, selection.
  table_ = new QTableWidget(0, 2, this);
  table_->setObjectName(QStringLiteral("structureProperties"));
  table_->setHorizontalHeaderLabels({tr("Property"), tr("Value")});
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  atomModel_ = new AtomTableModel(this);
  atoms_ = new QTableView(this);
  atoms_->setObjectName(QStringLiteral("atomTable"));
  atoms_->setModel(atomModel_);
  atoms_->verticalHeader()->setVisible(false);
  atoms_->verticalHeader()->setDefaultSectionSize(20);
  atoms_->setSelectionBehavior(QAbstractItemView::SelectRows);
  atoms_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  auto* side = new QTabWidget(this);
  side->setObjectName(QStringLiteral("structureSide"));
  side->addTab(table_, tr("Structure"));
  side->addTab(atoms_, tr("Atoms"));
  side->setMinimumWidth(240);

  auto* splitter = new QSplitter(Qt::Horizontal, this);
  splitter->addWidget(view_);
  splitter->addWidget(side);
  splitter->setStretchFactor(0, 4);
  splitter->setStretchFactor(1, 1);

  measurement_ = new QLabel(this);
  measurement_->setObjectName(QStringLiteral("measurementLabel"));
  measurement_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  measurement_->setContentsMargins(8, 2, 8, 2);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(0);
  layout->addWidget(controls);
  layout->addWidget(splitter, 1);
  layout->addWidget(measurement_);

  // Frame bar: only for trajectories.
  auto* bar = new QWidget(this);
  auto* barLayout = new QHBoxLayout(bar);
  barLayout->setContentsMargins(6, 2, 6, 4);
  play_ = new QToolButton(bar);
  play_->setObjectName(QStringLiteral("playButton"));
  play_->setCheckable(true);
  play_->setText(tr("Play"));
  play_->setToolTip(tr("Play the trajectory, looping (Space)"));
  slider_ = new QSlider(Qt::Horizontal, bar);
  slider_->setObjectName(QStringLiteral("frameSlider"));
  slider_->setRange(0, std::max(0, frameCount - 1));
  slider_->setToolTip(tr("Frame (Left/Right step, Home/End)"));
  frameLabel_ = new QLabel(bar);
  frameLabel_->setMinimumWidth(110);
  fps_ = new QSpinBox(bar);
  fps_->setObjectName(QStringLiteral("fpsSpin"));
  fps_->setRange(1, 120);
  fps_->setValue(20);
  fps_->setSuffix(tr(" fps"));
  fps_->setToolTip(tr("Playback speed, frames per second"));
  barLayout->addWidget(play_);
  barLayout->addWidget(slider_, 1);
  barLayout->addWidget(frameLabel_);
  barLayout->addWidget(fps_);
  layout->addWidget(bar);
  bar->setVisible(frameCount > 1);

  timer_ = new QTimer(this);
  timer_->setInterval(1000 / fps_->value());
  connect(timer_, &QTimer::timeout, this, [this] {
    const int n = view_->frameCount();
    // Large systems play in the reduced picture (points, as during a drag: the view decides by
    // its atom threshold); a drag's release must not switch it off mid-playback.
    view_->setInteracting(true);
    if (n > 1) view_->setFrame((view_->currentFrame() + 1) % n);
  });
  connect(fps_, &QSpinBox::valueChanged, this, [this](int fps) { timer_->setInterval(std::max(1, 1000 / fps)); });
  connect(play_, &QToolButton::toggled, this, [this](bool on) {
    play_->setText(on ? tr("Pause") : tr("Play"));
    if (on) {
      timer_->start();
    } else {
      timer_->stop();
      view_->setInteracting(false);  // the full picture of the frame it stopped on
    }
  });
  connect(slider_, &QSlider::valueChanged, view_, &StructureView::setFrame);
  connect(view_, &StructureView::frameChanged, this, [this](int i) {
    if (slider_->value() != i) {
      const QSignalBlocker block(slider_);
      slider_->setValue(i);
    }
    updateFrameLabel();
    updateProperties();
    updateMeasurement();
  });
  connect(view_, &StructureView::selectionChanged, this, [this] {
    updateMeasurement();
    selectTableRowsFromView();
  });
  // Rows picked in the atoms table select those atoms in the view (in the order they were picked,
  // so two to four rows give a distance, angle or dihedral), and picks in the view select rows.
  connect(atoms_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          [this](const QItemSelection&, const QItemSelection&) { selectViewAtomsFromTable(); });
  connect(view_, &StructureView::structureChanged, this, [this] {
    updateProperties();
    updateMeasurement();
  });

  connect(style_, &QComboBox::currentIndexChanged, this, [this](int) {
    view_->setRenderStyle(static_cast<StructureView::RenderStyle>(style_->currentData().toInt()));
  });
  connect(cell_, &QCheckBox::toggled, view_, &StructureView::setShowCell);
  connect(axes_, &QCheckBox::toggled, view_, &StructureView::setShowAxes);
  connect(labels_, &QComboBox::currentIndexChanged, this, [this](int) {
    view_->setAtomLabels(static_cast<StructureView::AtomLabels>(labels_->currentData().toInt()));
  });
  for (QSpinBox* r : repeat_)
    connect(r, &QSpinBox::valueChanged, this, [this](int) {
      view_->setRepeat(repeat_[0]->value(), repeat_[1]->value(), repeat_[2]->value());
    });
  connect(vectors_, &QComboBox::currentIndexChanged, this, [this](int) {
    const QString name = vectors_->currentData().toString();
    view_->setVectorProperty(name);
    vectorScale_->setEnabled(!name.isEmpty());
    if (!name.isEmpty()) {
      const double s = view_->autoVectorScale();
      if (s > 0) vectorScale_->setValue(s);
    }
  });
  if (const double auto0 = view_->autoVectorScale(); auto0 > 0) {  // forces' scale, before any are shown
    vectorScale_->setValue(auto0);
    view_->setVectorScale(auto0);
  }
  connect(vectorScale_, &QDoubleSpinBox::valueChanged, view_, &StructureView::setVectorScale);
  updateFrameLabel();
  updateProperties();
  updateMeasurement();
}

void StructureDocument::keyPressEvent(QKeyEvent* e) {
  // Keys the view and the other controls leave unused reach the document.
  switch (e->key()) {
    case Qt::Key_Space: setPlaying(!isPlaying()); break;
    case Qt::Key_Right: stepFrame(1); break;
    case Qt::Key_Left: stepFrame(-1); break;
    case Qt::Key_Home: view_->setFrame(0); break;
    case Qt::Key_End: view_->setFrame(view_->frameCount() - 1); break;
    default: QWidget::keyPressEvent(e); return;
  }
  e->accept();
}

bool StructureDocument::isPlaying() const { return timer_->isActive(); }
void StructureDocument::setPlaying(bool playing) {
  if (view_->frameCount() < 2) playing = false;
  play_->setChecked(playing);
}
void StructureDocument::setFramesPerSecond(int fps) { fps_->setValue(fps); }
int StructureDocument::framesPerSecond() const { return fps_->value(); }

void StructureDocument::stepFrame(int delta) {
  const int n = view_->frameCount();
  if (n < 2) return;
  setPlaying(false);
  view_->setFrame(((view_->currentFrame() + delta) % n + n) % n);
}

void StructureDocument::setRenderStyle(int style) {
  const int i = style_->findData(style);
  if (i >= 0) style_->setCurrentIndex(i);
}

void StructureDocument::setRepeat(int na, int nb, int nc) {
  const int n[3] = {na, nb, nc};
  for (int k = 0; k < 3; ++k) {
    const QSignalBlocker block(repeat_[k]);
    repeat_[k]->setValue(n[k]);
  }
  view_->setRepeat(repeat_[0]->value(), repeat_[1]->value(), repeat_[2]->value());
}

void StructureDocument::setVectorsShown(bool shown) {
  if (!vectors_->isEnabled()) return;
  vectors_->setCurrentIndex(shown ? std::max(1, vectors_->findData(QStringLiteral("forces"))) : 0);
}

bool StructureDocument::exportStructure(const QString& path, QString* error) {
  const chem::Structure* s = view_->displayedStructure();
  if (!s) {
    if (error) *error = tr("nothing to export");
    return false;
  }
  try {
    structure_io::write(path, chem::Trajectory{*s});
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return false;
  }
  return true;
}

QString StructureDocument::exportTo(const QString& path) {
  QString error;
  return exportStructure(path, &error) ? QString() : error;
}

QString StructureDocument::exportImage(const QString& path, int width, int height) {
  QString error;
  return view_->saveScreenshot(path, width, height, &error) ? QString() : error;
}

void StructureDocument::updateFrameLabel() {
  frameLabel_->setText(tr("frame %1 / %2").arg(view_->currentFrame() + 1).arg(view_->frameCount()));
}

void StructureDocument::selectViewAtomsFromTable() {
  if (syncingSelection_) return;
  std::vector<int> rows;
  for (const QModelIndex& index : atoms_->selectionModel()->selectedRows()) rows.push_back(index.row());
  // Keep the order of earlier picks; rows new to the selection go last.
  std::vector<int> ordered;
  for (int a : view_->selection())
    if (std::find(rows.begin(), rows.end(), a) != rows.end()) ordered.push_back(a);
  std::sort(rows.begin(), rows.end());
  for (int r : rows)
    if (std::find(ordered.begin(), ordered.end(), r) == ordered.end()) ordered.push_back(r);
  syncingSelection_ = true;
  view_->setSelection(ordered);
  syncingSelection_ = false;
}

void StructureDocument::selectTableRowsFromView() {
  if (syncingSelection_) return;
  syncingSelection_ = true;
  QItemSelection rows;
  const int n = atomModel_->rowCount();
  int last = -1;
  for (int a : view_->selection()) {
    const int row = a;  // the table lists the displayed atoms (repeats included), like the view
    if (row >= n) continue;
    rows.select(atomModel_->index(row, 0), atomModel_->index(row, atomModel_->columnCount() - 1));
    last = row;
  }
  atoms_->selectionModel()->select(rows, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
  if (last >= 0) atoms_->scrollTo(atomModel_->index(last, 0));
  syncingSelection_ = false;
}

void StructureDocument::updateMeasurement() {
  const chem::Structure* s = view_->displayedStructure();
  const auto m = view_->measurement();
  QString text = s ? StructureView::measurementText(m, *s) : QString();
  if (text.isEmpty()) text = tr("Click atoms to select them: two give a distance, three an angle, four a dihedral.");
  measurement_->setText(text);
  // Mirror the selection in the atom table.
  if (auto* sel = atoms_->selectionModel()) {
    const QSignalBlocker block(sel);
    sel->clearSelection();
    for (int i : m.atoms)
      sel->select(atomModel_->index(i, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
    if (!m.atoms.empty()) atoms_->scrollTo(atomModel_->index(m.atoms.back(), 0));
    atoms_->viewport()->update();
  }
}

namespace {
double norm(const chem::Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }
double angle(const chem::Vec3& a, const chem::Vec3& b) {
  const double c = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / (norm(a) * norm(b));
  return std::acos(std::clamp(c, -1.0, 1.0)) * 180.0 / M_PI;
}
QString jsonText(const Json& v) {
  if (v.is_string()) return QString::fromStdString(v.get<std::string>());
  if (v.is_number_float()) return QString::number(v.get<double>(), 'g', 10);
  return QString::fromStdString(v.dump());
}
}  // namespace

void StructureDocument::updateProperties() {
  const chem::Structure* s = view_->structure();
  atomModel_->setStructure(view_->displayedStructure());
  QList<QPair<QString, QString>> rows;
  if (s) {
    rows.append({tr("Formula"), QString::fromStdString(s->formula())});
    rows.append({tr("Atoms"), QString::number(s->size())});
    if (const chem::Structure* d = view_->displayedStructure(); d && d->size() != s->size())
      rows.append({tr("Atoms shown"), QString::number(d->size())});
    rows.append({tr("Bonds"), QString::number(view_->bonds().size())});
    if (view_->frameCount() > 1)
      rows.append({tr("Frame"), QStringLiteral("%1 of %2").arg(view_->currentFrame() + 1).arg(view_->frameCount())});
    if (auto key = s->energyKey())
      rows.append({tr("Energy (%1)").arg(QString::fromStdString(*key)), QString::number(*s->energy(), 'g', 12)});
    if (const chem::AtomProperty* f = s->forces()) {
      double maxForce = 0;
      for (std::size_t i = 0; i < s->size(); ++i)
        maxForce = std::max(maxForce, std::sqrt(f->at(i, 0) * f->at(i, 0) + f->at(i, 1) * f->at(i, 1) + f->at(i, 2) * f->at(i, 2)));
      rows.append({tr("Max |force|"), QString::number(maxForce, 'g', 6)});
    }
    if (s->lattice) {
      const chem::Mat3& m = *s->lattice;
      rows.append({tr("a, b, c (Å)"), QStringLiteral("%1, %2, %3").arg(norm(m[0]), 0, 'f', 4).arg(norm(m[1]), 0, 'f', 4).arg(norm(m[2]), 0, 'f', 4)});
      rows.append({tr("α, β, γ (°)"), QStringLiteral("%1, %2, %3")
                                        .arg(angle(m[1], m[2]), 0, 'f', 3)
                                        .arg(angle(m[0], m[2]), 0, 'f', 3)
                                        .arg(angle(m[0], m[1]), 0, 'f', 3)});
      rows.append({tr("Volume (Å³)"), QString::number(std::abs(s->cellVolume()), 'f', 3)});
      rows.append({tr("Periodic"), QStringLiteral("%1 %2 %3").arg(s->pbc[0] ? "T" : "F", s->pbc[1] ? "T" : "F", s->pbc[2] ? "T" : "F")});
    }
    for (const auto& [key, value] : s->info.items()) {
      if (s->energyKey() && key == *s->energyKey()) continue;
      rows.append({QString::fromStdString(key), jsonText(value)});
    }
    for (const auto& [name, p] : s->atomProperties)
      rows.append({tr("per-atom %1").arg(QString::fromStdString(name)), tr("%1 column(s)").arg(p.columns)});
  }
  table_->setRowCount(static_cast<int>(rows.size()));
  for (int r = 0; r < rows.size(); ++r) {
    table_->setItem(r, 0, new QTableWidgetItem(rows[r].first));
    table_->setItem(r, 1, new QTableWidgetItem(rows[r].second));
  }
  table_->resizeColumnToContents(0);
}

}  // namespace atomscope::gui
