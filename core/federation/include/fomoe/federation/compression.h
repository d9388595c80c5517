// What travels, compressed: block quantization (fomoe/base/quantized_layout.h: int8, fp8 e4m3,
// int4, int2, each block of values with one bf16 scale) and error feedback, which keeps at the
// sender what a round's message did not carry and adds it to the next one (so the sum of what
// was sent over rounds follows the sum of the true values instead of accumulating the error).
#pragma once

#include <torch/types.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "fomoe/config/experiment.h"
#include "fomoe/net/protocol.h"

namespace fomoe {

/// The wire dtype of a compression setting (Q8, FP8, Q4, Q2); F32 for Compression::None.
net::DType compressed_dtype(Compression c);
/// Quantizes t (any floating dtype or device, flattened in row-major order) into a blob of the
/// block-quantized dtype q. Scales are rounded up to bf16, so no value clips; |error| per value is
/// at most half a step of its block (int8: absmax/254, int4: absmax/14, int2: absmax/3; fp8: 2^-4
/// relative, and absmax * 2^-19 near zero).
net::TensorBlob quantize_to_blob(const std::string& name, const torch::Tensor& t, net::DType q);
/// fp32 CPU values of a block-quantized or sparse blob, in its shape. Throws c10::Error naming the
/// tensor on a wrong data size, a non-finite scale, or (sparse) an index outside its chunk or not
/// strictly ascending within it.
torch::Tensor dequantize_blob(const net::TensorBlob& blob);

/// The wire dtype of what travels: compressed_dtype(c), or its SPARSE_* dtype when topk > 0.
net::DType travel_dtype(Compression c, double topk);
/// Top-k sparsification (fomoe/base/sparse_layout.h): per chunk of 4096 values of t (flattened),
/// the k of largest |value|, indices ascending, values coded as `values` (F32, Q8, FP8, Q4, Q2).
/// The blob's dtype is net::sparse_dtype(values); its size is net::payload_bytes(dtype, n, fraction).
net::TensorBlob sparsify_to_blob(const std::string& name, const torch::Tensor& t, double fraction, net::DType values);

/// Per-tensor residuals of one sender. With feedback off, encode just compresses.
class ErrorFeedback {
 public:
  /// decay: SparseLoCo's beta; each message carries value + decay * residual (1 = keep it all).
  explicit ErrorFeedback(bool enabled = true, double decay = 1.0) : enabled_(enabled), decay_(decay) {}
  /// Compresses value + decay * the residual of `name` into dtype (block-quantized, SPARSE_* with the
  /// fraction `topk`, or plain F32/BF16/F16) and keeps, as the new residual, what the blob does not
  /// carry. `sent` (optional) gets the blob's values in fp32 on value's device (dense, zeros where
  /// nothing was sent): what the receiver will decode.
  net::TensorBlob encode(const std::string& name, const torch::Tensor& value, net::DType dtype, torch::Tensor* sent = nullptr,
                         double topk = 0);
  /// Drops a residual (a tensor the sender no longer holds, or a receiver that starts over).
  void forget(const std::string& name) { residual_.erase(name); }
  void clear() { residual_.clear(); }
  /// Drops the residuals of every tensor not in `keep` (the sender's holdings changed).
  void forget_all_but(const std::set<std::string>& keep);
  /// The residual of `name`, undefined if none.
  torch::Tensor residual(const std::string& name) const;
  bool enabled() const { return enabled_; }

 private:
  bool enabled_;
  double decay_ = 1.0;
  std::map<std::string, torch::Tensor> residual_;
};

/// What compression changed in what one sender sent in a round, per group of parameters (the
/// dense ones, and each expert (MoE layer, expert)): sums of squares of the error (decoded minus
/// the round's true values) and of the true values, so groups, sites and rounds pool. An expert's
/// pseudo-gradient is averaged over its few holders and a dense one over every site, so the
/// error of the average differs by group (measured by the coordinator from these).
struct CompressionError {
  struct Sums {
    double err2 = 0, norm2 = 0;
  };
  Sums dense;
  std::map<std::pair<int, int>, Sums> experts;  // (moe layer, expert) -> sums

  /// Adds one tensor: `truth` the round's true values, `sent` what the receiver decodes.
  void add(bool is_expert, int moe_layer, int expert, const torch::Tensor& truth, const torch::Tensor& sent);
  bool empty() const { return dense.norm2 == 0 && experts.empty(); }
  /// sqrt(err2 / norm2) of the dense group, of every expert pooled, and the largest of one expert.
  double dense_relative() const;
  double experts_relative() const;
  double expert_max_relative() const;
  /// {"dense": [err2, norm2], "experts": [[layer, expert, err2, norm2], ...]}, 4 significant digits.
  nlohmann::json to_json() const;
  /// Throws std::runtime_error naming what is malformed (a report is outside input).
  static CompressionError from_json(const nlohmann::json& j);
};

/// The compression error of a round's averaged update, from the sites' reports: per group, the
/// error of the mean of n holders' values is taken as sqrt(sum of their err2) / n (their errors
/// independent: rounding different values), against the norm of the mean of what arrived.
class UpdateErrorTally {
 public:
  /// One site's report: its CompressionError and its decoded tensors.
  void add(const CompressionError& e, const std::map<std::string, torch::Tensor>& arrived);
  bool empty() const { return reports_ == 0; }
  struct Relative {
    double dense = 0, experts = 0;  // relative L2, every expert pooled
    double expert_max = -1;         // the worst expert; -1 when there are none
  };
  /// group_of: a tensor name -> (moe layer, expert), or (-1, -1) for a dense parameter.
  Relative relative(const std::function<std::pair<int, int>(const std::string&)>& group_of) const;

 private:
  int reports_ = 0;
  std::map<std::pair<int, int>, double> err2_;                 // summed over sites; (-1, -1) dense
  std::map<std::string, std::pair<torch::Tensor, int>> sum_;  // name -> (sum of what arrived, senders)
};

}  // namespace fomoe
