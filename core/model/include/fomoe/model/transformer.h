// Decoder-only MoE transformer: token embedding, RMSNorm, causal attention with RoPE (grouped-
// query when n_kv_heads < n_heads), MoE (or dense SwiGLU) feed-forward, output head (or the
// embedding, tied). Built from ModelOptions + a Residency; only
// resident experts exist. Parameter names are global and stable across sites.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

#include "fomoe/model/moe_layer.h"
#include "fomoe/model/moe_options.h"

namespace fomoe {

class RmsNormImpl : public torch::nn::Module {
 public:
  explicit RmsNormImpl(int64_t dim, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps_;
};
TORCH_MODULE(RmsNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t d_model, int64_t n_heads, int64_t n_kv_heads, double out_std);
  torch::Tensor forward(const torch::Tensor& x_BTD, const torch::Tensor& cos_TR, const torch::Tensor& sin_TR);
  torch::nn::Linear qkv{nullptr}, proj{nullptr};  // qkv rows: q (H heads), k, v (KV heads each)
  int64_t n_heads_, n_kv_heads_;
};
TORCH_MODULE(Attention);

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelOptions& o, int64_t layer, const std::vector<int>* resident /* null: dense FFN */);
  MoeOutput forward(const torch::Tensor& x_BTD, const torch::Tensor& cos_TR, const torch::Tensor& sin_TR);
  RmsNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  MoeLayer moe{nullptr};
  SwiGlu ffn{nullptr};
};
TORCH_MODULE(Block);

struct ForwardOutput {
  torch::Tensor logits_BTV;
  torch::Tensor aux_loss;  // summed over MoE layers
  torch::Tensor z_loss;    // summed over MoE layers
};

class TransformerImpl : public torch::nn::Module {
 public:
  TransformerImpl(const ModelOptions& options, const Residency& residency);
  ForwardOutput forward(const torch::Tensor& idx_BT);
  /// Re-initialises every parameter from (seed, parameter name) only, so that sites with
  /// different residencies draw identical values for the parameters they share.
  void init_parameters(uint64_t seed);
  std::vector<MoeLayer> moe_layers() const { return moe_layers_; }
  const ModelOptions& options() const { return options_; }
  const Residency& residency() const { return residency_; }
  int64_t n_parameters() const;
  void set_dispatch(DispatchMode mode);

  torch::nn::Embedding tok_emb{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm_f{nullptr};
  torch::nn::Linear head{nullptr};  // null when tie_embeddings

 private:
  ModelOptions options_;
  Residency residency_;
  std::vector<Block> blocks_;
  std::vector<MoeLayer> moe_layers_;
  torch::Tensor rope_cos_, rope_sin_;  // [max_seq_len, head_dim/2]
};
TORCH_MODULE(Transformer);

/// What a parameter is to the federation: dense (every site) or one expert of one MoE layer.
struct ParamRef {
  bool is_expert = false;
  int moe_layer = -1;
  int expert = -1;
};
/// Parses the global name ("layers.3.moe.expert_7.w_in"); `options` maps block to MoE layer index.
ParamRef classify_parameter(const std::string& name, const ModelOptions& options);

/// Mean cross-entropy in float32 (nats/token).
torch::Tensor lm_loss(const torch::Tensor& logits_BTV, const torch::Tensor& targets_BT);

}  // namespace fomoe
