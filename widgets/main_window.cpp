#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDir>
#include <QFileInfo>
#include <QLineEdit>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QToolBar>
#include <QVBoxLayout>

#include "attach_dialog.h"
#include "bridge/experiment_document.h"
#include "bridge/run_controller.h"
#include "bridge/run_data.h"
#include "bridge/store_model.h"
#include "colors.h"
#include "compare_view.h"
#include "configure_panel.h"
#include "event_log.h"
#include "expert_load_panel.h"
#include "file_dialogs.h"
#include "loss_chart.h"
#include "network_panel.h"
#include "placement_editor.h"
#include "projection_panel.h"
#include "routing_panel.h"
#include "run_browser.h"
#include "session_settings.h"
#include "samples_panel.h"
#include "theme.h"
#include "undo_shortcut_router.h"
#include "wheel_guard.h"

namespace fomoe::gui {

MainWindow::MainWindow(const QString& dbPath, QWidget* parent) : QMainWindow(parent) {
  doc_ = new ExperimentDocument(this);
  controller_ = new RunController(this);
  store_ = new StoreModel(this);
  live_ = new RunData(this);
  recorded_ = new RunData(this);

  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  configure_ = new ConfigurePanel(doc_);
  placement_ = new PlacementEditor(doc_, store_);
  liveTab_ = new QWidget;
  {
    auto* v = new QVBoxLayout(liveTab_);
    v->setContentsMargins(4, 4, 4, 4);
    auto* split = new QSplitter(Qt::Vertical);
    loss_ = new LossChart;
    auto* lower = new QSplitter(Qt::Horizontal);
    routing_ = new RoutingPanel;
    load_ = new ExpertLoadPanel;
    lower->addWidget(routing_);
    lower->addWidget(load_);
    lower->setStretchFactor(0, 3);
    lower->setStretchFactor(1, 2);
    split->addWidget(loss_);
    split->addWidget(lower);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    v->addWidget(split);
  }
  network_ = new NetworkPanel;
  browser_ = new RunBrowser(store_);
  compare_ = new CompareView;
  samples_ = new SamplesPanel;
  tabs_->addTab(configure_, tr("Configure"));
  tabs_->addTab(placement_, tr("Placement"));
  tabs_->addTab(liveTab_, tr("Live"));
  tabs_->addTab(network_, tr("Network"));
  tabs_->addTab(samples_, tr("Samples"));
  tabs_->addTab(browser_, tr("Runs"));
  tabs_->addTab(compare_, tr("Compare"));
  tabs_->addTab(new ProjectionPanel(doc_), tr("Projection"));
  setCentralWidget(tabs_);

  log_ = new EventLog;
  auto* dock = eventsDock_ = new QDockWidget(tr("Events and faults"), this);
  dock->setObjectName("events");
  dock->setWidget(log_);
  dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable | QDockWidget::DockWidgetClosable);
  addDockWidget(Qt::BottomDockWidgetArea, dock);
  resizeDocks({dock}, {150}, Qt::Vertical);

  stateLabel_ = new QLabel(tr("idle"));
  progress_ = new QProgressBar;
  progress_->setMaximumWidth(320);
  progress_->setFormat(tr("%v / %m"));
  progress_->setValue(0);
  statusBar()->addWidget(stateLabel_, 1);
  storeLabel_ = new QLabel;
  statusBar()->addPermanentWidget(storeLabel_);
  statusBar()->addPermanentWidget(progress_);

  buildActions();
  buildViewMenu();
  WheelGuard::install(this);
  new UndoShortcutRouter({undoAction_, redoAction_}, {configure_, placement_}, this);
  openStore(dbPath);

  // Live data: bridge batches -> RunData -> views (one redraw per batch).
  EventBridge* b = controller_->bridge();
  connect(b, &EventBridge::metricsArrived, live_, &RunData::appendMetrics);
  connect(b, &EventBridge::linkBytesArrived, live_, &RunData::appendLinkBytes);
  connect(b, &EventBridge::linkBytesArrived, configure_, &ConfigurePanel::onLinkBytes);
  connect(b, &EventBridge::expertLoadArrived, live_, &RunData::appendExpertLoad);
  connect(b, &EventBridge::placementArrived, live_, &RunData::setPlacement);
  connect(b, &EventBridge::eventArrived, live_, &RunData::appendEvent);
  connect(b, &EventBridge::eventArrived, configure_, &ConfigurePanel::onRunEvent);
  connect(b, &EventBridge::samplesArrived, live_, &RunData::appendSamples);
  connect(b, &EventBridge::samplesArrived, live_, [this] { live_->notify(); }, Qt::QueuedConnection);
  // The bridge flushes on its timer; notify after each flush so views redraw once per batch.
  connect(b, &EventBridge::metricsArrived, live_, [this] { live_->notify(); }, Qt::QueuedConnection);
  connect(b, &EventBridge::linkBytesArrived, live_, [this] { live_->notify(); }, Qt::QueuedConnection);
  connect(b, &EventBridge::expertLoadArrived, live_, [this] { live_->notify(); }, Qt::QueuedConnection);
  connect(b, &EventBridge::eventArrived, live_, [this] { live_->notify(); }, Qt::QueuedConnection);
  connect(b, &EventBridge::placementArrived, live_, [this] { live_->notify(); }, Qt::QueuedConnection);
  connect(b, &EventBridge::runStarted, this, [this](qint64 id, const QString& name, const QString&, int nSites) {
    if (!controller_->isAttached()) return;
    ExperimentConfig c = doc_->config();
    c.federation.sites = nSites;
    live_->reset(id, c, name);
    showData(live_);
  });
  connect(controller_, &RunController::runIdAssigned, this, [this](qint64 id) {
    if (controller_->isAttached()) return;
    live_->reset(id, doc_->config(), QString::fromStdString(doc_->config().run.name));
    showData(live_);
    store_->reload();
  });
  connect(controller_, &RunController::runResumed, this, [this](qint64 id) {
    // The live views go on from the recorded history, so the curves show no gap across the resume.
    QString err;
    if (!store_->store() || !live_->loadFromStore(*store_->store(), id, 4000, &err))
      live_->reset(id, doc_->config(), QString::fromStdString(doc_->config().run.name));
    showData(live_);
    store_->reload();
  });
  connect(controller_, &RunController::runStateChanged, this, [this](RunController::State s, const QString& msg) {
    stateLabel_->setText(msg);
    const bool running = s == RunController::State::Starting || s == RunController::State::Running;
    startAction_->setEnabled(!running);
    stopAction_->setEnabled(running);
    escapeStopAction_->setEnabled(running);
    if (s == RunController::State::Starting) configure_->resetSiteStates("connecting");
    if (!running && s != RunController::State::Idle) {
      configure_->resetSiteStates("idle");
      browser_->reload();
      log_->addMessage(RunController::stateName(s), msg, s == RunController::State::Failed);
    }
  });
  connect(controller_, &RunController::progressChanged, this, [this](int done, int total, double train, double eval, double t) {
    progress_->setMaximum(std::max(1, total));
    progress_->setValue(done);
    stateLabel_->setText(tr("run %1: %2/%3, train loss %4%5, %6 s")
                             .arg(controller_->currentRunId()).arg(done).arg(total).arg(train, 0, 'f', 3)
                             .arg(eval >= 0 ? tr(", held-out %1").arg(eval, 0, 'f', 3) : QString()).arg(t, 0, 'f', 0));
  });
  connect(controller_, &RunController::errorOccurred, this, [this](const QString& m) { log_->addMessage("error", m, true); });
  connect(browser_, &RunBrowser::openRun, this, [this](qint64 id) {
    QString err;
    if (!openRun(id, &err)) QMessageBox::warning(this, tr("Open run"), err);
    else tabs_->setCurrentWidget(liveTab_);
  });
  connect(browser_, &RunBrowser::resumeRun, this, [this](qint64 id) {
    if (controller_->isRunning()) {
      QMessageBox::warning(this, tr("Resume run"), tr("A run is in progress; stop it first."));
      return;
    }
    controller_->setDatabasePath(store_->path());
    if (controller_->resume(id)) tabs_->setCurrentWidget(liveTab_);
  });
  connect(browser_, &RunBrowser::compareRuns, this, [this](const QList<qint64>& ids) {
    QString err;
    if (!compareRuns(ids, &err)) QMessageBox::warning(this, tr("Compare runs"), err);
    else tabs_->setCurrentWidget(compare_);
  });
  connect(doc_, &ExperimentDocument::configChanged, this, &MainWindow::updateTitle);
  connect(doc_, &ExperimentDocument::pathChanged, this, &MainWindow::updateTitle);
  connect(doc_, &ExperimentDocument::pathChanged, this, &MainWindow::rememberExperimentPath);
  connect(doc_->undoStack(), &QUndoStack::cleanChanged, this, &MainWindow::updateTitle);

  showData(live_);
  resize(1400, 900);
  updateTitle();
  builtLayout_ = saveState();
}

MainWindow::~MainWindow() {
  controller_->cancel();
  controller_->wait(60000);
}

void MainWindow::buildActions() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* open = file->addAction(style()->standardIcon(QStyle::SP_DialogOpenButton), tr("&Open experiment..."), this, [this] {
    if (!maybeSave()) return;
    const QString p = openFileName(this, tr("Open experiment"), QString(), tr("Experiments (*.toml)"));
    QString err;
    if (!p.isEmpty() && !loadExperiment(p, &err)) QMessageBox::warning(this, tr("Open experiment"), err);
  });
  open->setShortcut(QKeySequence::Open);
  auto* save = file->addAction(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("&Save experiment"), this, [this] {
    QString p = doc_->path();
    if (p.isEmpty() || p.startsWith(":")) p = saveFileName(this, tr("Save experiment"), "experiment.toml", tr("Experiments (*.toml)"));
    QString err;
    if (!p.isEmpty() && !doc_->save(p, &err)) QMessageBox::warning(this, tr("Save experiment"), err);
  });
  save->setShortcut(QKeySequence::Save);
  file->addAction(tr("Save experiment &as..."), this, [this] {
    const QString p = saveFileName(this, tr("Save experiment"), doc_->path().isEmpty() ? "experiment.toml" : doc_->path(),
                                   tr("Experiments (*.toml)"));
    QString err;
    if (!p.isEmpty() && !doc_->save(p, &err)) QMessageBox::warning(this, tr("Save experiment"), err);
  });
  file->addSeparator();
  file->addAction(tr("Open or create run &store..."), this, [this] {
    const QString p = openOrCreateFileName(this, tr("Open or create run store"), QFileInfo(store_->path()).absolutePath(),
                                           tr("Run stores (*.db);;All files (*)"));
    if (!p.isEmpty()) openStore(p);
  });
  file->addSeparator();
  file->addAction(tr("&Quit"), this, &QWidget::close)->setShortcut(QKeySequence::Quit);

  auto* edit = menuBar()->addMenu(tr("&Edit"));
  // Own actions rather than QUndoStack::createUndoAction: a value typed but not yet committed
  // (no Enter, focus still in the field) becomes an undo step first, so Ctrl+Z in a field undoes
  // what the field shows.
  QUndoStack* stack = doc_->undoStack();
  QAction* undo = undoAction_ = new QAction(style()->standardIcon(QStyle::SP_ArrowBack), tr("&Undo"), this);
  undo->setShortcut(QKeySequence::Undo);
  undo->setEnabled(stack->canUndo());
  connect(undo, &QAction::triggered, this, [this, stack] {
    configure_->commitPendingEdits();
    stack->undo();
  });
  connect(stack, &QUndoStack::canUndoChanged, undo, &QAction::setEnabled);
  connect(stack, &QUndoStack::undoTextChanged, undo, [undo](const QString& t) { undo->setToolTip(tr("Undo %1").arg(t)); });
  QAction* redo = redoAction_ = new QAction(style()->standardIcon(QStyle::SP_ArrowForward), tr("&Redo"), this);
  redo->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Y), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z)});
  redo->setEnabled(stack->canRedo());
  connect(redo, &QAction::triggered, this, [this, stack] {
    configure_->commitPendingEdits();
    stack->redo();
  });
  connect(stack, &QUndoStack::canRedoChanged, redo, &QAction::setEnabled);
  connect(stack, &QUndoStack::redoTextChanged, redo, [redo](const QString& t) { redo->setToolTip(tr("Redo %1").arg(t)); });
  edit->addAction(undo);
  edit->addAction(redo);

  auto* run = menuBar()->addMenu(tr("&Run"));
  startAction_ = run->addAction(style()->standardIcon(QStyle::SP_MediaPlay), tr("&Start"), this, &MainWindow::startRun);
  startAction_->setShortcut(Qt::CTRL | Qt::Key_R);
  stopAction_ = run->addAction(style()->standardIcon(QStyle::SP_MediaStop), tr("S&top"), this, &MainWindow::stopRun);
  stopAction_->setShortcut(Qt::CTRL | Qt::Key_Period);
  stopAction_->setEnabled(false);
  // Esc stops too, but not when it is meant for a popup or a dialog (those are other windows,
  // so the shortcut does not fire there; the check covers popups that leave focus here).
  escapeStopAction_ = new QAction(tr("Stop (Esc)"), this);
  escapeStopAction_->setShortcut(Qt::Key_Escape);
  escapeStopAction_->setEnabled(false);
  connect(escapeStopAction_, &QAction::triggered, this, [this] {
    if (!QApplication::activePopupWidget() && !QApplication::activeModalWidget()) stopRun();
  });
  addAction(escapeStopAction_);
  run->addSeparator();
  run->addAction(tr("&Attach to remote coordinator..."), this, [this] {
    AttachDialog d(this);
    if (settings_) {
      d.setAddress(settings_->value(session::kAttachAddress).toString());
      d.setKeyDir(settings_->value(session::kAttachKeyDir).toString());
      d.setKeyName(settings_->value(session::kAttachKeyName).toString());
    }
    if (d.exec() != QDialog::Accepted || d.address().isEmpty()) return;
    if (settings_) {
      settings_->setValue(session::kAttachAddress, d.address());
      settings_->setValue(session::kAttachKeyDir, d.keyDir());
      settings_->setValue(session::kAttachKeyName, d.keyName());
    }
    live_->reset(-1, doc_->config(), tr("remote"));
    showData(live_);
    if (controller_->attach(d.address(), d.keyDir(), d.keyName())) tabs_->setCurrentWidget(liveTab_);
  });

  auto* tb = mainToolBar_ = addToolBar(tr("Main"));
  tb->setObjectName("main");
  tb->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  tb->addAction(open);
  tb->addAction(save);
  tb->addSeparator();
  tb->addAction(undo);
  tb->addAction(redo);
  tb->addSeparator();
  tb->addAction(startAction_);
  tb->addAction(stopAction_);
}

void MainWindow::buildViewMenu() {
  auto* view = menuBar()->addMenu(tr("&View"));
  eventsDock_->toggleViewAction()->setText(tr("&Events and faults"));
  view->addAction(eventsDock_->toggleViewAction());
  mainToolBar_->toggleViewAction()->setText(tr("Main &toolbar"));
  view->addAction(mainToolBar_->toggleViewAction());
  resetLayoutAction_ = view->addAction(tr("&Reset layout"), this, &MainWindow::resetLayout);
  view->addSeparator();
  darkAction_ = view->addAction(tr("&Dark theme"));
  darkAction_->setCheckable(true);
  darkAction_->setChecked(darkPaletteActive());
  connect(darkAction_, &QAction::toggled, this, [this](bool dark) {
    if (darkPaletteActive() != dark) applyTheme(dark);
    if (settings_) settings_->setValue(session::kTheme, dark ? "dark" : "light");  // a choice: remembered
  });
  view->addSeparator();
  // Tabs by keyboard, as in browsers and IDEs. Window-wide, so they work from any field.
  auto* next = view->addAction(tr("&Next tab"), this, [this] { tabs_->setCurrentIndex((tabs_->currentIndex() + 1) % tabs_->count()); });
  next->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Tab), QKeySequence(Qt::CTRL | Qt::Key_PageDown)});
  auto* previous = view->addAction(tr("&Previous tab"), this, [this] {
    tabs_->setCurrentIndex((tabs_->currentIndex() + tabs_->count() - 1) % tabs_->count());
  });
  // Shift+Tab arrives as Backtab from most keyboards, as Tab+Shift from others.
  previous->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Backtab), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Tab),
                          QKeySequence(Qt::CTRL | Qt::Key_PageUp)});
  auto* go = view->addMenu(tr("&Go to tab"));
  for (int i = 0; i < tabs_->count() && i < 9; ++i) {
    auto* a = go->addAction(tabs_->tabText(i), this, [this, i] { tabs_->setCurrentIndex(i); });
    a->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
  }

  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About FoMoE Workbench"), this, [this] { QMessageBox::about(this, tr("About FoMoE Workbench"), aboutText()); });
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

QString MainWindow::aboutText() const {
  const QString version = QCoreApplication::applicationVersion();
  return tr("<h3>FoMoE Workbench</h3>"
            "<p>Version %1</p>"
            "<p>Configure federated mixture-of-experts training, watch it live, compare recorded runs.</p>"
            "<p>Built with Qt %2, running on Qt %3.</p>")
      .arg(version.isEmpty() ? tr("unknown") : version.toHtmlEscaped(), QStringLiteral(QT_VERSION_STR), QString::fromLatin1(qVersion()));
}

void MainWindow::useSettings(QSettings* settings) {
  settings_ = settings;
  if (settings_ && !settings_->parent()) settings_->setParent(this);
  if (!settings_) return;
  restoreGeometry(settings_->value(session::kGeometry).toByteArray());
  restoreState(settings_->value(session::kLayout).toByteArray());
  const QString theme = settings_->value(session::kTheme).toString();
  const bool dark = theme.isEmpty() ? isDark(desktopPalette()) : theme == "dark";
  {
    QSignalBlocker noChoice(darkAction_);  // following the desktop is not a remembered choice
    darkAction_->setChecked(dark);
  }
  if (darkPaletteActive() != dark) applyTheme(dark);
  // What is open now is the last store and experiment from here on.
  settings_->setValue(session::kStore, QFileInfo(store_->path()).absoluteFilePath());
  rememberExperimentPath(doc_->path());
}

void MainWindow::saveSession() {
  if (!settings_) return;
  settings_->setValue(session::kGeometry, saveGeometry());
  settings_->setValue(session::kLayout, saveState());
  settings_->sync();
}

void MainWindow::rememberExperimentPath(const QString& path) {
  // Resource paths (":/...") are the embedded default, not the person's file.
  if (settings_ && !path.isEmpty() && !path.startsWith(':')) settings_->setValue(session::kExperiment, QFileInfo(path).absoluteFilePath());
}

void MainWindow::resetLayout() {
  restoreState(builtLayout_);
  eventsDock_->setFloating(false);
  eventsDock_->show();
  mainToolBar_->show();
}

void MainWindow::setDarkTheme(bool dark) {
  darkAction_->setChecked(dark);  // as a click on View > Dark theme: applied and remembered
}

bool MainWindow::darkTheme() const { return darkPaletteActive(); }

bool MainWindow::loadExperiment(const QString& path, QString* error) {
  if (!doc_->load(path, error)) return false;
  log_->addMessage("experiment", tr("loaded %1").arg(path), false);
  return true;
}

bool MainWindow::loadExperimentText(const QString& toml, const QString& name, QString* error) {
  return doc_->loadText(toml, name, error);
}

void MainWindow::startRun() {
  if (controller_->start(doc_->config())) tabs_->setCurrentWidget(liveTab_);
}

void MainWindow::stopRun() {
  controller_->cancel();
  stateLabel_->setText(tr("stopping at the next safe point (the run can be resumed from the run browser)..."));
}

bool MainWindow::openStore(const QString& path) {
  if (controller_->isRunning() && !controller_->isAttached()) {
    QMessageBox::warning(this, tr("Run store"), tr("A run is recording into %1; stop it before switching stores.").arg(store_->path()));
    return false;
  }
  if (!store_->open(path)) {
    QMessageBox::warning(this, tr("Run store"), tr("Cannot open %1:\n%2").arg(path, store_->lastError()));
    return false;
  }
  controller_->setDatabasePath(path);
  if (settings_) settings_->setValue(session::kStore, QFileInfo(path).absoluteFilePath());
  storeLabel_->setText(tr("store: %1").arg(QDir::toNativeSeparators(path)));
  storeLabel_->setToolTip(QFileInfo(path).absoluteFilePath());
  return true;
}

void MainWindow::showData(RunData* data) {
  viewed_ = data;
  loss_->setData(data);
  routing_->setData(data);
  load_->setData(data);
  network_->setData(data);
  log_->setData(data);
  samples_->setData(data);
}

bool MainWindow::openRun(qint64 runId, QString* error) {
  if (!store_->store()) {
    if (error) *error = tr("no run store is open");
    return false;
  }
  if (!recorded_->loadFromStore(*store_->store(), runId, 4000, error)) return false;
  showData(recorded_);
  browser_->selectRun(runId);
  return true;
}

bool MainWindow::compareRuns(const QList<qint64>& ids, QString* error) {
  if (!store_->store()) {
    if (error) *error = tr("no run store is open");
    return false;
  }
  return compare_->setRuns(*store_->store(), ids, error);
}

void MainWindow::updateTitle() {
  const QString name = doc_->path().isEmpty() ? tr("untitled experiment") : QFileInfo(doc_->path()).fileName();
  setWindowTitle(tr("%1%2 — FoMoE Workbench").arg(name, doc_->undoStack()->isClean() ? QString() : QStringLiteral(" *")));
}

bool MainWindow::maybeSave() {
  if (doc_->undoStack()->isClean()) return true;
  const auto r = QMessageBox::question(this, tr("Unsaved experiment"), tr("The experiment has unsaved changes. Discard them?"),
                                       QMessageBox::Discard | QMessageBox::Cancel);
  return r == QMessageBox::Discard;
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (controller_->isRunning()) {
    if (QMessageBox::question(this, tr("Run in progress"), tr("A run is in progress. Stop it and quit?")) != QMessageBox::Yes) {
      e->ignore();
      return;
    }
    controller_->cancel();
  }
  saveSession();
  e->accept();
}

}  // namespace fomoe::gui
