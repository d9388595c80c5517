// The round timeline (issue 15): with federation.overlap the communication a site trained
// through is drawn over the start of its compute bar and only the rest is stacked after it; a
// run without overlap shows the three stacked bars as before and no fourth legend entry.
#include <QDir>
#include <QTest>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "fomoe/base/metric_names.h"
#include "round_timeline.h"

using namespace fomoe;
using namespace fomoe::gui;

namespace {

QVector<MetricPoint> round_points(int round, int site, double compute, double comm, double wait, double overlap) {
  QVector<MetricPoint> p = {{metric::kRoundCompute, compute, 32L * (round + 1), round, site, 1.0},
                            {metric::kRoundComm, comm, 32L * (round + 1), round, site, 1.0},
                            {metric::kRoundWait, wait, 32L * (round + 1), round, site, 1.0}};
  if (overlap >= 0) p.push_back({metric::kRoundOverlap, overlap, 32L * (round + 1), round, site, 1.0});
  return p;
}

bool legendHas(QCustomPlot* plot, const QString& name) {
  for (int i = 0; i < plot->legend->itemCount(); ++i)
    if (auto* item = qobject_cast<QCPPlottableLegendItem*>(plot->legend->item(i)))
      if (item->plottable()->name() == name) return true;
  return false;
}

}  // namespace

class RoundTimelineTest : public QObject {
  Q_OBJECT
 private slots:
  void overlapIsDrawnUnderComputeAndOnlyTheRestStacked() {
    ExperimentConfig cfg;
    cfg.run.method = Method::FoMoE;
    cfg.federation.sites = 2;
    cfg.federation.overlap = true;
    RunData data;
    data.reset(1, cfg, "overlap");
    // Round 1: site 0 trained through 2.0 of its 2.5 s exchange; site 1 through none of it.
    data.appendMetrics(round_points(0, 0, 7.0, 2.5, 0.0, 0.0) + round_points(0, 1, 7.0, 2.5, 0.0, 0.0));
    data.appendMetrics(round_points(1, 0, 7.4, 2.5, 0.1, 2.0) + round_points(1, 1, 7.2, 2.5, 0.3, 0.0));
    RoundTimeline timeline;
    timeline.resize(700, 300);
    timeline.setData(&data);
    timeline.refresh();
    auto s0 = timeline.barsAt(0), s1 = timeline.barsAt(1);
    QCOMPARE(s0.compute, 7.4);
    QCOMPARE(s0.underCompute, 2.0);
    QCOMPARE(s0.comm, 0.5);  // only the exposed part stacked after compute
    QCOMPARE(s0.wait, 0.1);
    QCOMPARE(s1.underCompute, 0.0);
    QCOMPARE(s1.comm, 2.5);
    QVERIFY(legendHas(timeline.plot(), "communication under compute"));
    // The latest round fits: the axis reaches past compute + exposed comm + wait.
    QVERIFY(timeline.plot()->xAxis->range().upper >= 7.4 + 0.5 + 0.1);
    if (const QByteArray dir = qgetenv("FOMOE_SCREENSHOT_DIR"); !dir.isEmpty()) {
      timeline.show();
      QVERIFY(QTest::qWaitForWindowExposed(&timeline));
      timeline.plot()->replot();
      timeline.grab().save(QDir(QString::fromLocal8Bit(dir)).filePath("round_timeline_overlap.png"));
    }

    // Without overlap: nothing under compute, three legend entries.
    ExperimentConfig plain = cfg;
    plain.federation.overlap = false;
    RunData before;
    before.reset(2, plain, "no overlap");
    before.appendMetrics(round_points(0, 0, 7.0, 2.5, 0.2, -1) + round_points(0, 1, 7.0, 2.5, 0.0, -1));
    timeline.setData(&before);
    QCOMPARE(timeline.barsAt(0).comm, 2.5);
    QCOMPARE(timeline.barsAt(0).underCompute, 0.0);
    QVERIFY(!legendHas(timeline.plot(), "communication under compute"));
  }
};

QTEST_MAIN(RoundTimelineTest)
#include "test_round_timeline.moc"
