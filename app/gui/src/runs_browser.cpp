#include "atomscope/gui/runs_browser.h"

#include <QDesktopServices>
#include <QDir>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QChart>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QStyle>
#include <QTimer>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>
#include <memory>

#include "atomscope/core/run_dir.h"
#include "atomscope/gui/jobs_panel.h"
#include "atomscope/gui/report_writer.h"

namespace atomscope::gui {

enum Col { ColRun = 0, ColStatus, ColStarted };

static QColor statusColour(const QString& s) {
  if (s == QLatin1String("completed")) return QColor(0x1e, 0x84, 0x49);
  if (s == QLatin1String("failed") || s == QLatin1String("unreadable")) return QColor(0xc0, 0x39, 0x2b);
  if (s == QLatin1String("cancelled") || s == QLatin1String("stale")) return QColor(0xb9, 0x77, 0x0e);
  if (s == QLatin1String("running")) return QColor(0x21, 0x61, 0x9c);
  return QColor(0x55, 0x55, 0x55);
}

RunsBrowser::RunsBrowser(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(2, 2, 2, 2);
  v->setSpacing(2);
  auto* bar = new QHBoxLayout;
  filter_ = new QLineEdit(this);
  filter_->setPlaceholderText(tr("Filter runs (job, status, id)"));
  filter_->setClearButtonEnabled(true);
  bar->addWidget(filter_, 1);
  auto* refreshButton = new QToolButton(this);
  refreshButton->setIcon(style()->standardIcon(QStyle::SP_BrowserReload));
  refreshButton->setToolTip(tr("Refresh"));
  refreshButton->setAutoRaise(true);
  bar->addWidget(refreshButton);
  v->addLayout(bar);
  tree_ = new QTreeWidget(this);
  tree_->setObjectName(QStringLiteral("runsTree"));
  tree_->setColumnCount(3);
  tree_->setHeaderLabels({tr("Run"), tr("Status"), tr("Started")});
  tree_->setRootIsDecorated(false);
  tree_->setUniformRowHeights(true);
  tree_->setAlternatingRowColors(true);
  tree_->setSortingEnabled(false);
  tree_->setContextMenuPolicy(Qt::CustomContextMenu);
  tree_->header()->setSectionResizeMode(ColRun, QHeaderView::Stretch);
  tree_->header()->setSectionResizeMode(ColStatus, QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(ColStarted, QHeaderView::ResizeToContents);
  tree_->header()->setStretchLastSection(false);
  tree_->header()->setMinimumSectionSize(40);
  tree_->setTextElideMode(Qt::ElideMiddle);
  v->addWidget(tree_, 1);
  rootLabel_ = new QLabel(this);
  rootLabel_->setStyleSheet(QStringLiteral("color:#6b7a88"));
  rootLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(rootLabel_);

  watcher_ = new QFileSystemWatcher(this);
  debounce_ = new QTimer(this);
  debounce_->setSingleShot(true);
  debounce_->setInterval(300);
  connect(debounce_, &QTimer::timeout, this, &RunsBrowser::refresh);
  connect(watcher_, &QFileSystemWatcher::directoryChanged, this, &RunsBrowser::scheduleRefresh);
  connect(refreshButton, &QToolButton::clicked, this, &RunsBrowser::refresh);
  connect(filter_, &QLineEdit::textChanged, this, [this](const QString& text) {
    for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
      auto* item = tree_->topLevelItem(i);
      const QString hay = item->text(ColRun) + ' ' + item->text(ColStatus) + ' ' + item->toolTip(ColRun);
      item->setHidden(!text.isEmpty() && !hay.contains(text, Qt::CaseInsensitive));
    }
  });
  connect(tree_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item) {
    if (item) Q_EMIT runSelected(item->data(ColRun, Qt::UserRole).toString());
  });
  connect(tree_, &QTreeWidget::itemDoubleClicked, this,
          [this](QTreeWidgetItem* item) { Q_EMIT runActivated(item->data(ColRun, Qt::UserRole).toString()); });
  connect(tree_, &QTreeWidget::customContextMenuRequested, this, &RunsBrowser::showContextMenu);
}

void RunsBrowser::setRunsRoot(const QString& root) {
  if (!watcher_->directories().isEmpty()) watcher_->removePaths(watcher_->directories());
  lister_.setRoot(QFileInfo(root).absoluteFilePath());
  if (QFileInfo(root).isDir()) watcher_->addPath(lister_.root());
  rootLabel_->setText(QDir::toNativeSeparators(lister_.root()));
  refresh();
}

void RunsBrowser::scheduleRefresh() { debounce_->start(); }

void RunsBrowser::refresh() {
  const QString selected = selectedRun();
  runs_ = lister_.list();
  if (watcher_->directories().isEmpty() && QFileInfo(lister_.root()).isDir()) watcher_->addPath(lister_.root());
  QSignalBlocker block(tree_);
  tree_->clear();
  QTreeWidgetItem* reselect = nullptr;
  for (const auto& r : runs_) {
    auto* item = new QTreeWidgetItem(tree_);
    // "core.gemm_benchmark" -> "gemm_benchmark" plus the run's short id; the full id is the tooltip.
    const QString shortJob = r.job.isEmpty() ? r.id : r.job.section(QLatin1Char('.'), -1);
    item->setText(ColRun, QStringLiteral("%1 · %2").arg(shortJob, r.id.section(QLatin1Char('-'), -1)));
    item->setToolTip(ColRun, r.id + QStringLiteral("\n") + r.path + (r.error.isEmpty() ? QString() : "\n" + r.error));
    item->setData(ColRun, Qt::UserRole, r.path);
    item->setIcon(ColRun, style()->standardIcon(QStyle::SP_FileIcon));
    item->setText(ColStatus, r.status);
    item->setForeground(ColStatus, statusColour(r.status));
    if (r.created.isValid()) {
      const QDateTime local = r.created.toLocalTime();
      item->setText(ColStarted, local.date() == QDate::currentDate() ? local.toString(QStringLiteral("HH:mm:ss"))
                                                                     : local.toString(QStringLiteral("yyyy-MM-dd")));
      item->setToolTip(ColStarted, local.toString(Qt::ISODate));
    }
    QString statusTip = r.status;
    if (r.created.isValid() && r.finished.isValid())
      statusTip += tr(" after %1").arg(formatDuration(r.created.msecsTo(r.finished) / 1000.0));
    if (!r.error.isEmpty()) statusTip += QStringLiteral("\n") + r.error;
    item->setToolTip(ColStatus, statusTip);
    if (r.path == selected) reselect = item;
  }
  if (reselect) tree_->setCurrentItem(reselect);
  if (!filter_->text().isEmpty()) Q_EMIT filter_->textChanged(filter_->text());
}

int RunsBrowser::runCount() const { return static_cast<int>(runs_.size()); }

QString RunsBrowser::selectedRun() const {
  auto* item = tree_->currentItem();
  return item ? item->data(ColRun, Qt::UserRole).toString() : QString();
}

bool RunsBrowser::selectRun(const QString& runDir) {
  const QString abs = QFileInfo(runDir).absoluteFilePath();
  for (int i = 0; i < tree_->topLevelItemCount(); ++i)
    if (tree_->topLevelItem(i)->data(ColRun, Qt::UserRole).toString() == abs) {
      tree_->setCurrentItem(tree_->topLevelItem(i));
      return true;
    }
  return false;
}

const RunSummary* RunsBrowser::summary(const QString& runDir) const {
  const QString abs = QFileInfo(runDir).absoluteFilePath();
  for (const auto& r : runs_)
    if (r.path == abs) return &r;
  return nullptr;
}

void RunsBrowser::showContextMenu(const QPoint& pos) {
  auto* item = tree_->itemAt(pos);
  if (!item) return;
  const QString dir = item->data(ColRun, Qt::UserRole).toString();
  QMenu menu(this);
  menu.addAction(tr("Show metric curves"), this, [this, dir] { Q_EMIT runActivated(dir); });
  menu.addAction(tr("Export report…"), this, [this, dir] { Q_EMIT exportReportRequested(dir); });
  menu.addSeparator();
  menu.addAction(tr("Open folder"), this, [dir] { QDesktopServices::openUrl(QUrl::fromLocalFile(dir)); });
  menu.exec(tree_->viewport()->mapToGlobal(pos));
}

static QString jsonText(const Json& v) {
  if (v.is_string()) return QString::fromStdString(v.get<std::string>());
  if (v.is_number_float()) return QString::number(v.get<double>(), 'g', 8);
  return QString::fromStdString(v.dump());
}

ReportWriter buildRunReport(const RunSummary& run) {
  ReportWriter report(QStringLiteral("Run %1").arg(run.id));
  QList<QStringList> facts;
  facts << QStringList{QStringLiteral("Job"), run.job} << QStringList{QStringLiteral("Status"), run.status}
        << QStringList{QStringLiteral("Started"), run.created.toString(Qt::ISODate)}
        << QStringList{QStringLiteral("Finished"), run.finished.isValid() ? run.finished.toString(Qt::ISODate) : QString()}
        << QStringList{QStringLiteral("Device"), run.device} << QStringList{QStringLiteral("Folder"), run.path};
  if (run.record.contains("seed")) facts << QStringList{QStringLiteral("Seed"), jsonText(run.record["seed"])};
  if (!run.error.isEmpty()) facts << QStringList{QStringLiteral("Error"), run.error};
  report.addTable({QStringLiteral("Field"), QStringLiteral("Value")}, facts, QStringLiteral("Run"));
  auto objectTable = [&](const char* key, const QString& caption) {
    if (!run.record.contains(key) || !run.record[key].is_object() || run.record[key].empty()) return;
    QList<QStringList> rows;
    for (auto it = run.record[key].begin(); it != run.record[key].end(); ++it)
      rows << QStringList{QString::fromStdString(it.key()), jsonText(it.value())};
    report.addTable({QStringLiteral("Name"), QStringLiteral("Value")}, rows, caption);
  };
  objectTable("params", QStringLiteral("Parameters"));
  objectTable("summary", QStringLiteral("Summary"));

  std::vector<core::MetricPoint> points;
  try {
    points = core::RunDir::open(run.path.toStdString()).readMetrics();
  } catch (const std::exception& e) {
    report.addParagraph(QStringLiteral("Metrics could not be read: %1").arg(QString::fromUtf8(e.what())));
  }
  QStringList names;
  for (const auto& p : points)
    for (const auto& kv : p.values)
      if (!names.contains(QString::fromStdString(kv.first))) names << QString::fromStdString(kv.first);
  if (!names.isEmpty()) {
    report.addHeading(QStringLiteral("Metrics"));
    report.addParagraph(QStringLiteral("%1 recorded points.").arg(points.size()));
    for (int i = 0; i < std::min<int>(6, static_cast<int>(names.size())); ++i) {
      std::unique_ptr<QChart> chart(ReportWriter::makeMetricChart(points, {names[i]}, names[i]));
      report.addChart(chart.get(), QSize(800, 400), names[i] + QStringLiteral(" per step"));
    }
  }
  return report;
}

}  // namespace atomscope::gui
