// The system model's view of an MoE transformer: its shape, the engine's parameter names and
// shapes (exactly what fomoe::Transformer registers), parameter counts, and which experts a site
// holds under the round-robin placement. Plain data and arithmetic: no torch, no Qt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe::sysmodel {

/// Shape of a decoder-only MoE transformer as the engine builds it (untied head, no biases,
/// plain MHA attention: qkv [3D, D] + proj [D, D], RMSNorm weights, SwiGLU experts).
struct ModelShape {
  std::string name = "custom";
  int64_t vocab = 1024;
  int64_t d_model = 128;
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 0;          // grouped-query attention: k, v are D x (n_kv_heads * D / n_heads); 0 = n_heads
  bool tie_embeddings = false;     // no separate output head
  int64_t n_experts = 8;
  int64_t top_k = 2;
  int64_t d_expert = 256;          // SwiGLU hidden width F of one routed expert
  int64_t shared_expert = 0;       // hidden width of the shared expert; 0 = none (engine's true = d_expert)
  int64_t moe_every = 1;           // 1 = every layer is MoE; n > 1 = layers with l % n == n - 1
  int64_t first_dense_layers = 0;  // the first layers are dense whatever moe_every says
  int64_t d_ff_dense = 0;          // hidden width of dense layers; 0 = d_expert * top_k (the engine)

  bool is_moe_layer(int64_t layer) const;
  int64_t n_moe_layers() const;
  int64_t kv_width() const { return n_kv_heads > 0 ? d_model / n_heads * n_kv_heads : d_model; }
  int64_t dense_ffn_width() const { return d_ff_dense > 0 ? d_ff_dense : d_expert * top_k; }
};

/// Refuses non-positive sizes, top_k > n_experts, and so on; messages name the field.
Status validate_model_shape(const ModelShape& m);

/// One parameter tensor: the engine's name ("layers.3.moe.expert_7.w_in") and shape.
struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

/// What a parameter is, for placement and accounting.
struct ParamKind {
  bool is_expert = false;  // a routed expert (only these are partially replicated)
  int moe_layer = -1;      // index among MoE layers (the placement plan's layer index)
  int expert = -1;
};

/// Every parameter of the full model, in the engine's registration order: tok_emb, then per
/// layer norm1, attn.qkv, attn.proj, norm2, then moe.router, moe.expert_<e>.{w_in,w_out} for
/// e = 0..E-1, moe.shared.{w_in,w_out} (or ffn.{w_in,w_out} for a dense layer), then norm_f, head.
std::vector<ParamSpec> enumerate_parameters(const ModelShape& m);
/// The parameters a site holds: all dense ones plus, per MoE layer, the experts in
/// held[moe_layer] (ascending expert ids, as the engine registers them).
std::vector<ParamSpec> enumerate_site_parameters(const ModelShape& m, const std::vector<std::vector<int>>& held);
/// Classifies an engine parameter name (mirrors fomoe::classify_parameter, torch-free).
ParamKind classify_parameter_name(const std::string& name, const ModelShape& m);

struct ParamCounts {
  int64_t total = 0;
  int64_t dense = 0;        // everything that is not a routed expert (shared experts included)
  int64_t experts = 0;      // all routed experts of all MoE layers
  int64_t per_expert = 0;   // one routed expert (w_in + w_out)
  int64_t embeddings = 0;   // tok_emb + head
  int64_t attention = 0;    // qkv + proj, all layers
  int64_t active = 0;       // per token: dense + top_k experts per MoE layer
};
/// Closed-form counts; equal to summing enumerate_parameters (a test checks it).
ParamCounts count_parameters(const ModelShape& m);

/// Round-robin placement (fomoe::PlacementPlan::round_robin): expert e of MoE layer l is held by
/// sites (e + l + j) mod K, j = 0..r-1, with r clamped to [1, K].
std::vector<std::vector<int>> round_robin_held(int site, int n_sites, int replication, int n_moe_layers, int n_experts);
/// Per site, the number of routed experts held over all MoE layers.
std::vector<int64_t> round_robin_held_counts(int n_sites, int replication, int n_moe_layers, int n_experts);

}  // namespace fomoe::sysmodel
