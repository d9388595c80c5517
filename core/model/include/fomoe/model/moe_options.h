// Model options (builder style, TORCH_ARG) and the residency set: which experts a site holds.
// Shape legend used across core/model: B batch, T tokens per sequence, D d_model, F expert hidden,
// E experts, K top-k, N = B*T routed tokens, M resident token-slots, V vocab, H heads.
#pragma once

#include <torch/arg.h>

#include <string>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe {

enum class GateMode;  // fomoe/config/experiment.h

enum class DispatchMode {
  Fast,      // sort token-slots by expert, one grouped GEMM over resident experts, one scatter-add
  FastLoop,  // as Fast, but one dense matmul per resident expert (used where grouped GEMM isn't)
  Masked,    // the common eager baseline (HF Mixtral): loop over all E experts, mask, gather
  Reference  // loop over tokens and picks; tests only
};

struct MoeOptions {
  MoeOptions(int64_t d_model, int64_t n_experts) : d_model_(d_model), n_experts_(n_experts) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_experts);
  TORCH_ARG(int64_t, top_k) = 2;
  TORCH_ARG(int64_t, d_expert) = 256;
  TORCH_ARG(bool, shared_expert) = false;
  TORCH_ARG(bool, renormalize_gates) = false;  // skip-token: renormalise gates over resident picks
  // Instead of skipping, route each token to its top-k among the resident experts (gates sum to 1).
  TORCH_ARG(bool, route_resident_only) = false;
  TORCH_ARG(DispatchMode, dispatch) = DispatchMode::Fast;
  TORCH_ARG(int64_t, n_layers_for_init) = 1;   // scales output-projection init by 1/sqrt(2 L)
};

struct ModelOptions {
  ModelOptions(int64_t vocab_size, int64_t d_model) : vocab_size_(vocab_size), d_model_(d_model) {}
  TORCH_ARG(int64_t, vocab_size);
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_layers) = 4;
  TORCH_ARG(int64_t, n_heads) = 4;
  TORCH_ARG(int64_t, n_kv_heads) = 0;          // grouped-query attention; 0 = n_heads
  TORCH_ARG(bool, tie_embeddings) = false;     // logits = x . tok_emb^T, no separate head
  TORCH_ARG(int64_t, max_seq_len) = 1024;
  TORCH_ARG(int64_t, n_experts) = 8;
  TORCH_ARG(int64_t, top_k) = 2;
  TORCH_ARG(int64_t, d_expert) = 256;
  TORCH_ARG(bool, shared_expert) = false;
  TORCH_ARG(int64_t, moe_every) = 1;           // 1: every layer MoE; 2: odd layers MoE, even dense
  TORCH_ARG(bool, renormalize_gates) = false;
  TORCH_ARG(bool, route_resident_only) = false;
  TORCH_ARG(DispatchMode, dispatch) = DispatchMode::Fast;
  TORCH_ARG(double, rope_theta) = 10000.0;

 public:
  bool is_moe_layer(int64_t layer) const { return moe_every_ == 1 || layer % 2 == 1; }
  int64_t kv_heads() const { return n_kv_heads_ > 0 ? n_kv_heads_ : n_heads_; }
  int64_t n_moe_layers() const;
};

/// For each MoE layer (in order), the sorted global ids of the experts this site holds.
struct Residency {
  std::vector<std::vector<int>> experts_per_layer;

  static Residency full(int n_moe_layers, int n_experts);
  /// The first round(fraction * E) experts of every layer (at least 0).
  static Residency fraction(int n_moe_layers, int n_experts, double fraction);
  bool holds(int moe_layer, int expert) const;
  int n_held() const;
};

/// Errors name the layer, the expert and the valid range.
Status validate_options(const ModelOptions& o);
Status validate_residency(const Residency& r, const ModelOptions& o);

}  // namespace fomoe
