// Attach to a remote coordinator: a run published with EventPublisher (ZeroMQ PUB) reaches the
// live views through RunController::attach and the bridge; the end of the run ends the watch.
// With a watcher key directory the stream is CURVE (what `fomoe run --publish` serves by
// default); without keys against a CURVE publisher the controller says why nothing arrives.
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <thread>

#include "attach_dialog.h"
#include "bridge/run_controller.h"
#include "fomoe/net/event_stream.h"
#include "fomoe/net/keys.h"

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

  void watchesCurveRunWithAWatcherKeyDirectory() {
    if (!net::curve_available()) QSKIP("libzmq without CURVE");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string root = dir.path().toStdString();
    auto server = net::write_keypair(root + "/coordinator", "server");
    auto alice = net::write_keypair(root + "/alice", "alice");
    QVERIFY(server && alice);
    QVERIFY(QFile::copy(dir.path() + "/coordinator/server.pub", dir.path() + "/alice/server.pub"));
    QVERIFY(QDir().mkpath(dir.path() + "/coordinator/watchers"));
    QVERIFY(QFile::copy(dir.path() + "/alice/alice.pub", dir.path() + "/coordinator/watchers/alice.pub"));
    net::EventPublisherOptions po;
    po.curve = true;
    po.server_keys = *server;
    po.allowed_keys_dir = root + "/coordinator/watchers";
    auto pub = net::EventPublisher::create(po);
    QVERIFY2(pub.has_value(), pub ? "" : pub.error().message.c_str());
    RunController c;
    QSignalSpy started(c.bridge(), &EventBridge::runStarted);
    QSignalSpy errors(&c, &RunController::errorOccurred);
    QVERIFY(c.attach(QString::fromStdString((*pub)->endpoint()), dir.path() + "/alice", "alice"));
    RunInfo info;
    info.name = "curve-run";
    for (int i = 0; i < 50 && started.isEmpty(); ++i) {
      (*pub)->on_run_started(78, info);
      QTest::qWait(100);
    }
    QVERIFY(!started.isEmpty());
    QCOMPARE(started.at(0).at(0).toLongLong(), 78LL);
    (*pub)->on_run_finished(RunStatus::Finished, "");
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), RunController::State::Finished, 5000);
    QVERIFY2(errors.isEmpty(), errors.isEmpty() ? "" : qPrintable(errors.at(0).at(0).toString()));
  }

  void saysWhyNothingArrivesWithoutKeys() {
    if (!net::curve_available()) QSKIP("libzmq without CURVE");
    net::EventPublisherOptions po;
    po.curve = true;
    po.server_keys = *net::generate_keypair();
    po.allowed_public_keys = {net::generate_keypair()->public_key};
    auto pub = net::EventPublisher::create(po);
    QVERIFY2(pub.has_value(), pub ? "" : pub.error().message.c_str());
    RunController c;
    QSignalSpy started(c.bridge(), &EventBridge::runStarted);
    QSignalSpy errors(&c, &RunController::errorOccurred);
    QVERIFY(c.attach(QString::fromStdString((*pub)->endpoint())));  // no keys: plaintext
    auto said = [&] {
      for (const auto& e : errors)
        if (e.at(0).toString().contains("probably uses CURVE")) return true;
      return false;
    };
    for (int i = 0; i < 100 && !said(); ++i) {
      (*pub)->on_run_started(79, RunInfo{});
      QTest::qWait(100);
    }
    QVERIFY2(said(), errors.isEmpty() ? "no error" : qPrintable(errors.last().at(0).toString()));
    QVERIFY(started.isEmpty());
    QCOMPARE(c.state(), RunController::State::Running);
    c.cancel();
    QTRY_VERIFY_WITH_TIMEOUT(!c.isRunning(), 5000);
  }

  void missingKeysAreAnError() {
    QTemporaryDir dir;
    RunController c;
    QSignalSpy errors(&c, &RunController::errorOccurred);
    QVERIFY(!c.attach("tcp://127.0.0.1:1", dir.path(), "alice"));
    QCOMPARE(errors.count(), 1);
    QVERIFY2(errors.at(0).at(0).toString().contains("alice.key"), qPrintable(errors.at(0).at(0).toString()));
    QVERIFY(!c.attach("tcp://127.0.0.1:1", dir.path(), QString()));
    QVERIFY(errors.at(1).at(0).toString().contains("name"));
    QVERIFY(!c.isRunning());
  }

  void dialogTakesTheKeyDirectory() {
    AttachDialog d;
    QCOMPARE(d.address(), QString("tcp://"));
    d.setAddress(QString());  // nothing remembered: the default stays
    QCOMPARE(d.address(), QString("tcp://"));
    d.addressEdit()->setText("  tcp://coordinator:5560 ");
    d.keyDirEdit()->setText("/home/alice/watch-keys ");
    d.keyNameEdit()->setText("alice");
    QCOMPARE(d.address(), QString("tcp://coordinator:5560"));
    QCOMPARE(d.keyDir(), QString("/home/alice/watch-keys"));
    QCOMPARE(d.keyName(), QString("alice"));
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
