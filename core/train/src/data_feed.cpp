#include "fomoe/train/data_feed.h"

#include <torch/torch.h>

namespace fomoe {

namespace {
torch::Tensor to_tensor(const std::vector<int32_t>& flat, int batch, int seq_len) {
  return torch::from_blob(const_cast<int32_t*>(flat.data()), {batch, seq_len + 1}, torch::kInt).to(torch::kLong);
}
}  // namespace

data::CorpusSpec corpus_spec_from(const ExperimentConfig& cfg) {
  data::CorpusSpec spec;
  spec.sources = cfg.data.sources;
  spec.vocab_size = cfg.model.vocab_size;
  spec.heldout_fraction = cfg.data.heldout_fraction;
  spec.max_bytes = cfg.data.max_bytes;
  spec.cache_dir = cfg.data.cache_dir;
  return spec;
}

Expected<std::unique_ptr<DataFeed>> DataFeed::open(const ExperimentConfig& cfg, int n_sites, int site) {
  auto corpus = data::prepare_corpus(corpus_spec_from(cfg));
  if (!corpus) return corpus.error();
  auto feed = std::unique_ptr<DataFeed>(new DataFeed());
  feed->cfg_ = cfg;
  feed->corpus_ = std::make_unique<data::PreparedCorpus>(std::move(*corpus));
  const auto mode = cfg.data.split == ShardSplit::Iid ? data::ShardMode::Iid : data::ShardMode::NonIid;
  auto shard = data::make_shard(*feed->corpus_, n_sites, site, mode, cfg.run.seed);
  if (!shard) return shard.error();
  feed->shard_ = std::move(*shard);
  const uint64_t window = static_cast<uint64_t>(cfg.model.seq_len) + 1;
  if (feed->shard_.tokens->size() <= window)
    return make_error(ErrorCode::InvalidArgument, "site " + std::to_string(site) + "'s shard holds " +
                                                      std::to_string(feed->shard_.tokens->size()) +
                                                      " tokens, fewer than one window of model.seq_len + 1 = " +
                                                      std::to_string(window) + ": raise data.max_bytes or use fewer sites");
  // Distinct, reproducible sample order per site.
  feed->sampler_ = std::make_unique<data::BatchSampler>(feed->shard_.tokens, cfg.run.seed * 1000003ULL + static_cast<uint64_t>(site));
  for (auto& b : data::eval_batches(*feed->corpus_, cfg.train.eval_batches, cfg.train.batch_size, cfg.model.seq_len, /*seed=*/4242))
    feed->eval_.push_back(to_tensor(b, cfg.train.batch_size, cfg.model.seq_len));
  return feed;
}

torch::Tensor DataFeed::next_batch() {
  auto flat = sampler_->next_batch(cfg_.train.batch_size, cfg_.model.seq_len);
  return to_tensor(flat, cfg_.train.batch_size, cfg_.model.seq_len);
}

std::vector<torch::Tensor> DataFeed::eval_batches() { return eval_; }

double DataFeed::unigram_entropy_of_heldout() const { return data::unigram_entropy(corpus_->heldout); }

}  // namespace fomoe
