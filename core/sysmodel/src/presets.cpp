#include "fomoe/sysmodel/presets.h"

#include <algorithm>
#include <cctype>

namespace fomoe::sysmodel {

namespace {

ModelShape shape(std::string name, int64_t vocab, int64_t d, int64_t layers, int64_t heads, int64_t experts,
                 int64_t top_k, int64_t d_expert, int64_t shared = 0, int64_t first_dense = 0, int64_t d_ff_dense = 0) {
  ModelShape m;
  m.name = std::move(name);
  m.vocab = vocab;
  m.d_model = d;
  m.n_layers = layers;
  m.n_heads = heads;
  m.n_experts = experts;
  m.top_k = top_k;
  m.d_expert = d_expert;
  m.shared_expert = shared;
  m.moe_every = 1;
  m.first_dense_layers = first_dense;
  m.d_ff_dense = d_ff_dense;
  return m;
}

ModelShape gqa(ModelShape m, int64_t kv_heads) {
  m.n_kv_heads = kv_heads;
  return m;
}

FederationShape federation(int64_t batch, int64_t seq_len) {
  FederationShape f;  // K 4, r 2, H 32: the engine's [federation] defaults
  f.batch = batch;
  f.seq_len = seq_len;
  return f;
}

std::vector<Preset> build() {
  std::vector<Preset> out;
  out.push_back({"engine-small", shape("engine-small", 1024, 128, 4, 4, 8, 2, 256), federation(8, 128), 0.0,
                 "experiments/quickstart.toml [model] and [federation]",
                 "exact: this is the engine's own quickstart model"});
  out.push_back({"olmoe-1b-7b", shape("olmoe-1b-7b", 50304, 2048, 16, 16, 64, 8, 1024), federation(1, 4096), 6.92e9,
                 "allenai/OLMoE-1B-7B-0924 config.json; OLMoE paper (arXiv 2409.02060): 6.9B total, 1.3B active",
                 "MHA as the original; its QK-norm weights (2 x 2048 per layer, 65K in all) are not modelled"});
  out.push_back({"mixtral-8x7b", gqa(shape("mixtral-8x7b", 32000, 4096, 32, 32, 8, 2, 14336), 8), federation(1, 4096), 46.7e9,
                 "mistralai/Mixtral-8x7B-v0.1 config.json; Mixtral paper (arXiv 2401.04088): 46.7B total, 12.9B active",
                 "exact: GQA with 8 KV heads of 128 (k, v are 1024 x D), untied embeddings: 46.70B"});
  out.push_back({"mixtral-8x22b", gqa(shape("mixtral-8x22b", 32768, 6144, 56, 48, 8, 2, 16384), 8), federation(1, 4096), 141e9,
                 "mistralai/Mixtral-8x22B-v0.1 / -Instruct-v0.1 config.json (vocab 32768 of v0.3 tokenizer); "
                 "Mistral announcement: 141B total, 39B active",
                 "exact: GQA with 8 KV heads of 128, untied embeddings: 140.6B (published rounded to 141B)"});
  out.push_back({"qwen1.5-moe-a2.7b", shape("qwen1.5-moe-a2.7b", 151936, 2048, 24, 16, 60, 4, 1408, 5632),
                 federation(1, 4096), 14.3e9,
                 "Qwen/Qwen1.5-MoE-A2.7B config.json (moe_intermediate_size 1408, shared_expert_intermediate_size "
                 "5632 = 4 x 1408); Qwen blog: 14.3B total, 2.7B active",
                 "MHA as the original; qkv biases (147K) and the shared-expert sigmoid gate (49K) are not modelled"});
  out.push_back({"deepseek-v3", shape("deepseek-v3", 129280, 7168, 61, 128, 256, 8, 2048, 2048, 3, 18432),
                 federation(1, 4096), 671e9,
                 "deepseek-ai/DeepSeek-V3 config.json; DeepSeek-V3 report (arXiv 2412.19437): 671B total "
                 "(+14B MTP module), 37B active",
                 "MLA attention (~187M per layer) modelled as MHA 4 x 7168^2 = 205.5M per layer: +18.4M per layer, +1.1B (+0.2%) "
                 "in all; "
                 "the MTP module and router bias terms are not modelled"});
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = build();
  return all;
}

std::string preset_names() {
  std::string s;
  for (const Preset& p : presets()) s += (s.empty() ? "" : ", ") + p.name;
  return s;
}

Expected<Preset> find_preset(const std::string& name) {
  const std::string want = lower(name);
  for (const Preset& p : presets())
    if (p.name == want) return p;
  return make_error(ErrorCode::NotFound,
                    "unknown preset '" + name + "'; known presets: " + preset_names() + " (see --list-presets)");
}

ModelShape model_shape_from(const ModelSection& m, const std::string& name) {
  ModelShape s;
  s.name = name;
  s.vocab = m.vocab_size;
  s.d_model = m.d_model;
  s.n_layers = m.n_layers;
  s.n_heads = m.n_heads;
  s.n_kv_heads = m.n_kv_heads;
  s.tie_embeddings = m.tie_embeddings;
  s.n_experts = m.n_experts;
  s.top_k = m.top_k;
  s.d_expert = m.d_expert;
  s.shared_expert = m.shared_expert ? m.d_expert : 0;  // the engine's shared expert is one expert wide
  s.moe_every = m.moe_every;
  return s;
}

FederationShape federation_shape_from(const ExperimentConfig& cfg) {
  FederationShape f;
  f.n_sites = cfg.federation.sites;
  f.replication = cfg.federation.replication;
  f.inner_steps = cfg.federation.inner_steps;
  f.method = cfg.run.method;
  f.precision = cfg.federation.precision;
  f.compression = cfg.federation.compression;
  f.down_compression = cfg.federation.down_compression;
  f.topk = cfg.federation.topk;
  f.down_topk = cfg.federation.down_topk;
  f.error_feedback = cfg.federation.error_feedback;
  if (cfg.federation.bandwidth_mbps > 0) f.bandwidth_bps = cfg.federation.bandwidth_mbps * 1e6;
  if (cfg.federation.latency_ms > 0) f.latency_s = cfg.federation.latency_ms / 1000.0;
  f.batch = cfg.train.batch_size;
  f.seq_len = cfg.model.seq_len;
  f.overlap_steps = cfg.federation.overlap ? cfg.federation.overlap_steps : 0;
  f.fragments = cfg.run.method == Method::Ddp ? 1 : std::max(1, cfg.federation.fragments);
  return f;
}

}  // namespace fomoe::sysmodel
