// Byte layout of block-quantized tensors on the wire, shared by the protocol (which checks a
// tensor's data size), the codec (core/federation/compression) and the system model (which
// predicts bytes exactly). A tensor of n values, flattened, is cut into blocks of `block` values;
// each block has one bf16 scale. Data = [ceil(n / block) bf16 scales][ceil(n * bits / 8) code bytes].
#pragma once

#include <cstdint>

namespace fomoe {

struct QuantizedLayout {
  unsigned bits = 8;    // per value: 8 (int8, fp8 e4m3), 4 (int4), 2 (int2)
  unsigned block = 128; // values per scale
};

inline constexpr unsigned kQuantScaleBytes = 2;  // bf16: fp32's range (pseudo-gradients are tiny), half the bytes
inline constexpr QuantizedLayout kInt8Layout{8, 128};
inline constexpr QuantizedLayout kFp8Layout{8, 128};
inline constexpr QuantizedLayout kInt4Layout{4, 64};
inline constexpr QuantizedLayout kInt2Layout{2, 64};

constexpr uint64_t quantized_blocks(uint64_t numel, QuantizedLayout l) { return (numel + l.block - 1) / l.block; }
constexpr uint64_t quantized_code_bytes(uint64_t numel, QuantizedLayout l) { return (numel * l.bits + 7) / 8; }
constexpr uint64_t quantized_bytes(uint64_t numel, QuantizedLayout l) {
  return quantized_blocks(numel, l) * kQuantScaleBytes + quantized_code_bytes(numel, l);
}

}  // namespace fomoe
