// Seeded random windows over a circular token stream; held-out eval batches.
#include "fomoe/data/batch_sampler.h"

#include "data_hash.h"

namespace fomoe::data {

BatchSampler::BatchSampler(std::shared_ptr<const std::vector<int32_t>> stream, uint64_t seed)
    : stream_(std::move(stream)) {
  FOMOE_ASSERT(stream_ && !stream_->empty(), "BatchSampler needs a non-empty token stream");
  state_.rng = detail::mix64(seed ^ 0x53414d504c4552ULL);  // "SAMPLER"
}

std::vector<int32_t> BatchSampler::next_batch(int batch_size, int seq_len) {
  FOMOE_ASSERT(batch_size > 0 && seq_len > 0, "batch_size and seq_len must be positive");
  const std::vector<int32_t>& s = *stream_;
  const uint64_t n = s.size();
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(batch_size) * static_cast<size_t>(seq_len + 1));
  for (int b = 0; b < batch_size; ++b) {
    uint64_t start = detail::uniform_below(state_.rng, n);
    for (int t = 0; t <= seq_len; ++t) out.push_back(s[(start + static_cast<uint64_t>(t)) % n]);
  }
  ++state_.n_batches;
  return out;
}

std::vector<std::vector<int32_t>> eval_batches(const PreparedCorpus& corpus, int n_batches, int batch_size,
                                               int seq_len, uint64_t seed) {
  std::vector<std::vector<int32_t>> out;
  if (corpus.heldout.n_tokens() == 0 || n_batches <= 0) return out;
  BatchSampler sampler(corpus.heldout_stream(), seed);
  out.reserve(static_cast<size_t>(n_batches));
  for (int i = 0; i < n_batches; ++i) out.push_back(sampler.next_batch(batch_size, seq_len));
  return out;
}

}  // namespace fomoe::data
