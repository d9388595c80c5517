// RunStore: the SQLite run store (one database file holding every run), its queries for the CLI
// and the GUI, and its open-time checks (schema version and migrations, crashed writers).
// Writing during a run goes through RunRecorder (run_recorder.h), which batches on its own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"

namespace fomoe {

inline constexpr int kStoreSchemaVersion = 3;

struct StoreOptions {
  int busy_timeout_ms = 5000;  // how long to wait on a lock held by another process before Busy
  bool read_only = false;      // open without writing (no migration, no interrupted marking)
  long max_page_count = 0;     // > 0: cap the file at this many pages (tests use it to simulate a full disk)
  // SQLite's page cache for this connection, the most it adds to the process's memory. Small,
  // so a recorder that runs for days stays flat once it is full; the OS's file cache serves the rest.
  int cache_kib = 8192;
};

struct RunRecord {
  int64_t id = 0;
  std::string name;
  std::string method;
  std::string config_text;  // empty in list_runs results (use get_run for the full text)
  std::string git_revision;
  int n_sites = 1;
  double started_at = 0.0;  // unix seconds
  std::optional<double> finished_at;
  std::string status;  // run_status_name(): running, finished, failed, interrupted, cancelled, stopped
  std::string tags;    // free text, comma separated by convention
  std::string message;
  int64_t writer_pid = 0;
  std::string writer_host;

  /// Seconds from started_at until now: where a resumed run's clock goes on, so the times it
  /// records never go back.
  double seconds_since_start() const;
};

struct RunSummary {
  RunRecord run;
  std::optional<double> final_train_loss;  // mean over the sites that reached the last step
  std::optional<double> final_eval_loss;
  std::optional<double> best_eval_loss;    // minimum over every eval/loss point
  int64_t total_bytes = 0;                 // all links, both directions
  int64_t last_step = -1;                  // largest step of train/loss, -1 if none
};

struct RunFilter {
  std::string method;         // exact, empty = any
  std::string status;         // exact, empty = any
  std::string name_contains;  // substring, empty = any
  int limit = 0;              // 0 = no limit; newest runs first
};

struct MetricSeries {
  std::string name;
  int site = -1;
  int64_t n_points = 0;
  int64_t step_first = 0;
  int64_t step_last = 0;
  double min = 0.0;
  double max = 0.0;
  double last = 0.0;  // value at step_last
};

/// One downsampling bucket: 2^shift consecutive steps (see downsample_shift).
struct SeriesBucket {
  int64_t step_first = 0;
  int64_t step_last = 0;
  int64_t count = 0;
  double min = 0.0;   // NaN when every value in the bucket is NaN
  double max = 0.0;
  double last = 0.0;  // value at step_last (the latest written one on ties)
};

struct SeriesPoint {
  int64_t step = 0;
  int round = -1;
  double value = 0.0;
  double wall_time = 0.0;
};

struct LinkTotal {
  int site = 0;
  Direction direction = Direction::Sent;
  std::string msg_type;
  int64_t messages = 0;
  int64_t bytes = 0;
  double seconds = 0.0;
};

/// `$XDG_DATA_HOME/fomoe/runs.db`, else `~/.local/share/fomoe/runs.db` (directories made on open).
std::string default_db_path();

/// Smallest shift s such that the steps [lo, hi] fall into at most n_buckets aligned blocks of
/// 2^s steps (bucket of a step = step >> s). downsample() and downsample_exact() both use it.
int downsample_shift(int64_t lo, int64_t hi, int n_buckets);

const char* direction_name(Direction d);  // "sent" / "received"

/// One connection to a run store. Not thread safe: use one RunStore per thread.
class RunStore {
 public:
  /// Opens (creating file and parent directories if needed), migrates older schemas forward and
  /// marks runs whose writer process has died as interrupted. Errors: Io (read-only, cannot
  /// create), Busy (locked), Corrupt (not a run store), Unsupported (schema newer than this build).
  static Expected<std::unique_ptr<RunStore>> open(const std::string& path, const StoreOptions& options = {});
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const;
  int schema_version() const;
  /// Runs marked interrupted by this open() (their writer process was gone).
  const std::vector<int64_t>& interrupted_on_open() const;
  /// SQLite's data_version: changes whenever another connection, in any process, committed to the
  /// store since the last call. A cheap poll for views that follow the store.
  Expected<int64_t> data_version();

  Expected<std::vector<RunSummary>> list_runs(const RunFilter& filter = {});
  Expected<RunRecord> get_run(int64_t run_id);  // NotFound for an unknown id
  Expected<RunSummary> get_summary(int64_t run_id);
  Expected<std::vector<MetricSeries>> metric_series(int64_t run_id);
  Expected<std::vector<std::string>> metric_names(int64_t run_id);

  /// Min/max/last per bucket of 2^s steps over [step_lo, step_hi] (clipped to the series' first and
  /// last step), s = downsample_shift(lo, hi, n_buckets). Whole buckets come from the rollup table
  /// maintained by the writer, partial edge buckets from the raw rows: the answer equals
  /// downsample_exact() but reads a few thousand rows for any series length.
  Expected<std::vector<SeriesBucket>> downsample(int64_t run_id, const std::string& name, int site,
                                                 int64_t step_lo, int64_t step_hi, int n_buckets);
  /// The same buckets computed by one GROUP BY over the raw rows (reference, slower).
  Expected<std::vector<SeriesBucket>> downsample_exact(int64_t run_id, const std::string& name, int site,
                                                       int64_t step_lo, int64_t step_hi, int n_buckets);
  /// Every point of one series in [step_lo, step_hi], in step order.
  Expected<std::vector<SeriesPoint>> read_series(int64_t run_id, const std::string& name, int site,
                                                 int64_t step_lo, int64_t step_hi);
  /// Streams every metric point of a run (grouped by series, step order) without holding them in memory.
  Status for_each_metric(int64_t run_id, const std::function<void(const MetricPoint&)>& fn);

  Expected<std::vector<LinkTotal>> link_totals(int64_t run_id);  // per (site, direction, msg_type)
  Expected<std::vector<LinkBytes>> links(int64_t run_id);        // every row
  Expected<std::vector<RunEvent>> events(int64_t run_id);
  Expected<std::vector<int>> placement_rounds(int64_t run_id);
  Expected<std::vector<PlacementEntry>> placement(int64_t run_id, int round = -1);  // -1: all rounds
  Expected<std::vector<ExpertLoadEntry>> expert_load(int64_t run_id, int round = -1);
  Expected<std::vector<CheckpointEntry>> checkpoints(int64_t run_id);
  /// The recorded continuations of the fixed prompts, in step then prompt order.
  Expected<std::vector<SampleEntry>> samples(int64_t run_id);

  Status delete_run(int64_t run_id);  // every row of the run, one transaction; NotFound if absent
  Status set_tags(int64_t run_id, const std::string& tags);

  struct Impl;

 private:
  explicit RunStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fomoe
