// The configure panel edits per-site link emulation in the sites table; undo restores it.
#include <QTableWidget>
#include <QUndoStack>
#include <QtTest>

#include "bridge/experiment_document.h"
#include "configure_panel.h"

using namespace fomoe;
using namespace fomoe::gui;

class ConfigurePanelTest : public QObject {
  Q_OBJECT

 private slots:
  void editsPerSiteLinkAndUndoes() {
    ExperimentDocument doc;
    QString error;
    QVERIFY2(doc.loadText("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 3\nbandwidth_mbps = 100\n", "t.toml", &error),
             qPrintable(error));
    ConfigurePanel panel(&doc);
    auto* table = panel.findChild<QTableWidget*>();
    QVERIFY(table);
    QCOMPARE(table->rowCount(), 3);
    QCOMPARE(table->item(1, 4)->text(), QString("100"));
    table->item(1, 4)->setText("25");  // what a user's edit of the cell does
    QCOMPARE(doc.config().federation.site_bandwidth_mbps, (std::vector<double>{100, 25, 100}));
    QCOMPARE(site_bandwidth_mbps(doc.config().federation, 1), 25.0);
    doc.undoStack()->undo();
    QVERIFY(doc.config().federation.site_bandwidth_mbps.empty());
    QCOMPARE(table->item(1, 4)->text(), QString("100"));
  }
};

QTEST_MAIN(ConfigurePanelTest)
#include "test_configure_panel.moc"
