// Internals shared by RunStore, RunRecorder and the benchmark: opening a connection with all
// checks, and the prepared inserts for every table.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"
#include "fomoe/store/run_store.h"
#include "rollup.h"
#include "sqlite_util.h"

namespace fomoe::store_detail {

struct OpenedDb {
  std::unique_ptr<Db> db;
  int schema_version = 0;
  std::vector<int64_t> interrupted;  // runs marked interrupted on this open
};

/// Makes SQLite's unix VFS take open-file-description locks instead of POSIX process locks, once
/// per process (ofd_locks.cpp says why). False where the kernel or SQLite cannot (a warning is logged).
bool use_descriptor_owned_locks();

/// Opens `path` with WAL, synchronous=NORMAL and busy_timeout, applies the schema and (writable
/// opens) marks runs of dead writers on this host as interrupted.
Expected<OpenedDb> open_database(const std::string& path, const StoreOptions& options);

std::string host_name();
double unix_now();

/// What can be told about a run's recorded writer process from this process.
enum class WriterLiveness {
  Unrecorded,  // writer_pid 0: a run from before v2 recorded writers
  OtherHost,   // recorded on another machine: cannot tell
  Self,        // this process
  Alive,       // a live process on this host (another user's counts)
  Dead,        // no such process on this host
};
WriterLiveness writer_liveness(int64_t pid, const std::string& host);

/// Inserts rows with cached prepared statements; metric rows also feed a RollupBuilder whose
/// blocks are upserted by finish_batch(). Callers own the transaction.
class RowWriter {
 public:
  explicit RowWriter(Db& db);
  Status metrics(int64_t run, const std::vector<MetricPoint>& points);
  Status links(int64_t run, const std::vector<LinkBytes>& links);
  Status placement(int64_t run, const std::vector<PlacementEntry>& entries);
  Status expert_load(int64_t run, const std::vector<ExpertLoadEntry>& entries);
  Status event(int64_t run, const RunEvent& event);
  Status checkpoint(int64_t run, const CheckpointEntry& checkpoint);
  Status samples(int64_t run, const std::vector<SampleEntry>& samples);
  Status finish_run(int64_t run, RunStatus status, const std::string& message, double finished_at);
  /// Drops run `run`'s rows of rounds >= from_round (metrics, links, placement, expert load,
  /// checkpoints, samples; events stay), rebuilds its rollups and invalidates its cached summary.
  Status resume(int64_t run, int from_round);
  Status finish_batch();  // writes rollups of the metrics since the last call
  void discard_batch();   // after a rollback

 private:
  Stmt& prepared(int index, const char* sql);
  Expected<int64_t> name_id(const std::string& name);
  Db& db_;
  Stmt stmts_[11];
  std::unordered_map<std::string, int64_t> name_ids_;  // cleared on rollback
  RollupBuilder rollup_;
};

/// Caches run `run`'s summary columns (call after its last rows, inside the transaction).
Status cache_summary(Db& db, int64_t run);

/// Inserts a run row (status running, this process as writer) and returns its id.
Expected<int64_t> insert_run(Db& db, const RunInfo& info);

/// Takes over run `run` for writing (status running, finished_at NULL, message '', summary
/// invalid, this process as writer) in one IMMEDIATE transaction. NotFound for an unknown id;
/// Busy while another live process (or a writer on another host) has it running.
Status reopen_run(Db& db, int64_t run);

}  // namespace fomoe::store_detail
