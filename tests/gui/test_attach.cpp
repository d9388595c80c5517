// Attach to a remote coordinator: a run published with EventPublisher (ZeroMQ PUB) reaches the
// live views through RunController::attach and the bridge; the end of the run ends the watch.
#include <QSignalSpy>
#include <QTest>

#include <thread>

#include "bridge/run_controller.h"
#include "fomoe/net/event_stream.h"

using namespace fomoe;
using namespace fomoe::gui;

class AttachTest : public QObject {
  Q_OBJECT
 private slots:
  void watchesPublishedRun() {
    auto pub = net::EventPublisher::create({});
    QVERIFY2(pub.has_value(), pub ? "" : pub.error().message.c_str());
    RunController c;
    QSignalSpy metrics(c.bridge(), &EventBridge::metricsArrived);
    QSignalSpy started(c.bridge(), &EventBridge::runStarted);
    QVERIFY(c.attach(QString::fromStdString((*pub)->endpoint()), QString()));
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), RunController::State::Running, 5000);
    // PUB/SUB drops messages sent before the subscription is live: resend the start until seen.
    RunInfo info;
    info.name = "remote-run";
    info.n_sites = 3;
    for (int i = 0; i < 50 && started.isEmpty(); ++i) {
      (*pub)->on_run_started(77, info);
      QTest::qWait(100);
    }
    QVERIFY(!started.isEmpty());
    QCOMPARE(started.at(0).at(0).toLongLong(), 77LL);
    (*pub)->on_metrics({MetricPoint{metric::kTrainLoss, 4.5, 12, 1, 2, 3.0}});
    QTRY_VERIFY_WITH_TIMEOUT(!metrics.isEmpty(), 5000);
    const auto pts = metrics.at(0).at(0).value<QVector<MetricPoint>>();
    QCOMPARE(pts.size(), 1);
    QCOMPARE(pts[0].value, 4.5);
    QCOMPARE(pts[0].site, 2);
    (*pub)->on_run_finished(RunStatus::Finished, "");
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), RunController::State::Finished, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(!c.isRunning(), 5000);
    QCOMPARE(c.currentRunId(), 77LL);
  }

  void refusesBadAddress() {
    RunController c;
    QSignalSpy errors(&c, &RunController::errorOccurred);
    QVERIFY(!c.attach("localhost:5555", QString()));
    QCOMPARE(errors.count(), 1);
    QVERIFY(errors.at(0).at(0).toString().contains("tcp://HOST:PORT"));
  }
};

QTEST_MAIN(AttachTest)
#include "test_attach.moc"
