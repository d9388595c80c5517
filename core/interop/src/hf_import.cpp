#include "fomoe/interop/hf_import.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "fomoe/interop/safetensors.h"

namespace fomoe::interop {

namespace fs = std::filesystem;

namespace {

Expected<nlohmann::json> read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::NotFound, path + " does not exist (not a Hugging Face model folder?)");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error(ErrorCode::Corrupt, path + ": not JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  }
}

// The weights of a folder: model.safetensors, or the shards an index names.
class HfWeights {
 public:
  static Expected<HfWeights> open(const std::string& dir) {
    HfWeights w;
    const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
    if (fs::exists(index)) {
      auto j = read_json(index);
      if (!j) return j.error();
      if (!j->contains("weight_map") || !(*j)["weight_map"].is_object())
        return make_error(ErrorCode::Corrupt, index + ": no weight_map object");
      std::map<std::string, size_t> file_index;
      for (auto it = (*j)["weight_map"].begin(); it != (*j)["weight_map"].end(); ++it) {
        const std::string file = it->get<std::string>();
        if (!file_index.count(file)) {
          auto f = SafetensorsFile::open(dir + "/" + file);
          if (!f) return f.error();
          file_index[file] = w.files_.size();
          w.files_.push_back(std::make_shared<SafetensorsFile>(std::move(*f)));
        }
        w.where_[it.key()] = file_index[file];
      }
    } else if (fs::exists(single)) {
      auto f = SafetensorsFile::open(single);
      if (!f) return f.error();
      w.files_.push_back(std::make_shared<SafetensorsFile>(std::move(*f)));
      for (const auto& [name, e] : w.files_[0]->entries()) w.where_[name] = 0;
    } else {
      return make_error(ErrorCode::NotFound, dir + " has neither model.safetensors nor model.safetensors.index.json "
                                                   "(PyTorch .bin checkpoints are not read: save with safe_serialization)");
    }
    return w;
  }
  bool has(const std::string& name) const { return where_.count(name) > 0; }
  /// fp32 CPU tensor.
  Expected<at::Tensor> get(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) return make_error(ErrorCode::NotFound, "the checkpoint has no tensor " + name);
    const auto& f = *files_[it->second];
    const auto& e = f.entries().at(name);
    auto bytes = f.read(name);
    if (!bytes) return bytes.error();
    at::ScalarType st;
    if (e.dtype == "F32") st = at::kFloat;
    else if (e.dtype == "BF16") st = at::kBFloat16;
    else if (e.dtype == "F16") st = at::kHalf;
    else return make_error(ErrorCode::Unsupported, f.path() + ": tensor " + name + " has dtype " + e.dtype + " (F32, BF16, F16 are read)");
    auto t = at::empty(e.shape, at::TensorOptions().dtype(st));
    std::memcpy(t.data_ptr(), bytes->data(), bytes->size());
    return t.to(at::kFloat);
  }

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

template <typename T>
Expected<T> key(const nlohmann::json& j, const std::string& name, const std::string& path) {
  if (!j.contains(name) || j[name].is_null()) return make_error(ErrorCode::InvalidArgument, path + ": no \"" + name + "\"");
  try {
    return j[name].get<T>();
  } catch (const nlohmann::json::exception&) {
    return make_error(ErrorCode::InvalidArgument, path + ": \"" + name + "\" has the wrong type");
  }
}

}  // namespace

Expected<ModelSection> hf_model_section(const std::string& dir) {
  const std::string path = dir + "/config.json";
  auto jr = read_json(path);
  if (!jr) return jr.error();
  const auto& j = *jr;
  const std::string type = j.value("model_type", "");
  if (type != "qwen2_moe" && type != "mixtral")
    return make_error(ErrorCode::Unsupported, path + ": model_type \"" + type +
                                                  "\" is not one the engine represents exactly (qwen2_moe, mixtral)");
  auto unsupported = [&](const std::string& what) { return make_error(ErrorCode::Unsupported, path + ": " + what); };
  ModelSection m;
  m.init_from = dir;
#define FOMOE_KEY(var, T, name)        \
  auto var = key<T>(j, name, path);    \
  if (!var) return var.error();
  FOMOE_KEY(vocab, int, "vocab_size")
  FOMOE_KEY(hidden, int, "hidden_size")
  FOMOE_KEY(layers, int, "num_hidden_layers")
  FOMOE_KEY(heads, int, "num_attention_heads")
  FOMOE_KEY(topk, int, "num_experts_per_tok")
#undef FOMOE_KEY
  m.vocab_size = *vocab;
  m.d_model = *hidden;
  m.n_layers = *layers;
  m.n_heads = *heads;
  m.top_k = *topk;
  const int kv = j.value("num_key_value_heads", *heads);
  if (kv < 1 || kv > *heads || *heads % kv != 0)
    return unsupported("num_key_value_heads = " + std::to_string(kv) + " does not divide num_attention_heads = " +
                       std::to_string(*heads));
  m.n_kv_heads = kv == *heads ? 0 : kv;
  if (j.contains("head_dim") && !j["head_dim"].is_null() && j["head_dim"].get<int>() * *heads != *hidden)
    return unsupported("head_dim " + std::to_string(j["head_dim"].get<int>()) + " is not hidden_size / num_attention_heads");
  m.tie_embeddings = j.value("tie_word_embeddings", false);
  if (j.value("hidden_act", "silu") != "silu") return unsupported("hidden_act \"" + j.value("hidden_act", "") + "\" (the engine's experts are SwiGLU)");
  if (std::abs(j.value("rms_norm_eps", 1e-6) - 1e-6) > 1e-12)
    return unsupported("rms_norm_eps = " + std::to_string(j.value("rms_norm_eps", 0.0)) + " (the engine's RMSNorm uses 1e-6)");
  double theta = j.value("rope_theta", 10000.0);
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    theta = j["rope_parameters"].value("rope_theta", theta);
    if (j["rope_parameters"].value("rope_type", "default") != "default")
      return unsupported("rope_parameters.rope_type \"" + j["rope_parameters"].value("rope_type", "") + "\" (default RoPE only)");
  }
  if (std::abs(theta - 10000.0) > 1e-9) return unsupported("rope_theta = " + std::to_string(theta) + " (the engine uses 10000)");
  if (j.value("use_sliding_window", false)) return unsupported("use_sliding_window = true (the engine attends to the whole sequence)");
  m.seq_len = std::min(j.value("max_position_embeddings", 2048), 1 << 20);
  if (type == "mixtral") {
    auto e = key<int>(j, "num_local_experts", path);
    if (!e) return e.error();
    auto f = key<int>(j, "intermediate_size", path);
    if (!f) return f.error();
    m.n_experts = *e;
    m.d_expert = *f;
    m.gate = GateMode::Renormalize;  // Mixtral always renormalises its top-k gates
    m.shared_expert = false;
    m.moe_every = 1;
    return m;
  }
  auto e = key<int>(j, "num_experts", path);
  if (!e) return e.error();
  auto f = key<int>(j, "moe_intermediate_size", path);
  if (!f) return f.error();
  m.n_experts = *e;
  m.d_expert = *f;
  m.gate = j.value("norm_topk_prob", false) ? GateMode::Renormalize : GateMode::Keep;
  const int shared = j.value("shared_expert_intermediate_size", 0);
  if (shared != 0 && shared != *f)
    return unsupported("shared_expert_intermediate_size = " + std::to_string(shared) + " (the engine's shared expert is moe_intermediate_size wide, or absent)");
  m.shared_expert = shared != 0;
  if (j.contains("mlp_only_layers") && j["mlp_only_layers"].is_array() && !j["mlp_only_layers"].empty())
    return unsupported("mlp_only_layers is not empty (the engine's dense layers follow decoder_sparse_step)");
  const int step = j.value("decoder_sparse_step", 1);
  if (step != 1 && step != 2) return unsupported("decoder_sparse_step = " + std::to_string(step) + " (1 or 2)");
  m.moe_every = step;
  if (step == 2 && j.value("intermediate_size", 0) != *f * *topk)
    return unsupported("intermediate_size " + std::to_string(j.value("intermediate_size", 0)) +
                       " of the dense layers is not moe_intermediate_size * num_experts_per_tok");
  return m;
}

Status load_hf_weights(Transformer& model, const std::string& dir) {
  auto w = HfWeights::open(dir);
  if (!w) return w.error();
  const bool mixtral = w->has("model.layers.0.block_sparse_moe.gate.weight");
  std::map<std::string, at::Tensor> p;
  for (auto& kv : model->named_parameters()) p[kv.key()] = kv.value();
  const ModelOptions& o = model->options();
  const int64_t D = o.d_model();
  torch::NoGradGuard no_grad;
  auto put = [&](const std::string& engine, const at::Tensor& value, const std::string& hf) -> Status {
    auto it = p.find(engine);
    if (it == p.end()) return make_error(ErrorCode::Internal, "the engine model has no " + engine);
    if (!value.sizes().equals(it->second.sizes()))
      return make_error(ErrorCode::InvalidArgument, dir + ": tensor " + hf + " has shape " + c10::str(value.sizes()) +
                                                        ", the model expects " + c10::str(it->second.sizes()));
    it->second.copy_(value);
    return {};
  };
#define FOMOE_GET(var, name)      \
  auto var##_r = w->get(name);    \
  if (!var##_r) return var##_r.error(); \
  at::Tensor var = *var##_r;
#define FOMOE_PUT(engine, value, hf) \
  if (auto st = put(engine, value, hf); !st) return st;
  auto must_be_zero = [&](const std::string& name, const std::string& why) -> Status {
    if (!w->has(name)) return {};
    auto t = w->get(name);
    if (!t) return t.error();
    if (t->numel() && t->abs().max().item<double>() != 0.0)
      return make_error(ErrorCode::Unsupported, dir + ": tensor " + name + " is not zero: " + why);
    return {};
  };
  {
    FOMOE_GET(emb, "model.embed_tokens.weight")
    FOMOE_PUT("tok_emb.weight", emb, "model.embed_tokens.weight")
    FOMOE_GET(norm, "model.norm.weight")
    FOMOE_PUT("norm_f.weight", norm, "model.norm.weight")
    if (!o.tie_embeddings()) {
      if (!w->has("lm_head.weight"))
        return make_error(ErrorCode::InvalidArgument, dir + ": no lm_head.weight, and config.json does not tie the embeddings");
      FOMOE_GET(head, "lm_head.weight")
      FOMOE_PUT("head.weight", head, "lm_head.weight")
    }
  }
  for (int64_t l = 0; l < o.n_layers(); ++l) {
    const std::string e = "layers." + std::to_string(l) + ".";
    const std::string h = "model.layers." + std::to_string(l) + ".";
    FOMOE_GET(n1, h + "input_layernorm.weight")
    FOMOE_PUT(e + "norm1.weight", n1, h + "input_layernorm.weight")
    FOMOE_GET(n2, h + "post_attention_layernorm.weight")
    FOMOE_PUT(e + "norm2.weight", n2, h + "post_attention_layernorm.weight")
    FOMOE_GET(q, h + "self_attn.q_proj.weight")
    FOMOE_GET(k, h + "self_attn.k_proj.weight")
    FOMOE_GET(v, h + "self_attn.v_proj.weight")
    FOMOE_PUT(e + "attn.qkv.weight", at::cat({q, k, v}, 0), h + "self_attn.{q,k,v}_proj.weight")
    for (const char* b : {"q_proj", "k_proj", "v_proj", "o_proj"})
      if (auto st = must_be_zero(h + "self_attn." + b + ".bias", "the engine's attention has no bias"); !st) return st;
    FOMOE_GET(out, h + "self_attn.o_proj.weight")
    FOMOE_PUT(e + "attn.proj.weight", out, h + "self_attn.o_proj.weight")
    if (!o.is_moe_layer(l)) {
      FOMOE_GET(g, h + "mlp.gate_proj.weight")
      FOMOE_GET(u, h + "mlp.up_proj.weight")
      FOMOE_GET(d, h + "mlp.down_proj.weight")
      FOMOE_PUT(e + "ffn.w_in", at::cat({g, u}, 0), h + "mlp.{gate,up}_proj.weight")
      FOMOE_PUT(e + "ffn.w_out", d, h + "mlp.down_proj.weight")
      continue;
    }
    const std::string moe = h + (mixtral ? "block_sparse_moe." : "mlp.");
    FOMOE_GET(router, moe + "gate.weight")
    FOMOE_PUT(e + "moe.router.weight", router, moe + "gate.weight")
    const bool fused = w->has(moe + "experts.gate_up_proj");  // transformers 5.x in memory: [E, 2F, D], [E, D, F]
    at::Tensor gate_up, down;
    if (fused) {
      FOMOE_GET(gu, moe + "experts.gate_up_proj")
      FOMOE_GET(dn, moe + "experts.down_proj")
      gate_up = gu;
      down = dn;
      if (gate_up.dim() != 3 || gate_up.size(0) != o.n_experts())
        return make_error(ErrorCode::InvalidArgument, dir + ": " + moe + "experts.gate_up_proj has shape " + c10::str(gate_up.sizes()));
    }
    for (int64_t x = 0; x < o.n_experts(); ++x) {
      const std::string ee = e + "moe.expert_" + std::to_string(x);
      const std::string he = moe + "experts." + std::to_string(x) + ".";
      if (fused) {
        FOMOE_PUT(ee + ".w_in", gate_up[x], moe + "experts.gate_up_proj[" + std::to_string(x) + "]")
        FOMOE_PUT(ee + ".w_out", down[x], moe + "experts.down_proj[" + std::to_string(x) + "]")
        continue;
      }
      const char* gn = mixtral ? "w1.weight" : "gate_proj.weight";
      const char* un = mixtral ? "w3.weight" : "up_proj.weight";
      const char* dn = mixtral ? "w2.weight" : "down_proj.weight";
      FOMOE_GET(g, he + gn)
      FOMOE_GET(u, he + un)
      FOMOE_GET(d, he + dn)
      FOMOE_PUT(ee + ".w_in", at::cat({g, u}, 0), he + "{gate,up}")
      FOMOE_PUT(ee + ".w_out", d, he + dn)
    }
    if (o.shared_expert()) {
      if (auto st = must_be_zero(moe + "shared_expert_gate.weight", "the engine's shared expert is ungated"); !st) return st;
      FOMOE_GET(g, moe + "shared_expert.gate_proj.weight")
      FOMOE_GET(u, moe + "shared_expert.up_proj.weight")
      FOMOE_GET(d, moe + "shared_expert.down_proj.weight")
      FOMOE_PUT(e + "moe.shared.w_in", at::cat({g, u}, 0), moe + "shared_expert.{gate,up}_proj.weight")
      // sigmoid(0) = 1/2 in Qwen2-MoE: the engine's ungated expert is half the stored down_proj.
      FOMOE_PUT(e + "moe.shared.w_out", d * 0.5, moe + "shared_expert.down_proj.weight")
    }
  }
#undef FOMOE_GET
#undef FOMOE_PUT
  (void)D;
  return {};
}

}  // namespace fomoe::interop
