// EventBridge: core events fed from another thread arrive as one batched signal each, with the
// right payload, and reach the forward sink (the recorder) too.
#include <QSignalSpy>
#include <QTest>

#include <thread>

#include "bridge/event_bridge.h"

using namespace fomoe;
using fomoe::gui::EventBridge;

namespace {
struct CountingSink : RunSink {
  std::atomic<int> metrics{0}, events{0}, finished{0};
  void on_metrics(const std::vector<MetricPoint>& p) override { metrics += int(p.size()); }
  void on_event(const RunEvent&) override { ++events; }
  void on_run_finished(RunStatus, const std::string&) override { ++finished; }
};
}  // namespace

class EventBridgeTest : public QObject {
  Q_OBJECT
 private slots:
  void metricsArriveOnceBatched() {
    EventBridge bridge(nullptr, 50);
    CountingSink forward;
    bridge.setForward(&forward);
    QSignalSpy metrics(&bridge, &EventBridge::metricsArrived);
    QSignalSpy links(&bridge, &EventBridge::linkBytesArrived);
    std::thread producer([&] {
      bridge.on_metrics({MetricPoint{metric::kTrainLoss, 5.5, 10, 0, 1, 2.0}});
      bridge.on_metrics({MetricPoint{metric::kTrainLoss, 5.25, 20, 0, 1, 3.0},
                         MetricPoint{metric::kEvalLoss, 5.0, 20, 0, -1, 3.5}});
      bridge.on_link_bytes({LinkBytes{0, 1, Direction::Received, "pseudo_grad", 4096, 0.01}});
    });
    producer.join();
    QVERIFY(metrics.wait(2000));
    QCOMPARE(metrics.count(), 1);  // three points from two calls: one batch
    const auto points = metrics.at(0).at(0).value<QVector<MetricPoint>>();
    QCOMPARE(points.size(), 3);
    QCOMPARE(QString::fromStdString(points[0].name), QString(metric::kTrainLoss));
    QCOMPARE(points[0].value, 5.5);
    QCOMPARE(points[0].site, 1);
    QCOMPARE(points[1].step, 20L);
    QCOMPARE(QString::fromStdString(points[2].name), QString(metric::kEvalLoss));
    QCOMPARE(points[2].site, -1);
    QCOMPARE(links.count(), 1);
    const auto l = links.at(0).at(0).value<QVector<LinkBytes>>();
    QCOMPARE(l.size(), 1);
    QCOMPARE(l[0].bytes, int64_t(4096));
    QCOMPARE(QString::fromStdString(l[0].msg_type), QString("pseudo_grad"));
    QCOMPARE(forward.metrics.load(), 3);
    // Nothing new: no further signal.
    QTest::qWait(200);
    QCOMPARE(metrics.count(), 1);
  }

  void eventsAndFinishKeepOrder() {
    EventBridge bridge(nullptr, 50);
    QSignalSpy started(&bridge, &EventBridge::runStarted);
    QSignalSpy events(&bridge, &EventBridge::eventArrived);
    QSignalSpy finished(&bridge, &EventBridge::runFinished);
    std::thread producer([&] {
      RunInfo info;
      info.name = "bridge-test";
      info.method = "fomoe";
      info.n_sites = 3;
      bridge.on_run_started(42, info);
      bridge.on_event(RunEvent{1.5, 2, "site_dead", "site 2 is dead: timeout"});
      bridge.on_run_finished(RunStatus::Failed, "quorum lost");
    });
    producer.join();
    QVERIFY(finished.wait(2000));
    QCOMPARE(started.count(), 1);
    QCOMPARE(started.at(0).at(0).toLongLong(), 42LL);
    QCOMPARE(started.at(0).at(1).toString(), QString("bridge-test"));
    QCOMPARE(started.at(0).at(3).toInt(), 3);
    QCOMPARE(events.count(), 1);
    const auto e = events.at(0).at(0).value<RunEvent>();
    QCOMPARE(e.site, 2);
    QCOMPARE(QString::fromStdString(e.kind), QString("site_dead"));
    QCOMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(0).toInt(), int(RunStatus::Failed));
    QCOMPARE(finished.at(0).at(1).toString(), QString("quorum lost"));
  }

  void flushNowEmitsSynchronously() {
    EventBridge bridge(nullptr, 100000);  // timer never fires in this test
    QSignalSpy metrics(&bridge, &EventBridge::metricsArrived);
    bridge.on_metrics({MetricPoint{"x", 1.0, 1, -1, -1, 0.0}});
    QCOMPARE(metrics.count(), 0);
    bridge.flushNow();
    QCOMPARE(metrics.count(), 1);
    bridge.flushNow();  // empty buffer: nothing
    QCOMPARE(metrics.count(), 1);
    QCOMPARE(bridge.flushCount(), 1);
  }
};

QTEST_MAIN(EventBridgeTest)
#include "test_event_bridge.moc"
