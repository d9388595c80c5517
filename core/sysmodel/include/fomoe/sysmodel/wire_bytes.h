// Exact wire sizes of the engine's multipart messages (see fomoe/net/protocol.h):
//   32-byte header frame + metadata JSON frame + per tensor a descriptor frame
//   (u8 dtype | u8 ndim | u16 name_len | name | i64 shape[ndim] | u64 nbytes) + a raw data frame.
// The metadata JSON is not modelled: callers give its size (default 0 = pure tensor bytes).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fomoe/base/quantized_layout.h"
#include "fomoe/base/sparse_layout.h"
#include "fomoe/config/experiment.h"
#include "fomoe/sysmodel/model_shape.h"

namespace fomoe::sysmodel {

inline constexpr uint64_t kHeaderFrameBytes = 32;

/// Bytes on the wire, split into tensor payload and everything else.
struct WireBytes {
  uint64_t tensor = 0;   // raw element bytes (numel * bytes per element)
  uint64_t framing = 0;  // header + metadata + descriptor frames
  uint64_t messages = 0;
  uint64_t tensors = 0;
  uint64_t total() const { return tensor + framing; }
  WireBytes& operator+=(const WireBytes& o);
};
WireBytes operator+(WireBytes a, const WireBytes& b);
/// n times the same traffic (H inner steps of DDP).
WireBytes operator*(WireBytes a, uint64_t n);

size_t bytes_per_element(WirePrecision p);

/// How a tensor's values travel: plain elements of elem_bytes, or block-quantized; with topk > 0
/// top-k sparsified (fomoe/base/sparse_layout.h), the kept values coded so (plain: fp32).
struct TravelFormat {
  size_t elem_bytes = 4;
  bool quantized = false;
  QuantizedLayout layout;
  double topk = 0;
  // Entropy coding: bytes on the wire over bytes before zstd (measured: comm/*_coded_fraction); 1 = off.
  double coded = 1.0;
  uint64_t data_bytes(uint64_t numel) const {
    const uint64_t raw = topk > 0 ? sparse_bytes(numel, topk, quantized ? &layout : nullptr)
                         : quantized ? quantized_bytes(numel, layout)
                                     : numel * elem_bytes;
    return coded < 1.0 ? static_cast<uint64_t>(std::ceil(static_cast<double>(raw) * coded)) : raw;
  }
};
inline TravelFormat plain_travel(size_t elem_bytes) { return TravelFormat{elem_bytes, false, {}}; }
/// What federation.precision and federation.compression (None: the precision) make of a tensor.
/// topk > 0: federation.topk / down_topk.
TravelFormat travel_format(WirePrecision precision, Compression compression, double topk = 0);
/// 1 + 1 + 2 + name_bytes + 8 * ndim + 8.
uint64_t tensor_descriptor_bytes(size_t name_bytes, size_t ndim);
/// One tensor's descriptor and data frames (no message framing).
WireBytes tensor_wire_bytes(const ParamSpec& t, size_t elem_bytes);
WireBytes tensor_wire_bytes(const ParamSpec& t, const TravelFormat& format);
/// One message: header + meta_bytes + every tensor's descriptor and data.
WireBytes message_wire_bytes(const std::vector<ParamSpec>& tensors, size_t elem_bytes, uint64_t meta_bytes = 0);
WireBytes message_wire_bytes(const std::vector<ParamSpec>& tensors, const TravelFormat& format, uint64_t meta_bytes = 0);

}  // namespace fomoe::sysmodel
