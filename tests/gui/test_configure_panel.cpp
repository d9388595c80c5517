// The configure panel edits per-site link emulation in the sites table; undo restores it.
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpression>
#include <QSpinBox>
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

  // An invalid value is marked at its field with the reason beside it; no numbers meanwhile (issue 13).
  void invalidValueIsMarkedAtItsFieldAndHidesTheNumbers() {
    ExperimentDocument doc;
    QString error;
    QVERIFY2(doc.loadText("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 4\n", "t.toml", &error), qPrintable(error));
    ConfigurePanel panel(&doc);
    panel.show();
    QVERIFY(panel.summaryText().contains(QRegularExpression("\\d")));
    auto* topK = qobject_cast<QSpinBox*>(panel.editorFor("model.top_k"));
    QVERIFY(topK);
    topK->setValue(9);  // 8 experts
    QCOMPARE(panel.invalidKey(), QString("model.top_k"));
    QVERIFY(topK->property("invalid").toBool());
    QVERIFY(!panel.editorFor("model.n_experts")->property("invalid").toBool());
    QLabel* reason = panel.reasonFor("model.top_k");
    QVERIFY(reason->isVisible());
    QVERIFY2(reason->text().contains("model.top_k (9) exceeds model.n_experts (8)"), qPrintable(reason->text()));
    QVERIFY(!panel.reasonFor("model.n_experts")->isVisible());
    QVERIFY2(!panel.summaryText().contains(QRegularExpression("\\d")), qPrintable(panel.summaryText()));
    QVERIFY(panel.summaryText().contains("marked field"));

    doc.edit("replication", [](ExperimentConfig& c) { c.model.top_k = 2; c.federation.replication = 6; });
    QCOMPARE(panel.invalidKey(), QString("federation.replication"));
    QVERIFY(!topK->property("invalid").toBool());
    QVERIFY(!reason->isVisible());
    QVERIFY(panel.editorFor("federation.replication")->property("invalid").toBool());

    doc.undoStack()->undo();
    doc.undoStack()->undo();
    QVERIFY(panel.invalidKey().isEmpty());
    QVERIFY(!panel.editorFor("federation.replication")->property("invalid").toBool());
    QVERIFY(panel.summaryText().contains(QRegularExpression("\\d")));
  }

  void fieldsThatDoNotApplyToTheMethodAreDisabled() {
    ExperimentDocument doc;
    QString error;
    QVERIFY2(doc.loadText("[run]\nmethod = \"fomoe\"\n", "t.toml", &error), qPrintable(error));
    ConfigurePanel panel(&doc);
    auto enabled = [&](const char* key) { return panel.editorFor(key)->isEnabled(); };
    auto method = [&](Method m) { doc.edit("method", [m](ExperimentConfig& c) { c.run.method = m; }); };
    QVERIFY(enabled("federation.replication") && enabled("federation.placement") && enabled("federation.expert_weighting"));
    QVERIFY(!enabled("federation.replan_every"));  // round-robin does not re-plan
    QVERIFY(!enabled("federation.photon_server_lr"));
    doc.edit("placement", [](ExperimentConfig& c) { c.federation.placement = PlacementPolicy::LoadAware; });
    QVERIFY(enabled("federation.replan_every"));

    method(Method::Photon);
    QVERIFY(!enabled("federation.replication") && !enabled("federation.replan_every"));
    QVERIFY(enabled("federation.photon_server_lr") && enabled("federation.photon_server_momentum"));
    QVERIFY(!enabled("federation.outer_lr") && !enabled("federation.nesterov"));
    QVERIFY(enabled("federation.inner_steps"));
    QVERIFY(panel.editorFor("federation.outer_lr")->toolTip().contains("DiLoCo and FoMoE only"));

    method(Method::Ddp);
    QVERIFY(!enabled("federation.inner_steps") && !enabled("federation.outer_lr"));
    QVERIFY(enabled("federation.sites") && enabled("federation.precision"));

    method(Method::DiLoCo);
    QVERIFY(enabled("federation.outer_lr") && enabled("federation.inner_steps") && !enabled("federation.placement"));

    method(Method::Single);
    for (const char* key : {"federation.sites", "federation.quorum", "federation.inner_steps", "federation.precision"})
      QVERIFY2(!enabled(key), key);
    QVERIFY(enabled("train.lr") && enabled("model.top_k"));
  }

  // Compression, top-k and overlap are set in the panel (issue 15): each editor edits its key,
  // fields that do not apply are disabled, and the predicted bytes per round follow.
  void compressionTopkAndOverlapFieldsEditTheConfig() {
    ExperimentDocument doc;
    QString error;
    QVERIFY2(doc.loadText("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 4\n", "t.toml", &error), qPrintable(error));
    ConfigurePanel panel(&doc);
    auto enabled = [&](const char* key) { return panel.editorFor(key)->isEnabled(); };
    auto bytesPerRound = [&] {
      qint64 b = 0;
      for (auto& s : ExperimentDocument::siteCosts(doc.config(), doc.currentPlan())) b += s.bytesPerRound;
      return b;
    };
    const qint64 fp32 = bytesPerRound();
    const QString fp32Summary = panel.summaryText();
    QVERIFY(!enabled("federation.error_feedback") && !enabled("federation.error_feedback_decay"));  // nothing compressed yet
    QVERIFY(!enabled("federation.overlap_steps") && !enabled("federation.overlap_mix"));

    auto* up = qobject_cast<QComboBox*>(panel.editorFor("federation.compression"));
    QVERIFY(up);
    up->setCurrentIndex(up->findText("int4"));
    QCOMPARE(doc.config().federation.compression, Compression::Int4);
    QVERIFY(enabled("federation.error_feedback") && enabled("federation.error_feedback_decay"));
    qobject_cast<QDoubleSpinBox*>(panel.editorFor("federation.error_feedback_decay"))->setValue(0.9);
    QCOMPARE(doc.config().federation.error_feedback_decay, 0.9);
    auto* topk = qobject_cast<QDoubleSpinBox*>(panel.editorFor("federation.topk"));
    QVERIFY(topk);
    topk->setValue(0.05);
    QCOMPARE(doc.config().federation.topk, 0.05);
    auto* down = qobject_cast<QComboBox*>(panel.editorFor("federation.down_compression"));
    down->setCurrentIndex(down->findText("int8"));
    QCOMPARE(doc.config().federation.down_compression, Compression::Int8);
    auto* downTopk = qobject_cast<QDoubleSpinBox*>(panel.editorFor("federation.down_topk"));
    downTopk->setValue(0.1);
    QCOMPARE(doc.config().federation.down_topk, 0.1);
    // The summary's bytes are the system model's for the new setting, and far fewer.
    const qint64 compressed = bytesPerRound();
    QVERIFY2(compressed * 10 < fp32, qPrintable(QString("%1 vs %2").arg(compressed).arg(fp32)));
    QVERIFY(panel.summaryText() != fp32Summary);

    auto* entropy = qobject_cast<QCheckBox*>(panel.editorFor("federation.entropy_coding"));
    QVERIFY(entropy && entropy->isEnabled());
    entropy->setChecked(true);
    QVERIFY(doc.config().federation.entropy_coding);
    entropy->setChecked(false);
    QVERIFY(!doc.config().federation.entropy_coding);

    auto* overlap = qobject_cast<QCheckBox*>(panel.editorFor("federation.overlap"));
    QVERIFY(overlap);
    overlap->setChecked(true);
    QVERIFY(doc.config().federation.overlap);
    QVERIFY(enabled("federation.overlap_steps") && enabled("federation.overlap_mix"));
    qobject_cast<QSpinBox*>(panel.editorFor("federation.overlap_steps"))->setValue(4);
    QCOMPARE(doc.config().federation.overlap_steps, 4);

    doc.edit("method", [](ExperimentConfig& c) { c.run.method = Method::Ddp; });
    QVERIFY(!enabled("federation.down_compression") && !enabled("federation.down_topk") && !enabled("federation.overlap"));
    QVERIFY(enabled("federation.compression") && enabled("federation.topk"));
    // Undo walks back through the edits: the method, tau, overlap, entropy coding off and on, top-k down.
    for (int i = 0; i < 6; ++i) doc.undoStack()->undo();
    QVERIFY(!doc.config().federation.entropy_coding);
    QCOMPARE(doc.config().federation.down_topk, 0.0);
    QVERIFY(!doc.config().federation.overlap);
    QCOMPARE(downTopk->value(), 0.0);
  }

  // Token files in the configure panel: the fields of the chosen data format only, and an empty
  // path marked at its field.
  void dataFormatFieldsFollowTheFormat() {
    ExperimentDocument doc;
    QString error;
    QVERIFY2(doc.loadText("[run]\nmethod = \"fomoe\"\n", "t.toml", &error), qPrintable(error));
    ConfigurePanel panel(&doc);
    auto enabled = [&](const char* key) { return panel.editorFor(key)->isEnabled(); };
    QVERIFY(enabled("data.sources") && !enabled("data.path") && !enabled("data.token_dtype") && !enabled("data.eos_id"));
    doc.edit("format", [](ExperimentConfig& c) { c.data.format = DataFormat::Megatron; });
    QVERIFY(!enabled("data.sources") && enabled("data.path") && !enabled("data.token_dtype") && !enabled("data.eos_id"));
    QVERIFY(panel.editorFor("data.path")->property("invalid").toBool());  // data.path is empty
    doc.edit("format", [](ExperimentConfig& c) {
      c.data.format = DataFormat::Tokens;
      c.data.path = "train.bin";
    });
    QVERIFY(enabled("data.token_dtype") && enabled("data.eos_id"));
    QVERIFY(!panel.editorFor("data.path")->property("invalid").toBool());
  }

  // Your own tokenizer and the samples' prompts are set in the panel (issue 14): a tokenizer file
  // that does not exist is marked at its field; prompts keep their own spaces.
  void tokenizerAndSamplePromptsAreEditable() {
    ExperimentDocument doc;
    QString error;
    QVERIFY2(doc.loadText("[run]\nmethod = \"fomoe\"\n", "t.toml", &error), qPrintable(error));
    ConfigurePanel panel(&doc);
    auto* tok = qobject_cast<QLineEdit*>(panel.editorFor("data.tokenizer"));
    QVERIFY(tok);
    QVERIFY(tok->isEnabled());
    QVERIFY(!tok->property("invalid").toBool());
    tok->setText("/no/such/tokenizer.json");
    emit tok->editingFinished();
    QCOMPARE(doc.config().data.tokenizer, std::string("/no/such/tokenizer.json"));
    QVERIFY(tok->property("invalid").toBool());
    tok->setText("");
    emit tok->editingFinished();
    QVERIFY(!tok->property("invalid").toBool());

    auto* prompts = qobject_cast<QLineEdit*>(panel.editorFor("train.sample_prompts"));
    QVERIFY(prompts);
    QCOMPARE(prompts->text(), QString("The  | A computer is | Das  | Q: What is"));
    prompts->setText("Once upon a time | The ");
    emit prompts->editingFinished();
    QCOMPARE(doc.config().train.sample_prompts, (std::vector<std::string>{"Once upon a time", "The "}));
    auto* tokens = qobject_cast<QSpinBox*>(panel.editorFor("train.sample_tokens"));
    QVERIFY(tokens);
    tokens->setValue(0);
    QCOMPARE(doc.config().train.sample_tokens, 0);
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
