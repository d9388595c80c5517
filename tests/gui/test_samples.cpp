// The Samples tab (issue 14): after each evaluation the global model's greedy continuations of
// the experiment's prompts arrive live, are kept in the run store, and read back the same when
// the recorded run is opened later.
#include <QComboBox>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "bridge/experiment_document.h"
#include "bridge/run_controller.h"
#include "bridge/run_data.h"
#include "fomoe/store/run_store.h"
#include "gui_test_util.h"
#include "main_window.h"
#include "samples_panel.h"

using namespace fomoe;
using namespace fomoe::gui;

class SamplesTest : public QObject {
  Q_OBJECT
 private slots:
  void continuationsArriveLiveAndReadBackFromTheStore() {
    const QString bin = FOMOE_BINARY_DIR;
    qputenv("FOMOE_CLI", (bin + "/app/fomoe").toLocal8Bit());
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.filePath("runs.db");
    ExperimentConfig cfg = gui::test::tinyFederation(dir.path(), bin, "samples", 8);  // evaluations at steps 4, 8
    cfg.train.sample_prompts = {"The ", "Das ", "Q: What is"};
    cfg.train.sample_tokens = 8;
    MainWindow w(db);
    w.controller()->setCliPath(bin + "/app/fomoe");
    w.document()->setConfig(cfg);
    w.show();
    SamplesPanel* panel = w.samplesPanel();
    QVERIFY(panel);
    QCOMPARE(panel->rowCount(), 0);
    w.startRun();
    QTRY_VERIFY_WITH_TIMEOUT(w.controller()->currentRunId() >= 0, 60000);
    const qint64 id = w.controller()->currentRunId();
    QTRY_VERIFY_WITH_TIMEOUT(!w.controller()->isRunning(), 240000);
    QTRY_COMPARE_WITH_TIMEOUT(panel->rowCount(), 6, 5000);  // 2 evaluations x 3 prompts, live
    QStringList live;
    for (int r = 0; r < panel->rowCount(); ++r) live << panel->continuationAt(r);

    // Kept in the store, in step then prompt order, and what the tab showed.
    StoreOptions ro;
    ro.read_only = true;
    auto store = RunStore::open(db.toStdString(), ro);
    QVERIFY(store);
    auto samples = (*store)->samples(id);
    QVERIFY(samples);
    QCOMPARE(int(samples->size()), 6);
    for (int i = 0; i < 6; ++i) {
      const SampleEntry& e = (*samples)[i];
      QCOMPARE(e.step, long(4 * (i / 3 + 1)));
      QCOMPARE(e.prompt, cfg.train.sample_prompts[i % 3]);
      QCOMPARE(QString::fromStdString(e.text), live[i]);
    }

    // The prompt filter shows one prompt's continuations, one per evaluation.
    auto* filter = panel->findChild<QComboBox*>("samplesPromptFilter");
    QVERIFY(filter);
    QCOMPARE(filter->count(), 4);  // every prompt + the three
    filter->setCurrentIndex(filter->findText("Das "));
    QCOMPARE(panel->rowCount(), 2);
    QCOMPARE(panel->continuationAt(1), QString::fromStdString((*samples)[4].text));
    filter->setCurrentIndex(0);

    // A recorded run opened later shows the same rows.
    QString error;
    QVERIFY2(w.openRun(id, &error), qPrintable(error));
    QCOMPARE(panel->rowCount(), 6);
    for (int r = 0; r < 6; ++r) QCOMPARE(panel->continuationAt(r), live[r]);
  }
};

QTEST_MAIN(SamplesTest)
#include "test_samples.moc"
