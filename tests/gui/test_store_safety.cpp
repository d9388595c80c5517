// What a new user did (issue 13): the workbench records a run into a store; they open a file
// dialog (Export > Image) in the folder that holds the store; the CLI lists the same store;
// they quit. Before the fix the dialog's icon / MIME sniffing closed descriptors of the store
// and dropped the window's SQLite locks, `fomoe runs list` then deleted the -wal and -shm
// files under the window, and the runs it recorded after that were lost. Real window
// (offscreen), real agents, real CLI process, a real file dialog.
#include <sys/stat.h>

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include "bridge/run_controller.h"
#include "bridge/store_model.h"
#include "bridge/experiment_document.h"
#include "gui_test_util.h"
#include "loss_chart.h"
#include "main_window.h"

using namespace fomoe;
using namespace fomoe::gui;

namespace {

/// Record locks anyone holds on the file's inode (/proc/locks, POSIX and OFD alike).
int locksOn(const QString& path) {
  struct stat st {};
  if (stat(QFile::encodeName(path).constData(), &st) != 0) return 0;
  QFile f("/proc/locks");
  if (!f.open(QIODevice::ReadOnly)) return -1;
  const QByteArray want = ":" + QByteArray::number(static_cast<qulonglong>(st.st_ino)) + " ";
  int n = 0;
  for (const QByteArray& line : f.readAll().split('\n'))
    if (line.contains(want) && !line.contains("->")) ++n;
  return n;
}

/// Runs a command to completion; its stdout, or a failure message.
QString runProcess(const QString& program, const QStringList& args, bool* ok) {
  QProcess p;
  p.start(program, args);
  *ok = p.waitForFinished(60000) && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
  return QString::fromUtf8(p.readAllStandardOutput()) + QString::fromUtf8(p.readAllStandardError());
}

}  // namespace

class StoreSafetyTest : public QObject {
  Q_OBJECT
 private slots:
  void fileDialogAndCliBesideARecordingWindowLoseNothing() {
    const QString bin = FOMOE_BINARY_DIR;
    const QString cli = bin + "/app/fomoe";
    qputenv("FOMOE_CLI", cli.toLocal8Bit());
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString db = dir.filePath("runs.db");
    // The user's shell is in the folder that holds the store; dialogs open there.
    QDir::setCurrent(dir.path());

    auto* w = new MainWindow(db);
    w->controller()->setCliPath(cli);
    const int steps = 24;
    w->document()->setConfig(gui::test::tinyFederation(dir.path(), bin, "kept", steps));
    w->show();
    w->startRun();
    QVERIFY(w->controller()->isRunning());
    // Wait for the first round to be recorded: the window holds the store open and writes.
    QTRY_VERIFY_WITH_TIMEOUT(w->controller()->currentRunId() > 0, 120000);
    const qint64 runId = w->controller()->currentRunId();
    QSignalSpy progress(w->controller(), &RunController::progressChanged);
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() && progress.last().at(0).toInt() >= 4, 120000);
    const int dbLocks = locksOn(db), shmLocks = locksOn(db + "-shm");
    QVERIFY2(dbLocks + shmLocks > 0, "a recording window holds SQLite locks on its store");

    // Export > Image of the loss chart: the file dialog lists (and sniffs) the store's folder.
    // Keep it open long enough for its file-info thread to visit every file, then cancel.
    bool dialogSeen = false;
    QTimer closer;
    closer.setInterval(100);
    int waited = 0;
    connect(&closer, &QTimer::timeout, [&] {
      auto* d = qobject_cast<QFileDialog*>(QApplication::activeModalWidget());
      if (!d) return;
      dialogSeen = true;
      if ((waited += 100) >= 2500) d->reject();
    });
    closer.start();
    w->lossChart()->exportDialog("png");
    closer.stop();
    QVERIFY2(dialogSeen, "the export dialog opened");
    // The window still holds its locks: the SHARED lock on the database and the -shm's
    // dead-man-switch lock are held as long as a connection is open (the bug dropped both to 0;
    // the -shm's write and checkpoint locks come and go with the recorder's commits).
    QVERIFY2(locksOn(db) >= 1 && dbLocks >= 1, qPrintable(QString("locks on the store: %1 before, %2 after").arg(dbLocks).arg(locksOn(db))));
    QVERIFY2(locksOn(db + "-shm") >= 1 && shmLocks >= 1,
             qPrintable(QString("locks on the -shm: %1 before, %2 after").arg(shmLocks).arg(locksOn(db + "-shm"))));

    // The CLI beside the window, on the same store.
    bool ok = false;
    const QString listed = runProcess(cli, {"runs", "list", "--db", db}, &ok);
    QVERIFY2(ok, qPrintable(listed));
    QVERIFY2(listed.contains("kept"), qPrintable(listed));
    QVERIFY2(QFile::exists(db + "-wal"), "`fomoe runs list` deleted the -wal file under the recording window");
    QVERIFY2(QFile::exists(db + "-shm"), "`fomoe runs list` deleted the -shm file under the recording window");

    QTRY_VERIFY_WITH_TIMEOUT(!w->controller()->isRunning(), 240000);
    QCOMPARE(w->controller()->state(), RunController::State::Finished);
    // The window's own view of the store follows.
    QVERIFY(w->storeModel()->reload());
    const RunSummary* s = w->storeModel()->summaryOf(runId);
    QVERIFY(s);
    QCOMPARE(QString::fromStdString(s->run.status), QString("finished"));
    QCOMPARE(s->last_step, static_cast<int64_t>(steps));

    // Quit.
    w->close();
    delete w;

    // After the window is gone, another process reads every recorded row.
    const QString integrity = runProcess("sqlite3", {db, "PRAGMA integrity_check;"}, &ok);
    QVERIFY2(ok, qPrintable(integrity));
    QCOMPARE(integrity.trimmed(), QString("ok"));
    const QString shown = runProcess(cli, {"runs", "show", QString::number(runId), "--db", db}, &ok);
    QVERIFY2(ok, qPrintable(shown));
    QVERIFY2(shown.contains("finished"), qPrintable(shown));
    const QString rows = runProcess("sqlite3", {db, QString("SELECT count(DISTINCT m.step) FROM metrics m JOIN metric_names n "
                                                            "ON n.id = m.name_id WHERE m.run_id = %1 AND n.name = 'train/loss';")
                                                        .arg(runId)},
                                    &ok);
    QVERIFY2(ok, qPrintable(rows));
    // Every step's train loss is there (train.log_every = 1; federated runs log per step).
    QCOMPARE(rows.trimmed().toInt(), steps);
  }
};

QTEST_MAIN(StoreSafetyTest)
#include "test_store_safety.moc"
