// Token batches for one site as tensors: the corpus from the experiment's [data] section, this
// site's shard (IID or non-IID), a seeded sampler whose position checkpoints can restore, and the
// fixed held-out evaluation batches. Used by the single-site runner, the agent and the coordinator.
#pragma once

#include <torch/types.h>

#include <memory>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"
#include "fomoe/data/batch_sampler.h"
#include "fomoe/data/prepared_corpus.h"
#include "fomoe/data/shard.h"

namespace fomoe {

data::CorpusSpec corpus_spec_from(const ExperimentConfig& cfg);

class DataFeed {
 public:
  /// Prepares (or loads from the cache) the corpus; errors name the missing file or bad setting.
  static Expected<std::unique_ptr<DataFeed>> open(const ExperimentConfig& cfg, int n_sites, int site);

  torch::Tensor next_batch();                 // int64 [B, T+1]
  std::vector<torch::Tensor> eval_batches();  // fixed, held-out, same for every site
  data::SamplerState sampler_state() const { return sampler_->state(); }
  void set_sampler_state(const data::SamplerState& s) { sampler_->set_state(s); }
  const data::PreparedCorpus& corpus() const { return *corpus_; }
  double unigram_entropy_of_heldout() const;
  uint64_t shard_tokens() const { return shard_.tokens->size(); }

 private:
  ExperimentConfig cfg_;
  std::unique_ptr<data::PreparedCorpus> corpus_;
  data::Shard shard_;
  std::unique_ptr<data::BatchSampler> sampler_;
  std::vector<torch::Tensor> eval_;
};

}  // namespace fomoe
