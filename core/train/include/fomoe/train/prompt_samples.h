// PromptSampler: after an evaluation, the global model's greedy continuation of the experiment's
// fixed prompts (train.sample_prompts, train.sample_tokens), so a researcher reads what the model
// learned round by round. Greedy and from the model alone: it draws no random numbers and leaves
// the model as it found it, so a run's training is the same with samples on or off.
#pragma once

#include <memory>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"
#include "fomoe/config/experiment.h"
#include "fomoe/data/tokenizer.h"
#include "fomoe/model/transformer.h"

namespace fomoe {

class DataFeed;

class PromptSampler {
 public:
  /// Null (no error) when the experiment asks for no samples, or its data has no tokenizer the
  /// engine runs (token files without data.tokenizer). feed: the run's open feed, whose built-in
  /// corpus already holds the tokenizer (else it is loaded from data.tokenizer).
  static Expected<std::unique_ptr<PromptSampler>> open(const ExperimentConfig& cfg, const DataFeed* feed);

  /// One entry per prompt. round: -1 for a single-site run.
  std::vector<SampleEntry> sample(Transformer& model, int round, long step) const;

 private:
  PromptSampler(data::Tokenizer tokenizer, const ExperimentConfig& cfg);
  data::Tokenizer tokenizer_;
  std::vector<std::string> prompts_;
  std::vector<std::vector<int64_t>> prompt_ids_;
  int max_new_tokens_ = 0;
};

}  // namespace fomoe
