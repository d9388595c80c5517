// Opens the run store for a CLI run (--db PATH, else run.db from the experiment, else the
// default path) and begins the run's record. A store that cannot be opened is a clear error:
// the run does not start unrecorded.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"
#include "fomoe/store/run_recorder.h"

namespace fomoe::cli {

struct Recording {
  std::unique_ptr<RunRecorder> recorder;
  int64_t run_id = -1;
  std::string db_path;
};

/// The store file a run records into: --db, else run.db from the experiment, else the default.
std::string resolved_db_path(const ExperimentConfig& cfg, const std::string& db_flag);

/// Begins a new run record, or with resume_run_id >= 0 goes on in that record (RunRecorder::
/// resume_run); a record that no longer exists gives a new one (with a warning), one that
/// another live process writes is an error.
Expected<Recording> start_recording(const ExperimentConfig& cfg, const std::string& db_flag, int n_sites,
                                    int64_t resume_run_id = -1);

/// A record file sits beside a run's resumable state and names the store and run record that
/// state belongs to, so `--resume` goes on in that record instead of starting a second one:
/// RUN_DIR/record.json for `fomoe run`, CHECKPOINT.record.json for `fomoe train`.
std::filesystem::path run_record_file(const std::string& run_dir);
std::filesystem::path checkpoint_record_file(const std::string& checkpoint);
/// The run id a record file names, -1 if there is none or it names another store than db_path.
int64_t recorded_run_id(const std::filesystem::path& record_file, const std::string& db_path);
/// Writes it atomically (a temporary file renamed over it).
void write_record_file(const std::filesystem::path& record_file, const std::string& db_path, int64_t run_id);
/// Seconds since the record's start: a resumed run's clock goes on from there, so the times in
/// its record never go back.
double seconds_since_record_start(const std::string& db_path, int64_t run_id);

}  // namespace fomoe::cli
