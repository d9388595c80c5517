// Single-site training run: data -> trainer -> metrics -> sinks, with progress and cancellation.
// Torch-free header, so the CLI and the GUI bridge can call it without compiling LibTorch headers.
#pragma once

#include <functional>
#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"
#include "fomoe/config/experiment.h"

namespace fomoe {

struct TrainProgress {
  long step = 0;
  long total_steps = 0;
  double train_loss = 0.0;   // mean over the last logging interval
  double eval_loss = -1.0;   // last evaluation, -1 before the first
  double tokens_per_s = 0.0;
  double elapsed_s = 0.0;
  double unigram_entropy = 0.0;  // the held-out data's unigram entropy: the bar to beat
};

/// Return false to stop the run after this step: it saves a checkpoint there and returns with
/// SingleSiteResult::stopped (a resume from that checkpoint goes on at the next step).
using ProgressFn = std::function<bool(const TrainProgress&)>;

struct SingleSiteResult {
  double final_train_loss = 0.0;
  double final_eval_loss = 0.0;
  double unigram_entropy = 0.0;
  long steps = 0;
  std::string checkpoint_path;  // last checkpoint written ("" if none)
  long checkpoint_path_step = -1;  // the step it holds
  bool stopped = false;            // ended by the progress callback before the last step
};

/// Where a run's checkpoint goes: RUN.OUT_DIR/RUN.NAME.ckpt.
std::string checkpoint_path(const ExperimentConfig& cfg);

/// Runs cfg.train.steps steps (resuming from `resume_checkpoint` when given). Events go to `sink`
/// (may be null). Errors (config, data, checkpoint) come back as Error; compute errors too; a
/// stop request does not (see ProgressFn).
Expected<SingleSiteResult> run_single_site(const ExperimentConfig& cfg, RunSink* sink, const ProgressFn& progress,
                                           const std::string& resume_checkpoint = "", double wall_offset_s = 0.0);

}  // namespace fomoe
