#include "fomoe/sysmodel/model_shape.h"

#include <algorithm>
#include <cstdlib>

namespace fomoe::sysmodel {

bool ModelShape::is_moe_layer(int64_t layer) const {
  if (layer < first_dense_layers) return false;
  if (moe_every <= 1) return true;
  return layer % moe_every == moe_every - 1;  // moe_every 2: odd layers, as the engine
}

int64_t ModelShape::n_moe_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < n_layers; ++l) n += is_moe_layer(l) ? 1 : 0;
  return n;
}

namespace {

Error bad(const std::string& field, const std::string& what) {
  return make_error(ErrorCode::InvalidArgument, "model shape: " + field + " " + what);
}

}  // namespace

Status validate_model_shape(const ModelShape& m) {
  const struct {
    const char* name;
    int64_t value;
  } positive[] = {{"vocab", m.vocab}, {"d_model", m.d_model}, {"n_layers", m.n_layers},
                  {"n_heads", m.n_heads}, {"n_experts", m.n_experts}, {"top_k", m.top_k},
                  {"d_expert", m.d_expert}, {"moe_every", m.moe_every}};
  for (const auto& p : positive)
    if (p.value <= 0) return bad(p.name, "is " + std::to_string(p.value) + ", must be >= 1");
  if (m.top_k > m.n_experts)
    return bad("top_k", "is " + std::to_string(m.top_k) + ", more than n_experts " + std::to_string(m.n_experts));
  if (m.shared_expert < 0) return bad("shared_expert", "is negative; use 0 for none");
  if (m.n_kv_heads < 0 || m.n_kv_heads > m.n_heads || (m.n_kv_heads > 0 && m.n_heads % m.n_kv_heads != 0))
    return bad("n_kv_heads", "is " + std::to_string(m.n_kv_heads) + ", must divide n_heads " + std::to_string(m.n_heads) + " (0: MHA)");
  if (m.first_dense_layers < 0 || m.first_dense_layers > m.n_layers)
    return bad("first_dense_layers", "must be in [0, n_layers]");
  if (m.d_ff_dense < 0) return bad("d_ff_dense", "is negative; use 0 for d_expert * top_k");
  if (m.n_experts > 1000000 || m.n_layers > 100000)
    return bad("n_experts/n_layers", "is beyond what this model enumerates (1e6 experts, 1e5 layers)");
  return Status::ok();
}

int64_t ParamSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

void push_swiglu(std::vector<ParamSpec>& out, const std::string& prefix, int64_t d, int64_t f) {
  out.push_back({prefix + ".w_in", {2 * f, d}});
  out.push_back({prefix + ".w_out", {d, f}});
}

// held == nullptr: all experts.
std::vector<ParamSpec> enumerate_impl(const ModelShape& m, const std::vector<std::vector<int>>* held) {
  const int64_t D = m.d_model;
  std::vector<ParamSpec> out;
  out.push_back({"tok_emb.weight", {m.vocab, D}});
  int moe_index = 0;
  for (int64_t l = 0; l < m.n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    out.push_back({p + "norm1.weight", {D}});
    out.push_back({p + "attn.qkv.weight", {D + 2 * m.kv_width(), D}});
    out.push_back({p + "attn.proj.weight", {D, D}});
    out.push_back({p + "norm2.weight", {D}});
    if (m.is_moe_layer(l)) {
      out.push_back({p + "moe.router.weight", {m.n_experts, D}});
      if (held) {
        std::vector<int> experts = moe_index < static_cast<int>(held->size()) ? (*held)[static_cast<size_t>(moe_index)]
                                                                              : std::vector<int>{};
        std::sort(experts.begin(), experts.end());
        for (int e : experts) push_swiglu(out, p + "moe.expert_" + std::to_string(e), D, m.d_expert);
      } else {
        for (int64_t e = 0; e < m.n_experts; ++e) push_swiglu(out, p + "moe.expert_" + std::to_string(e), D, m.d_expert);
      }
      if (m.shared_expert > 0) push_swiglu(out, p + "moe.shared", D, m.shared_expert);
      ++moe_index;
    } else {
      push_swiglu(out, p + "ffn", D, m.dense_ffn_width());
    }
  }
  out.push_back({"norm_f.weight", {D}});
  if (!m.tie_embeddings) out.push_back({"head.weight", {m.vocab, D}});
  return out;
}

}  // namespace

std::vector<ParamSpec> enumerate_parameters(const ModelShape& m) { return enumerate_impl(m, nullptr); }

std::vector<ParamSpec> enumerate_site_parameters(const ModelShape& m, const std::vector<std::vector<int>>& held) {
  return enumerate_impl(m, &held);
}

ParamKind classify_parameter_name(const std::string& name, const ModelShape& m) {
  ParamKind kind;
  const auto pos = name.find(".moe.expert_");
  if (pos == std::string::npos || name.rfind("layers.", 0) != 0) return kind;
  const int64_t block = std::strtol(name.c_str() + 7, nullptr, 10);
  int moe_index = 0;
  for (int64_t l = 0; l < block; ++l) moe_index += m.is_moe_layer(l) ? 1 : 0;
  kind.is_expert = true;
  kind.moe_layer = moe_index;
  kind.expert = static_cast<int>(std::strtol(name.c_str() + pos + 12, nullptr, 10));
  return kind;
}

ParamCounts count_parameters(const ModelShape& m) {
  const int64_t D = m.d_model;
  ParamCounts c;
  c.embeddings = (m.tie_embeddings ? 1 : 2) * m.vocab * D;
  c.attention = m.n_layers * (2 * D * D + 2 * D * m.kv_width());  // q, o: D x D; k, v: kv_width x D
  c.per_expert = 3 * D * m.d_expert;
  const int64_t n_moe = m.n_moe_layers();
  const int64_t n_dense_layers = m.n_layers - n_moe;
  c.experts = n_moe * m.n_experts * c.per_expert;
  const int64_t norms = m.n_layers * 2 * D + D;
  const int64_t routers = n_moe * m.n_experts * D;
  const int64_t shared = n_moe * 3 * D * m.shared_expert;
  const int64_t dense_ffn = n_dense_layers * 3 * D * m.dense_ffn_width();
  c.dense = c.embeddings + c.attention + norms + routers + shared + dense_ffn;
  c.total = c.dense + c.experts;
  c.active = c.dense + n_moe * m.top_k * c.per_expert;
  return c;
}

std::vector<std::vector<int>> round_robin_held(int site, int n_sites, int replication, int n_moe_layers, int n_experts) {
  std::vector<std::vector<int>> held(static_cast<size_t>(std::max(0, n_moe_layers)));
  if (n_sites <= 0) return held;
  const int r = std::clamp(replication, 1, n_sites);
  for (int l = 0; l < n_moe_layers; ++l)
    for (int e = 0; e < n_experts; ++e) {
      // site holds e iff site = (e + l + j) mod K for some j < r, i.e. (site - e - l) mod K < r.
      const int j = (((site - e - l) % n_sites) + n_sites) % n_sites;
      if (j < r) held[static_cast<size_t>(l)].push_back(e);
    }
  return held;
}

std::vector<int64_t> round_robin_held_counts(int n_sites, int replication, int n_moe_layers, int n_experts) {
  std::vector<int64_t> counts(static_cast<size_t>(std::max(0, n_sites)), 0);
  if (n_sites <= 0) return counts;
  const int r = std::clamp(replication, 1, n_sites);
  for (int l = 0; l < n_moe_layers; ++l)
    for (int e = 0; e < n_experts; ++e)
      for (int j = 0; j < r; ++j) ++counts[static_cast<size_t>((e + l + j) % n_sites)];
  return counts;
}

}  // namespace fomoe::sysmodel
