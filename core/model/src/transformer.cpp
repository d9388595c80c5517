#include "fomoe/model/transformer.h"

#include <ATen/ops/rms_norm.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <torch/nn/functional/loss.h>

#include <cmath>
#include <cstdlib>

namespace fomoe {

RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  return at::rms_norm(x, {weight.size(0)}, weight, eps_);
}

AttentionImpl::AttentionImpl(int64_t d_model, int64_t n_heads, int64_t n_kv_heads, double out_std)
    : n_heads_(n_heads), n_kv_heads_(n_kv_heads) {
  const int64_t kv_width = d_model / n_heads * n_kv_heads;
  qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_model + 2 * kv_width).bias(false)));
  proj = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_model).bias(false)));
}

namespace {

// Rotate-half RoPE on [B, H, T, hd] with cos/sin of shape [T, hd/2].
torch::Tensor apply_rope(const torch::Tensor& x_BHTd, const torch::Tensor& cos_TR, const torch::Tensor& sin_TR) {
  auto halves = x_BHTd.chunk(2, -1);
  auto c = cos_TR.to(x_BHTd.scalar_type());
  auto s = sin_TR.to(x_BHTd.scalar_type());
  return torch::cat({halves[0] * c - halves[1] * s, halves[0] * s + halves[1] * c}, -1);
}

uint64_t fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ seed;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

torch::Tensor AttentionImpl::forward(const torch::Tensor& x_BTD, const torch::Tensor& cos_TR, const torch::Tensor& sin_TR) {
  const int64_t B = x_BTD.size(0), T = x_BTD.size(1), D = x_BTD.size(2);
  const int64_t hd = D / n_heads_;
  torch::Tensor q, k, v;
  if (n_kv_heads_ == n_heads_) {
    auto qkv_BT3D = qkv->forward(x_BTD).view({B, T, 3, n_heads_, hd}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, hd]
    q = apply_rope(qkv_BT3D[0], cos_TR, sin_TR);
    k = apply_rope(qkv_BT3D[1], cos_TR, sin_TR);
    v = qkv_BT3D[2];
  } else {
    // Grouped-query: KV heads of hd each; query head h attends with kv head h / (H / KV), as
    // transformers' repeat_kv.
    const int64_t kvw = n_kv_heads_ * hd, rep = n_heads_ / n_kv_heads_;
    auto parts = qkv->forward(x_BTD).split_with_sizes({D, kvw, kvw}, -1);
    q = apply_rope(parts[0].view({B, T, n_heads_, hd}).transpose(1, 2), cos_TR, sin_TR);
    k = apply_rope(parts[1].view({B, T, n_kv_heads_, hd}).transpose(1, 2), cos_TR, sin_TR).repeat_interleave(rep, 1);
    v = parts[2].view({B, T, n_kv_heads_, hd}).transpose(1, 2).repeat_interleave(rep, 1);
  }
  auto y = at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true);
  return proj->forward(y.transpose(1, 2).reshape({B, T, D}));
}

BlockImpl::BlockImpl(const ModelOptions& o, int64_t layer, const std::vector<int>* resident) {
  const double out_std = 0.02 / std::sqrt(2.0 * static_cast<double>(o.n_layers()));
  norm1 = register_module("norm1", RmsNorm(o.d_model()));
  attn = register_module("attn", Attention(o.d_model(), o.n_heads(), o.kv_heads(), out_std));
  norm2 = register_module("norm2", RmsNorm(o.d_model()));
  if (resident) {
    auto mo = MoeOptions(o.d_model(), o.n_experts())
                  .top_k(o.top_k())
                  .d_expert(o.d_expert())
                  .shared_expert(o.shared_expert())
                  .renormalize_gates(o.renormalize_gates())
                  .route_resident_only(o.route_resident_only())
                  .dispatch(o.dispatch())
                  .n_layers_for_init(o.n_layers());
    moe = register_module("moe", MoeLayer(mo, *resident));
  } else {
    // Dense layer of the same active width as the MoE layers (top_k experts' worth).
    ffn = register_module("ffn", SwiGlu(o.d_model(), o.d_expert() * o.top_k(), out_std));
  }
}

MoeOutput BlockImpl::forward(const torch::Tensor& x_BTD, const torch::Tensor& cos_TR, const torch::Tensor& sin_TR) {
  auto h = x_BTD + attn->forward(norm1->forward(x_BTD), cos_TR, sin_TR);
  auto n = norm2->forward(h);
  if (moe) {
    auto out = moe->forward(n);
    out.y = h + out.y;
    return out;
  }
  MoeOutput out;
  out.y = h + ffn->forward(n.reshape({-1, n.size(-1)})).view(n.sizes());
  return out;
}

TransformerImpl::TransformerImpl(const ModelOptions& options, const Residency& residency)
    : options_(options), residency_(residency) {
  auto st = validate_options(options_);
  TORCH_CHECK(st.is_ok(), st.is_ok() ? "" : st.error().message);
  auto rs = validate_residency(residency_, options_);
  TORCH_CHECK(rs.is_ok(), rs.is_ok() ? "" : rs.error().message);
  const int64_t D = options_.d_model();
  tok_emb = register_module("tok_emb", torch::nn::Embedding(options_.vocab_size(), D));
  layers = register_module("layers", torch::nn::ModuleList());
  int moe_index = 0;
  for (int64_t l = 0; l < options_.n_layers(); ++l) {
    const std::vector<int>* resident = nullptr;
    if (options_.is_moe_layer(l)) resident = &residency_.experts_per_layer[static_cast<size_t>(moe_index++)];
    auto block = Block(options_, l, resident);
    layers->push_back(block);
    blocks_.push_back(block);
    if (block->moe) moe_layers_.push_back(block->moe);
  }
  norm_f = register_module("norm_f", RmsNorm(D));
  if (!options_.tie_embeddings())
    head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(D, options_.vocab_size()).bias(false)));

  const int64_t hd = D / options_.n_heads();
  auto inv_freq = torch::pow(options_.rope_theta(), -torch::arange(0, hd, 2, torch::kFloat64) / static_cast<double>(hd));
  auto t = torch::arange(options_.max_seq_len(), torch::kFloat64);
  auto freqs = torch::outer(t, inv_freq);
  rope_cos_ = register_buffer("rope_cos", freqs.cos().to(torch::kFloat));
  rope_sin_ = register_buffer("rope_sin", freqs.sin().to(torch::kFloat));
}

void TransformerImpl::init_parameters(uint64_t seed) {
  torch::NoGradGuard no_grad;
  const double out_std = 0.02 / std::sqrt(2.0 * static_cast<double>(options_.n_layers()));
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    auto& t = p.value();
    if (name.find("norm") != std::string::npos) {
      t.fill_(1.0);
      continue;
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(fnv1a(name, seed));
    const bool is_out = name.size() >= 5 && (name.compare(name.size() - 5, 5, "w_out") == 0 ||
                                             name.find("attn.proj") != std::string::npos);
    auto values = at::empty(t.sizes(), torch::TensorOptions().dtype(torch::kFloat))
                      .normal_(0.0, is_out ? out_std : 0.02, gen);
    t.copy_(values);
  }
}

ForwardOutput TransformerImpl::forward(const torch::Tensor& idx_BT) {
  const int64_t T = idx_BT.size(1);
  TORCH_CHECK(T <= options_.max_seq_len(), "sequence length ", T, " exceeds max_seq_len ", options_.max_seq_len());
  auto cos = rope_cos_.narrow(0, 0, T);
  auto sin = rope_sin_.narrow(0, 0, T);
  auto x = tok_emb->forward(idx_BT);
  ForwardOutput out;
  out.aux_loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(idx_BT.device()));
  out.z_loss = out.aux_loss.clone();
  for (auto& block : blocks_) {
    auto r = block->forward(x, cos, sin);
    x = r.y;
    if (r.aux_loss.defined()) {
      out.aux_loss = out.aux_loss + r.aux_loss;
      out.z_loss = out.z_loss + r.z_loss;
    }
  }
  out.logits_BTV = head ? head->forward(norm_f->forward(x)) : at::linear(norm_f->forward(x), tok_emb->weight);
  return out;
}

int64_t TransformerImpl::n_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void TransformerImpl::set_dispatch(DispatchMode mode) {
  options_.dispatch(mode);
  for (auto& m : moe_layers_) m->set_dispatch(mode);
}

ParamRef classify_parameter(const std::string& name, const ModelOptions& options) {
  ParamRef ref;
  const auto pos = name.find(".moe.expert_");
  if (pos == std::string::npos || name.rfind("layers.", 0) != 0) return ref;
  const int64_t block = std::strtol(name.c_str() + 7, nullptr, 10);
  int moe_index = 0;
  for (int64_t l = 0; l < block; ++l) moe_index += options.is_moe_layer(l) ? 1 : 0;
  ref.is_expert = true;
  ref.moe_layer = moe_index;
  ref.expert = static_cast<int>(std::strtol(name.c_str() + pos + 12, nullptr, 10));
  return ref;
}

torch::Tensor lm_loss(const torch::Tensor& logits_BTV, const torch::Tensor& targets_BT) {
  const int64_t V = logits_BTV.size(-1);
  return torch::nn::functional::cross_entropy(logits_BTV.reshape({-1, V}).to(torch::kFloat), targets_BT.reshape(-1));
}

}  // namespace fomoe
