// The workbench's Stop and Resume (issue 16): Stop ends a run at its next safe point and records
// it "stopped" (not "cancelled", not "failed"); Resume in the run browser goes on in the same
// record, from the coordinator state of the last completed round (a federation) or the
// checkpoint written at the stop (a single site), until the run finishes with every logged step
// recorded once.
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <map>

#include "bridge/experiment_document.h"
#include "bridge/run_controller.h"
#include "fomoe/store/run_store.h"
#include "gui_test_util.h"
#include "main_window.h"
#include "run_browser.h"

using namespace fomoe;
using namespace fomoe::gui;

namespace {

struct Recorded {
  int runs = 0;
  std::string status;
  std::map<long, int> train_loss_steps;  // train loss rows per step of the global model (a single site's)
  int resumed_events = 0;
};

Recorded recorded(const QString& db, int site) {
  Recorded r;
  StoreOptions ro;
  ro.read_only = true;
  auto store = RunStore::open(db.toStdString(), ro);
  if (!store) return r;
  auto runs = (*store)->list_runs();
  if (!runs || runs->empty()) return r;
  r.runs = static_cast<int>(runs->size());
  const auto& run = runs->front().run;
  r.status = run.status;
  (*store)->for_each_metric(run.id, [&](const MetricPoint& m) {
    if (m.name == metric::kTrainLoss && m.site == site) ++r.train_loss_steps[m.step];
  });
  if (auto ev = (*store)->events(run.id))
    for (const auto& e : *ev) r.resumed_events += e.kind == "resumed";
  return r;
}

RunController::State lastState(const QSignalSpy& states) { return states.last().at(0).value<RunController::State>(); }

}  // namespace

class StopResumeTest : public QObject {
  Q_OBJECT

  // Starts cfg in a window, presses Stop once `stopAfter` rounds (a federation) or steps (a
  // single site) are done, then Resume in the browser.
  void stopAndResume(ExperimentConfig cfg, int stopAfter) {
    const QString bin = FOMOE_BINARY_DIR;
    qputenv("FOMOE_CLI", (bin + "/app/fomoe").toLocal8Bit());
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.filePath("runs.db");
    cfg.run.out_dir = dir.filePath("runs").toStdString();
    MainWindow w(db);
    w.controller()->setCliPath(bin + "/app/fomoe");
    w.document()->setConfig(cfg);
    w.show();
    QSignalSpy states(w.controller(), &RunController::runStateChanged);
    int done = 0;
    connect(w.controller(), &RunController::progressChanged, this, [&done](int d, int, double, double, double) { done = d; });
    w.startRun();
    QVERIFY(w.controller()->isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(w.controller()->currentRunId() >= 0, 60000);
    const qint64 id = w.controller()->currentRunId();
    QTRY_VERIFY_WITH_TIMEOUT(done >= stopAfter, 120000);
    w.stopRun();
    QTRY_VERIFY_WITH_TIMEOUT(!w.controller()->isRunning(), 60000);
    QCOMPARE(lastState(states), RunController::State::Stopped);
    const int site = cfg.run.method == Method::Single ? 0 : -1;  // one site records as site 0
    Recorded first = recorded(db, site);
    QCOMPARE(first.runs, 1);
    QCOMPARE(first.status, std::string("stopped"));
    QVERIFY2(first.train_loss_steps.size() < static_cast<size_t>(cfg.train.steps), "stopped too late to test a resume");

    // Resume from the browser: the selected run goes on in its record.
    w.runBrowser()->reload();
    w.runBrowser()->selectRun(id);
    auto* resume = w.runBrowser()->findChild<QPushButton*>("resumeRunButton");
    QVERIFY(resume);
    QSignalSpy resumed(w.controller(), &RunController::runResumed);
    QTest::mouseClick(resume, Qt::LeftButton);
    QVERIFY(w.controller()->isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(!w.controller()->isRunning(), 240000);
    QCOMPARE(lastState(states), RunController::State::Finished);
    QCOMPARE(resumed.count(), 1);
    Recorded finished = recorded(db, site);
    QCOMPARE(finished.runs, 1);
    QCOMPARE(finished.status, std::string("finished"));
    QCOMPARE(finished.resumed_events, 1);
    for (long step = 1; step <= cfg.train.steps; ++step)
      QVERIFY2(finished.train_loss_steps[step] == 1,
               qPrintable(QString("train loss at step %1 recorded %2 times").arg(step).arg(finished.train_loss_steps[step])));

    // A finished run is not resumed again: the browser says why, nothing starts.
    QSignalSpy errors(w.controller(), &RunController::errorOccurred);
    w.runBrowser()->reload();
    w.runBrowser()->selectRun(id);
    QTest::mouseClick(resume, Qt::LeftButton);
    QVERIFY(!w.controller()->isRunning());
    QVERIFY(!errors.isEmpty());
    QVERIFY2(errors.last().at(0).toString().contains("finished"), qPrintable(errors.last().at(0).toString()));
  }

 private slots:
  void federationStopsAfterARoundAndResumesInTheSameRecord() {
    ExperimentConfig c = gui::test::tinyFederation(QString(), FOMOE_BINARY_DIR, "stopfed", 40);
    stopAndResume(c, 1);
  }

  void singleSiteStopsWithACheckpointAndResumesInTheSameRecord() {
    ExperimentConfig c = gui::test::tinyFederation(QString(), FOMOE_BINARY_DIR, "stopsingle", 400);
    c.run.method = Method::Single;
    c.train.eval_every = 50;
    c.train.checkpoint_every = 0;  // the stop writes the checkpoint it resumes from
    stopAndResume(c, 20);
  }
};

QTEST_MAIN(StopResumeTest)
#include "test_stop_resume.moc"
