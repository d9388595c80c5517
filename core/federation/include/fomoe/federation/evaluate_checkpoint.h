// `fomoe eval`: the held-out loss of a coordinator checkpoint (the global model after a round) on
// the held-out split of any data source the experiment names — the run's own, or another one
// given with --set data.format=... data.path=.... Torch-free header, so the CLI stays light.
#pragma once

#include <cstdint>
#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"

namespace fomoe {

struct CheckpointEval {
  double loss = 0.0;        // mean next-token cross-entropy, nats/token
  double perplexity = 0.0;  // exp(loss)
  int64_t tokens = 0;       // predicted tokens evaluated
  int batches = 0;
  int64_t round = 0;        // completed rounds stored in the checkpoint
  std::string data;         // what was evaluated on, in words
};

/// Loads the checkpoint into a global model of cfg's shape and evaluates it on cfg.data's held-out
/// split with cfg.train.eval_batches batches (the same batches the run evaluated on when the data
/// is the run's). Errors: the checkpoint (Corrupt, with its path), the data (its own messages).
Expected<CheckpointEval> evaluate_checkpoint(const ExperimentConfig& cfg, const std::string& checkpoint_path);

}  // namespace fomoe
