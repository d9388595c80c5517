// MoE block: router, skip-token and the three dispatch paths (fast, masked baseline, reference).
#include "fomoe/model/moe_layer.h"

#include <ATen/autocast_mode.h>
#include <ATen/ops/_grouped_mm.h>
#include <ATen/ops/one_hot.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <limits>

namespace fomoe {

namespace {
// Disables CUDA autocast for a scope (the router runs in fp32 whatever the surrounding precision).
struct RouterAutocastOff {
  RouterAutocastOff() : was_on(at::autocast::is_autocast_enabled(at::kCUDA)) {
    if (was_on) at::autocast::set_autocast_enabled(at::kCUDA, false);
  }
  ~RouterAutocastOff() {
    if (was_on) at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  bool was_on;
};

// The dtype a grouped expert GEMM runs in: autocast's (bf16) on CUDA when enabled, else the input's.
torch::ScalarType expert_compute_dtype(const torch::Tensor& x) {
  if (x.is_cuda() && at::autocast::is_autocast_enabled(at::kCUDA)) return at::autocast::get_autocast_dtype(at::kCUDA);
  return x.scalar_type();
}

// at::_grouped_mm takes fp32/bf16/fp16 (fp64 tests take the loop); CUDA's kernel wants every row
// a multiple of 16 bytes.
bool grouped_gemm_supports(torch::ScalarType t, int64_t d_model, int64_t d_expert) {
  if (t != torch::kFloat && t != torch::kBFloat16 && t != torch::kHalf) return false;
  const int64_t bytes = c10::elementSize(t);
  return d_model * bytes % 16 == 0 && d_expert * bytes % 16 == 0;
}
}  // namespace

SwiGluImpl::SwiGluImpl(int64_t d_model, int64_t d_hidden, double out_std) {
  w_in = register_parameter("w_in", torch::randn({2 * d_hidden, d_model}) * 0.02);
  w_out = register_parameter("w_out", torch::randn({d_model, d_hidden}) * out_std);
}

torch::Tensor SwiGluImpl::forward(const torch::Tensor& x_ND) {
  auto h_N2F = at::linear(x_ND, w_in);
  auto parts = h_N2F.chunk(2, /*dim=*/-1);
  return at::linear(at::silu(parts[0]) * parts[1], w_out);
}

MoeLayerImpl::MoeLayerImpl(const MoeOptions& options, std::vector<int> resident_experts)
    : options_(options), resident_(std::move(resident_experts)) {
  const int64_t E = options_.n_experts();
  const double out_std = 0.02 / std::sqrt(2.0 * static_cast<double>(options_.n_layers_for_init()));
  router = register_module("router", torch::nn::Linear(torch::nn::LinearOptions(options_.d_model(), E).bias(false)));
  slot_of_expert_.assign(static_cast<size_t>(E), -1);
  auto mask = torch::zeros({E}, torch::kBool);
  for (size_t i = 0; i < resident_.size(); ++i) {
    const int e = resident_[i];
    TORCH_CHECK(e >= 0 && e < E, "resident expert ", e, " out of range [0, ", E, ")");
    slot_of_expert_[static_cast<size_t>(e)] = static_cast<int>(i);
    mask[e] = true;
    // Stable global name: the federation matches "…moe.expert_<e>.w_in" across sites.
    experts_.push_back(register_module("expert_" + std::to_string(e), SwiGlu(options_.d_model(), options_.d_expert(), out_std)));
  }
  resident_mask_E_ = mask;  // not a buffer: Module::to(dtype) would convert it
  if (options_.shared_expert())
    shared = register_module("shared", SwiGlu(options_.d_model(), options_.d_expert(), out_std));
}

MoeOutput MoeLayerImpl::forward(const torch::Tensor& x_BTD) {
  const int64_t D = options_.d_model();
  const int64_t E = options_.n_experts();
  const int64_t K = options_.top_k();
  auto x_ND = x_BTD.reshape({-1, D});
  const int64_t N = x_ND.size(0);

  // The router is dense and replicated: it scores all E experts whatever this site holds.
  // Router math in at least fp32 (bf16 logits make top-k and the z-loss noisy); fp64 stays fp64.
  torch::Tensor logits_NE;
  {
    // Under CUDA autocast the Linear would run in bf16 and near-ties would flip top-k picks.
    RouterAutocastOff fp32_router;
    logits_NE = x_ND.scalar_type() == torch::kDouble ? router->forward(x_ND)
                                                     : at::linear(x_ND.to(torch::kFloat), router->weight.to(torch::kFloat));
  }
  auto probs_NE = logits_NE.softmax(-1);
  auto top = probs_NE.topk(K, -1);
  auto gate_NK = std::get<0>(top);
  auto idx_NK = std::get<1>(top);
  if (resident_mask_E_.device() != idx_NK.device()) resident_mask_E_ = resident_mask_E_.to(idx_NK.device());
  auto keep_NK = resident_mask_E_.index_select(0, idx_NK.reshape(-1)).view_as(idx_NK);
  // What the full router picks: routing statistics and the skip rate always describe this.
  const auto full_idx_NK = idx_NK;
  const auto full_keep_NK = keep_NK;
  // Probabilities and picks the balancing loss sees: all E experts, or only the resident ones.
  torch::Tensor balance_probs_NE = probs_NE;
  torch::Tensor balance_idx_NK = idx_NK;
  int64_t balance_E = E;
  const int64_t R = static_cast<int64_t>(resident_.size());
  if (options_.route_resident_only() && R < E && R >= K) {
    // Reroute: top-k among the resident experts, so every token still gets k experts' compute.
    auto masked_NE = logits_NE.masked_fill(resident_mask_E_.logical_not(), -std::numeric_limits<float>::infinity());
    balance_probs_NE = masked_NE.softmax(-1);
    auto rtop = balance_probs_NE.topk(K, -1);
    gate_NK = std::get<0>(rtop);
    idx_NK = std::get<1>(rtop);
    balance_idx_NK = idx_NK;
    balance_E = R;
    keep_NK = torch::ones_like(idx_NK, torch::kBool);
  }
  if (options_.renormalize_gates() || options_.route_resident_only()) {
    auto g = gate_NK * keep_NK.to(gate_NK.scalar_type());
    gate_NK = g / g.sum(-1, /*keepdim=*/true).clamp_min(1e-9);
  }
  gate_NK = gate_NK.to(x_ND.scalar_type());

  torch::Tensor y_ND;
  switch (options_.dispatch()) {
    case DispatchMode::Fast:
    case DispatchMode::FastLoop: y_ND = dispatch_fast(x_ND, idx_NK, gate_NK, keep_NK); break;
    case DispatchMode::Masked: y_ND = dispatch_masked(x_ND, idx_NK, gate_NK, keep_NK); break;
    case DispatchMode::Reference: y_ND = dispatch_reference(x_ND, idx_NK, gate_NK, keep_NK); break;
  }
  if (shared) y_ND = y_ND + shared->forward(x_ND);

  // Balancing loss on the distribution routing used: the full one (non-resident experts included,
  // skip-token), or the resident one when rerouting (scaled by R so balance still scores 1).
  auto load_E = torch::bincount(full_idx_NK.reshape(-1), /*weights=*/{}, E);
  auto balance_load_E = balance_idx_NK.is_same(full_idx_NK) ? load_E : torch::bincount(balance_idx_NK.reshape(-1), {}, E);
  auto frac_E = balance_load_E.to(torch::kFloat) / static_cast<double>(N * K);
  MoeOutput out;
  out.aux_loss = static_cast<double>(balance_E) * (frac_E * balance_probs_NE.mean(0)).sum();
  out.z_loss = logits_NE.logsumexp(-1).pow(2).mean();
  out.y = y_ND.view(x_BTD.sizes());

  if (collect_stats) {
    torch::NoGradGuard no_grad;
    stats_.load_E = load_E.to(torch::kCPU);
    auto kept_idx = idx_NK.masked_select(keep_NK);
    stats_.processed_E = torch::bincount(kept_idx, {}, E).to(torch::kCPU);
    stats_.n_picks = N * K;
    // Picks of the full router this site cannot serve (skipped, or rerouted to a resident expert).
    stats_.n_skipped = N * K - full_keep_NK.sum().item<int64_t>();
    auto p = probs_NE.detach();
    auto ent = -(p * p.clamp_min(1e-12).log()).sum(-1).mean().item().toDouble();
    stats_.router_entropy = E > 1 ? ent / std::log(static_cast<double>(E)) : 0.0;
    if (keep_topk) stats_.topk_idx_NK = full_idx_NK.detach().to(torch::kCPU);
  }
  return out;
}

torch::Tensor MoeLayerImpl::dispatch_fast(const torch::Tensor& x_ND, const torch::Tensor& idx_NK,
                                          const torch::Tensor& gate_NK, const torch::Tensor& keep_NK) {
  const int64_t K = options_.top_k();
  const int64_t E = options_.n_experts();
  // Flat token-slots s = n*K + k; keep only resident picks (skip-token), then group by expert.
  auto kept_S = keep_NK.reshape(-1).nonzero().squeeze(1);
  if (kept_S.numel() == 0) return torch::zeros_like(x_ND);
  auto expert_S = idx_NK.reshape(-1).index_select(0, kept_S);
  auto order = std::get<1>(expert_S.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  auto slot_M = kept_S.index_select(0, order);
  auto token_M = slot_M.div(K, "floor");
  auto counts = torch::bincount(expert_S, {}, E).to(torch::kCPU);
  const int64_t* count_e = counts.data_ptr<int64_t>();

  auto x_MD = x_ND.index_select(0, token_M);
  torch::Tensor h_MD;
  if (options_.dispatch() == DispatchMode::Fast &&
      grouped_gemm_supports(expert_compute_dtype(x_MD), options_.d_model(), options_.d_expert())) {
    h_MD = grouped_experts(x_MD, std::vector<int64_t>(count_e, count_e + E));
  } else {
    std::vector<torch::Tensor> outs;
    outs.reserve(experts_.size());
    int64_t offset = 0;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t c = count_e[e];
      if (c == 0) continue;
      const int slot = slot_of_expert_[static_cast<size_t>(e)];
      TORCH_INTERNAL_ASSERT(slot >= 0, "kept a pick of non-resident expert ", e);
      outs.push_back(experts_[static_cast<size_t>(slot)]->forward(x_MD.narrow(0, offset, c)));
      offset += c;
    }
    h_MD = torch::cat(outs, 0);
  }
  auto y_MD = h_MD * gate_NK.reshape(-1).index_select(0, slot_M).unsqueeze(1);
  return torch::zeros_like(x_ND).index_add(0, token_M, y_MD);
}

torch::Tensor MoeLayerImpl::grouped_experts(const torch::Tensor& x_MD, const std::vector<int64_t>& count_e) {
  // Only experts that received rows join the group: a stacked weight with no rows would get a zero
  // gradient instead of none, and AdamW would then move an expert that saw no token.
  std::vector<torch::Tensor> w_in, w_out;
  std::vector<int32_t> ends;
  int64_t end = 0;
  for (size_t e = 0; e < count_e.size(); ++e) {
    if (count_e[e] == 0) continue;
    const int slot = slot_of_expert_[e];
    TORCH_INTERNAL_ASSERT(slot >= 0, "kept a pick of non-resident expert ", e);
    w_in.push_back(experts_[static_cast<size_t>(slot)]->w_in);
    w_out.push_back(experts_[static_cast<size_t>(slot)]->w_out);
    end += count_e[e];
    ends.push_back(static_cast<int32_t>(end));
  }
  auto offs = torch::tensor(ends, torch::kInt).to(x_MD.device(), /*non_blocking=*/true);
  const auto dt = expert_compute_dtype(x_MD);
  // [G, 2F, D] -> [G, D, 2F] as a transposed view: column-major B, the layout the CUDA kernel takes.
  auto w_in_GDF = torch::stack(w_in).to(dt).transpose(1, 2);
  auto w_out_GFD = torch::stack(w_out).to(dt).transpose(1, 2);
  auto h_M2F = at::_grouped_mm(x_MD.to(dt), w_in_GDF, offs);
  auto parts = h_M2F.chunk(2, /*dim=*/-1);
  return at::_grouped_mm(at::silu(parts[0]) * parts[1], w_out_GFD, offs);
}

torch::Tensor MoeLayerImpl::dispatch_masked(const torch::Tensor& x_ND, const torch::Tensor& idx_NK,
                                            const torch::Tensor& gate_NK, const torch::Tensor& keep_NK) {
  // The usual eager implementation (HF Mixtral): one-hot mask, then for every expert a where(),
  // a gather of its tokens, its MLP as three GEMMs, and an index_add into the output.
  const int64_t E = options_.n_experts();
  auto mask_EKN = at::one_hot(idx_NK, E).permute({2, 1, 0});
  auto y_ND = torch::zeros_like(x_ND);
  for (int64_t e = 0; e < E; ++e) {
    const int slot = slot_of_expert_[static_cast<size_t>(e)];
    if (slot < 0) continue;  // skip-token
    auto where = torch::where(mask_EKN[e]);
    auto k_idx = where[0];
    auto tok_idx = where[1];
    if (tok_idx.numel() == 0) continue;
    // HF's expert MLP: w2(silu(w1 x) * w3 x), three GEMMs (our w_in stacks w1 over w3).
    const auto& ex = experts_[static_cast<size_t>(slot)];
    const int64_t F = ex->w_out.size(1);
    auto cur = x_ND.index_select(0, tok_idx);
    auto out = at::linear(at::silu(at::linear(cur, ex->w_in.narrow(0, 0, F))) * at::linear(cur, ex->w_in.narrow(0, F, F)), ex->w_out);
    out = out * gate_NK.reshape(-1).index_select(0, tok_idx * options_.top_k() + k_idx).unsqueeze(1);
    y_ND = y_ND.index_add(0, tok_idx, out);
  }
  return y_ND;
}

torch::Tensor MoeLayerImpl::dispatch_reference(const torch::Tensor& x_ND, const torch::Tensor& idx_NK,
                                               const torch::Tensor& gate_NK, const torch::Tensor& keep_NK) {
  // Token by token, pick by pick: obviously right, hopelessly slow. Tests compare against it.
  const int64_t N = x_ND.size(0);
  const int64_t K = options_.top_k();
  auto idx = idx_NK.to(torch::kCPU);
  auto keep = keep_NK.to(torch::kCPU);
  std::vector<torch::Tensor> rows;
  rows.reserve(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    auto row = torch::zeros({1, x_ND.size(1)}, x_ND.options());
    for (int64_t k = 0; k < K; ++k) {
      if (!keep[n][k].item().toBool()) continue;
      const int slot = slot_of_expert_[static_cast<size_t>(idx[n][k].item().toLong())];
      row = row + experts_[static_cast<size_t>(slot)]->forward(x_ND.narrow(0, n, 1)) * gate_NK[n][k];
    }
    rows.push_back(row);
  }
  return torch::cat(rows, 0);
}

}  // namespace fomoe
