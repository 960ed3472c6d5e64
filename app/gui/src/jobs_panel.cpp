#include "atomscope/gui/jobs_panel.h"

#include <QApplication>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QSplitter>
#include <QStackedWidget>
#include <QStyle>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <cmath>

#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/metric_chart.h"

namespace atomscope::gui {

enum Column { ColJob = 0, ColProgress, ColEta, ColCancel };

QString formatDuration(double s) {
  if (s < 0 || !std::isfinite(s)) return QStringLiteral("—");
  if (s < 60) return QStringLiteral("%1 s").arg(s, 0, 'f', s < 10 ? 1 : 0);
  const long long t = static_cast<long long>(std::llround(s));
  if (t < 3600) return QStringLiteral("%1:%2").arg(t / 60).arg(t % 60, 2, 10, QLatin1Char('0'));
  return QStringLiteral("%1:%2:%3").arg(t / 3600).arg((t / 60) % 60, 2, 10, QLatin1Char('0')).arg(t % 60, 2, 10, QLatin1Char('0'));
}

JobsPanel::JobsPanel(JobManager& jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(2, 2, 2, 2);
  auto* split = new QSplitter(Qt::Vertical, this);
  tree_ = new QTreeWidget(split);
  tree_->setObjectName(QStringLiteral("jobsTree"));
  tree_->setRootIsDecorated(false);
  tree_->setUniformRowHeights(true);
  tree_->setColumnCount(4);
  tree_->setHeaderLabels({tr("Job"), tr("Progress"), tr("ETA"), QString()});
  tree_->header()->setStretchLastSection(false);
  tree_->header()->setMinimumSectionSize(24);
  tree_->header()->setSectionResizeMode(ColJob, QHeaderView::Interactive);
  tree_->header()->setSectionResizeMode(ColProgress, QHeaderView::Stretch);
  tree_->header()->setSectionResizeMode(ColEta, QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(ColCancel, QHeaderView::Fixed);
  tree_->header()->resizeSection(ColJob, 110);
  tree_->header()->resizeSection(ColCancel, 26);
  tree_->setTextElideMode(Qt::ElideMiddle);
  auto* lower = new QWidget(split);
  auto* lv = new QVBoxLayout(lower);
  lv->setContentsMargins(0, 2, 0, 0);
  lv->setSpacing(2);
  detail_ = new QLabel(lower);
  detail_->setObjectName(QStringLiteral("jobDetail"));
  detail_->setWordWrap(true);
  detail_->setStyleSheet(QStringLiteral("color:#33404c; padding: 2px 4px;"));
  lv->addWidget(detail_);
  charts_ = new QStackedWidget(lower);
  lv->addWidget(charts_, 1);
  placeholder_ = new QLabel(tr("Metrics of the selected job appear here.\nStart one with Jobs ▸ Run job… (Ctrl+R)."),
                            charts_);
  placeholder_->setAlignment(Qt::AlignCenter);
  placeholder_->setStyleSheet(QStringLiteral("color:#7a8894"));
  charts_->addWidget(placeholder_);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 3);
  split->setSizes({120, 440});
  v->addWidget(split);

  connect(&jobs_, &JobManager::jobStarted, this, &JobsPanel::onStarted);
  connect(&jobs_, &JobManager::progressChanged, this, &JobsPanel::onProgress);
  connect(&jobs_, &JobManager::jobFinished, this, &JobsPanel::onFinished);
  connect(&jobs_, &JobManager::metricsArrived, this,
          [this](int id, const std::vector<core::MetricPoint>& pts) {
            if (auto* c = chartFor(id)) c->addPoints(pts);
          });
  connect(tree_, &QTreeWidget::currentItemChanged, this, [this] { showSelected(); });
  connect(tree_, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* item) {
    const int id = item->data(ColJob, Qt::UserRole).toInt();
    const QString dir = jobs_.state(id).runDir;
    if (!dir.isEmpty()) Q_EMIT runDirectoryActivated(dir);
  });
}

void JobsPanel::onStarted(int id, const QString& job) {
  const JobState st = jobs_.state(id);
  Row row;
  row.item = new QTreeWidgetItem;
  row.item->setText(ColJob, QStringLiteral("%1 #%2").arg(job.section(QLatin1Char('.'), -1)).arg(id));
  row.item->setToolTip(ColJob, QStringLiteral("%1\n%2 #%3 on %4").arg(st.title, job).arg(id).arg(st.device));
  row.item->setData(ColJob, Qt::UserRole, id);
  row.item->setIcon(ColJob, style()->standardIcon(QStyle::SP_MediaPlay));
  tree_->insertTopLevelItem(0, row.item);
  row.bar = new QProgressBar(tree_);
  row.bar->setRange(0, 1000);
  row.bar->setValue(0);
  row.bar->setFormat(tr("starting…"));
  row.bar->setTextVisible(true);
  row.bar->setMaximumHeight(18);
  tree_->setItemWidget(row.item, ColProgress, row.bar);
  row.cancel = new QToolButton(tree_);
  row.cancel->setIcon(style()->standardIcon(QStyle::SP_DialogCancelButton));
  row.cancel->setToolTip(tr("Cancel this job (Esc when selected)"));
  row.cancel->setAutoRaise(true);
  row.cancel->setObjectName(QStringLiteral("cancelJob%1").arg(id));
  connect(row.cancel, &QToolButton::clicked, this, [this, id] { jobs_.cancel(id); });
  tree_->setItemWidget(row.item, ColCancel, row.cancel);
  row.chart = new MetricChart(charts_);
  row.chart->setTitle(QStringLiteral("%1 #%2").arg(job).arg(id));
  charts_->addWidget(row.chart);
  rows_.insert(id, row);
  tree_->setCurrentItem(row.item);
  showSelected();
}

void JobsPanel::onProgress(int id, double fraction, const QString& stage, double eta) {
  auto it = rows_.find(id);
  if (it == rows_.end()) return;
  const int pct = static_cast<int>(std::lround(fraction * 100));
  it->bar->setValue(static_cast<int>(std::lround(fraction * 1000)));
  it->bar->setFormat(QStringLiteral("%1%").arg(pct));
  it->bar->setToolTip(stage);
  it->item->setData(ColProgress, Qt::UserRole, stage);
  it->item->setText(ColEta, formatDuration(eta));
  it->item->setToolTip(ColEta, tr("elapsed %1, remaining %2").arg(formatDuration(jobs_.state(id).elapsedSeconds), formatDuration(eta)));
  if (id == selectedJobId()) updateDetail();
}

void JobsPanel::onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error) {
  auto it = rows_.find(id);
  if (it == rows_.end()) return;
  it->cancel->setEnabled(false);
  QStyle::StandardPixmap icon = QStyle::SP_DialogApplyButton;
  QString colour = QStringLiteral("#1e8449");
  if (status == core::RunStatus::Failed) {
    icon = QStyle::SP_MessageBoxCritical;
    colour = QStringLiteral("#c0392b");
  } else if (status == core::RunStatus::Cancelled) {
    icon = QStyle::SP_MessageBoxWarning;
    colour = QStringLiteral("#b9770e");
  }
  it->item->setIcon(ColJob, style()->standardIcon(icon));
  it->item->setText(ColEta, formatDuration(jobs_.state(id).elapsedSeconds));
  it->item->setToolTip(ColEta, tr("took %1").arg(formatDuration(jobs_.state(id).elapsedSeconds)));
  const QString tip = QStringLiteral("%1\n%2%3").arg(QString::fromStdString(core::toString(status)), runDir,
                                                    error.isEmpty() ? QString() : QStringLiteral("\n") + error);
  it->item->setToolTip(ColProgress, tip);
  it->bar->setToolTip(tip);
  it->bar->setStyleSheet(QStringLiteral("QProgressBar::chunk { background-color: %1; }").arg(colour));
  it->bar->setFormat(QString::fromStdString(core::toString(status)));
  if (id == selectedJobId()) updateDetail();
}

int JobsPanel::selectedJobId() const {
  auto* item = tree_->currentItem();
  return item ? item->data(ColJob, Qt::UserRole).toInt() : -1;
}

void JobsPanel::selectJob(int id) {
  auto it = rows_.find(id);
  if (it != rows_.end()) tree_->setCurrentItem(it->item);
}

void JobsPanel::showSelected() {
  const int id = selectedJobId();
  auto it = rows_.find(id);
  charts_->setCurrentWidget(it == rows_.end() ? static_cast<QWidget*>(placeholder_) : it->chart);
  updateDetail();
}

void JobsPanel::updateDetail() {
  const int id = selectedJobId();
  if (id < 0 || !jobs_.contains(id)) {
    detail_->clear();
    detail_->setVisible(false);
    return;
  }
  const JobState st = jobs_.state(id);
  QString text = QStringLiteral("<b>%1</b> #%2 on %3<br>").arg(st.job.toHtmlEscaped()).arg(id).arg(st.device.toHtmlEscaped());
  if (st.finished) {
    text += tr("%1 after %2").arg(QString::fromStdString(core::toString(st.status)), formatDuration(st.elapsedSeconds));
    if (!st.error.isEmpty()) text += QStringLiteral(": <span style=\"color:#c0392b\">%1</span>").arg(st.error.toHtmlEscaped());
  } else {
    text += tr("%1 · %2% · elapsed %3 · ETA %4")
                .arg(st.stage.toHtmlEscaped())
                .arg(static_cast<int>(std::lround(st.progress * 100)))
                .arg(formatDuration(st.elapsedSeconds), formatDuration(st.etaSeconds));
  }
  detail_->setText(text);
  detail_->setVisible(true);
}

MetricChart* JobsPanel::chartFor(int id) const {
  auto it = rows_.find(id);
  return it == rows_.end() ? nullptr : it->chart;
}

QProgressBar* JobsPanel::progressBarFor(int id) const {
  auto it = rows_.find(id);
  return it == rows_.end() ? nullptr : it->bar;
}

QToolButton* JobsPanel::cancelButtonFor(int id) const {
  auto it = rows_.find(id);
  return it == rows_.end() ? nullptr : it->cancel;
}

int JobsPanel::rowCount() const { return tree_->topLevelItemCount(); }

}  // namespace atomscope::gui
