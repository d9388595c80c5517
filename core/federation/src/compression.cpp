#include "fomoe/federation/compression.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "fomoe/federation/tensor_wire.h"

namespace fomoe {

net::DType compressed_dtype(Compression c) {
  switch (c) {
    case Compression::None: return net::DType::F32;
    case Compression::Int8: return net::DType::Q8;
    case Compression::Fp8: return net::DType::FP8;
    case Compression::Int4: return net::DType::Q4;
    case Compression::Int2: return net::DType::Q2;
  }
  return net::DType::F32;
}

namespace {

// The largest code magnitude of each format: a block's scale is absmax / this.
float code_max(net::DType q) {
  switch (q) {
    case net::DType::Q8: return 127.0f;
    case net::DType::FP8: return 448.0f;  // e4m3fn's largest finite value
    case net::DType::Q4: return 7.0f;
    case net::DType::Q2: return 1.5f;     // levels -1.5, -0.5, 0.5, 1.5 (times the scale)
    default: break;
  }
  TORCH_CHECK(false, "dtype ", net::dtype_name(q), " is not block-quantized");
}

// Packs codes in [0, 2^bits) (uint8, one per value) `8 / bits` to a byte, first value lowest.
torch::Tensor pack(const torch::Tensor& codes, unsigned bits) {
  if (bits == 8) return codes;
  const int64_t per_byte = 8 / bits;
  const int64_t n = codes.numel();
  const int64_t padded = (n + per_byte - 1) / per_byte * per_byte;
  auto c = torch::zeros({padded}, torch::kUInt8);
  c.narrow(0, 0, n).copy_(codes);
  auto grouped = c.view({-1, per_byte}).to(torch::kInt);
  auto packed = torch::zeros({padded / per_byte}, torch::kInt);
  for (int64_t j = 0; j < per_byte; ++j) packed.bitwise_or_(grouped.select(1, j).bitwise_left_shift(static_cast<int64_t>(j * bits)));
  return packed.to(torch::kUInt8);
}

torch::Tensor unpack(const torch::Tensor& packed, unsigned bits, int64_t n) {
  if (bits == 8) return packed;
  const int64_t per_byte = 8 / bits;
  const int64_t mask = (1 << bits) - 1;
  auto p = packed.to(torch::kInt);
  std::vector<torch::Tensor> parts;
  for (int64_t j = 0; j < per_byte; ++j) parts.push_back(p.bitwise_right_shift(static_cast<int64_t>(j * bits)).bitwise_and(mask));
  return torch::stack(parts, 1).view(-1).narrow(0, 0, n);
}

}  // namespace

net::TensorBlob quantize_to_blob(const std::string& name, const torch::Tensor& t, net::DType q) {
  torch::NoGradGuard no_grad;
  const auto layout = net::quantized_layout(q);
  TORCH_CHECK(layout.has_value(), "tensor ", name, ": dtype ", net::dtype_name(q), " is not block-quantized");
  const float qmax = code_max(q);
  auto x = t.detach().to(torch::kCPU, torch::kFloat).contiguous().view(-1);
  const int64_t n = x.numel();
  const int64_t B = layout->block;
  const int64_t nb = (n + B - 1) / B;
  auto padded = n == nb * B ? x : torch::cat({x, torch::zeros({nb * B - n}, x.options())});
  auto blocks = padded.view({nb, B});
  // Round the scale up to bf16 (x (1 + 2^-7) beats bf16's 2^-9 rounding), so |x / scale| <= qmax.
  auto scale = (blocks.abs().amax(1) * (1.0 / qmax) * (1.0 + 1.0 / 128)).to(torch::kBFloat16);
  auto scale_f = scale.to(torch::kFloat);
  auto inverse = torch::where(scale_f > 0, scale_f.reciprocal(), torch::zeros_like(scale_f));
  auto y = (blocks * inverse.unsqueeze(1)).view(-1).narrow(0, 0, n);
  torch::Tensor codes;
  switch (q) {
    case net::DType::Q8: codes = y.round().clamp(-127, 127).to(torch::kChar).view(torch::kUInt8); break;
    case net::DType::FP8: codes = y.clamp(-448, 448).to(torch::kFloat8_e4m3fn).view(torch::kUInt8); break;
    case net::DType::Q4: codes = pack((y.round().clamp(-7, 7) + 8).to(torch::kUInt8), 4); break;
    case net::DType::Q2: codes = pack((y + 2).floor().clamp(0, 3).to(torch::kUInt8), 2); break;
    default: break;
  }
  codes = codes.contiguous();
  net::TensorBlob blob;
  blob.name = name;
  blob.dtype = q;
  blob.shape = t.sizes().vec();
  const size_t scale_bytes = static_cast<size_t>(nb) * kQuantScaleBytes;
  blob.data.resize(scale_bytes + static_cast<size_t>(codes.numel()));
  std::memcpy(blob.data.data(), scale.data_ptr(), scale_bytes);
  if (codes.numel() > 0) std::memcpy(blob.data.data() + scale_bytes, codes.data_ptr(), static_cast<size_t>(codes.numel()));
  TORCH_CHECK(blob.data.size() == net::payload_bytes(q, static_cast<uint64_t>(n)), "tensor ", name, ": quantized layout mismatch");
  return blob;
}

net::DType travel_dtype(Compression c, double topk) {
  const auto d = compressed_dtype(c);
  return topk > 0 ? net::sparse_dtype(d) : d;
}

net::TensorBlob sparsify_to_blob(const std::string& name, const torch::Tensor& t, double fraction, net::DType values) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(fraction > 0 && fraction <= 1, "tensor ", name, ": top-k fraction ", fraction, " is not in (0, 1]");
  TORCH_CHECK(values == net::DType::F32 || net::quantized_layout(values), "tensor ", name, ": dtype ", net::dtype_name(values),
              " cannot code sparse values");
  auto x = t.detach().to(torch::kCPU, torch::kFloat).contiguous().view(-1);
  const int64_t n = x.numel();
  const int64_t C = static_cast<int64_t>(kSparseChunk);
  const int64_t full = n / C, rest = n % C;
  const int64_t k_full = static_cast<int64_t>(sparse_full_k(fraction));
  const int64_t k_last = static_cast<int64_t>(sparse_last_k(static_cast<uint64_t>(rest), static_cast<uint64_t>(k_full)));
  std::vector<torch::Tensor> idx, val;
  if (full > 0) {
    auto chunks = x.narrow(0, 0, full * C).view({full, C});
    auto top = std::get<1>(chunks.abs().topk(k_full, 1, true, false));
    top = std::get<0>(top.sort(1));
    idx.push_back(top.reshape(-1));
    val.push_back(chunks.gather(1, top).reshape(-1));
  }
  if (rest > 0) {
    auto last = x.narrow(0, full * C, rest);
    auto top = std::get<0>(std::get<1>(last.abs().topk(k_last, 0, true, false)).sort());
    idx.push_back(top);
    val.push_back(last.index_select(0, top));
  }
  auto indices = idx.empty() ? torch::zeros({0}, torch::kLong) : torch::cat(idx).to(torch::kLong).contiguous();
  auto kept = val.empty() ? torch::zeros({0}, torch::kFloat) : torch::cat(val).contiguous();
  const int64_t m = kept.numel();
  net::TensorBlob blob;
  blob.name = name;
  blob.dtype = net::sparse_dtype(values);
  blob.shape = t.sizes().vec();
  std::string coded;
  if (values == net::DType::F32) {
    coded.resize(static_cast<size_t>(m) * 4);
    if (m > 0) std::memcpy(coded.data(), kept.data_ptr(), coded.size());
  } else {
    coded = quantize_to_blob(name, kept, values).data;
  }
  blob.data.resize(static_cast<size_t>(m) * kSparseIndexBytes + coded.size());
  auto acc = indices.accessor<int64_t, 1>();
  for (int64_t i = 0; i < m; ++i) {
    const auto v = static_cast<uint16_t>(acc[i]);
    std::memcpy(blob.data.data() + i * kSparseIndexBytes, &v, kSparseIndexBytes);
  }
  if (!coded.empty()) std::memcpy(blob.data.data() + m * kSparseIndexBytes, coded.data(), coded.size());
  TORCH_CHECK(blob.data.size() == net::payload_bytes(blob.dtype, static_cast<uint64_t>(n), fraction), "tensor ", name,
              ": sparse layout mismatch");
  return blob;
}

namespace {

torch::Tensor desparsify_blob(const net::TensorBlob& blob, net::DType values) {
  const int64_t n = blob.numel();
  const auto vl = net::quantized_layout(values);
  SparseSplit split;
  TORCH_CHECK(sparse_split(static_cast<uint64_t>(n), blob.data.size(), vl ? &*vl : nullptr, split), "tensor ", blob.name, ": ",
              blob.data.size(), " data bytes is no top-k size of ", n, " values of ", net::dtype_name(blob.dtype));
  const int64_t m = static_cast<int64_t>(split.kept);
  const int64_t C = static_cast<int64_t>(kSparseChunk);
  const int64_t full = n / C;
  auto positions = torch::empty({m}, torch::kLong);
  auto pos = positions.accessor<int64_t, 1>();
  int64_t i = 0;
  for (int64_t c = 0; c * C < n; ++c) {
    const int64_t len = std::min(C, n - c * C);
    const int64_t k = c < full ? static_cast<int64_t>(split.k_full) : static_cast<int64_t>(split.k_last);
    int64_t prev = -1;
    for (int64_t j = 0; j < k; ++j, ++i) {
      uint16_t v;
      std::memcpy(&v, blob.data.data() + i * kSparseIndexBytes, kSparseIndexBytes);
      TORCH_CHECK(v < len, "tensor ", blob.name, ": index ", v, " in chunk ", c, " is outside its ", len, " values");
      TORCH_CHECK(static_cast<int64_t>(v) > prev, "tensor ", blob.name, ": indices of chunk ", c, " are not strictly ascending");
      prev = v;
      pos[i] = c * C + v;
    }
  }
  TORCH_CHECK(i == m, "tensor ", blob.name, ": sparse chunk split mismatch");
  const size_t index_bytes = static_cast<size_t>(m) * kSparseIndexBytes;
  torch::Tensor kept;
  if (values == net::DType::F32) {
    kept = torch::empty({m}, torch::kFloat);
    if (m > 0) std::memcpy(kept.data_ptr(), blob.data.data() + index_bytes, static_cast<size_t>(m) * 4);
  } else {
    net::TensorBlob inner;
    inner.name = blob.name;
    inner.dtype = values;
    inner.shape = {m};
    inner.data = blob.data.substr(index_bytes);
    kept = dequantize_blob(inner).view(-1);
  }
  auto dense = torch::zeros({n}, torch::kFloat);
  if (m > 0) dense.index_put_({positions}, kept);
  return dense.view(blob.shape);
}

}  // namespace

torch::Tensor dequantize_blob(const net::TensorBlob& blob) {
  if (auto v = net::sparse_value_dtype(blob.dtype)) return desparsify_blob(blob, *v);
  const auto layout = net::quantized_layout(blob.dtype);
  TORCH_CHECK(layout.has_value(), "tensor ", blob.name, ": dtype ", net::dtype_name(blob.dtype), " is not block-quantized");
  const int64_t n = blob.numel();
  TORCH_CHECK(blob.data.size() == net::payload_bytes(blob.dtype, static_cast<uint64_t>(n)), "tensor ", blob.name, ": ",
              blob.data.size(), " data bytes for ", n, " values of ", net::dtype_name(blob.dtype));
  const int64_t B = layout->block;
  const int64_t nb = (n + B - 1) / B;
  auto scale = torch::empty({nb}, torch::kBFloat16);
  const size_t scale_bytes = static_cast<size_t>(nb) * kQuantScaleBytes;
  if (nb > 0) std::memcpy(scale.data_ptr(), blob.data.data(), scale_bytes);
  auto scale_f = scale.to(torch::kFloat);
  TORCH_CHECK(torch::isfinite(scale_f).all().item<bool>(), "tensor ", blob.name, ": a block scale is not finite");
  const int64_t code_bytes = static_cast<int64_t>(blob.data.size() - scale_bytes);
  auto codes = torch::empty({code_bytes}, torch::kUInt8);
  if (code_bytes > 0) std::memcpy(codes.data_ptr(), blob.data.data() + scale_bytes, static_cast<size_t>(code_bytes));
  torch::Tensor values;
  switch (blob.dtype) {
    case net::DType::Q8: values = codes.view(torch::kChar).to(torch::kFloat); break;
    case net::DType::FP8: values = codes.view(torch::kFloat8_e4m3fn).to(torch::kFloat); break;
    case net::DType::Q4: values = unpack(codes, 4, n).to(torch::kFloat) - 8; break;
    case net::DType::Q2: values = unpack(codes, 2, n).to(torch::kFloat) - 1.5; break;
    default: break;
  }
  auto per_value_scale = scale_f.repeat_interleave(B).narrow(0, 0, n);
  return (values * per_value_scale).view(blob.shape);
}

void ErrorFeedback::forget_all_but(const std::set<std::string>& keep) {
  for (auto it = residual_.begin(); it != residual_.end();) it = keep.count(it->first) ? std::next(it) : residual_.erase(it);
}

torch::Tensor ErrorFeedback::residual(const std::string& name) const {
  auto it = residual_.find(name);
  return it == residual_.end() ? torch::Tensor() : it->second;
}

net::TensorBlob ErrorFeedback::encode(const std::string& name, const torch::Tensor& value, net::DType dtype, torch::Tensor* sent,
                                      double topk) {
  torch::NoGradGuard no_grad;
  auto target = value.detach().to(torch::kFloat);
  if (enabled_) {
    auto it = residual_.find(name);
    if (it != residual_.end() && it->second.sizes() == target.sizes()) target = target + it->second.to(target.device());
  }
  const auto sparse_values = net::sparse_value_dtype(dtype);
  net::TensorBlob blob = sparse_values          ? sparsify_to_blob(name, target, topk, *sparse_values)
                         : net::quantized_layout(dtype) ? quantize_to_blob(name, target, dtype)
                                                      : tensor_to_blob(name, target, dtype == net::DType::BF16 ? WirePrecision::BF16
                                                                                     : dtype == net::DType::F16 ? WirePrecision::F16
                                                                                                                : WirePrecision::F32);
  if (enabled_ || sent) {
    auto decoded = blob_to_tensor(blob).to(target.device());
    if (enabled_) residual_[name] = target - decoded;
    if (sent) *sent = decoded;
  }
  return blob;
}

}  // namespace fomoe
