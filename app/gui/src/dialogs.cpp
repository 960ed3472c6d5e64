#include "atomscope/gui/dialogs.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMap>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QStyle>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <thread>

#include "atomscope/core/device.h"
#include "atomscope/core/error.h"
#include "atomscope/core/job.h"
#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/param_form.h"
#include "atomscope/gui/plugin_host.h"
#include "atomscope/gui/settings.h"

namespace atomscope::gui {

// ---------------------------------------------------------------------------------------------
RunJobDialog::RunJobDialog(JobManager& jobs, AppSettings& settings, QWidget* parent)
    : QDialog(parent), jobs_(jobs), settings_(settings) {
  setWindowTitle(tr("Run job"));
  resize(860, 560);
  auto* v = new QVBoxLayout(this);
  auto* split = new QSplitter(Qt::Horizontal, this);
  tree_ = new QTreeWidget(split);
  tree_->setObjectName(QStringLiteral("jobList"));
  tree_->setColumnCount(1);
  tree_->setHeaderHidden(true);
  tree_->setTextElideMode(Qt::ElideRight);
  QMap<QString, QTreeWidgetItem*> categories;
  for (const auto& info : jobs_.registry().list()) {
    const QString cat = info.category.empty() ? tr("Other") : QString::fromStdString(info.category);
    QTreeWidgetItem*& top = categories[cat];
    if (!top) {
      top = new QTreeWidgetItem(tree_, {cat});
      top->setFlags(Qt::ItemIsEnabled);
      QFont f = top->font(0);
      f.setBold(true);
      top->setFont(0, f);
      top->setIcon(0, style()->standardIcon(QStyle::SP_DirIcon));
    }
    auto* item = new QTreeWidgetItem(top, {QString::fromStdString(info.title.empty() ? info.name : info.title)});
    item->setData(0, Qt::UserRole, QString::fromStdString(info.name));
    item->setToolTip(0, QStringLiteral("%1\n%2").arg(QString::fromStdString(info.name),
                                                      QString::fromStdString(info.description)));
    item->setIcon(0, style()->standardIcon(QStyle::SP_MediaPlay));
  }
  tree_->expandAll();

  auto* right = new QWidget(split);
  auto* rv = new QVBoxLayout(right);
  title_ = new QLabel(tr("Choose a job"), right);
  QFont tf = title_->font();
  tf.setPointSizeF(tf.pointSizeF() * 1.3);
  tf.setBold(true);
  title_->setFont(tf);
  description_ = new QLabel(right);
  description_->setWordWrap(true);
  description_->setStyleSheet(QStringLiteral("color:#4a5a68"));
  scroll_ = new QScrollArea(right);
  scroll_->setWidgetResizable(true);
  scroll_->setFrameShape(QFrame::NoFrame);
  error_ = new QLabel(right);
  error_->setObjectName(QStringLiteral("runJobError"));
  error_->setWordWrap(true);
  error_->setStyleSheet(QStringLiteral("color:#b03a2e"));
  error_->setVisible(false);
  rv->addWidget(title_);
  rv->addWidget(description_);
  rv->addWidget(scroll_, 1);
  rv->addWidget(error_);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 3);
  split->setSizes({290, 570});
  v->addWidget(split, 1);

  auto* buttons = new QDialogButtonBox(this);
  run_ = buttons->addButton(tr("Run"), QDialogButtonBox::AcceptRole);
  run_->setObjectName(QStringLiteral("runButton"));
  run_->setIcon(style()->standardIcon(QStyle::SP_MediaPlay));
  run_->setDefault(true);
  run_->setEnabled(false);
  buttons->addButton(QDialogButtonBox::Close);
  connect(run_, &QPushButton::clicked, this, [this] {
    if (startSelected() >= 0) accept();
  });
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  v->addWidget(buttons);

  connect(tree_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item) {
    if (item && item->data(0, Qt::UserRole).isValid()) showJob(item->data(0, Qt::UserRole).toString());
  });
  connect(tree_, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem* item) {
    if (item && item->data(0, Qt::UserRole).isValid() && startSelected() >= 0) accept();
  });
}

bool RunJobDialog::selectJob(const QString& name) {
  QTreeWidgetItemIterator it(tree_);
  for (; *it; ++it)
    if ((*it)->data(0, Qt::UserRole).toString() == name) {
      tree_->setCurrentItem(*it);
      return current_ == name;
    }
  return false;
}

void RunJobDialog::showJob(const QString& name) {
  std::unique_ptr<core::Job> job;
  try {
    job = jobs_.registry().create(name.toStdString());
  } catch (const std::exception& e) {
    error_->setText(QString::fromUtf8(e.what()));
    error_->setVisible(true);
    return;
  }
  const auto info = job->info();
  current_ = name;
  title_->setText(QString::fromStdString(info.title.empty() ? info.name : info.title));
  description_->setText(QStringLiteral("<code>%1</code> — %2")
                            .arg(name.toHtmlEscaped(), QString::fromStdString(info.description).toHtmlEscaped()));
  form_ = new ParamForm(job->schema());
  form_->setObjectName(QStringLiteral("paramForm"));
  form_->setPreferredDevice(settings_.device());
  form_->setPreferredPrecision(settings_.precision());
  scroll_->setWidget(form_);  // deletes the previous form
  error_->setVisible(false);
  run_->setEnabled(true);
}

int RunJobDialog::startSelected() {
  if (!form_ || current_.isEmpty()) return -1;
  Json params;
  if (!form_->validate(&params)) return -1;
  // The device travels as a parameter when the schema has one, and as the run's device.
  QString device = settings_.device();
  for (const auto& s : form_->schema().specs())
    if (s.type == core::ParamType::Device && params.contains(s.name) && params[s.name].is_string()) {
      device = QString::fromStdString(params[s.name].get<std::string>());
      break;
    }
  try {
    startedId_ = jobs_.start(current_, params, device);
  } catch (const std::exception& e) {
    error_->setText(QString::fromUtf8(e.what()));
    error_->setVisible(true);
    return -1;
  }
  return startedId_;
}

QString RunJobDialog::errorText() const {
  if (error_->isVisible()) return error_->text();
  return form_ ? form_->errorText() : QString();
}

// ---------------------------------------------------------------------------------------------
PreferencesDialog::PreferencesDialog(AppSettings& settings, QWidget* parent) : QDialog(parent), settings_(settings) {
  setWindowTitle(tr("Preferences"));
  resize(520, 420);
  auto* v = new QVBoxLayout(this);
  auto* compute = new QGroupBox(tr("Compute"), this);
  auto* f = new QFormLayout(compute);
  device_ = new QComboBox(compute);
  device_->setObjectName(QStringLiteral("prefDevice"));
  device_->addItem(QStringLiteral("auto"));
  device_->setItemData(0, tr("CUDA if available, else CPU"), Qt::ToolTipRole);
  try {
    for (const auto& d : core::availableDevices()) {
      device_->addItem(QString::fromStdString(d.name));
      device_->setItemData(device_->count() - 1, QString::fromStdString(d.description), Qt::ToolTipRole);
    }
  } catch (const std::exception&) {
    device_->addItem(QStringLiteral("cpu"));
  }
  if (device_->findText(settings_.device()) < 0) device_->addItem(settings_.device());
  device_->setCurrentText(settings_.device());
  f->addRow(tr("Default device:"), device_);
  threads_ = new QSpinBox(compute);
  threads_->setObjectName(QStringLiteral("prefThreads"));
  threads_->setRange(0, 1024);
  threads_->setSpecialValueText(tr("automatic"));
  threads_->setValue(settings_.threads());
  threads_->setToolTip(tr("CPU threads for compute jobs; automatic uses every core (%1 here).")
                           .arg(std::thread::hardware_concurrency()));
  f->addRow(tr("CPU threads:"), threads_);
  precision_ = new QComboBox(compute);
  precision_->setObjectName(QStringLiteral("prefPrecision"));
  precision_->addItems({QStringLiteral("fp32"), QStringLiteral("bf16")});
  precision_->setCurrentText(settings_.precision());
  precision_->setToolTip(tr("Default precision offered in job forms (bf16 autocast on CUDA)."));
  f->addRow(tr("Precision:"), precision_);
  v->addWidget(compute);

  auto* data = new QGroupBox(tr("Data folders"), this);
  auto* dv = new QVBoxLayout(data);
  folders_ = new QListWidget(data);
  folders_->setObjectName(QStringLiteral("prefFolders"));
  folders_->addItems(settings_.dataFolders());
  dv->addWidget(folders_);
  auto* row = new QHBoxLayout;
  auto* add = new QPushButton(tr("Add…"), data);
  auto* remove = new QPushButton(tr("Remove"), data);
  row->addStretch(1);
  row->addWidget(add);
  row->addWidget(remove);
  dv->addLayout(row);
  connect(add, &QPushButton::clicked, this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, tr("Add a data folder"));
    if (!d.isEmpty() && folders_->findItems(d, Qt::MatchExactly).isEmpty()) folders_->addItem(d);
  });
  connect(remove, &QPushButton::clicked, this, [this] { delete folders_->currentItem(); });
  v->addWidget(data, 1);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  connect(buttons, &QDialogButtonBox::accepted, this, &PreferencesDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  v->addWidget(buttons);
}

void PreferencesDialog::accept() {
  settings_.setDevice(device_->currentText());
  settings_.setThreads(threads_->value());
  settings_.setPrecision(precision_->currentText());
  QStringList folders;
  for (int i = 0; i < folders_->count(); ++i) folders << folders_->item(i)->text();
  settings_.setDataFolders(folders);
  QDialog::accept();
}

// ---------------------------------------------------------------------------------------------
AboutPluginsDialog::AboutPluginsDialog(const PluginHost& host, const QStringList& searchedFolders, QWidget* parent)
    : QDialog(parent) {
  setWindowTitle(tr("About Plugins"));
  resize(820, 460);
  auto* v = new QVBoxLayout(this);
  auto* intro = new QLabel(tr("Searched folders: %1").arg(searchedFolders.isEmpty() ? tr("(none)")
                                                                                      : searchedFolders.join(QStringLiteral(", "))),
                           this);
  intro->setWordWrap(true);
  intro->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(intro);
  tree_ = new QTreeWidget(this);
  tree_->setObjectName(QStringLiteral("pluginTree"));
  tree_->setColumnCount(5);
  tree_->setHeaderLabels({tr("Plugin"), tr("Version"), tr("Status"), tr("From"), tr("File")});
  tree_->setAlternatingRowColors(true);
  for (const auto& r : host.records()) {
    auto* item = new QTreeWidgetItem(tree_, {r.loaded ? r.name : QFileInfo(r.file).fileName(), r.version,
                                             r.loaded ? tr("loaded") : tr("failed"), r.origin, r.file});
    item->setIcon(0, style()->standardIcon(r.loaded ? QStyle::SP_DialogApplyButton : QStyle::SP_MessageBoxCritical));
    item->setToolTip(3, tr("Plugins load only from the installation's and the user's plugin folders"));
    item->setToolTip(4, r.file);
    auto child = [&](const QString& key, const QString& value) {
      if (value.isEmpty()) return;
      auto* c = new QTreeWidgetItem(item, {key, QString(), QString(), QString(), value});
      c->setFirstColumnSpanned(false);
      c->setToolTip(4, value);
    };
    if (!r.loaded) {
      child(tr("Reason"), r.error);
      item->setForeground(2, QColor(0xc0, 0x39, 0x2b));
    } else {
      child(tr("Description"), r.description);
      child(tr("Jobs"), r.jobs.join(QStringLiteral(", ")));
      child(tr("Panels"), r.panels.join(QStringLiteral(", ")));
      child(tr("Menu entries"), r.menuEntries.join(QStringLiteral(", ")));
      QStringList types;
      for (const auto& ft : r.fileTypes) types << QStringLiteral("%1 (%2)").arg(ft.description, ft.patterns.join(' '));
      child(tr("File types"), types.join(QStringLiteral("; ")));
    }
    item->setExpanded(true);
  }
  if (host.records().isEmpty()) new QTreeWidgetItem(tree_, {tr("No plugins found")});
  tree_->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(3, QHeaderView::ResizeToContents);
  v->addWidget(tree_, 1);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  v->addWidget(buttons);
}

}  // namespace atomscope::gui
