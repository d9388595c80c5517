// Lossless entropy coding of tensor data frames with zstd, after any quantization. A block of
// 4-bit codes of bell-shaped values holds ~3-3.5 bits of information per value (the small codes
// are the common ones), and zstd's Huffman stage takes a frame to within ~1% of that entropy; a
// frame of fp32 weights shrinks by about a tenth (the exponent bytes). The receiver needs no
// setting: decode() recognises a coded frame by bit 7 of its descriptor's dtype byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/net/protocol.h"

namespace fomoe::net {

inline constexpr int kEntropyCodingLevel = 1;       // zstd's fastest standard level: ~0.4 GB/s per core, within 1% of 19 here
inline constexpr size_t kEntropyCodingMinBytes = 64;  // smaller frames are left raw (a zstd frame has ~10 bytes of header)

struct CodingTally {
  uint64_t raw = 0;    // tensor data bytes before coding
  uint64_t coded = 0;  // the same on the wire
  double fraction() const { return raw > 0 ? static_cast<double>(coded) / static_cast<double>(raw) : 1.0; }
  CodingTally& operator+=(const CodingTally& o) {
    raw += o.raw;
    coded += o.coded;
    return *this;
  }
};

/// Codes the data of every tensor of msg that is not coded yet, is at least kEntropyCodingMinBytes
/// and gets smaller; the others stay raw. Returns the tensor data bytes before and after.
CodingTally entropy_code(Message& msg, int level = kEntropyCodingLevel);

/// The payload size a zstd frame declares; a Protocol error when `coded` is not one complete zstd
/// frame that declares it.
Expected<uint64_t> zstd_content_size(const void* coded, size_t size);
/// Decodes one zstd frame into exactly `raw_bytes` bytes (the size checked against the tensor's
/// shape and dtype first); a Protocol error naming `what` when it does not decode to that size.
Expected<std::string> zstd_decode(const void* coded, size_t size, uint64_t raw_bytes, const std::string& what);

}  // namespace fomoe::net
