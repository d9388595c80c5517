// The configure panel edits per-site link emulation in the sites table; undo restores it.
#include <QFile>
#include <QTableWidget>
#include <QTemporaryDir>
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

  // Saved TOML is readable (issue 13): the keys the person set, short numbers, same experiment back.
  void savesOnlyTheSetKeysInShortNumbers() {
    ExperimentDocument doc;
    QString error;
    QVERIFY2(doc.loadText("[run]\nmethod = \"fomoe\"\n[model]\nvocab_size = 1024\n", "t.toml", &error), qPrintable(error));
    doc.edit("lr", [](ExperimentConfig& c) { c.train.lr = 0.05; });
    QTemporaryDir dir;
    const QString path = dir.filePath("saved.toml");
    QVERIFY2(doc.save(path, &error), qPrintable(error));
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(f.readAll());
    QVERIFY2(text.contains("lr = 0.05\n"), qPrintable(text));
    QVERIFY2(!text.contains("vocab_size"), qPrintable(text));  // the default, though the file said it
    QVERIFY2(!text.contains("0.0500"), qPrintable(text));
    ExperimentDocument back;
    QVERIFY2(back.load(path, &error), qPrintable(error));
    QCOMPARE(QString::fromStdString(to_toml(back.config())), QString::fromStdString(to_toml(doc.config())));
  }
};

QTEST_MAIN(ConfigurePanelTest)
#include "test_configure_panel.moc"
