#include "fomoe/interop/hf_names.h"

#include <ATen/ATen.h>

#include <map>
#include <set>

namespace fomoe::interop {

Expected<std::vector<std::pair<std::string, torch::Tensor>>> to_hf_tensors(Transformer& model) {
  std::map<std::string, torch::Tensor> p;
  for (const auto& kv : model->named_parameters()) p[kv.key()] = kv.value().detach().to(torch::kCPU, torch::kFloat);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  std::set<std::string> taken;
  auto take = [&](const std::string& name) -> torch::Tensor {
    auto it = p.find(name);
    if (it == p.end()) return {};
    taken.insert(name);
    return it->second;
  };
  const ModelOptions& o = model->options();
  const int64_t D = o.d_model();
  out.emplace_back("model.embed_tokens.weight", take("tok_emb.weight"));
  for (int64_t l = 0; l < o.n_layers(); ++l) {
    const std::string e = "layers." + std::to_string(l) + ".";
    const std::string h = "model.layers." + std::to_string(l) + ".";
    out.emplace_back(h + "input_layernorm.weight", take(e + "norm1.weight"));
    // [D + 2 KVW, D]: q rows (H heads), then k, then v (KV heads each), head-major inside.
    auto qkv = take(e + "attn.qkv.weight");
    if (!qkv.defined()) return make_error(ErrorCode::Unsupported, "the model has no " + e + "attn.qkv.weight");
    const int64_t kvw = D / o.n_heads() * o.kv_heads();
    const char* proj[3] = {"q_proj", "k_proj", "v_proj"};
    const int64_t begin[3] = {0, D, D + kvw}, rows[3] = {D, kvw, kvw};
    for (int i = 0; i < 3; ++i) {
      out.emplace_back(h + "self_attn." + proj[i] + ".weight", qkv.narrow(0, begin[i], rows[i]));
      out.emplace_back(h + "self_attn." + proj[i] + ".bias", at::zeros({rows[i]}));
    }
    out.emplace_back(h + "self_attn.o_proj.weight", take(e + "attn.proj.weight"));
    out.emplace_back(h + "post_attention_layernorm.weight", take(e + "norm2.weight"));
    auto swiglu = [&](const std::string& engine, const std::string& hf, double down_scale) {
      auto w_in = take(engine + ".w_in");  // [2F, D]: gate (silu'd) rows, then up rows
      auto w_out = take(engine + ".w_out");
      if (!w_in.defined() || !w_out.defined()) {
        out.emplace_back(hf + ".gate_proj.weight", torch::Tensor());  // reported below
        return;
      }
      const int64_t F = w_in.size(0) / 2;
      out.emplace_back(hf + ".gate_proj.weight", w_in.narrow(0, 0, F));
      out.emplace_back(hf + ".up_proj.weight", w_in.narrow(0, F, F));
      out.emplace_back(hf + ".down_proj.weight", down_scale == 1.0 ? w_out : w_out * down_scale);
    };
    if (!o.is_moe_layer(l)) {
      swiglu(e + "ffn", h + "mlp", 1.0);
      continue;
    }
    out.emplace_back(h + "mlp.gate.weight", take(e + "moe.router.weight"));
    for (int64_t x = 0; x < o.n_experts(); ++x) {
      const std::string ex = e + "moe.expert_" + std::to_string(x);
      if (!p.count(ex + ".w_in"))
        return make_error(ErrorCode::Unsupported, "the model lacks expert " + std::to_string(x) + " of layer " +
                                                      std::to_string(l) + " (a partial replica cannot be exported)");
      swiglu(ex, h + "mlp.experts." + std::to_string(x), 1.0);
    }
    if (o.shared_expert()) {
      // Qwen2-MoE gates its shared expert by sigmoid(x . g); g = 0 gives 1/2, so down_proj doubles.
      swiglu(e + "moe.shared", h + "mlp.shared_expert", 2.0);
    } else {
      out.emplace_back(h + "mlp.shared_expert.gate_proj.weight", at::zeros({0, D}));
      out.emplace_back(h + "mlp.shared_expert.up_proj.weight", at::zeros({0, D}));
      out.emplace_back(h + "mlp.shared_expert.down_proj.weight", at::zeros({D, 0}));
    }
    out.emplace_back(h + "mlp.shared_expert_gate.weight", at::zeros({1, D}));
  }
  out.emplace_back("model.norm.weight", take("norm_f.weight"));
  if (!o.tie_embeddings()) out.emplace_back("lm_head.weight", take("head.weight"));  // tied: transformers ties it
  for (const auto& [name, t] : out)
    if (!t.defined()) return make_error(ErrorCode::Unsupported, "no engine parameter maps to " + name);
  for (const auto& kv : p)
    if (!taken.count(kv.first))
      return make_error(ErrorCode::Unsupported, "engine parameter " + kv.first + " has no Hugging Face name");
  return out;
}

}  // namespace fomoe::interop
