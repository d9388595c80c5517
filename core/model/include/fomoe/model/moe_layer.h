// The MoE feed-forward block: dense replicated router (softmax over all E, top-k), SwiGLU experts
// of which only the resident ones are allocated, optional shared expert, Switch load-balancing and
// router z-loss on the FULL router distribution, and skip-token: picks of non-resident experts are
// dropped before dispatch (the token keeps its residual for that slot).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "fomoe/model/moe_options.h"

namespace fomoe {

class SwiGluImpl : public torch::nn::Module {
 public:
  SwiGluImpl(int64_t d_model, int64_t d_hidden, double out_std);
  torch::Tensor forward(const torch::Tensor& x_ND);
  torch::Tensor w_in;   // [2F, D]: gate rows then up rows (one matmul)
  torch::Tensor w_out;  // [D, F]
};
TORCH_MODULE(SwiGlu);

/// Routing statistics of the last forward pass (detached, on CPU).
struct RoutingStats {
  torch::Tensor load_E;       // int64: picks routed to each expert (before skip)
  torch::Tensor processed_E;  // int64: picks actually computed (resident experts)
  int64_t n_picks = 0;
  int64_t n_skipped = 0;
  double router_entropy = 0.0;  // mean per-token entropy / log E
  torch::Tensor topk_idx_NK;    // int64 picks of the last forward, kept only with keep_topk
};

struct MoeOutput {
  torch::Tensor y;        // same shape as input
  torch::Tensor aux_loss; // scalar: E * sum_e f_e P_e
  torch::Tensor z_loss;   // scalar: mean logsumexp(logits)^2
};

class MoeLayerImpl : public torch::nn::Module {
 public:
  MoeLayerImpl(const MoeOptions& options, std::vector<int> resident_experts);
  MoeOutput forward(const torch::Tensor& x_BTD);
  const RoutingStats& last_stats() const { return stats_; }
  const std::vector<int>& resident_experts() const { return resident_; }
  void set_dispatch(DispatchMode mode) { options_.dispatch(mode); }
  bool collect_stats = true;
  bool keep_topk = false;  // routing-stability probes read the picks back

  MoeOptions options_;
  torch::nn::Linear router{nullptr};
  std::vector<SwiGlu> experts_;  // experts_[i] holds global expert resident_[i]
  SwiGlu shared{nullptr};

 private:
  torch::Tensor dispatch_fast(const torch::Tensor& x_ND, const torch::Tensor& idx_NK, const torch::Tensor& gate_NK,
                              const torch::Tensor& keep_NK);
  torch::Tensor grouped_experts(const torch::Tensor& x_MD, const std::vector<int64_t>& count_e);
  torch::Tensor dispatch_masked(const torch::Tensor& x_ND, const torch::Tensor& idx_NK, const torch::Tensor& gate_NK,
                                const torch::Tensor& keep_NK);
  torch::Tensor dispatch_reference(const torch::Tensor& x_ND, const torch::Tensor& idx_NK, const torch::Tensor& gate_NK,
                                   const torch::Tensor& keep_NK);
  std::vector<int> resident_;
  std::vector<int> slot_of_expert_;  // global expert -> index in experts_, -1 if not resident
  torch::Tensor resident_mask_E_;    // bool buffer
  RoutingStats stats_;
};
TORCH_MODULE(MoeLayer);

}  // namespace fomoe
