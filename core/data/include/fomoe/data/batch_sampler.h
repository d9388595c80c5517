// BatchSampler: deterministic random training windows from a token stream, with a state that a
// checkpoint can save and restore; eval_batches: a fixed set of windows from the held-out file.
// A batch is batch_size rows of seq_len + 1 tokens, row-major: inputs row[:T], targets row[1:].
// The stream is read circularly, so any non-empty stream serves any seq_len.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/data/mapped_tokens.h"
#include "fomoe/data/prepared_corpus.h"

namespace fomoe::data {

/// The tokens a sampler draws windows from: an in-memory stream (the built-in corpus) or a
/// range of a memory-mapped token file (other stacks' formats), read in place.
class TokenStream {
 public:
  virtual ~TokenStream() = default;
  virtual uint64_t size() const = 0;
  virtual int64_t at(uint64_t i) const = 0;
  /// Tokens [i, i + n) (no wrap-around) into out; throws std::runtime_error on a read error.
  virtual void read(uint64_t i, size_t n, int64_t* out) const {
    for (size_t k = 0; k < n; ++k) out[k] = at(i + k);
  }
  /// Where token i lives, for errors: "FILE, token 123 (byte 246)".
  virtual std::string where(uint64_t i) const = 0;
};
std::shared_ptr<const TokenStream> vector_stream(std::shared_ptr<const std::vector<int32_t>> tokens);
std::shared_ptr<const TokenStream> range_stream(const TokenRange& range);

struct SamplerState {
  uint64_t rng = 0;        // SplitMix64 counter
  uint64_t n_batches = 0;  // batches drawn so far
  bool operator==(const SamplerState& o) const { return rng == o.rng && n_batches == o.n_batches; }
};

class BatchSampler {
 public:
  /// stream must be non-empty (assert).
  BatchSampler(std::shared_ptr<const std::vector<int32_t>> stream, uint64_t seed);
  BatchSampler(std::shared_ptr<const TokenStream> stream, uint64_t seed);

  /// vocab_limit > 0: a token id outside [0, vocab_limit) throws std::out_of_range naming where
  /// it lives (a token file written with another tokenizer).
  std::vector<int32_t> next_batch(int batch_size, int seq_len, int64_t vocab_limit = 0);
  SamplerState state() const { return state_; }
  void set_state(const SamplerState& s) { state_ = s; }
  uint64_t stream_size() const { return stream_->size(); }

 private:
  std::shared_ptr<const TokenStream> stream_;
  SamplerState state_;
};

/// n_batches batches from the held-out stream, a pure function of the arguments and the corpus.
std::vector<std::vector<int32_t>> eval_batches(const PreparedCorpus& corpus, int n_batches, int batch_size,
                                               int seq_len, uint64_t seed);
std::vector<std::vector<int32_t>> eval_batches(std::shared_ptr<const TokenStream> heldout, int n_batches, int batch_size,
                                               int seq_len, uint64_t seed, int64_t vocab_limit = 0);

}  // namespace fomoe::data
