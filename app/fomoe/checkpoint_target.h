// What `fomoe eval`, `export` and `generate` share: the global model they read is a recorded
// run's last coordinator checkpoint (RUN_ID, with the run's recorded config), or a checkpoint
// file with the experiment that gives its shape; --set overrides apply to either.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"

namespace fomoe::cli {

struct CheckpointTarget {
  ExperimentConfig cfg;
  std::string checkpoint;       // coordinator.pt path
  int64_t expected_round = -1;  // the rounds the run recorded there; -1 for a bare file
  std::string what;             // "run 3 (name, fomoe)" or the experiment path
  int64_t run_id = -1;
};

/// InvalidArgument for a usage problem (missing --experiment, bad --set, unknown run); others for
/// stores and files that cannot be read.
Expected<CheckpointTarget> resolve_checkpoint_target(const std::string& target, const std::string& db,
                                                     const std::string& experiment, const std::vector<std::string>& sets);

/// A checkpoint that holds another round than the run recorded was overwritten by a later run
/// with the same run directory: an error naming both.
Status check_checkpoint_round(const CheckpointTarget& t, int64_t round_in_file);

/// 2 for usage errors (InvalidArgument, NotFound of a run), 1 for the rest.
int exit_code_for(const Error& e);

}  // namespace fomoe::cli
