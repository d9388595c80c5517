// PlacementEditor: hand edits show per-site costs, an invalid plan (an expert with no holder)
// is refused with PlacementPlan::validate's message and leaves the experiment unchanged.
#include <QTableWidget>
#include <QTest>

#include "bridge/experiment_document.h"
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
