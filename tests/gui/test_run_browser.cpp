// A run recorded with RunRecorder opens from the run browser, and the views hold its points:
// loss per site and held-out, link bytes, expert load, events (a dead site shows red).
#include <QComboBox>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QProcess>
#include <QItemSelectionModel>

#include <cmath>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "bridge/store_model.h"
#include "chart_panel.h"
#include "compare_view.h"
#include "event_log.h"
#include "fomoe/store/run_recorder.h"
#include "loss_chart.h"
#include "main_window.h"
#include "network_panel.h"
#include "run_browser.h"
#include "smoothing.h"

using namespace fomoe;
using namespace fomoe::gui;

class RunBrowserTest : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  QString db_;
  int64_t runA_ = -1, runB_ = -1;

  int64_t record(const std::string& name, double lossOffset, int h) {
    auto rec = RunRecorder::open(db_.toStdString());
    if (!rec) qFatal("%s", rec.error().message.c_str());
    RunInfo info;
    info.name = name;
    info.method = "fomoe";
    info.n_sites = 2;
    info.config_text = "[run]\nname = \"" + name + "\"\nmethod = \"fomoe\"\n[model]\nn_layers = 2\nn_experts = 4\n"
                       "[federation]\nsites = 2\ninner_steps = " + std::to_string(h) + "\nreplication = 1\n";
    const int64_t id = (*rec)->begin_run(info);
    std::vector<MetricPoint> pts;
    for (int step = 1; step <= 50; ++step)
      for (int site = 0; site < 2; ++site)
        pts.push_back(MetricPoint{metric::kTrainLoss, lossOffset + 6.0 - 0.02 * step + 0.1 * site, step, (step - 1) / 10, site, step * 0.1});
    for (int r = 0; r < 5; ++r) pts.push_back(MetricPoint{metric::kEvalLoss, lossOffset + 5.8 - 0.1 * r, (r + 1) * 10, r, -1, r * 1.0});
    (*rec)->on_metrics(pts);
    std::vector<LinkBytes> links;
    for (int r = 0; r < 5; ++r)
      for (int site = 0; site < 2; ++site) {
        links.push_back(LinkBytes{r, site, Direction::Sent, "update", 1000 + r, 0.01});
        links.push_back(LinkBytes{r, site, Direction::Received, "pseudo_grad", 2000, 0.02});
      }
    (*rec)->on_link_bytes(links);
    std::vector<ExpertLoadEntry> load;
    for (int site = 0; site < 2; ++site)
      for (int e = 0; e < 4; ++e) load.push_back(ExpertLoadEntry{0, site, 0, e, 100 * (e + 1)});
    (*rec)->on_expert_load(load);
    (*rec)->on_event(RunEvent{3.0, 1, "site_dead", "site 1 is dead: no report within the timeout"});
    (*rec)->on_run_finished(RunStatus::Finished, "");
    return id;
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    db_ = dir_.filePath("runs.db");
    runA_ = record("recorded-a", 0.0, 10);
    runB_ = record("recorded-b", 0.3, 20);
    QVERIFY(runA_ > 0 && runB_ > runA_);
  }

  void recordedRunOpensWithItsPoints() {
    MainWindow w(db_);
    QCOMPARE(w.storeModel()->rowCount(), 2);
    RunBrowser* b = w.runBrowser();
    // Filter by name: only run A stays.
    b->findChild<QLineEdit*>()->setText("recorded-a");
    QCOMPARE(b->proxy()->rowCount(), 1);
    const QModelIndex idx = b->proxy()->index(0, StoreModel::ColName);
    QCOMPARE(idx.data().toString(), QString("recorded-a"));
    QCOMPARE(b->proxy()->index(0, StoreModel::ColBytes).data(StoreModel::kSortRole).toLongLong(),
             qint64(5 * 2 * 2000 + 2 * (1000 + 1001 + 1002 + 1003 + 1004)));
    // Double-click opens the run in the views.
    QSignalSpy open(b, &RunBrowser::openRun);
    emit b->view()->doubleClicked(idx);
    QCOMPARE(open.count(), 1);
    QCOMPARE(open.at(0).at(0).toLongLong(), qint64(runA_));
    QCOMPARE(w.viewedData()->runId(), qint64(runA_));
    QCOMPARE(w.lossChart()->pointCount(0), 50);
    QCOMPARE(w.lossChart()->pointCount(1), 50);
    QCOMPARE(w.lossChart()->pointCount(-1), 5);  // held-out raw graph: hidden behind the marked line, kept for export
    QCustomPlot* lp = w.lossChart()->plot();
    int heldOut = -1;
    for (int i = 0; i < lp->graphCount(); ++i)
      if (lp->graph(i)->name() == "held-out loss") heldOut = lp->graph(i)->dataCount();
    QCOMPARE(heldOut, 5);
    // Bytes chart: one line per site, five rounds each.
    QCustomPlot* bp = w.networkPanel()->bytesChart()->plot();
    QCOMPARE(bp->graphCount(), 2);
    QCOMPARE(bp->graph(0)->dataCount(), 5);
    // Dead site: named dead, drawn red in the loss chart, red row in the event log.
    bool deadRed = false;
    for (int i = 0; i < lp->graphCount(); ++i)
      if (lp->graph(i)->name() == "site 1 (dead)") deadRed = lp->graph(i)->pen().color() == QColor(215, 25, 28);
    QVERIFY(deadRed);
    QVERIFY(w.eventLog()->rowCount() >= 1);
    // The x axis switch keeps the points.
    w.lossChart()->setXAxis(LossChart::XAxis::WallTime);
    QCOMPARE(w.lossChart()->pointCount(0), 50);
    // Against bytes on the wire: the last step sits at the run's total bytes, the end of round 0
    // (step 10 with H = 10) at round 0's bytes.
    w.lossChart()->setXAxis(XAxis::Bytes);
    QCOMPARE(w.lossChart()->pointCount(0), 50);
    const double total = double(5 * 2 * 2000 + 2 * (1000 + 1001 + 1002 + 1003 + 1004));
    QCOMPARE(w.viewedData()->bytesAtStep(50), total);
    QCOMPARE(w.viewedData()->bytesAtStep(10), double(2 * 2000 + 2 * 1000));
    QCOMPARE(w.viewedData()->bytesAtStep(5), double(2 * 2000 + 2 * 1000) / 2);  // spread over the round's steps
    QVERIFY(w.lossChart()->plot()->xAxis->range().upper >= total);
    QVERIFY(w.lossChart()->plot()->xAxis->label().contains("bytes"));
    QCOMPARE(humanDuration(590452.25), QString("6.8 days"));
    QCOMPARE(humanDuration(5400), QString("90.0 min"));
    QCOMPARE(humanDuration(9000), QString("2.5 h"));
  }

  void compareShowsOnlyDifferingKeys() {
    MainWindow w(db_);
    QString err;
    QVERIFY2(w.compareRuns({runA_, runB_}, &err), qPrintable(err));
    CompareView* c = w.compareView();
    QCOMPARE(c->overlay()->plot()->graphCount(), 2);
    QTableWidget* diff = c->diffTable();
    QCOMPARE(diff->rowCount(), 1);  // only federation.inner_steps differs (names are skipped)
    QCOMPARE(diff->item(0, 0)->text(), QString("federation.inner_steps"));
    QCOMPARE(diff->item(0, 1)->text(), QString("10"));
    QCOMPARE(diff->item(0, 2)->text(), QString("20"));
    QCOMPARE(c->bytesTable()->rowCount(), 2);
    // Run A is named as A; against bytes on the wire, run A's curve ends at its total bytes.
    QVERIFY(c->overlay()->plot()->graph(0)->name().startsWith("A: run"));
    QComboBox* against = nullptr;
    for (auto* box : c->findChildren<QComboBox*>())
      if (box->findText("bytes sent") >= 0) against = box;
    QVERIFY(against);
    against->setCurrentIndex(against->findText("bytes sent"));
    QCPGraph* a = c->overlay()->plot()->graph(0);
    QVERIFY(a->dataCount() > 0);
    QCOMPARE((a->data()->constEnd() - 1)->key, double(5 * 2 * 2000 + 2 * (1000 + 1001 + 1002 + 1003 + 1004)));
    QVERIFY(c->overlay()->plot()->xAxis->label().contains("bytes"));
  }

  void exportWritesCsvWithRunIds() {
    MainWindow w(db_);
    QVERIFY(w.openRun(runA_));
    const QString csv = dir_.filePath("loss.csv");
    QVERIFY(w.lossChart()->exportCsv(csv));
    QFile f(csv);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(f.readAll());
    QVERIFY(text.contains(QString("# run id: %1").arg(runA_)));
    QVERIFY(text.contains("\"site 0 (raw)\",1,5.98"));
    QVERIFY(w.lossChart()->exportImage(dir_.filePath("loss.png")));
    QVERIFY(QFileInfo(dir_.filePath("loss.png")).size() > 1000);
    // Vector exports: SVG holds the curves as paths, PDF is written too.
    QVERIFY(w.lossChart()->exportImage(dir_.filePath("loss.svg")));
    QFile svg(dir_.filePath("loss.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray body = svg.readAll();
    QVERIFY(body.startsWith("<?xml"));
    QVERIFY(body.contains("<path") || body.contains("<polyline"));
    QVERIFY(w.lossChart()->exportImage(dir_.filePath("loss.pdf")));
    QVERIFY(QFileInfo(dir_.filePath("loss.pdf")).size() > 500);
  }

  void liveFeedUpdatesAxesAndDecimates() {
    RunData data;
    ExperimentConfig cfg;
    cfg.run.method = Method::FoMoE;
    cfg.federation.sites = 2;
    data.reset(5, cfg, "live");
    LossChart chart;
    chart.setData(&data);
    QVector<MetricPoint> pts;
    for (int step = 1; step <= 1000; ++step) pts.push_back(MetricPoint{metric::kTrainLoss, 7.0 - step * 1e-3, step, 0, 0, step * 0.1});
    data.appendMetrics(pts);
    data.notify();
    QCOMPARE(chart.pointCount(0), 1000);
    QVERIFY(chart.plot()->xAxis->range().upper >= 1000);
    pts.clear();
    for (int step = 1001; step <= 20000; ++step) pts.push_back(MetricPoint{metric::kTrainLoss, 6.0, step, 1, 0, step * 0.1});
    pts.push_back(MetricPoint{metric::kTrainLoss, 9.5, 20001, 1, 0, 2000.1});  // a spike at the very end
    data.appendMetrics(pts);
    data.notify();
    QVERIFY2(chart.pointCount(0) <= LossChart::kMaxDrawnPoints + 2, qPrintable(QString::number(chart.pointCount(0))));
    QVERIFY(chart.plot()->xAxis->range().upper >= 20001);
    QVERIFY(chart.plot()->yAxis->range().upper >= 9.5);  // the envelope keeps the spike
  }

  // Runs recorded elsewhere appear and their status changes without a Refresh press; the
  // selection survives the updates. One writer is another connection of this process (a
  // recorder, as a second window would be), one is another process (the sqlite3 shell).
  void browserFollowsTheStoreByItself() {
    MainWindow w(db_);
    RunBrowser* b = w.runBrowser();
    QCOMPARE(w.storeModel()->rowCount(), 2);
    b->selectRun(runA_);
    auto selectedId = [&] {
      const auto rows = b->view()->selectionModel()->selectedRows(StoreModel::ColId);
      return rows.isEmpty() ? qint64(-1) : rows.first().data(StoreModel::kRunIdRole).toLongLong();
    };
    QCOMPARE(selectedId(), qint64(runA_));
    auto rec = RunRecorder::open(db_.toStdString());
    QVERIFY(rec);
    RunInfo info;
    info.name = "follow-c";
    info.method = "diloco";
    info.n_sites = 2;
    const int64_t runC = (*rec)->begin_run(info);
    QVERIFY(runC > runB_);
    QTRY_COMPARE_WITH_TIMEOUT(w.storeModel()->rowCount(), 3, 5000);
    auto statusOf = [&](int64_t id) {
      const RunSummary* s = w.storeModel()->summaryOf(id);
      return s ? QString::fromStdString(s->run.status) : QString();
    };
    QCOMPARE(statusOf(runC), QString("running"));
    QCOMPARE(selectedId(), qint64(runA_));
    (*rec)->on_run_finished(RunStatus::Finished, "");
    rec->reset();
    QTRY_COMPARE_WITH_TIMEOUT(statusOf(runC), QString("finished"), 5000);
    QProcess shell;
    shell.start("sqlite3", {db_, QString("UPDATE runs SET name = 'renamed-c' WHERE id = %1;").arg(runC)});
    QVERIFY(shell.waitForFinished(30000));
    QCOMPARE(shell.exitCode(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(QString::fromStdString(w.storeModel()->summaryOf(runC)->run.name), QString("renamed-c"), 5000);
    QCOMPARE(selectedId(), qint64(runA_));
    QVERIFY(w.storeModel()->deleteRun(runC));
  }

  // The smoothed curve sits on the data: no lag on a falling loss, the newest point unmoved.
  void smoothingNeverBiasesTheCurve() {
    std::vector<double> line(400), noisy(400);
    uint32_t seed = 7;
    for (size_t i = 0; i < line.size(); ++i) {
      line[i] = 6.0 - 0.005 * double(i);
      seed = seed * 1664525u + 1013904223u;
      noisy[i] = line[i] + 0.2 * (double(seed >> 8) / double(1 << 24) - 0.5);
    }
    for (double strength : {0.0, 0.6, 0.9, 0.99}) {
      const auto s = centredSmooth(line, strength);
      for (size_t i = 0; i < line.size(); ++i) QVERIFY2(std::abs(s[i] - line[i]) < 1e-9, qPrintable(QString::number(i)));
    }
    const auto s = centredSmooth(noisy, 0.9);
    double bias = 0;
    for (size_t i = 0; i < noisy.size(); ++i) bias += s[i] - line[i];
    bias /= double(noisy.size());
    QVERIFY2(std::abs(bias) < 0.01, qPrintable(QString::number(bias)));
    QCOMPARE(s.back(), noisy.back());
    // What the old trailing EMA (alpha 0.9) did on the same curve: 0.05 nats above the data.
    double ema = noisy[0], emaBias = 0;
    for (size_t i = 0; i < noisy.size(); ++i) emaBias += (ema = 0.9 * ema + 0.1 * noisy[i]) - line[i];
    QVERIFY(emaBias / double(noisy.size()) > 0.04);
  }

  void deleteRemovesRun() {
    MainWindow w(db_);
    QVERIFY(w.storeModel()->deleteRun(runB_));
    QCOMPARE(w.storeModel()->rowCount(), 1);
    QVERIFY(w.storeModel()->reload());
    QCOMPARE(w.storeModel()->rowCount(), 1);
    QVERIFY(w.storeModel()->setTags(runA_, "baseline, keep"));
    w.storeModel()->reload();
    QCOMPARE(w.storeModel()->index(0, StoreModel::ColTags).data().toString(), QString("baseline, keep"));
  }
};

QTEST_MAIN(RunBrowserTest)
#include "test_run_browser.moc"
