// PlacementEditor: hand edits show per-site costs, an invalid plan (an expert with no holder)
// is refused with PlacementPlan::validate's message and leaves the experiment unchanged.
#include <QTableWidget>
#include <QTest>

#include <QComboBox>
#include <QTemporaryDir>

#include "bridge/experiment_document.h"
#include "bridge/projection_source.h"
#include "bridge/store_model.h"
#include "fomoe/store/run_recorder.h"
#include "placement_editor.h"

using namespace fomoe;
using namespace fomoe::gui;

class PlacementEditorTest : public QObject {
  Q_OBJECT
 private:
  static ExperimentConfig config() {
    ExperimentConfig c;
    c.run.method = Method::FoMoE;
    c.model.n_layers = 2;
    c.model.n_experts = 4;
    c.model.top_k = 2;
    c.federation.sites = 3;
    c.federation.replication = 1;
    return c;
  }

 private slots:
  // One system model: the placement tab's per-site memory and bytes are the Projection tab's
  // numbers for the same setup (they once said 40.10 MiB and 85.35 MiB).
  void costsEqualTheProjection() {
    ExperimentConfig c = config();
    c.federation.sites = 4;
    c.federation.replication = 2;
    ExperimentDocument doc;
    doc.setConfig(c);
    const auto costs = ExperimentDocument::siteCosts(c, doc.currentPlan());
    QCOMPARE(costs.size(), 4);
    qint64 maxMemory = 0, maxBytes = 0;
    for (const auto& s : costs) {
      maxMemory = std::max(maxMemory, s.memoryBytes);
      maxBytes = std::max(maxBytes, s.bytesPerRound);
    }
    ProjectionInput in;
    in.sites = 4;
    in.replication = 2;
    in.innerSteps = c.federation.inner_steps;
    in.precision = int(c.federation.precision);
    QVector<ProjectionRow> rows;
    QString err;
    QVERIFY2(projectExperiment(c, in, &rows, &err), qPrintable(err));
    const auto fomoe = std::find_if(rows.begin(), rows.end(), [](const ProjectionRow& r) { return r.method == "fomoe"; });
    QVERIFY(fomoe != rows.end());
    QCOMPARE(double(maxMemory), fomoe->maxMemoryBytes);
    QCOMPARE(double(maxBytes), fomoe->bytesPerRoundSite);
  }

  // The tab says which policy the experiment uses and offers recorded runs for load-aware plans.
  void showsPolicyAndOffersRecordedRuns() {
    QTemporaryDir dir;
    const QString db = dir.filePath("runs.db");
    {
      auto rec = RunRecorder::open(db.toStdString());
      QVERIFY(rec);
      RunInfo info;
      info.name = "loaded";
      info.method = "fomoe";
      info.n_sites = 3;
      (*rec)->begin_run(info);
      std::vector<ExpertLoadEntry> load;
      for (int l = 0; l < 1; ++l)
        for (int e = 0; e < 4; ++e) load.push_back(ExpertLoadEntry{0, 0, l, e, 100 * (e + 1)});
      (*rec)->on_expert_load(load);
      (*rec)->on_run_finished(RunStatus::Finished, "");
    }
    StoreModel store;
    QVERIFY(store.open(db));
    ExperimentConfig c = config();
    c.federation.placement = PlacementPolicy::LoadAware;
    ExperimentDocument doc;
    doc.setConfig(c);
    PlacementEditor editor(&doc, &store);
    QVERIFY2(editor.experimentPolicyText().contains("load-aware"), qPrintable(editor.experimentPolicyText()));
    QCOMPARE(editor.runPicker()->count(), 1);
    QVERIFY(editor.runPicker()->isEnabled());
    QVERIFY(editor.runPicker()->currentText().contains("loaded"));
    QVERIFY(editor.generateLoadAware(editor.runPicker()->currentData().toLongLong(), 1));
    c.federation.placement = PlacementPolicy::Affinity;
    doc.setConfig(c);
    QVERIFY2(editor.experimentPolicyText().contains("affinity"), qPrintable(editor.experimentPolicyText()));
    QVERIFY(!editor.runPicker()->isEnabled());  // round-robin generation needs no run
  }

  void refusesExpertWithoutHolder() {
    ExperimentDocument doc;
    doc.setConfig(config());
    PlacementEditor editor(&doc);
    QCOMPARE(editor.grid()->rowCount(), 4);
    QCOMPARE(editor.grid()->columnCount(), 3);
    const auto holders = editor.workingPlan().holders(0, 1);
    QCOMPARE(int(holders.size()), 1);
    editor.setHolder(0, 1, holders[0], false);  // expert 1 of layer 0 now has no holder
    QVERIFY(!editor.apply());
    QVERIFY2(editor.errorText().contains("expert 1 of MoE layer 0 has no holder"), qPrintable(editor.errorText()));
    QCOMPARE(int(doc.config().federation.placement), int(PlacementPolicy::RoundRobin));  // unchanged
    QVERIFY(doc.config().federation.explicit_plan.empty());
    QCOMPARE(doc.undoStack()->count(), 0);
  }

  void appliesValidHandEdit() {
    ExperimentDocument doc;
    doc.setConfig(config());
    PlacementEditor editor(&doc);
    const qint64 before = editor.costTable()->item(2, 2)->text().remove(QRegularExpression("[^0-9]")).toLongLong();
    editor.setHolder(1, 0, 2, true);  // site 2 also holds expert 0 of layer 1
    const qint64 after = editor.costTable()->item(2, 2)->text().remove(QRegularExpression("[^0-9]")).toLongLong();
    QVERIFY2(after > before, "per-site parameters update as the plan is edited");
    QVERIFY(editor.apply());
    QCOMPARE(int(doc.config().federation.placement), int(PlacementPolicy::Explicit));
    const auto& h = doc.config().federation.explicit_plan[1][0];
    QVERIFY(std::find(h.begin(), h.end(), 2) != h.end());
    doc.undoStack()->undo();  // undo restores round-robin
    QCOMPARE(int(doc.config().federation.placement), int(PlacementPolicy::RoundRobin));
  }

  void gridClickTogglesHolder() {
    ExperimentDocument doc;
    doc.setConfig(config());
    PlacementEditor editor(&doc);
    QTableWidgetItem* it = editor.grid()->item(3, 0);
    const bool held = it->checkState() == Qt::Checked;
    it->setCheckState(held ? Qt::Unchecked : Qt::Checked);
    QCOMPARE(editor.workingPlan().holds(0, 0, 3), !held);
  }
};

QTEST_MAIN(PlacementEditorTest)
#include "test_placement_editor.moc"
