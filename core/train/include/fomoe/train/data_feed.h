// Token batches for one site as tensors: the corpus from the experiment's [data] section, this
// site's shard (IID or non-IID), a seeded sampler whose position checkpoints can restore, and the
// fixed held-out evaluation batches. Used by the single-site runner, the agent and the coordinator.
// data.format = builtin prepares the Debian texts (in memory); megatron / tokens / llmc map a
// token file another stack wrote and read this site's contiguous range of it in place.
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
  /// The prepared built-in corpus; null for token files (data.format != builtin).
  const data::PreparedCorpus* corpus() const { return corpus_.get(); }
  /// The mapped token file; null for the built-in corpus.
  const data::MappedTokens* mapped() const { return mapped_.get(); }
  double unigram_entropy_of_heldout() const;
  uint64_t shard_tokens() const { return shard_tokens_; }
  /// What this site trains on, in words (source, file, range), for logs and the run record.
  const std::string& description() const { return description_; }
  /// What this feed reads, for the run record (never the data): JSON text with the format, every
  /// file with its size and content hash, and the tokenizer's hash. Reads each file once.
  Expected<std::string> manifest() const;

 private:
  static Expected<std::unique_ptr<DataFeed>> open_mapped(const ExperimentConfig& cfg, int n_sites, int site);
  ExperimentConfig cfg_;
  std::unique_ptr<data::PreparedCorpus> corpus_;
  std::shared_ptr<const data::MappedTokens> mapped_;
  std::shared_ptr<const data::TokenStream> heldout_;
  uint64_t shard_tokens_ = 0;
  std::string description_;
  data::Shard shard_;
  std::unique_ptr<data::BatchSampler> sampler_;
  std::vector<torch::Tensor> eval_;
};

}  // namespace fomoe
