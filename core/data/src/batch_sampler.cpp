// Seeded random windows over a circular token stream; held-out eval batches.
#include "fomoe/data/batch_sampler.h"

#include <algorithm>
#include <stdexcept>

#include "data_hash.h"

namespace fomoe::data {

namespace {

class VectorStream : public TokenStream {
 public:
  explicit VectorStream(std::shared_ptr<const std::vector<int32_t>> t) : t_(std::move(t)) {}
  uint64_t size() const override { return t_->size(); }
  int64_t at(uint64_t i) const override { return (*t_)[i]; }
  std::string where(uint64_t i) const override { return "token " + std::to_string(i) + " of the prepared corpus"; }

 private:
  std::shared_ptr<const std::vector<int32_t>> t_;
};

class RangeStream : public TokenStream {
 public:
  explicit RangeStream(TokenRange r) : r_(std::move(r)) {}
  uint64_t size() const override { return r_.size(); }
  int64_t at(uint64_t i) const override { return r_.tokens->token(r_.begin + i); }
  void read(uint64_t i, size_t n, int64_t* out) const override {
    if (Status st = r_.tokens->read(r_.begin + i, n, out); !st) throw std::runtime_error(st.error().message);
  }
  std::string where(uint64_t i) const override {
    const uint64_t t = r_.begin + i;
    return r_.tokens->token_path() + ", token " + std::to_string(t) + " (byte " +
           std::to_string(t * static_cast<uint64_t>(r_.tokens->width())) + " of the token data)";
  }

 private:
  TokenRange r_;
};

}  // namespace

std::shared_ptr<const TokenStream> vector_stream(std::shared_ptr<const std::vector<int32_t>> tokens) {
  return std::make_shared<VectorStream>(std::move(tokens));
}

std::shared_ptr<const TokenStream> range_stream(const TokenRange& range) { return std::make_shared<RangeStream>(range); }

BatchSampler::BatchSampler(std::shared_ptr<const std::vector<int32_t>> stream, uint64_t seed)
    : BatchSampler(stream ? vector_stream(std::move(stream)) : nullptr, seed) {}

BatchSampler::BatchSampler(std::shared_ptr<const TokenStream> stream, uint64_t seed) : stream_(std::move(stream)) {
  FOMOE_ASSERT(stream_ && stream_->size() > 0, "BatchSampler needs a non-empty token stream");
  state_.rng = detail::mix64(seed ^ 0x53414d504c4552ULL);  // "SAMPLER"
}

std::vector<int32_t> BatchSampler::next_batch(int batch_size, int seq_len, int64_t vocab_limit) {
  FOMOE_ASSERT(batch_size > 0 && seq_len > 0, "batch_size and seq_len must be positive");
  const TokenStream& s = *stream_;
  const uint64_t n = s.size();
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(batch_size) * static_cast<size_t>(seq_len + 1));
  const size_t window = static_cast<size_t>(seq_len) + 1;
  std::vector<int64_t> ids(window);
  for (int b = 0; b < batch_size; ++b) {
    const uint64_t start = detail::uniform_below(state_.rng, n);
    // One read per window (two where it wraps around the end of the stream).
    size_t filled = 0;
    while (filled < window) {
      const uint64_t at = (start + filled) % n;
      const size_t run = static_cast<size_t>(std::min<uint64_t>(window - filled, n - at));
      s.read(at, run, ids.data() + filled);
      filled += run;
    }
    for (size_t t = 0; t < window; ++t) {
      const int64_t id = ids[t];
      if (vocab_limit > 0 && (id < 0 || id >= vocab_limit))
        throw std::out_of_range(s.where((start + t) % n) + " is token id " + std::to_string(id) + ", outside model.vocab_size = " +
                                std::to_string(vocab_limit) + ": the data was written with another tokenizer, or "
                                "model.vocab_size is too small");
      out.push_back(static_cast<int32_t>(id));
    }
  }
  ++state_.n_batches;
  return out;
}

std::vector<std::vector<int32_t>> eval_batches(const PreparedCorpus& corpus, int n_batches, int batch_size,
                                               int seq_len, uint64_t seed) {
  if (corpus.heldout.n_tokens() == 0) return {};
  return eval_batches(vector_stream(corpus.heldout_stream()), n_batches, batch_size, seq_len, seed);
}

std::vector<std::vector<int32_t>> eval_batches(std::shared_ptr<const TokenStream> heldout, int n_batches, int batch_size,
                                               int seq_len, uint64_t seed, int64_t vocab_limit) {
  std::vector<std::vector<int32_t>> out;
  if (!heldout || heldout->size() == 0 || n_batches <= 0) return out;
  BatchSampler sampler(std::move(heldout), seed);
  out.reserve(static_cast<size_t>(n_batches));
  for (int i = 0; i < n_batches; ++i) out.push_back(sampler.next_batch(batch_size, seq_len, vocab_limit));
  return out;
}

}  // namespace fomoe::data
