// The window stays responsive while a small local federation trains on the worker thread:
// a 10 ms QTimer on the GUI thread measures event-loop latency for the whole run.
#include <QElapsedTimer>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include "bridge/experiment_document.h"
#include "bridge/run_controller.h"
#include "bridge/run_data.h"
#include "gui_test_util.h"
#include "loss_chart.h"
#include "main_window.h"

using namespace fomoe;
using namespace fomoe::gui;

class ResponsivenessTest : public QObject {
  Q_OBJECT
 private slots:
  void windowStaysResponsiveWhileTraining() {
    const QString bin = FOMOE_BINARY_DIR;
    qputenv("FOMOE_CLI", (bin + "/app/fomoe").toLocal8Bit());
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    MainWindow w(dir.filePath("runs.db"));
    w.controller()->setCliPath(bin + "/app/fomoe");
    ExperimentConfig c = gui::test::tinyFederation(dir.path(), bin, "responsive");
    w.document()->setConfig(c);
    w.show();

    QElapsedTimer clock;
    qint64 last = -1, maxGap = 0;
    int ticks = 0;
    QTimer probe;
    probe.setInterval(10);
    QObject::connect(&probe, &QTimer::timeout, [&] {
      const qint64 now = clock.elapsed();
      if (last >= 0) maxGap = std::max(maxGap, now - last);
      last = now;
      ++ticks;
    });
    QSignalSpy states(w.controller(), &RunController::runStateChanged);
    clock.start();
    probe.start();
    w.startRun();
    QVERIFY(w.controller()->isRunning());
    QTRY_VERIFY_WITH_TIMEOUT(!w.controller()->isRunning(), 240000);
    probe.stop();
    const auto final = states.last().at(0).value<RunController::State>();
    QVERIFY2(final == RunController::State::Finished, qPrintable(states.last().at(1).toString()));
    qInfo("event-loop latency while training: max %lld ms over %d ticks, run %.1f s", maxGap, ticks, clock.elapsed() / 1000.0);
    QVERIFY2(maxGap < 250, qPrintable(QString("max event-loop gap %1 ms").arg(maxGap)));
    // The live views got the run's points.
    QVERIFY(w.liveData()->find(metric::kTrainLoss, 0) != nullptr);
    QVERIFY(w.lossChart()->pointCount(0) > 0);
    QVERIFY(!w.liveData()->links().empty());
  }
};

QTEST_MAIN(ResponsivenessTest)
#include "test_responsiveness.moc"
