// Opens the run store for a CLI run (--db PATH, else run.db from the experiment, else the
// default path) and begins the run's record. A store that cannot be opened is a clear error:
// the run does not start unrecorded.
#pragma once

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

}  // namespace fomoe::cli
