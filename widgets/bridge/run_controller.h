// RunController: starts one run (a local federation, or a single site) on a worker QThread,
// records it into the run store and feeds the GUI through its EventBridge. Stop (cancel()) =
// the engine stops at its next safe point: the run is recorded "stopped", its state kept (the
// coordinator's after the last completed round; a single site's checkpoint), and resume() goes
// on in the same record.
#pragma once

#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <memory>
#include <string>

#include "bridge/event_bridge.h"
#include "fomoe/config/experiment.h"

namespace fomoe::gui {

class RunController : public QObject {
  Q_OBJECT
 public:
  enum class State { Idle, Starting, Running, Finished, Failed, Cancelled, Stopped };
  Q_ENUM(State)

  explicit RunController(QObject* parent = nullptr);
  ~RunController() override;  // cancels a running run and waits for its thread

  EventBridge* bridge() { return bridge_; }
  void setDatabasePath(const QString& path) { dbPath_ = path; }
  QString databasePath() const { return dbPath_; }
  /// The `fomoe` CLI binary started as `fomoe agent` per local site.
  void setCliPath(const QString& path) { cliPath_ = path; }
  QString cliPath() const { return cliPath_; }
  /// Finds the CLI: $FOMOE_CLI, then beside this binary, then one directory up.
  static QString findCli();

  /// Starts the run on the worker thread. False (and errorOccurred) if one is running, the
  /// config is invalid or this build cannot train.
  bool start(const ExperimentConfig& cfg);
  /// Watches a run published by a remote coordinator (`fomoe run --publish`, ZeroMQ PUB/SUB) in
  /// the live views; nothing is trained or recorded here. With keyDir (what `fomoe watch --keys
  /// DIR --name NAME` takes: DIR/NAME.key and the coordinator's DIR/server.pub) the stream is
  /// CURVE; keyDir "" = a plaintext publisher (--publish-plaintext). False (and errorOccurred)
  /// for a bad address or unreadable keys. When nothing arrives for a few seconds,
  /// errorOccurred says why (no publisher, keys needed, key refused) once per reason.
  bool attach(const QString& address, const QString& keyDir = QString(), const QString& keyName = QString());
  bool isAttached() const { return attached_; }
  /// Goes on with a stopped or interrupted run of the store, in its own record: a federation
  /// from the coordinator state saved after its last completed round, a single site from its
  /// last checkpoint, with the config it was recorded with. False (and errorOccurred, naming
  /// why) when a run is in progress, the run is unknown, finished, or left no state to go on from.
  bool resume(qint64 runId);
  void cancel();
  bool isRunning() const { return thread_ != nullptr; }
  State state() const { return state_; }
  qint64 currentRunId() const { return runId_; }
  /// Blocks until the worker thread ended (tests, shutdown). True if it did within timeoutMs.
  bool wait(int timeoutMs);

  static QString stateName(State s);

 signals:
  void runStateChanged(fomoe::gui::RunController::State state, const QString& message);
  /// done/total are rounds for a federation, steps for a single site; evalLoss < 0 = none yet.
  void progressChanged(int done, int total, double trainLoss, double evalLoss, double elapsedS);
  void runIdAssigned(qint64 runId);
  /// Instead of runIdAssigned when resume() goes on in an existing record (its history is in the store).
  void runResumed(qint64 runId);
  void errorOccurred(const QString& message);

 private:
  void setState(State s, const QString& message);
  struct ResumePoint {
    qint64 runId = -1;        // -1: a new run record
    double wallOffsetS = 0;   // the record's age: its clock goes on from there
    std::string checkpoint;   // single site: the checkpoint to go on from
  };
  bool launch(const ExperimentConfig& cfg, const ResumePoint& resume);
  void work(ExperimentConfig cfg, ResumePoint resume);
  void watch(QString address, bool curve, std::string clientPublic, std::string clientSecret, std::string serverPublic);
  void postProgress(int done, int total, double trainLoss, double evalLoss, double elapsedS, bool force);

  EventBridge* bridge_;
  QThread* thread_ = nullptr;
  QString dbPath_;
  QString cliPath_;
  State state_ = State::Idle;
  qint64 runId_ = -1;
  bool attached_ = false;
  std::atomic<bool> cancel_{false};
  std::atomic<qint64> lastProgressMs_{0};
};

}  // namespace fomoe::gui
