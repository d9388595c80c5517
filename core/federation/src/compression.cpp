#include "fomoe/federation/compression.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

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
    if (it != residual_.end() && it->second.sizes() == target.sizes())
      target = decay_ == 1.0 ? target + it->second.to(target.device()) : target + decay_ * it->second.to(target.device());
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

namespace {

double relative(const CompressionError::Sums& s) { return s.norm2 > 0 ? std::sqrt(s.err2 / s.norm2) : 0.0; }

// 4 significant digits: short in the report's JSON, plenty for an error measurement.
double four_digits(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return std::strtod(buf, nullptr);
}

double non_negative_number(const nlohmann::json& j, const char* what) {
  if (!j.is_number() || !std::isfinite(j.get<double>()) || j.get<double>() < 0)
    throw std::runtime_error(std::string("compression error: ") + what + " is not a non-negative number");
  return j.get<double>();
}

}  // namespace

void CompressionError::add(bool is_expert, int moe_layer, int expert, const torch::Tensor& truth, const torch::Tensor& sent) {
  torch::NoGradGuard no_grad;
  const auto t = truth.detach().to(torch::kFloat);
  const double err2 = (sent.to(t.device()) - t).square().sum().item<double>();
  const double norm2 = t.square().sum().item<double>();
  Sums& s = is_expert ? experts[{moe_layer, expert}] : dense;
  s.err2 += err2;
  s.norm2 += norm2;
}

double CompressionError::dense_relative() const { return relative(dense); }

double CompressionError::experts_relative() const {
  Sums all;
  for (auto& [_, s] : experts) {
    all.err2 += s.err2;
    all.norm2 += s.norm2;
  }
  return relative(all);
}

double CompressionError::expert_max_relative() const {
  double worst = 0;
  for (auto& [_, s] : experts) worst = std::max(worst, relative(s));
  return worst;
}

nlohmann::json CompressionError::to_json() const {
  nlohmann::json ex = nlohmann::json::array();
  for (auto& [key, s] : experts) ex.push_back({key.first, key.second, four_digits(s.err2), four_digits(s.norm2)});
  return {{"dense", {four_digits(dense.err2), four_digits(dense.norm2)}}, {"experts", ex}};
}

CompressionError CompressionError::from_json(const nlohmann::json& j) {
  CompressionError out;
  if (!j.is_object() || !j.contains("dense") || !j.contains("experts"))
    throw std::runtime_error("compression error: not an object with \"dense\" and \"experts\"");
  const auto& d = j.at("dense");
  if (!d.is_array() || d.size() != 2) throw std::runtime_error("compression error: \"dense\" is not [err2, norm2]");
  out.dense = {non_negative_number(d[0], "dense err2"), non_negative_number(d[1], "dense norm2")};
  if (!j.at("experts").is_array()) throw std::runtime_error("compression error: \"experts\" is not an array");
  for (auto& e : j.at("experts")) {
    if (!e.is_array() || e.size() != 4 || !e[0].is_number_integer() || !e[1].is_number_integer() || e[0].get<int64_t>() < 0 ||
        e[1].get<int64_t>() < 0 || e[0].get<int64_t>() > 1 << 20 || e[1].get<int64_t>() > 1 << 20)
      throw std::runtime_error("compression error: an expert entry is not [layer, expert, err2, norm2]");
    out.experts[{e[0].get<int>(), e[1].get<int>()}] = {non_negative_number(e[2], "an expert's err2"),
                                                        non_negative_number(e[3], "an expert's norm2")};
  }
  return out;
}

void UpdateErrorTally::add(const CompressionError& e, const std::map<std::string, torch::Tensor>& arrived) {
  torch::NoGradGuard no_grad;
  ++reports_;
  err2_[{-1, -1}] += e.dense.err2;
  for (auto& [key, sums] : e.experts) err2_[key] += sums.err2;
  for (auto& [name, t] : arrived) {
    auto& [sum, n] = sum_[name];
    sum = sum.defined() ? sum + t : t.to(torch::kFloat).clone();
    ++n;
  }
}

UpdateErrorTally::Relative UpdateErrorTally::relative(const std::function<std::pair<int, int>(const std::string&)>& group_of) const {
  torch::NoGradGuard no_grad;
  std::map<std::pair<int, int>, std::pair<double, int>> norm2;  // group -> (|mean|^2, senders)
  for (auto& [name, sn] : sum_) {
    auto& g = norm2[group_of(name)];
    g.first += (sn.first / sn.second).square().sum().item<double>();
    g.second = std::max(g.second, sn.second);
  }
  Relative out;
  double experts_err2 = 0, experts_norm2 = 0;
  for (auto& [key, g] : norm2) {
    auto it = err2_.find(key);
    const double err2 = it == err2_.end() ? 0.0 : it->second / (static_cast<double>(g.second) * g.second);
    const double rel = g.first > 0 ? std::sqrt(err2 / g.first) : 0.0;
    if (key.first < 0) {
      out.dense = rel;
      continue;
    }
    experts_err2 += err2;
    experts_norm2 += g.first;
    out.expert_max = std::max(out.expert_max, rel);
  }
  out.experts = experts_norm2 > 0 ? std::sqrt(experts_err2 / experts_norm2) : 0.0;
  return out;
}

}  // namespace fomoe
