// RunRecorder: the run store's RunSink. Producer calls only enqueue; a writer thread batches rows
// into transactions (every batch_rows rows or flush_interval, whichever first). Write errors (full
// disk, locked file) are logged with the file path, kept in memory and retried, never dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"
#include "fomoe/store/run_store.h"

namespace fomoe {

struct RecorderOptions {
  StoreOptions store;
  size_t batch_rows = 16384;                           // rows that trigger a write
  std::chrono::milliseconds flush_interval{100};       // max age of a queued row
  std::chrono::milliseconds retry_interval{1000};      // wait between retries after a write error
  int final_drain_attempts = 3;                        // destructor retries before giving up (logged)
};

class RunRecorder : public RunSink {
 public:
  /// Opens its own connection (same checks as RunStore::open) and starts the writer thread.
  static Expected<std::unique_ptr<RunRecorder>> open(const std::string& path, const RecorderOptions& options = {});
  ~RunRecorder() override;  // drains the queue (see final_drain_attempts)
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  /// Inserts the run row synchronously (status running, this process's pid and host) and makes it
  /// the run the RunSink calls record into. Returns the new id, or -1 (see last_error()).
  int64_t begin_run(const RunInfo& info);
  /// Continues run `run_id`, synchronously like begin_run (what is queued is flushed first):
  /// marks it running again (finished_at NULL, message '', cached summary invalid, this process's
  /// pid and host as writer) and makes it the run later RunSink calls record into; started_at and
  /// every row stay. Errors: NotFound (no such run in this file), Busy ("run 7 is still being
  /// written by pid 1234 on HOST": it is marked running and its writer is another live process
  /// here, or is on another host), store errors. Safe while other connections (the workbench,
  /// the CLI) have the file open.
  Status resume_run(int64_t run_id);
  int64_t current_run() const;

  // RunSink. on_run_started begins a run unless run_id is already the current one.
  void on_run_started(int64_t run_id, const RunInfo& info) override;
  void on_metrics(const std::vector<MetricPoint>& points) override;
  void on_link_bytes(const std::vector<LinkBytes>& links) override;
  void on_placement(const std::vector<PlacementEntry>& placement) override;
  void on_expert_load(const std::vector<ExpertLoadEntry>& load) override;
  void on_event(const RunEvent& event) override;
  void on_checkpoint(const CheckpointEntry& checkpoint) override;
  void on_samples(const std::vector<SampleEntry>& samples) override;
  /// Marks the run's status, finished_at and message, then flushes.
  void on_run_finished(RunStatus status, const std::string& message) override;
  /// Queued in order with the other calls; the writer then drops the current run's rows of rounds
  /// >= from_round from metrics, links, placement, expert_load, checkpoints and samples, rebuilds its
  /// metric rollups and invalidates its summary, in one transaction with its neighbours. Rows
  /// queued before the call are dropped if their round is >= from_round; rows queued after it stay.
  /// Events stay (the log: those rounds really did start twice). Negative from_round is ignored.
  void on_resumed(int from_round) override;
  /// Waits until everything queued is written (flush(); a write error is logged and retried).
  void sync() override;

  /// Blocks until everything queued before the call has been written (ok) or a write attempt
  /// failed (the error; the rows stay queued and are retried).
  Status flush();
  /// The most recent write error, or ok once a later write succeeded.
  Status last_error() const;
  /// Rows queued or kept after an error, not yet committed.
  size_t pending_rows() const;
  const std::string& path() const;

  struct Impl;

 private:
  explicit RunRecorder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fomoe
