// BatchSampler: deterministic random training windows from a token stream, with a state that a
// checkpoint can save and restore; eval_batches: a fixed set of windows from the held-out file.
// A batch is batch_size rows of seq_len + 1 tokens, row-major: inputs row[:T], targets row[1:].
// The stream is read circularly, so any non-empty stream serves any seq_len.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fomoe/data/prepared_corpus.h"

namespace fomoe::data {

struct SamplerState {
  uint64_t rng = 0;        // SplitMix64 counter
  uint64_t n_batches = 0;  // batches drawn so far
  bool operator==(const SamplerState& o) const { return rng == o.rng && n_batches == o.n_batches; }
};

class BatchSampler {
 public:
  /// stream must be non-empty (assert).
  BatchSampler(std::shared_ptr<const std::vector<int32_t>> stream, uint64_t seed);

  std::vector<int32_t> next_batch(int batch_size, int seq_len);
  SamplerState state() const { return state_; }
  void set_state(const SamplerState& s) { state_ = s; }
  uint64_t stream_size() const { return stream_->size(); }

 private:
  std::shared_ptr<const std::vector<int32_t>> stream_;
  SamplerState state_;
};

/// n_batches batches from the held-out stream, a pure function of the arguments and the corpus.
std::vector<std::vector<int32_t>> eval_batches(const PreparedCorpus& corpus, int n_batches, int batch_size,
                                               int seq_len, uint64_t seed);

}  // namespace fomoe::data
