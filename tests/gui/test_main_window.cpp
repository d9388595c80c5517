// The desktop habits of the main window (issue 13): remembered session, View menu, About,
// keyboard (tabs, stop, undo from a field), the mouse wheel over unfocused fields, the dark
// theme of the charts.
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QToolBar>
#include <QUndoStack>
#include <QtTest>

#include <qcustomplot.h>

#include "bridge/experiment_document.h"
#include "bridge/run_controller.h"
#include "bridge/store_model.h"
#include "colors.h"
#include "configure_panel.h"
#include "loss_chart.h"
#include "main_window.h"
#include "session_settings.h"
#include "theme.h"

using namespace fomoe;
using namespace fomoe::gui;

namespace {

QString quickstart() { return QString(FOMOE_SOURCE_DIR) + "/experiments/quickstart.toml"; }

QMenu* menuNamed(QMainWindow& w, const QString& title) {
  for (QAction* a : w.menuBar()->actions())
    if (a->menu() && a->text().remove('&') == title) return a->menu();
  return nullptr;
}

bool statusSays(QMainWindow& w, const QString& prefix) {
  for (auto* l : w.statusBar()->findChildren<QLabel*>())
    if (l->text().startsWith(prefix)) return true;
  return false;
}

}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;

  std::unique_ptr<MainWindow> shownWindow(QSize size = QSize(1280, 720)) {
    auto w = std::make_unique<MainWindow>(dir_.filePath("runs.db"));
    QString error;
    if (!w->loadExperiment(quickstart(), &error)) qWarning("%s", qPrintable(error));
    w->resize(size);
    w->show();
    w->activateWindow();
    if (!QTest::qWaitForWindowActive(w.get())) qWarning("window not active");
    return w;
  }

  QSettings* settingsIn(QObject* parent = nullptr) {
    return new QSettings(dir_.filePath("workbench.ini"), QSettings::IniFormat, parent);
  }

 private slots:
  void initTestCase() {
    // Never the person's own settings.
    QStandardPaths::setTestModeEnabled(true);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, dir_.path());
    QVERIFY(dir_.isValid());
  }

  void cleanup() { applyTheme(false); }  // a failed check must not leave the next test dark

  void remembersStoreExperimentGeometryLayoutAndTheme() {
    const QString store = dir_.filePath("remembered.db");
    QSize shown;
    {
      MainWindow w(store);
      QVERIFY(w.loadExperiment(quickstart()));
      w.useSettings(settingsIn());
      w.resize(1290, 700);
      w.show();
      QVERIFY(QTest::qWaitForWindowExposed(&w));
      shown = w.size();
      QCOMPARE(shown, QSize(1290, 700));  // the layout fits a 1280x720 screen
      w.eventsDock()->close();
      w.setDarkTheme(true);
      w.close();  // closing writes geometry and layout
    }
    QSettings s(dir_.filePath("workbench.ini"), QSettings::IniFormat);
    QCOMPARE(s.value(session::kStore).toString(), QFileInfo(store).absoluteFilePath());
    QCOMPARE(s.value(session::kExperiment).toString(), QFileInfo(quickstart()).absoluteFilePath());
    QCOMPARE(s.value(session::kTheme).toString(), QString("dark"));
    // What main.cpp opens: the remembered paths, unless the command line names others.
    QCOMPARE(session::startupPath(QString(), s, session::kStore, "default.db"), QFileInfo(store).absoluteFilePath());
    QCOMPARE(session::startupPath("/cli/other.db", s, session::kStore, "default.db"), QString("/cli/other.db"));
    QCOMPARE(session::startupPath("cli.toml", s, session::kExperiment, "q.toml"), QString("cli.toml"));
    QCOMPARE(session::startupPath(QString(), s, session::kExperiment, "q.toml"), QFileInfo(quickstart()).absoluteFilePath());
    QSettings gone(dir_.filePath("gone.ini"), QSettings::IniFormat);
    gone.setValue(session::kStore, dir_.filePath("deleted-since.db"));
    QCOMPARE(session::startupPath(QString(), gone, session::kStore, "default.db"), QString("default.db"));

    applyTheme(false);
    MainWindow again(store);
    again.useSettings(settingsIn());
    again.show();
    QVERIFY(QTest::qWaitForWindowExposed(&again));
    QCOMPARE(again.size(), shown);
    QVERIFY(again.eventsDock()->isHidden());
    QVERIFY(again.darkTheme());
    QVERIFY(again.darkThemeAction()->isChecked());
    again.setDarkTheme(false);
    QVERIFY(!darkPaletteActive());
    QCOMPARE(QSettings(dir_.filePath("workbench.ini"), QSettings::IniFormat).value(session::kTheme).toString(), QString("light"));
  }

  void withoutSettingsNothingIsRemembered() {
    QSettings s(dir_.filePath("untouched.ini"), QSettings::IniFormat);
    {
      auto w = shownWindow();
      w->close();
    }
    QVERIFY(s.allKeys().isEmpty());
  }

  void viewMenuReopensClosedPanelsAndResetsLayout() {
    auto w = shownWindow();
    QMenu* view = menuNamed(*w, "View");
    QVERIFY(view);
    QVERIFY(view->actions().contains(w->eventsDock()->toggleViewAction()));
    QVERIFY(view->actions().contains(w->mainToolBar()->toggleViewAction()));
    w->eventsDock()->close();
    QVERIFY(!w->eventsDock()->isVisible());
    w->eventsDock()->toggleViewAction()->trigger();
    QVERIFY(w->eventsDock()->isVisible());

    w->eventsDock()->close();
    w->mainToolBar()->hide();
    w->resetLayoutAction()->trigger();
    QVERIFY(w->eventsDock()->isVisible());
    QVERIFY(!w->eventsDock()->isFloating());
    QVERIFY(w->mainToolBar()->isVisible());
  }

  // The title names the loaded experiment; File > Open or create run store switches the store
  // the browser shows and runs record into, creates a new one, and the status bar follows.
  void titleAndStatusBarFollowExperimentAndStore() {
    QTemporaryDir dir;
    MainWindow w(dir.filePath("first.db"));
    QVERIFY(w.loadExperiment(quickstart()));
    QVERIFY2(w.windowTitle().startsWith("quickstart.toml"), qPrintable(w.windowTitle()));
    auto storeLabelText = [&] {
      for (auto* l : w.statusBar()->findChildren<QLabel*>())
        if (l->text().startsWith("store: ")) return l->text();
      return QString();
    };
    QVERIFY2(storeLabelText().endsWith("first.db"), qPrintable(storeLabelText()));
    const QString second = dir.filePath("new/second.db");
    QVERIFY(w.openStore(second));
    QVERIFY(QFile::exists(second));
    QVERIFY2(storeLabelText().endsWith("second.db"), qPrintable(storeLabelText()));
    QCOMPARE(w.storeModel()->path(), second);
    QCOMPARE(w.controller()->databasePath(), second);
  }

  void aboutNamesVersionAndBuild() {
    QCoreApplication::setApplicationVersion("0.1.0 (abc1234, Release, Qt 6.4.2)");
    MainWindow w(dir_.filePath("runs.db"));
    QVERIFY2(w.aboutText().contains("0.1.0 (abc1234, Release, Qt 6.4.2)"), qPrintable(w.aboutText()));
    QMenu* help = menuNamed(w, "Help");
    QVERIFY(help);
    bool hasAbout = false;
    for (QAction* a : help->actions()) hasAbout |= a->text().remove('&').startsWith("About FoMoE");
    QVERIFY(hasAbout);
  }

  void keyboardSwitchesTabsFromAnyField() {
    auto w = shownWindow();
    auto* name = qobject_cast<QLineEdit*>(w->configurePanel()->editorFor("run.name"));
    QVERIFY(name);
    name->setFocus();
    QTabWidget* tabs = w->tabs();
    QCOMPARE(tabs->currentIndex(), 0);
    QTest::keyClick(name, Qt::Key_Tab, Qt::ControlModifier);
    QCOMPARE(tabs->currentIndex(), 1);
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_PageDown, Qt::ControlModifier);
    QCOMPARE(tabs->currentIndex(), 2);
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_Backtab, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(tabs->currentIndex(), 1);
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_PageUp, Qt::ControlModifier);
    QCOMPARE(tabs->currentIndex(), 0);
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_PageUp, Qt::ControlModifier);
    QCOMPARE(tabs->currentIndex(), tabs->count() - 1);  // wraps around
    for (int n = 1; n <= 7; ++n) {
      QTest::keyClick(QApplication::focusWidget(), Qt::Key(Qt::Key_0 + n), Qt::ControlModifier);
      QCOMPARE(tabs->currentIndex(), n - 1);
    }
  }

  void escapeAndCtrlPeriodStopOnlyARunningRun() {
    auto w = shownWindow();
    QTest::keyClick(w->tabs(), Qt::Key_Escape);
    QVERIFY(!statusSays(*w, "stopping"));
    emit w->controller()->runStateChanged(RunController::State::Running, "running");
    QTest::keyClick(w->tabs(), Qt::Key_Escape);
    QVERIFY(statusSays(*w, "stopping"));
    emit w->controller()->runStateChanged(RunController::State::Running, "running");
    QVERIFY(!statusSays(*w, "stopping"));
    QTest::keyClick(w->tabs(), Qt::Key_Period, Qt::ControlModifier);
    QVERIFY(statusSays(*w, "stopping"));
    emit w->controller()->runStateChanged(RunController::State::Cancelled, "cancelled");
    QTest::keyClick(w->tabs(), Qt::Key_Escape);
    QVERIFY(!statusSays(*w, "stopping"));
  }

  void undoAndRedoTheDocumentWhileALineEditHasFocus() {
    auto w = shownWindow();
    auto* name = qobject_cast<QLineEdit*>(w->configurePanel()->editorFor("run.name"));
    QVERIFY(name);
    const std::string before = w->document()->config().run.name;
    name->setFocus();
    name->selectAll();
    QTest::keyClicks(name, "renamed");
    QTest::keyClick(name, Qt::Key_Return);
    QCOMPARE(w->document()->config().run.name, std::string("renamed"));
    QVERIFY(name->hasFocus());
    QTest::keyClick(name, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(w->document()->config().run.name, before);  // the document's undo, not the field's
    QCOMPARE(name->text(), QString::fromStdString(before));
    QTest::keyClick(name, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(w->document()->config().run.name, std::string("renamed"));
    QTest::keyClick(name, Qt::Key_Z, Qt::ControlModifier);
    QTest::keyClick(name, Qt::Key_Y, Qt::ControlModifier);
    QCOMPARE(w->document()->config().run.name, std::string("renamed"));

    // Typed but not entered: undo takes back what the field shows, redo brings it again.
    name->selectAll();
    QTest::keyClicks(name, "half-typed");
    QTest::keyClick(name, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(w->document()->config().run.name, std::string("renamed"));
    QCOMPARE(name->text(), QString("renamed"));
    QTest::keyClick(name, Qt::Key_Y, Qt::ControlModifier);
    QCOMPARE(w->document()->config().run.name, std::string("half-typed"));
  }

  void undoTheDocumentWhileASpinBoxHasFocus() {
    auto w = shownWindow();
    auto* steps = qobject_cast<QSpinBox*>(w->configurePanel()->editorFor("train.steps"));
    QVERIFY(steps);
    const int before = w->document()->config().train.steps;
    steps->setFocus();
    steps->selectAll();
    QTest::keyClicks(steps, "300");
    QTest::keyClick(steps, Qt::Key_Return);
    QCOMPARE(w->document()->config().train.steps, 300);
    QTest::keyClick(steps, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(w->document()->config().train.steps, before);
    QCOMPARE(steps->value(), before);
  }

  void wheelOverAnUnfocusedSpinBoxScrollsThePage() {
    auto w = shownWindow();
    auto* steps = qobject_cast<QSpinBox*>(w->configurePanel()->editorFor("train.steps"));
    auto* scroll = w->configurePanel()->findChild<QScrollArea*>();
    QVERIFY(steps && scroll);
    QCOMPARE(steps->focusPolicy(), Qt::StrongFocus);
    w->tabs()->tabBar()->setFocus();
    QVERIFY(!steps->hasFocus());
    const int before = steps->value();
    // Spontaneous, as from a mouse: only those propagate to the parents (the scroll area), and
    // only they focus a widget whose policy takes focus by wheel.
    auto wheel = [&](QWidget* target) {
      const QPointF at(target->width() / 2.0, target->height() / 2.0);
      QWheelEvent e(at, target->mapToGlobal(at), QPoint(), QPoint(0, -120), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
      QSpontaneKeyEvent::setSpontaneous(&e);
      qApp->notify(target, &e);  // sendEvent() would clear the spontaneous flag
    };
    const int scrolled = scroll->verticalScrollBar()->value();
    wheel(steps);
    QCOMPARE(steps->value(), before);
    QCOMPARE(w->document()->config().train.steps, before);
    QVERIFY(!steps->hasFocus());
    if (scroll->verticalScrollBar()->maximum() > 0) QVERIFY(scroll->verticalScrollBar()->value() > scrolled);  // the page scrolled

    auto* method = w->configurePanel()->findChild<QComboBox*>();
    QVERIFY(method);
    const int choice = method->currentIndex();
    wheel(method);
    QCOMPARE(method->currentIndex(), choice);

    // Focused, the wheel is the spin box's again: the guard is about focus, not a dead control.
    steps->setFocus();
    wheel(steps);
    QCOMPARE(steps->value(), before - 1);
  }

  void darkThemeRecoloursTheCharts() {
    auto w = shownWindow();
    QCustomPlot* plot = w->lossChart()->plot();
    QVERIFY(plot->xAxis->tickLabelColor().lightness() < 128);
    w->setDarkTheme(true);
    QVERIFY(darkPaletteActive());
    // The palette reaches the widgets through posted events: let the loop deliver them.
    QTRY_VERIFY(plot->xAxis->tickLabelColor().lightness() > 160);
    QVERIFY(plot->xAxis->tickLabelColor().lightness() > 160);
    QVERIFY(plot->yAxis->labelColor().lightness() > 160);
    QVERIFY(plot->xAxis->grid()->pen().color().lightness() < 110);
    QVERIFY(plot->legend->textColor().lightness() > 160);
    QVERIFY(plot->legend->brush().color().lightness() < 100);
    w->setDarkTheme(false);
    QTRY_VERIFY(plot->xAxis->tickLabelColor().lightness() < 128);
    QVERIFY(plot->legend->brush().color().lightness() > 200);
  }
};

QTEST_MAIN(MainWindowTest)
#include "test_main_window.moc"
