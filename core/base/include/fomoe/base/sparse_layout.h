// Byte layout of top-k sparsified tensors on the wire (federation.topk / down_topk), shared by the
// protocol (which checks a tensor's data size), the codec (core/federation/compression) and the
// system model (which predicts bytes exactly). As SparseLoCo: a tensor of n values, flattened, is
// cut into chunks of kSparseChunk values (the last one shorter); each full chunk keeps
// k = max(1, ceil(fraction * 4096)) values of largest magnitude, a shorter last chunk of len values
// max(1, ceil(k * len / 4096)) (at most len), so everything follows from one integer k. The
// fraction does not travel: the protocol and the decoder recover k from (shape, data size) and
// refuse a size no k in [1, 4096] gives exactly (sparse_split).
// Data = [uint16 index within its chunk for every kept value, chunk after chunk, ascending within a
// chunk][the kept values, concatenated in the same order, coded as fp32 or block-quantized
// (quantized_layout.h) over the whole concatenation].
#pragma once

#include <cmath>
#include <cstdint>

#include "fomoe/base/quantized_layout.h"

namespace fomoe {

inline constexpr uint64_t kSparseChunk = 4096;       // values per chunk (indices fit uint16)
inline constexpr unsigned kSparseIndexBytes = 2;     // uint16 index within the chunk

/// Kept values of each full chunk at `fraction` (0 < fraction <= 1): max(1, ceil(fraction * 4096)).
inline uint64_t sparse_full_k(double fraction) {
  const double want = std::ceil(fraction * static_cast<double>(kSparseChunk) - 1e-9);
  if (!(want >= 1)) return 1;
  return want > static_cast<double>(kSparseChunk) ? kSparseChunk : static_cast<uint64_t>(want);
}
/// Kept values of the last, shorter chunk of `len` (< 4096) values when full chunks keep k_full:
/// max(1, ceil(k_full * len / 4096)), at most len (so k stays a function of one integer, which
/// the decoder recovers from the data size).
constexpr uint64_t sparse_last_k(uint64_t len, uint64_t k_full) {
  if (len == 0) return 0;
  const uint64_t k = (k_full * len + kSparseChunk - 1) / kSparseChunk;
  return k < 1 ? 1 : (k > len ? len : k);
}
constexpr uint64_t sparse_chunks(uint64_t numel) { return (numel + kSparseChunk - 1) / kSparseChunk; }
/// Kept values of n values when full chunks keep k_full.
constexpr uint64_t sparse_kept_for_k(uint64_t numel, uint64_t k_full) {
  return (numel / kSparseChunk) * k_full + sparse_last_k(numel % kSparseChunk, k_full);
}
inline uint64_t sparse_kept(uint64_t numel, double fraction) { return sparse_kept_for_k(numel, sparse_full_k(fraction)); }
/// Data bytes of `kept` values: indices, then values as fp32 (values == nullptr) or block-quantized.
constexpr uint64_t sparse_bytes_for_kept(uint64_t kept, const QuantizedLayout* values) {
  return kept * kSparseIndexBytes + (values ? quantized_bytes(kept, *values) : kept * 4);
}
/// The exact data bytes of n values sparsified at `fraction`.
inline uint64_t sparse_bytes(uint64_t numel, double fraction, const QuantizedLayout* values) {
  return sparse_bytes_for_kept(sparse_kept(numel, fraction), values);
}

struct SparseSplit {
  uint64_t kept = 0;    // values in the blob
  uint64_t k_full = 0;  // per full chunk
  uint64_t k_last = 0;  // in the last, shorter chunk (0 if none)
};
/// What a blob of n values and `bytes` data bytes carries, if `bytes` is a size some k_full in
/// [1, 4096] gives exactly; false otherwise (the protocol and the decoder refuse it).
constexpr bool sparse_split(uint64_t numel, uint64_t bytes, const QuantizedLayout* values, SparseSplit& out) {
  if (numel == 0) { out = {}; return bytes == 0; }
  // bytes(kept) is strictly increasing: binary search kept in [1, numel].
  uint64_t lo = 1, hi = numel;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (sparse_bytes_for_kept(mid, values) < bytes) lo = mid + 1; else hi = mid;
  }
  if (sparse_bytes_for_kept(lo, values) != bytes) return false;
  const uint64_t kept = lo;
  if (numel < kSparseChunk) { out = {kept, kSparseChunk, kept}; return true; }  // one short chunk keeps `kept`
  // kept(k_full) is strictly increasing with a full chunk: binary search k_full in [1, 4096].
  uint64_t a = 1, b = kSparseChunk;
  while (a < b) {
    const uint64_t mid = a + (b - a) / 2;
    if (sparse_kept_for_k(numel, mid) < kept) a = mid + 1; else b = mid;
  }
  if (sparse_kept_for_k(numel, a) != kept) return false;
  out = {kept, a, sparse_last_k(numel % kSparseChunk, a)};
  return true;
}

}  // namespace fomoe
