#include "fomoe/model/moe_options.h"

#include <algorithm>
#include <cmath>

namespace fomoe {

int64_t ModelOptions::n_moe_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < n_layers_; ++l) n += is_moe_layer(l) ? 1 : 0;
  return n;
}

Residency Residency::full(int n_moe_layers, int n_experts) {
  return fraction(n_moe_layers, n_experts, 1.0);
}

Residency Residency::fraction(int n_moe_layers, int n_experts, double fraction) {
  Residency r;
  const int held = std::clamp(static_cast<int>(std::lround(fraction * n_experts)), 0, n_experts);
  for (int l = 0; l < n_moe_layers; ++l) {
    std::vector<int> experts;
    for (int e = 0; e < held; ++e) experts.push_back(e);
    r.experts_per_layer.push_back(experts);
  }
  return r;
}

bool Residency::holds(int moe_layer, int expert) const {
  if (moe_layer < 0 || moe_layer >= static_cast<int>(experts_per_layer.size())) return false;
  const auto& v = experts_per_layer[static_cast<size_t>(moe_layer)];
  return std::find(v.begin(), v.end(), expert) != v.end();
}

int Residency::n_held() const {
  int n = 0;
  for (const auto& v : experts_per_layer) n += static_cast<int>(v.size());
  return n;
}

Status validate_options(const ModelOptions& o) {
  auto bad = [](const std::string& m) { return Status(make_error(ErrorCode::InvalidArgument, m)); };
  if (o.vocab_size() < 2) return bad("model: vocab_size must be >= 2");
  if (o.d_model() % o.n_heads() != 0)
    return bad("model: d_model (" + std::to_string(o.d_model()) + ") must be divisible by n_heads (" + std::to_string(o.n_heads()) + ")");
  if (o.n_kv_heads() < 0 || o.n_kv_heads() > o.n_heads() || o.n_heads() % o.kv_heads() != 0)
    return bad("model: n_kv_heads (" + std::to_string(o.n_kv_heads()) + ") must divide n_heads (" + std::to_string(o.n_heads()) +
               "); 0 means n_heads");
  if ((o.d_model() / o.n_heads()) % 2 != 0) return bad("model: head dimension d_model / n_heads must be even for rotary embeddings");
  if (o.top_k() < 1 || o.top_k() > o.n_experts())
    return bad("model: top_k (" + std::to_string(o.top_k()) + ") must be in [1, n_experts = " + std::to_string(o.n_experts()) + "]");
  if (o.moe_every() != 1 && o.moe_every() != 2) return bad("model: moe_every must be 1 or 2");
  if (o.moe_every() == 2 && o.n_layers() < 2) return bad("model: moe_every = 2 needs at least 2 layers (layer 1 is the first MoE layer)");
  return Status::ok();
}

Status validate_residency(const Residency& r, const ModelOptions& o) {
  auto bad = [](const std::string& m) { return Status(make_error(ErrorCode::InvalidArgument, m)); };
  const int64_t n_moe = o.n_moe_layers();
  if (static_cast<int64_t>(r.experts_per_layer.size()) != n_moe)
    return bad("residency lists " + std::to_string(r.experts_per_layer.size()) + " MoE layers, the model has " + std::to_string(n_moe));
  for (size_t l = 0; l < r.experts_per_layer.size(); ++l) {
    auto v = r.experts_per_layer[l];
    for (int e : v) {
      if (e < 0 || e >= o.n_experts())
        return bad("residency for MoE layer " + std::to_string(l) + " names expert " + std::to_string(e) + ", but the model has " +
                   std::to_string(o.n_experts()) + " experts (valid: 0.." + std::to_string(o.n_experts() - 1) + ")");
    }
    std::sort(v.begin(), v.end());
    if (std::adjacent_find(v.begin(), v.end()) != v.end())
      return bad("residency for MoE layer " + std::to_string(l) + " names an expert twice");
  }
  return Status::ok();
}

}  // namespace fomoe
