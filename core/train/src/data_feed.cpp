#include "fomoe/train/data_feed.h"

#include <torch/torch.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "fomoe/data/data_manifest.h"

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
  if (cfg.data.format == DataFormat::Text || cfg.data.format == DataFormat::Jsonl) {
    spec.own.format = data_format_name(cfg.data.format);
    spec.own.path = cfg.data.path;
    spec.own.separator = cfg.data.separator;
    spec.own.text_field = cfg.data.text_field;
    spec.own.domain_field = cfg.data.domain_field;
  }
  spec.tokenizer = cfg.data.tokenizer;
  spec.eos_id = cfg.data.eos_id;
  return spec;
}

// "2 of 4", or for a site that joined beyond the first n_sites "5 (site 1's shard, in its own order) of 4".
static std::string shard_owner(int n_sites, int site) {
  const std::string of = " of " + std::to_string(n_sites);
  if (site < n_sites) return std::to_string(site) + of;
  return std::to_string(site) + " (site " + std::to_string(site % n_sites) + "'s shard, in its own order)" + of;
}

Expected<std::unique_ptr<DataFeed>> DataFeed::open_mapped(const ExperimentConfig& cfg, int n_sites, int site) {
  data::TokenSourceSpec spec;
  spec.format = cfg.data.format == DataFormat::Megatron ? data::TokenFormat::Megatron
                : cfg.data.format == DataFormat::Tokens ? data::TokenFormat::Flat
                                                        : data::TokenFormat::Llmc;
  spec.path = cfg.data.path;
  spec.flat_width = cfg.data.token_dtype == "uint32" ? 4 : 2;
  spec.eos_id = cfg.data.eos_id;
  auto tokens = data::MappedTokens::open(spec);
  if (!tokens) return tokens.error();
  auto feed = std::unique_ptr<DataFeed>(new DataFeed());
  feed->cfg_ = cfg;
  feed->mapped_ = *tokens;
  const auto split = data::split_heldout(*tokens, cfg.data.heldout_fraction);
  const auto range = data::site_range(split.train, n_sites, site % n_sites);  // a joined site shares a shard
  const uint64_t window = static_cast<uint64_t>(cfg.model.seq_len) + 1;
  if (range.size() <= window)
    return make_error(ErrorCode::InvalidArgument, (*tokens)->describe() + ": site " + std::to_string(site) + " of " +
                                                      std::to_string(n_sites) + " gets " + std::to_string(range.size()) +
                                                      " tokens, fewer than one window of model.seq_len + 1 = " +
                                                      std::to_string(window));
  // An id outside the model's vocabulary fails here when it is near the start of the range (the
  // common case: a file from another tokenizer), and otherwise when a batch meets it.
  const int64_t vocab = cfg.model.vocab_size;
  const uint64_t probe_end = std::min(range.end, range.begin + (uint64_t{1} << 20));
  for (uint64_t i = range.begin; i < probe_end; ++i) {
    const int64_t id = (*tokens)->token(i);
    if (id < 0 || id >= vocab)
      return make_error(ErrorCode::InvalidArgument, (*tokens)->token_path() + ", token " + std::to_string(i) + " (byte " +
                                                        std::to_string(i * static_cast<uint64_t>((*tokens)->width())) +
                                                        ") is id " + std::to_string(id) + ", outside model.vocab_size = " +
                                                        std::to_string(vocab) + ": set model.vocab_size to the tokenizer's");
  }
  feed->shard_tokens_ = range.size();
  feed->description_ = (*tokens)->describe() + ", tokens " + std::to_string(range.begin) + ".." + std::to_string(range.end) +
                       " for site " + shard_owner(n_sites, site);
  feed->sampler_ = std::make_unique<data::BatchSampler>(data::range_stream(range),
                                                        cfg.run.seed * 1000003ULL + static_cast<uint64_t>(site));
  if (split.heldout.size() > window) {
    feed->heldout_ = data::range_stream(split.heldout);
    for (auto& b : data::eval_batches(feed->heldout_, cfg.train.eval_batches, cfg.train.batch_size, cfg.model.seq_len,
                                      /*seed=*/4242, vocab))
      feed->eval_.push_back(to_tensor(b, cfg.train.batch_size, cfg.model.seq_len));
  }
  (*tokens)->release_pages();  // the probe's pages; training reads windows with pread
  return feed;
}

Expected<std::unique_ptr<DataFeed>> DataFeed::open(const ExperimentConfig& cfg, int n_sites, int site) {
  const bool token_file = cfg.data.format == DataFormat::Megatron || cfg.data.format == DataFormat::Tokens ||
                          cfg.data.format == DataFormat::Llmc;
  if (token_file) {
    try {
      return open_mapped(cfg, n_sites, site);
    } catch (const std::out_of_range& e) {  // an eval batch met an id outside the vocabulary
      return make_error(ErrorCode::InvalidArgument, e.what());
    }
  }
  auto corpus = data::prepare_corpus(corpus_spec_from(cfg));
  if (!corpus) return corpus.error();
  auto feed = std::unique_ptr<DataFeed>(new DataFeed());
  feed->cfg_ = cfg;
  feed->corpus_ = std::make_unique<data::PreparedCorpus>(std::move(*corpus));
  const auto mode = cfg.data.split == ShardSplit::Iid ? data::ShardMode::Iid : data::ShardMode::NonIid;
  // A site that joined beyond the first n_sites reads site (site mod n_sites)'s shard, in its own order.
  auto shard = data::make_shard(*feed->corpus_, n_sites, site % n_sites, mode, cfg.run.seed);
  if (!shard) return shard.error();
  feed->shard_ = std::move(*shard);
  feed->shard_tokens_ = feed->shard_.tokens->size();
  feed->description_ = "built-in corpus " + feed->corpus_->key + " (" + std::to_string(feed->shard_tokens_) + " tokens for site " +
                       shard_owner(n_sites, site) + ")";
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
  // Token files are checked against the vocabulary as they are read (the built-in corpus was
  // tokenised by the model's own BPE).
  auto flat = sampler_->next_batch(cfg_.train.batch_size, cfg_.model.seq_len, mapped_ ? cfg_.model.vocab_size : 0);
  return to_tensor(flat, cfg_.train.batch_size, cfg_.model.seq_len);
}

std::vector<torch::Tensor> DataFeed::eval_batches() { return eval_; }

double DataFeed::unigram_entropy_of_heldout() const {
  if (corpus_) return data::unigram_entropy(corpus_->heldout);
  if (!heldout_) return 0.0;
  // Token files: over (at most) the first 16M held-out tokens, read in place.
  std::vector<int32_t> sample;
  const uint64_t n = std::min<uint64_t>(heldout_->size(), uint64_t{1} << 24);
  sample.reserve(n);
  for (uint64_t i = 0; i < n; ++i) sample.push_back(static_cast<int32_t>(heldout_->at(i)));
  if (mapped_) mapped_->release_pages();
  return data::unigram_entropy(sample);
}

Expected<std::string> DataFeed::manifest() const {
  nlohmann::json j;
  j["format"] = data_format_name(cfg_.data.format);
  j["description"] = description_;
  std::vector<std::string> paths;
  if (cfg_.data.format == DataFormat::Megatron) {
    paths = {cfg_.data.path + ".bin", cfg_.data.path + ".idx"};
  } else if (cfg_.data.format == DataFormat::Tokens || cfg_.data.format == DataFormat::Llmc) {
    paths = {cfg_.data.path};
  } else {
    auto files = data::corpus_files(corpus_spec_from(cfg_));
    if (!files) return files.error();
    paths = std::move(*files);
  }
  nlohmann::json files = nlohmann::json::array();
  uint64_t total = 0;
  for (const auto& p : paths) {
    auto f = data::fingerprint_file(p);
    if (!f) return f.error();
    total += f->bytes;
    files.push_back({{"path", f->path}, {"bytes", f->bytes}, {"hash", f->hash}});
  }
  j["files"] = files;
  j["bytes"] = total;
  if (corpus_ && !corpus_->spec.tokenizer.empty()) {  // data.tokenizer: the same file at every site
    const data::Tokenizer& tok = corpus_->tokenizer;
    j["tokenizer"] = {{"kind", tok.kind_name()}, {"vocab_size", tok.vocab_size()}, {"eod_id", tok.eod_id()},
                      {"path", tok.path()}, {"hash", tok.content_hash()}};
  } else if (corpus_) {
    auto t = data::fingerprint_file(corpus_->tokenizer_path);
    j["tokenizer"] = t ? nlohmann::json{{"kind", "fomoe-bpe"}, {"vocab_size", corpus_->tokenizer.vocab_size()}, {"hash", t->hash}}
                       : nlohmann::json{{"kind", "fomoe-bpe"}, {"vocab_size", corpus_->tokenizer.vocab_size()}};
  } else {
    j["tokenizer"] = {{"kind", "none: token ids as the files hold them"}};
  }
  return j.dump();
}

}  // namespace fomoe
