#include "structure_document.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSlider>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <cmath>

#include "atomscope/gui/structure_view.h"

namespace atomscope::gui {

StructureDocument::StructureDocument(const QString& path, chem::Trajectory frames, QWidget* parent)
    : QWidget(parent), path_(path) {
  const int frameCount = static_cast<int>(frames.size());
  view_ = new StructureView(this);
  view_->setObjectName(QStringLiteral("structureView"));
  view_->setTrajectory(std::move(frames));

  table_ = new QTableWidget(0, 2, this);
  table_->setObjectName(QStringLiteral("structureProperties"));
  table_->setHorizontalHeaderLabels({tr("Property"), tr("Value")});
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setMinimumWidth(220);

  auto* splitter = new QSplitter(Qt::Horizontal, this);
  splitter->addWidget(view_);
  splitter->addWidget(table_);
  splitter->setStretchFactor(0, 4);
  splitter->setStretchFactor(1, 1);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(splitter, 1);

  // Frame bar: only for trajectories.
  auto* bar = new QWidget(this);
  auto* barLayout = new QHBoxLayout(bar);
  barLayout->setContentsMargins(6, 2, 6, 4);
  play_ = new QToolButton(bar);
  play_->setObjectName(QStringLiteral("playButton"));
  play_->setCheckable(true);
  play_->setText(tr("Play"));
  play_->setToolTip(tr("Play the trajectory (loops)"));
  slider_ = new QSlider(Qt::Horizontal, bar);
  slider_->setObjectName(QStringLiteral("frameSlider"));
  slider_->setRange(0, std::max(0, frameCount - 1));
  frameLabel_ = new QLabel(bar);
  frameLabel_->setMinimumWidth(110);
  barLayout->addWidget(play_);
  barLayout->addWidget(slider_, 1);
  barLayout->addWidget(frameLabel_);
  layout->addWidget(bar);
  bar->setVisible(frameCount > 1);

  timer_ = new QTimer(this);
  timer_->setInterval(50);  // 20 frames per second
  connect(timer_, &QTimer::timeout, this, [this] {
    const int n = view_->frameCount();
    if (n > 1) view_->setFrame((view_->currentFrame() + 1) % n);
  });
  connect(play_, &QToolButton::toggled, this, [this](bool on) {
    play_->setText(on ? tr("Pause") : tr("Play"));
    if (on)
      timer_->start();
    else
      timer_->stop();
  });
  connect(slider_, &QSlider::valueChanged, view_, &StructureView::setFrame);
  connect(view_, &StructureView::frameChanged, this, [this](int i) {
    if (slider_->value() != i) {
      const QSignalBlocker block(slider_);
      slider_->setValue(i);
    }
    updateFrameLabel();
    updateProperties();
  });
  updateFrameLabel();
  updateProperties();
}

bool StructureDocument::isPlaying() const { return timer_->isActive(); }
void StructureDocument::setPlaying(bool playing) { play_->setChecked(playing); }

void StructureDocument::updateFrameLabel() {
  frameLabel_->setText(tr("frame %1 / %2").arg(view_->currentFrame() + 1).arg(view_->frameCount()));
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
  QList<QPair<QString, QString>> rows;
  if (s) {
    rows.append({tr("Formula"), QString::fromStdString(s->formula())});
    rows.append({tr("Atoms"), QString::number(s->size())});
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
