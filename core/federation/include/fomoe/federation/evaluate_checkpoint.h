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

#include <vector>

#include "fomoe/model/sampling_options.h"

namespace fomoe {

struct CheckpointSample {
  std::vector<int64_t> prompt_ids;  // the prompt as tokens
  std::vector<int64_t> ids;         // the continuation
  std::string text;                 // the continuation decoded ("" without a tokenizer)
  bool has_tokenizer = false;       // the run's data came with the project's BPE
  int64_t round = 0;
};

/// Continues a prompt with the global model in a coordinator checkpoint. The prompt is text,
/// tokenised with the run's BPE (data.format builtin, text or jsonl), or token ids (any format).
/// options.stop_token < 0 stops at the tokenizer's end of document where there is one.
Expected<CheckpointSample> sample_checkpoint(const ExperimentConfig& cfg, const std::string& checkpoint_path,
                                             const std::string& prompt_text, const std::vector<int64_t>& prompt_ids,
                                             SamplingOptions options);

}  // namespace fomoe

namespace fomoe {

/// A coordinator checkpoint of cfg's freshly initialised global model at round 0 (benchmarks,
/// tests and tools that need a checkpoint without a run).
Status save_initial_checkpoint(const ExperimentConfig& cfg, const std::string& path);

}  // namespace fomoe
