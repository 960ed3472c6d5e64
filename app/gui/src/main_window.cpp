#include "atomscope/gui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QChart>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFrame>
#include <QGridLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QRegularExpression>
#include <QDateTime>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QToolBar>
#include <QVBoxLayout>

#include "atomscope/core/device.h"
#include "atomscope/core/job.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/gui/dialogs.h"
#include "atomscope/gui/jobs_panel.h"
#include "atomscope/gui/metric_chart.h"
#include "atomscope/gui/panels.h"
#include "atomscope/gui/param_form.h"
#include "atomscope/gui/report_writer.h"
#include "atomscope/gui/runs_browser.h"
#include "atomscope/gui/style.h"

namespace atomscope::gui {

namespace {

QString stripAmp(QString s) { return s.remove(QLatin1Char('&')); }

// The first document: what the workbench can do, recent files and quick actions.
class StartPage : public QWidget {
 public:
  StartPage(MainWindow& win, QWidget* parent = nullptr) : QWidget(parent), win_(win) {
    setObjectName(QStringLiteral("startPage"));
    setAutoFillBackground(true);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(36, 28, 36, 28);
    auto* head = new QHBoxLayout;
    auto* logo = new QLabel(this);
    logo->setPixmap(appIcon().pixmap(72, 72));
    head->addWidget(logo);
    auto* titles = new QVBoxLayout;
    auto* title = new QLabel(QStringLiteral("Atomscope"), this);
    title->setObjectName(QStringLiteral("startTitle"));
    auto* subtitle = new QLabel(tr("A workbench for the atoms of models and of matter"), this);
    subtitle->setObjectName(QStringLiteral("startSubtitle"));
    titles->addWidget(title);
    titles->addWidget(subtitle);
    head->addLayout(titles, 1);
    outer->addLayout(head);

    auto* actions = new QHBoxLayout;
    auto button = [&](const QString& text, const QIcon& icon, auto slot) {
      auto* b = new QPushButton(icon, text, this);
      b->setObjectName(QStringLiteral("startButton"));
      b->setMinimumHeight(34);
      QObject::connect(b, &QPushButton::clicked, &win_, slot);
      actions->addWidget(b);
    };
    button(tr("Open file…"), style()->standardIcon(QStyle::SP_DialogOpenButton), &MainWindow::openFileDialog);
    button(tr("Run job…"), style()->standardIcon(QStyle::SP_MediaPlay), &MainWindow::openRunJobDialog);
    button(tr("Preferences…"), style()->standardIcon(QStyle::SP_FileDialogDetailedView), &MainWindow::showPreferences);
    actions->addStretch(1);
    outer->addSpacing(12);
    outer->addLayout(actions);
    outer->addSpacing(12);

    auto* grid = new QGridLayout;
    grid->setHorizontalSpacing(24);
    auto* jobsTitle = new QLabel(tr("Jobs"), this);
    jobsTitle->setObjectName(QStringLiteral("startSection"));
    auto* recentTitle = new QLabel(tr("Recent files"), this);
    recentTitle->setObjectName(QStringLiteral("startSection"));
    auto* pluginsTitle = new QLabel(tr("Plugins"), this);
    pluginsTitle->setObjectName(QStringLiteral("startSection"));
    jobs_ = new QListWidget(this);
    recent_ = new QListWidget(this);
    plugins_ = new QListWidget(this);
    jobs_->setObjectName(QStringLiteral("startJobs"));
    recent_->setObjectName(QStringLiteral("startRecent"));
    plugins_->setObjectName(QStringLiteral("startPlugins"));
    for (QListWidget* l : {jobs_, recent_, plugins_}) {
      l->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
      l->setTextElideMode(Qt::ElideRight);
      l->setWordWrap(true);
      l->setFrameShape(QFrame::NoFrame);
      l->setIconSize(QSize(18, 18));
    }
    grid->addWidget(jobsTitle, 0, 0);
    grid->addWidget(recentTitle, 0, 1);
    grid->addWidget(pluginsTitle, 0, 2);
    grid->addWidget(jobs_, 1, 0);
    grid->addWidget(recent_, 1, 1);
    grid->addWidget(plugins_, 1, 2);
    grid->setColumnStretch(0, 1);
    grid->setColumnStretch(1, 1);
    grid->setColumnStretch(2, 1);
    outer->addLayout(grid, 1);
    QObject::connect(jobs_, &QListWidget::itemActivated, &win_, [this](QListWidgetItem* item) {
      win_.showJobForm(item->data(Qt::UserRole).toString());
    });
    QObject::connect(recent_, &QListWidget::itemActivated, &win_, [this](QListWidgetItem* item) {
      win_.openFile(item->data(Qt::UserRole).toString());
    });
    refresh();
  }

  void refresh() {
    jobs_->clear();
    const QIcon runIcon = resourceIcon(QStringLiteral("run"), style()->standardIcon(QStyle::SP_MediaPlay));
    for (const auto& info : win_.jobs().registry().list()) {
      const QString cat = QString::fromStdString(info.category);
      auto* item = new QListWidgetItem(
          runIcon,
          QStringLiteral("%1\n%2 · %3").arg(QString::fromStdString(info.title.empty() ? info.name : info.title),
                                             QString::fromStdString(info.name), cat),
          jobs_);
      item->setToolTip(QString::fromStdString(info.description));
      item->setData(Qt::UserRole, QString::fromStdString(info.name));
    }
    if (jobs_->count() == 0) jobs_->addItem(tr("No jobs registered"));
    recent_->clear();
    for (const QString& f : win_.settings().recentFiles()) {
      auto* item = new QListWidgetItem(style()->standardIcon(QStyle::SP_FileIcon),
                                       QFileInfo(f).fileName() + QStringLiteral("\n") + QFileInfo(f).absolutePath(),
                                       recent_);
      item->setData(Qt::UserRole, f);
      item->setToolTip(f);
    }
    if (recent_->count() == 0) {
      auto* item = new QListWidgetItem(tr("No recent files.\nFile ▸ Open (Ctrl+O), or drop files on the window."), recent_);
      item->setFlags(Qt::NoItemFlags);
    }
    plugins_->clear();
    for (const auto& r : win_.pluginHost().records()) {
      auto* item = new QListWidgetItem(
          style()->standardIcon(r.loaded ? QStyle::SP_DialogApplyButton : QStyle::SP_MessageBoxWarning),
          r.loaded ? QStringLiteral("%1 %2\n%3").arg(r.name, r.version, r.description)
                   : QStringLiteral("%1 (not loaded)\n%2").arg(QFileInfo(r.file).fileName(), r.error),
          plugins_);
      item->setToolTip(r.file);
      item->setFlags(Qt::ItemIsEnabled);
    }
    if (plugins_->count() == 0) plugins_->addItem(tr("No plugins loaded.\nHelp ▸ About Plugins lists the folders searched."));
  }

 private:
  MainWindow& win_;
  QListWidget* jobs_;
  QListWidget* recent_;
  QListWidget* plugins_;
};

}  // namespace

MainWindow::MainWindow(const QString& runsRoot, QWidget* parent) : QMainWindow(parent) {
  setObjectName(QStringLiteral("atomscopeMainWindow"));
  setWindowIcon(appIcon());
  setAcceptDrops(true);
  setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks | QMainWindow::AllowNestedDocks);
  setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
  setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
  resize(1280, 800);

  docs_ = new QTabWidget(this);
  docs_->setObjectName(QStringLiteral("documents"));
  docs_->setDocumentMode(true);
  docs_->setTabsClosable(true);
  docs_->setMovable(true);
  setCentralWidget(docs_);
  connect(docs_, &QTabWidget::tabCloseRequested, this, [this](int i) {
    QWidget* w = docs_->widget(i);
    docs_->removeTab(i);
    if (w == startPage_) {
      w->hide();  // kept: View ▸ Start page shows it again
    } else if (w) {
      w->deleteLater();
    }
  });

  createDocks();
  createActions();
  startPage_ = new StartPage(*this, docs_);
  addDocument(startPage_, tr("Start"));
  docs_->setTabIcon(0, appIcon());

  jobs_.setTrustGate([this](const Json& params) { return trust_.confirmParams(this, params); });
  connect(&jobs_, &JobManager::logMessage, this, [this](int id, core::LogLevel level, const QString& msg) {
    log_->append(level, QStringLiteral("%1#%2").arg(jobs_.state(id).job).arg(id), msg);
  });
  connect(&jobs_, &JobManager::jobStarted, this, [this](int id, const QString& job) {
    log_->append(core::LogLevel::Info, QStringLiteral("jobs"),
                 tr("Started %1 #%2 on %3").arg(job).arg(id).arg(jobs_.state(id).device));
    if (auto* d = findChild<QDockWidget*>(QStringLiteral("jobsDock"))) d->raise();
    updateStatus();
  });
  connect(&jobs_, &JobManager::jobFinished, this,
          [this](int id, core::RunStatus status, const QString& runDir, const QString& error) {
            ++finishedJobs_;
            const QString what = QStringLiteral("%1 #%2").arg(jobs_.state(id).job).arg(id);
            const auto level = status == core::RunStatus::Failed ? core::LogLevel::Error
                               : status == core::RunStatus::Cancelled ? core::LogLevel::Warning
                                                                      : core::LogLevel::Info;
            log_->append(level, QStringLiteral("jobs"),
                         tr("%1 %2 (%3)%4").arg(what, QString::fromStdString(core::toString(status)), runDir,
                                                error.isEmpty() ? QString() : QStringLiteral(": ") + error));
            runs_->refresh();
            updateStatus();
          });
  connect(&plugins_, &PluginHost::message, this, [this](const QString& text, bool isError) { log(text, isError); });

  setRunsRoot(runsRoot);
  defaultState_ = saveState();
  updateStatus();
  log(tr("Atomscope %1 ready; %2 jobs registered").arg(QCoreApplication::applicationVersion())
          .arg(jobs_.registry().list().size()));
}

MainWindow::~MainWindow() {
  jobs_.cancelAll();
}

QDockWidget* MainWindow::makeDock(QWidget* w, const QString& title, const QString& objectName,
                                  Qt::DockWidgetArea area) {
  auto* dock = new QDockWidget(title, this);
  dock->setObjectName(objectName);
  dock->setWidget(w);
  dock->setFeatures(QDockWidget::DockWidgetClosable | QDockWidget::DockWidgetMovable |
                    QDockWidget::DockWidgetFloatable);
  addDockWidget(area, dock);
  return dock;
}

void MainWindow::createDocks() {
  runs_ = new RunsBrowser(this);
  props_ = new PropertiesPanel(this);
  jobsPanel_ = new JobsPanel(jobs_, this);
  log_ = new LogConsole(this);
  auto* runsDock = makeDock(runs_, tr("Project"), QStringLiteral("projectDock"), Qt::LeftDockWidgetArea);
  auto* propsDock = makeDock(props_, tr("Properties"), QStringLiteral("propertiesDock"), Qt::LeftDockWidgetArea);
  auto* jobsDock = makeDock(jobsPanel_, tr("Jobs"), QStringLiteral("jobsDock"), Qt::RightDockWidgetArea);
  auto* logDock = makeDock(log_, tr("Log"), QStringLiteral("logDock"), Qt::BottomDockWidgetArea);
  splitDockWidget(runsDock, propsDock, Qt::Vertical);
  coreDocks_ = {runsDock, propsDock, jobsDock, logDock};
  resizeDocks({runsDock, jobsDock}, {335, 350}, Qt::Horizontal);
  resizeDocks({runsDock, propsDock}, {360, 320}, Qt::Vertical);
  resizeDocks({logDock}, {160}, Qt::Vertical);

  connect(runs_, &RunsBrowser::runSelected, this, &MainWindow::showRunProperties);
  connect(runs_, &RunsBrowser::runActivated, this, [this](const QString& dir) { showRunMetrics(dir); });
  connect(runs_, &RunsBrowser::exportReportRequested, this, &MainWindow::exportReportDialog);
  connect(jobsPanel_, &JobsPanel::runDirectoryActivated, this, [this](const QString& dir) {
    runs_->refresh();
    runs_->selectRun(dir);
    showRunMetrics(dir);
  });
}

void MainWindow::createActions() {
  auto* bar = menuBar();
  fileMenu_ = bar->addMenu(tr("&File"));
  auto* edit = bar->addMenu(tr("&Edit"));
  viewMenu_ = bar->addMenu(tr("&View"));
  jobsMenu_ = bar->addMenu(tr("&Jobs"));
  helpMenu_ = bar->addMenu(tr("&Help"));
  for (QMenu* m : {fileMenu_, edit, viewMenu_, jobsMenu_, helpMenu_}) menus_.insert(stripAmp(m->title()), m);

  auto make = [this](QMenu* menu, const QString& text, const QString& name, const QKeySequence& key,
                     const QIcon& icon, auto slot) {
    auto* a = new QAction(icon, text, this);
    a->setObjectName(name);
    if (!key.isEmpty()) a->setShortcut(key);
    a->setShortcutContext(Qt::WindowShortcut);
    connect(a, &QAction::triggered, this, slot);
    menu->addAction(a);
    addAction(a);  // shortcuts work with the menu bar hidden (full screen)
    return a;
  };
  QStyle* s = style();
  auto* open = make(fileMenu_, tr("&Open…"), QStringLiteral("actionOpen"), QKeySequence::Open,
                    resourceIcon("open", s->standardIcon(QStyle::SP_DialogOpenButton)), &MainWindow::openFileDialog);
  recentMenu_ = fileMenu_->addMenu(tr("Open &Recent"));
  recentMenu_->setObjectName(QStringLiteral("recentMenu"));
  fileMenu_->addSeparator();
  auto* report = make(fileMenu_, tr("&Export Report of Selected Run…"), QStringLiteral("actionExportReport"),
                      QKeySequence(Qt::CTRL | Qt::Key_E), resourceIcon("report", s->standardIcon(QStyle::SP_FileDialogContentsView)),
                      [this] {
                        if (runs_->selectedRun().isEmpty())
                          log(tr("Select a run in the Project panel to export its report"), true);
                        else
                          exportReportDialog(runs_->selectedRun());
                      });
  auto* shot = make(fileMenu_, tr("Save &Screenshot…"), QStringLiteral("actionScreenshot"),
                    QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S),
                    resourceIcon("screenshot", s->standardIcon(QStyle::SP_DesktopIcon)), &MainWindow::screenshotDialog);
  fileMenu_->addSeparator();
  make(fileMenu_, tr("&Quit"), QStringLiteral("actionQuit"), QKeySequence(Qt::CTRL | Qt::Key_Q),
       s->standardIcon(QStyle::SP_DialogCloseButton), &QWidget::close);

  auto* prefs = make(edit, tr("&Preferences…"), QStringLiteral("actionPreferences"), QKeySequence(Qt::CTRL | Qt::Key_Comma),
                     resourceIcon("preferences", s->standardIcon(QStyle::SP_FileDialogDetailedView)),
                     &MainWindow::showPreferences);

  for (QDockWidget* d : coreDocks_) viewMenu_->addAction(d->toggleViewAction());
  viewMenu_->addSeparator();
  make(viewMenu_, tr("Start Page"), QStringLiteral("actionStartPage"), {}, s->standardIcon(QStyle::SP_DirHomeIcon), [this] {
    if (docs_->indexOf(startPage_) < 0) docs_->insertTab(0, startPage_, tr("Start"));
    docs_->setCurrentWidget(startPage_);
  });
  make(viewMenu_, tr("Refresh Runs"), QStringLiteral("actionRefreshRuns"), QKeySequence(Qt::Key_F5),
       s->standardIcon(QStyle::SP_BrowserReload), [this] { runs_->refresh(); });
  make(viewMenu_, tr("Reset Layout"), QStringLiteral("actionResetLayout"), {}, QIcon(), &MainWindow::resetLayout);
  make(viewMenu_, tr("&Full Screen"), QStringLiteral("actionFullScreen"), QKeySequence(Qt::Key_F11), QIcon(),
       &MainWindow::toggleFullScreen);

  auto* run = make(jobsMenu_, tr("&Run Job…"), QStringLiteral("actionRunJob"), QKeySequence(Qt::CTRL | Qt::Key_R),
                   resourceIcon("run", s->standardIcon(QStyle::SP_MediaPlay)), &MainWindow::openRunJobDialog);
  auto* cancel = make(jobsMenu_, tr("&Cancel Selected Job"), QStringLiteral("actionCancelJob"),
                      QKeySequence(Qt::Key_Escape), resourceIcon("stop", s->standardIcon(QStyle::SP_BrowserStop)),
                      &MainWindow::cancelSelectedJob);
  make(jobsMenu_, tr("Cancel &All Jobs"), QStringLiteral("actionCancelAll"), {}, QIcon(), [this] { jobs_.cancelAll(); });

  make(helpMenu_, tr("About &Plugins…"), QStringLiteral("actionAboutPlugins"), {},
       s->standardIcon(QStyle::SP_FileDialogInfoView), &MainWindow::showAboutPlugins);
  make(helpMenu_, tr("&About Atomscope…"), QStringLiteral("actionAbout"), {}, appIcon(), [this] {
    QMessageBox::about(this, tr("About Atomscope"),
                       tr("<h3>Atomscope %1</h3><p>A desktop research workbench for the atoms of models and of "
                          "matter.</p><p>Qt %2, LibTorch %3</p>")
                           .arg(QCoreApplication::applicationVersion(), QString::fromLatin1(qVersion()),
                                QString::fromStdString(core::torchVersion())));
  });

  open->setIconText(tr("Open"));
  run->setIconText(tr("Run Job"));
  cancel->setIconText(tr("Cancel Job"));
  report->setIconText(tr("Report"));
  shot->setIconText(tr("Screenshot"));
  prefs->setIconText(tr("Preferences"));
  auto* tb = addToolBar(tr("Main"));
  tb->setObjectName(QStringLiteral("mainToolBar"));
  tb->setMovable(false);
  tb->setIconSize(QSize(20, 20));
  tb->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  tb->addAction(open);
  tb->addSeparator();
  tb->addAction(run);
  tb->addAction(cancel);
  tb->addSeparator();
  tb->addAction(report);
  tb->addAction(shot);
  tb->addSeparator();
  tb->addAction(prefs);

  deviceLabel_ = new QLabel(this);
  deviceLabel_->setObjectName(QStringLiteral("statusDevice"));
  jobsLabel_ = new QLabel(this);
  jobsLabel_->setObjectName(QStringLiteral("statusJobs"));
  statusBar()->addPermanentWidget(deviceLabel_);
  statusBar()->addPermanentWidget(jobsLabel_);
  connect(&jobs_, &JobManager::runningCountChanged, this, [this] { updateStatus(); });
  updateRecentMenu();
}

QAction* MainWindow::action(const QString& objectName) const { return findChild<QAction*>(objectName); }

int MainWindow::addDocument(QWidget* widget, const QString& title) {
  const int i = docs_->addTab(widget, title);
  docs_->setCurrentIndex(i);
  return i;
}

void MainWindow::activateDocument(QWidget* widget) {
  if (docs_->indexOf(widget) >= 0) docs_->setCurrentWidget(widget);
}

void MainWindow::addPanel(QWidget* widget, const QString& title, Qt::DockWidgetArea area) {
  QString name = title;
  name.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9]")), QStringLiteral("_"));
  auto* dock = makeDock(widget, title, QStringLiteral("pluginDock_") + name, area);
  // Share the area with an existing panel as a tab rather than squeezing it.
  for (QDockWidget* other : findChildren<QDockWidget*>())
    if (other != dock && dockWidgetArea(other) == area && !other->isFloating() && other->isVisibleTo(this)) {
      tabifyDockWidget(other, dock);
      break;
    }
  viewMenu_->insertAction(viewMenu_->actions().value(coreDocks_.size()), dock->toggleViewAction());
}

QMenu* MainWindow::menu(const QString& title) {
  const QString key = stripAmp(title);
  if (auto it = menus_.find(key); it != menus_.end()) return *it;
  auto* m = new QMenu(title, this);
  m->setObjectName(QStringLiteral("menu_") + key);
  menuBar()->insertMenu(helpMenu_->menuAction(), m);
  menus_.insert(key, m);
  return m;
}

void MainWindow::log(const QString& message, bool isError) {
  log_->append(isError ? core::LogLevel::Error : core::LogLevel::Info, QStringLiteral("app"), message);
  if (isError) statusBar()->showMessage(message, 6000);
}

void MainWindow::addRecentFile(const QString& path) {
  settings_.addRecentFile(path);
  updateRecentMenu();
}

void MainWindow::updateRecentMenu() {
  recentMenu_->clear();
  const QStringList files = settings_.recentFiles();
  for (int i = 0; i < files.size(); ++i) {
    const QString f = files[i];
    auto* a = recentMenu_->addAction(QStringLiteral("&%1 %2").arg(i + 1).arg(QFileInfo(f).fileName()));
    a->setToolTip(f);
    a->setStatusTip(f);
    connect(a, &QAction::triggered, this, [this, f] { openFile(f); });
  }
  if (files.isEmpty()) recentMenu_->addAction(tr("(none)"))->setEnabled(false);
  recentMenu_->addSeparator();
  recentMenu_->addAction(tr("Clear Recent Files"), this, [this] {
    settings_.clearRecentFiles();
    updateRecentMenu();
  });
  if (startPage_) static_cast<StartPage*>(startPage_)->refresh();
}

void MainWindow::showJobForm(const QString& jobName, const Json& initial) {
  openRunJobDialog();
  if (!jobName.isEmpty() && !runDialog_->selectJob(jobName)) {
    log(tr("No job named %1 is registered").arg(jobName), true);
    return;
  }
  if (runDialog_->form() && initial.is_object() && !initial.empty()) runDialog_->form()->setValues(initial);
}

void MainWindow::openRunJobDialog() {
  if (!runDialog_) {
    runDialog_ = new RunJobDialog(jobs_, settings_, this);
    runDialog_->setAttribute(Qt::WA_DeleteOnClose);
  }
  runDialog_->open();
  runDialog_->raise();
  runDialog_->activateWindow();
}

void MainWindow::cancelSelectedJob() {
  const int id = jobsPanel_->selectedJobId();
  if (id < 0 || jobs_.state(id).finished) {
    statusBar()->showMessage(tr("No running job selected"), 3000);
    return;
  }
  jobs_.cancel(id);
  log(tr("Cancel requested for %1 #%2").arg(jobs_.state(id).job).arg(id));
}

void MainWindow::showPreferences() {
  PreferencesDialog dlg(settings_, this);
  if (dlg.exec() == QDialog::Accepted) {
    log(tr("Preferences saved: device %1, %2 threads, %3").arg(settings_.device()).arg(settings_.threads()).arg(settings_.precision()));
    updateStatus();
  }
}

void MainWindow::showAboutPlugins() {
  AboutPluginsDialog dlg(plugins_, pluginFolders_, this);
  dlg.exec();
}

void MainWindow::toggleFullScreen() {
  if (isFullScreen())
    showNormal();
  else
    showFullScreen();
}

void MainWindow::screenshotDialog() {
  const QString suggested =
      QDir(QStandardPaths::writableLocation(QStandardPaths::PicturesLocation))
          .absoluteFilePath(QStringLiteral("atomscope-%1.png").arg(QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss")));
  const QString path = QFileDialog::getSaveFileName(this, tr("Save screenshot"), suggested, tr("PNG images (*.png)"));
  if (path.isEmpty()) return;
  if (saveScreenshot(path))
    log(tr("Screenshot saved to %1").arg(path));
  else
    log(tr("Could not save the screenshot to %1").arg(path), true);
}

bool MainWindow::saveScreenshot(const QString& path) {
  const QPixmap pix = grab();
  return !pix.isNull() && pix.save(path);
}

int MainWindow::loadPlugins(const QStringList& folders) {
  pluginFolders_ = folders.isEmpty() ? PluginHost::defaultSearchPaths() : folders;
  if (pluginFolders_.isEmpty()) log(tr("No plugin folder found next to the executable"), true);
  const int n = plugins_.loadDirectories(pluginFolders_, this);
  log(tr("%1 plugin(s) loaded, %2 failed").arg(n).arg(plugins_.failureCount()), plugins_.failureCount() > 0);
  if (startPage_) static_cast<StartPage*>(startPage_)->refresh();  // plugins may register jobs
  return n;
}

bool MainWindow::openFile(const QString& path, QString* error) {
  auto fail = [&](const QString& why) {
    if (error) *error = why;
    log(tr("Cannot open %1: %2").arg(path, why), true);
    return false;
  };
  const QFileInfo fi(path);
  if (!fi.exists()) return fail(tr("no such file"));
  QString runDir;
  if (fi.isDir() && QFileInfo::exists(fi.absoluteFilePath() + QStringLiteral("/run.json"))) runDir = fi.absoluteFilePath();
  if (fi.fileName() == QLatin1String("run.json")) runDir = fi.absolutePath();
  if (!runDir.isEmpty()) {
    runs_->refresh();
    if (!runs_->selectRun(runDir)) showRunProperties(runDir);
    showRunMetrics(runDir);
    addRecentFile(runDir);
    return true;
  }
  // A model folder (Hugging Face layout) opens through its config.json.
  if (fi.isDir() && QFileInfo::exists(fi.absoluteFilePath() + QStringLiteral("/config.json")))
    return openFile(fi.absoluteFilePath() + QStringLiteral("/config.json"), error);
  if (fi.isDir()) return fail(tr("a folder that is neither a run (run.json) nor a model (config.json)"));
  Plugin* plugin = plugins_.pluginForFile(path);
  if (!plugin) return fail(tr("no loaded plugin opens files like %1").arg(fi.fileName()));
  QString why;
  bool ok = false;
  try {
    ok = plugin->openFile(fi.absoluteFilePath(), &why);
  } catch (const std::exception& e) {
    why = QString::fromUtf8(e.what());
  }
  if (!ok) return fail(why.isEmpty() ? tr("the %1 plugin could not open it").arg(plugin->name()) : why);
  addRecentFile(fi.absoluteFilePath());
  log(tr("Opened %1 with %2").arg(fi.absoluteFilePath(), plugin->name()));
  return true;
}

void MainWindow::openFileDialog() {
  const QStringList files = QFileDialog::getOpenFileNames(this, tr("Open"), QString(), plugins_.fileDialogFilter());
  for (const QString& f : files) openFile(f);
}

void MainWindow::setRunsRoot(const QString& root) {
  runsRoot_ = QFileInfo(root).absoluteFilePath();
  QDir().mkpath(runsRoot_);
  jobs_.setRunsRoot(runsRoot_);
  runs_->setRunsRoot(runsRoot_);
  QString shown = QDir::toNativeSeparators(runsRoot_);
  const QString home = QDir::homePath();
  if (shown.startsWith(home + QLatin1Char('/'))) shown = QStringLiteral("~") + shown.mid(home.size());
  setWindowTitle(QStringLiteral("Atomscope — %1").arg(shown));
}

void MainWindow::updateStatus() {
  QString device = settings_.device();
  QString resolved;
  try {
    resolved = QString::fromStdString(core::resolveDevice(core::DeviceSpec::parse(device.toStdString())).toString());
  } catch (const std::exception& e) {
    resolved = tr("unavailable");
  }
  deviceLabel_->setText(device == resolved ? tr("Device: %1").arg(device) : tr("Device: %1 → %2").arg(device, resolved));
  const int running = jobs_.runningCount();
  jobsLabel_->setText(tr("Jobs: %1 running, %2 finished").arg(running).arg(finishedJobs_));
}

QString MainWindow::statusText() const { return deviceLabel_->text() + QStringLiteral(" | ") + jobsLabel_->text(); }

void MainWindow::showRunProperties(const QString& runDir) {
  const RunSummary* cached = runs_->summary(runDir);
  const RunSummary s = cached ? *cached : RunLister::read(runDir);
  Json facts = Json::object();
  facts["id"] = s.id.toStdString();
  facts["job"] = s.job.toStdString();
  facts["status"] = s.status.toStdString();
  facts["created"] = s.record.value("created", Json());
  facts["finished"] = s.record.value("finished", Json());
  facts["device"] = s.device.toStdString();
  facts["seed"] = s.record.value("seed", Json());
  if (!s.error.isEmpty()) facts["error"] = s.error.toStdString();
  facts["folder"] = s.path.toStdString();
  QList<QPair<QString, Json>> sections;
  sections << qMakePair(tr("Run"), facts);
  sections << qMakePair(tr("Parameters"), s.record.value("params", Json::object()));
  sections << qMakePair(tr("Summary"), s.record.value("summary", Json::object()));
  if (s.record.contains("artifacts") && !s.record["artifacts"].empty()) {
    Json arts = Json::object();
    for (const auto& a : s.record["artifacts"])
      if (a.is_object()) arts[a.value("path", std::string("?"))] = a.value("description", std::string());
    sections << qMakePair(tr("Artifacts"), arts);
  }
  if (s.record.contains("versions")) sections << qMakePair(tr("Versions"), s.record["versions"]);
  props_->showSections(QStringLiteral("%1 — %2").arg(s.job, s.id), sections);
}

QWidget* MainWindow::showRunMetrics(const QString& runDir) {
  std::vector<core::MetricPoint> points;
  QString job = QFileInfo(runDir).fileName();
  try {
    const auto run = core::RunDir::open(runDir.toStdString());
    points = run.readMetrics();
    job = QString::fromStdString(run.jobName());
  } catch (const std::exception& e) {
    log(tr("Cannot read the metrics of %1: %2").arg(runDir, QString::fromUtf8(e.what())), true);
    return nullptr;
  }
  const QString runName = QFileInfo(runDir).fileName();
  const QString title = tr("%1 · %2 metrics").arg(job.section(QLatin1Char('.'), -1), runName.section(QLatin1Char('-'), -1));
  for (int i = 0; i < docs_->count(); ++i)
    if (docs_->widget(i)->property("runDir").toString() == QFileInfo(runDir).absoluteFilePath()) {
      docs_->removeTab(i);  // rebuilt with the current metrics
      break;
    }
  auto* chart = new MetricChart(docs_);
  chart->setProperty("runDir", QFileInfo(runDir).absoluteFilePath());
  chart->setTitle(QStringLiteral("%1 — %2 points").arg(job).arg(points.size()));
  chart->addPoints(points);
  addDocument(chart, title);
  docs_->setTabToolTip(docs_->indexOf(chart), runDir);
  if (points.empty()) log(tr("%1 has no recorded metrics").arg(runDir));
  return chart;
}

bool MainWindow::exportRunReport(const QString& runDir, const QString& path, QString* error) {
  const RunSummary s = RunLister::read(runDir);
  const ReportWriter report = buildRunReport(s);
  QString why;
  if (!report.write(path, &why)) {
    if (error) *error = why;
    log(tr("Report export failed: %1").arg(why), true);
    return false;
  }
  log(tr("Report of %1 written to %2").arg(s.id, path));
  return true;
}

void MainWindow::exportReportDialog(const QString& runDir) {
  const QString suggested = QDir(runDir).absoluteFilePath(QStringLiteral("artifacts/report.html"));
  const QString path = QFileDialog::getSaveFileName(this, tr("Export run report"), suggested,
                                                    tr("HTML report (*.html);;PDF report (*.pdf)"));
  if (!path.isEmpty()) {
    QDir().mkpath(QFileInfo(path).absolutePath());
    exportRunReport(runDir, path);
  }
}

void MainWindow::restoreLayout() {
  const QByteArray geo = settings_.windowGeometry();
  if (!geo.isEmpty()) restoreGeometry(geo);
  const QByteArray st = settings_.windowState();
  if (!st.isEmpty()) restoreState(st);
}

void MainWindow::resetLayout() {
  restoreState(defaultState_);
  for (QDockWidget* d : coreDocks_) d->show();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (jobs_.runningCount() > 0) {
    log(tr("Cancelling %1 running job(s) before closing").arg(jobs_.runningCount()));
    jobs_.cancelAll();
    jobs_.waitForAll(5000);
  }
  settings_.setWindowState(saveGeometry(), saveState());
  QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls())
    for (const QUrl& u : event->mimeData()->urls())
      if (u.isLocalFile()) {
        event->acceptProposedAction();
        return;
      }
}

void MainWindow::dropEvent(QDropEvent* event) {
  for (const QUrl& u : event->mimeData()->urls())
    if (u.isLocalFile()) openFile(u.toLocalFile());
  event->acceptProposedAction();
}

}  // namespace atomscope::gui

namespace atomscope::gui {
RunJobDialog* MainWindow::runJobDialog() const { return runDialog_.data(); }
}  // namespace atomscope::gui
