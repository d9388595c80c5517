#include "fomoe/config/experiment.h"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <toml++/toml.h>

#include "fomoe/base/number_format.h"
#include "fomoe/data/tokenizer.h"

namespace fomoe {
namespace {

std::string where(const std::string& file, const toml::node& node) {
  const auto& src = node.source();
  std::ostringstream os;
  os << file << ":" << src.begin.line;
  return os.str();
}

// A key handler reads one TOML node into the config; it returns an error message or "".
using Handler = std::function<std::string(const toml::node&, ExperimentConfig&)>;

template <typename T>
std::string read_int(const toml::node& n, T& out, int64_t lo, int64_t hi) {
  auto v = n.value<int64_t>();
  if (!n.is_integer() || !v) return "expects an integer";
  if (*v < lo || *v > hi) return "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(*v);
  out = static_cast<T>(*v);
  return "";
}

std::string read_double(const toml::node& n, double& out, double lo, double hi) {
  auto v = n.value<double>();  // integers convert too
  if (!(n.is_floating_point() || n.is_integer()) || !v) return "expects a number";
  if (!(*v >= lo && *v <= hi)) {
    std::ostringstream os;
    os << "must be in [" << lo << ", " << hi << "], got " << *v;
    return os.str();
  }
  out = *v;
  return "";
}

std::string read_bool(const toml::node& n, bool& out) {
  if (!n.is_boolean()) return "expects true or false";
  out = *n.value<bool>();
  return "";
}

std::string read_string(const toml::node& n, std::string& out) {
  if (!n.is_string()) return "expects a string";
  out = *n.value<std::string>();
  return "";
}

std::string read_double_list(const toml::node& n, std::vector<double>& out) {
  auto* arr = n.as_array();
  if (!arr) return "expects an array of numbers, one per site";
  out.clear();
  for (auto& el : *arr) {
    auto v = el.value<double>();
    if (!v || *v < 0) return "expects non-negative numbers, one per site";
    out.push_back(*v);
  }
  return "";
}

// An array of strings; `what` names the expected contents in the error ("expects an array of ...").
std::string read_string_list(const toml::node& n, std::vector<std::string>& out, const std::string& what) {
  auto* arr = n.as_array();
  if (!arr) return "expects an array of " + what;
  out.clear();
  for (auto& el : *arr) {
    if (!el.is_string()) return "expects an array of strings";
    out.push_back(*el.value<std::string>());
  }
  return "";
}

template <typename E>
std::string read_enum(const toml::node& n, E& out, const std::map<std::string, E>& names) {
  if (!n.is_string()) return "expects a string";
  auto s = *n.value<std::string>();
  auto it = names.find(s);
  if (it == names.end()) {
    std::string allowed;
    for (auto& [k, _] : names) allowed += (allowed.empty() ? "" : ", ") + k;
    return "unknown value \"" + s + "\" (allowed: " + allowed + ")";
  }
  out = it->second;
  return "";
}

const std::map<std::string, Method> kMethods = {
    {"single", Method::Single}, {"ddp", Method::Ddp}, {"diloco", Method::DiLoCo},
    {"photon", Method::Photon}, {"fomoe", Method::FoMoE}};
const std::map<std::string, Compression> kCompressions = {
    {"none", Compression::None}, {"int8", Compression::Int8}, {"fp8", Compression::Fp8},
    {"int4", Compression::Int4}, {"int2", Compression::Int2}};

#define INT_KEY(sec, key, lo, hi) {#key, [](const toml::node& n, ExperimentConfig& c) { return read_int(n, c.sec.key, lo, hi); }}
#define DBL_KEY(sec, key, lo, hi) {#key, [](const toml::node& n, ExperimentConfig& c) { return read_double(n, c.sec.key, lo, hi); }}
#define BOOL_KEY(sec, key) {#key, [](const toml::node& n, ExperimentConfig& c) { return read_bool(n, c.sec.key); }}
#define STR_KEY(sec, key) {#key, [](const toml::node& n, ExperimentConfig& c) { return read_string(n, c.sec.key); }}

// One device, or a comma list: one site's devices, data parallel through c10d. "" when valid.
std::string device_list_error(const std::string& list) {
  std::stringstream ss(list);
  std::string item;
  int n_items = 0;
  while (std::getline(ss, item, ',')) {
    ++n_items;
    const bool ok = item == "auto" || item == "cpu" || item == "cuda" ||
                    (item.rfind("cuda:", 0) == 0 && item.size() > 5 && item.find_first_not_of("0123456789", 5) == std::string::npos);
    if (!ok)
      return "unknown device \"" + item + "\" in \"" + list + "\" (allowed: auto, cpu, cuda, cuda:N, or a comma list of those)";
  }
  return n_items == 0 ? std::string("empty device list") : std::string();
}

const std::map<std::string, std::map<std::string, Handler>>& schema() {
  static const std::map<std::string, std::map<std::string, Handler>> s = {
      {"run",
       {STR_KEY(run, name),
        {"method", [](const toml::node& n, ExperimentConfig& c) { return read_enum(n, c.run.method, kMethods); }},
        INT_KEY(run, seed, 0, INT64_MAX),
        {"device", [](const toml::node& n, ExperimentConfig& c) {
           auto e = read_string(n, c.run.device);
           return e.empty() ? device_list_error(c.run.device) : e;
         }},
        STR_KEY(run, db), STR_KEY(run, out_dir)}},
      {"model",
       {INT_KEY(model, vocab_size, 2, 1 << 24), INT_KEY(model, d_model, 8, 65536),
        INT_KEY(model, n_layers, 1, 1024), INT_KEY(model, n_heads, 1, 1024), INT_KEY(model, n_kv_heads, 0, 1024),
        BOOL_KEY(model, tie_embeddings),
        INT_KEY(model, seq_len, 2, 1 << 20), INT_KEY(model, n_experts, 1, 4096),
        INT_KEY(model, top_k, 1, 4096), INT_KEY(model, d_expert, 1, 1 << 20),
        BOOL_KEY(model, shared_expert), INT_KEY(model, moe_every, 1, 2),
        DBL_KEY(model, aux_loss_coef, 0.0, 10.0), DBL_KEY(model, z_loss_coef, 0.0, 10.0),
        {"gate", [](const toml::node& n, ExperimentConfig& c) {
           return read_enum(n, c.model.gate, std::map<std::string, GateMode>{{"keep", GateMode::Keep}, {"renormalize", GateMode::Renormalize}, {"reroute", GateMode::Reroute}});
         }},
        DBL_KEY(model, residency, 0.0, 1.0), STR_KEY(model, init_from)}},
      {"data",
       {{"sources", [](const toml::node& n, ExperimentConfig& c) -> std::string {
           if (n.as_array() && n.as_array()->empty()) return "expects a non-empty array of source names";
           return read_string_list(n, c.data.sources, "source names");
         }},
        DBL_KEY(data, heldout_fraction, 0.001, 0.5), INT_KEY(data, max_bytes, 0, INT64_MAX),
        {"split", [](const toml::node& n, ExperimentConfig& c) {
           return read_enum(n, c.data.split, std::map<std::string, ShardSplit>{{"iid", ShardSplit::Iid}, {"non_iid", ShardSplit::NonIid}});
         }},
        STR_KEY(data, cache_dir), STR_KEY(data, path), INT_KEY(data, eos_id, -1, INT64_MAX), STR_KEY(data, separator),
        STR_KEY(data, text_field), STR_KEY(data, domain_field), STR_KEY(data, tokenizer),
        {"format", [](const toml::node& n, ExperimentConfig& c) {
           return read_enum(n, c.data.format, std::map<std::string, DataFormat>{{"builtin", DataFormat::Builtin},
                                                                                {"megatron", DataFormat::Megatron},
                                                                                {"tokens", DataFormat::Tokens},
                                                                                {"llmc", DataFormat::Llmc},
                                                                                {"text", DataFormat::Text},
                                                                                {"jsonl", DataFormat::Jsonl}});
         }},
        {"token_dtype", [](const toml::node& n, ExperimentConfig& c) -> std::string {
           std::string v;
           if (auto e = read_string(n, v); !e.empty()) return e;
           if (v != "uint16" && v != "uint32") return "unknown value \"" + v + "\" (allowed: uint16, uint32)";
           c.data.token_dtype = v;
           return "";
         }}}},
      {"train",
       {INT_KEY(train, steps, 1, 100000000), INT_KEY(train, batch_size, 1, 1 << 20),
        DBL_KEY(train, lr, 0.0, 10.0), DBL_KEY(train, min_lr_ratio, 0.0, 1.0),
        INT_KEY(train, warmup_steps, 0, 100000000), DBL_KEY(train, weight_decay, 0.0, 10.0),
        DBL_KEY(train, beta1, 0.0, 0.999999), DBL_KEY(train, beta2, 0.0, 0.999999),
        DBL_KEY(train, grad_clip, 0.0, 1e9), INT_KEY(train, eval_every, 0, 100000000),
        INT_KEY(train, eval_batches, 1, 100000), INT_KEY(train, log_every, 1, 100000000),
        INT_KEY(train, checkpoint_every, 0, 100000000), INT_KEY(train, sample_tokens, 0, 4096),
        {"sample_prompts", [](const toml::node& n, ExperimentConfig& c) -> std::string {
           if (auto e = read_string_list(n, c.train.sample_prompts, "prompt strings ([] = no samples)"); !e.empty()) return e;
           for (auto& p : c.train.sample_prompts)
             if (p.empty()) return "has an empty prompt (each needs at least one character)";
           if (c.train.sample_prompts.size() > 16) return "has " + std::to_string(c.train.sample_prompts.size()) + " prompts (at most 16)";
           return "";
         }},
        {"inner_optimizer", [](const toml::node& n, ExperimentConfig& c) {
           auto e = read_string(n, c.train.inner_optimizer);
           if (e.empty() && c.train.inner_optimizer != "adamw" && c.train.inner_optimizer != "sgd")
             return std::string("unknown value \"" + c.train.inner_optimizer + "\" (allowed: adamw, sgd)");
           return e;
         }}}},
      {"federation",
       {INT_KEY(federation, sites, 1, 1024), INT_KEY(federation, inner_steps, 1, 1000000),
        INT_KEY(federation, replication, 1, 1024),
        {"placement", [](const toml::node& n, ExperimentConfig& c) {
           return read_enum(n, c.federation.placement, std::map<std::string, PlacementPolicy>{
               {"round_robin", PlacementPolicy::RoundRobin}, {"load_aware", PlacementPolicy::LoadAware}, {"explicit", PlacementPolicy::Explicit},
               {"affinity", PlacementPolicy::Affinity}});
         }},
        INT_KEY(federation, replan_every, 0, 1000000),
        {"plan", [](const toml::node& n, ExperimentConfig& c) -> std::string {
           // plan = [ [ [sites of expert 0], [sites of expert 1], ... ]  (layer 0), ... ]
           auto* layers = n.as_array();
           if (!layers) return "expects an array (per MoE layer) of arrays (per expert) of site arrays";
           c.federation.explicit_plan.clear();
           for (auto& l : *layers) {
             auto* experts = l.as_array();
             if (!experts) return "expects an array per layer";
             std::vector<std::vector<int>> per_layer;
             for (auto& e : *experts) {
               auto* sites = e.as_array();
               if (!sites) return "expects an array of site ids per expert";
               std::vector<int> holders;
               for (auto& s : *sites) {
                 if (!s.is_integer()) return "site ids must be integers";
                 holders.push_back(static_cast<int>(*s.value<int64_t>()));
               }
               per_layer.push_back(holders);
             }
             c.federation.explicit_plan.push_back(per_layer);
           }
           return "";
         }},
        {"expert_weighting", [](const toml::node& n, ExperimentConfig& c) {
           return read_enum(n, c.federation.expert_weighting, std::map<std::string, ExpertWeighting>{{"tokens", ExpertWeighting::Tokens}, {"uniform", ExpertWeighting::Uniform}});
         }},
        DBL_KEY(federation, outer_lr, 0.0, 100.0), DBL_KEY(federation, expert_outer_lr, 0.0, 100.0),
        DBL_KEY(federation, outer_momentum, 0.0, 0.999999),
        BOOL_KEY(federation, nesterov), DBL_KEY(federation, photon_server_lr, 0.0, 100.0),
        DBL_KEY(federation, photon_server_momentum, 0.0, 0.999999), BOOL_KEY(federation, stateless_clients),
        {"precision", [](const toml::node& n, ExperimentConfig& c) {
           return read_enum(n, c.federation.precision, std::map<std::string, WirePrecision>{{"fp32", WirePrecision::F32}, {"bf16", WirePrecision::BF16}, {"fp16", WirePrecision::F16}});
         }},
        {"compression", [](const toml::node& n, ExperimentConfig& c) { return read_enum(n, c.federation.compression, kCompressions); }},
        BOOL_KEY(federation, error_feedback), DBL_KEY(federation, error_feedback_decay, 0.0, 1.0), BOOL_KEY(federation, overlap), INT_KEY(federation, overlap_steps, 0, 1000000),
        DBL_KEY(federation, overlap_mix, 0.0, 1.0), INT_KEY(federation, fragments, 1, 1024), DBL_KEY(federation, topk, 0.0, 1.0), DBL_KEY(federation, down_topk, 0.0, 1.0),
        BOOL_KEY(federation, entropy_coding),
        {"down_compression", [](const toml::node& n, ExperimentConfig& c) { return read_enum(n, c.federation.down_compression, kCompressions); }},
        INT_KEY(federation, quorum, 1, 1024), DBL_KEY(federation, round_timeout_s, 0, 1e7),
        DBL_KEY(federation, heartbeat_s, 0, 3600), INT_KEY(federation, restart_sites, 0, 1000), INT_KEY(federation, max_sites, 0, 1024),
        DBL_KEY(federation, bandwidth_mbps, 0.0, 1e9), DBL_KEY(federation, latency_ms, 0.0, 1e7),
        {"site_bandwidth_mbps", [](const toml::node& n, ExperimentConfig& c) { return read_double_list(n, c.federation.site_bandwidth_mbps); }},
        {"site_latency_ms", [](const toml::node& n, ExperimentConfig& c) { return read_double_list(n, c.federation.site_latency_ms); }},
        STR_KEY(federation, key_dir), BOOL_KEY(federation, coordinator_data),
        {"site_data_paths", [](const toml::node& n, ExperimentConfig& c) {
           return read_string_list(n, c.federation.site_data_paths, "paths (\"\" = the shared data)");
         }},
        {"agents", [](const toml::node& n, ExperimentConfig& c) -> std::string {
           auto* arr = n.as_array();
           if (!arr) return "expects an array of { address = \"tcp://host:port\", public_key = \"...\" }";
           c.federation.agents.clear();
           for (auto& el : *arr) {
             auto* t = el.as_table();
             if (!t) return "each agent must be a table { address = ..., public_key = ... }";
             RemoteAgent a;
             if (auto v = (*t)["address"].value<std::string>()) a.address = *v; else return "agent entry lacks address";
             if (auto v = (*t)["public_key"].value<std::string>()) a.public_key = *v;
             c.federation.agents.push_back(a);
           }
           return "";
         }}}},
  };
  return s;
}

Error config_error(const std::string& place, const std::string& msg) {
  return make_error(ErrorCode::InvalidArgument, place + ": " + msg);
}

}  // namespace

int round_steps(const FederationSection& f) { return f.inner_steps / std::max(1, f.fragments); }

int parameter_fragment(const std::string& name, int n_layers, int fragments) {
  if (fragments <= 1) return 0;
  if (name.rfind("layers.", 0) == 0) return static_cast<int>(std::strtol(name.c_str() + 7, nullptr, 10) % fragments);
  if (name.rfind("tok_emb.", 0) == 0) return 0;
  return (std::max(1, n_layers) - 1) % fragments;  // norm_f, head: with the last layer
}

double site_bandwidth_mbps(const FederationSection& f, int site) {
  return site >= 0 && site < static_cast<int>(f.site_bandwidth_mbps.size()) ? f.site_bandwidth_mbps[site] : f.bandwidth_mbps;
}

double site_latency_ms(const FederationSection& f, int site) {
  return site >= 0 && site < static_cast<int>(f.site_latency_ms.size()) ? f.site_latency_ms[site] : f.latency_ms;
}

const char* method_name(Method m) {
  switch (m) {
    case Method::Single: return "single";
    case Method::Ddp: return "ddp";
    case Method::DiLoCo: return "diloco";
    case Method::Photon: return "photon";
    case Method::FoMoE: return "fomoe";
  }
  return "?";
}

const char* data_format_name(DataFormat f) {
  switch (f) {
    case DataFormat::Builtin: return "builtin";
    case DataFormat::Megatron: return "megatron";
    case DataFormat::Tokens: return "tokens";
    case DataFormat::Llmc: return "llmc";
    case DataFormat::Text: return "text";
    case DataFormat::Jsonl: return "jsonl";
  }
  return "builtin";
}

const char* gate_mode_name(GateMode m) {
  switch (m) {
    case GateMode::Keep: return "keep";
    case GateMode::Renormalize: return "renormalize";
    case GateMode::Reroute: return "reroute";
  }
  return "?";
}

const char* placement_policy_name(PlacementPolicy p) {
  switch (p) {
    case PlacementPolicy::RoundRobin: return "round_robin";
    case PlacementPolicy::LoadAware: return "load_aware";
    case PlacementPolicy::Explicit: return "explicit";
    case PlacementPolicy::Affinity: return "affinity";
  }
  return "?";
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::None: return "none";
    case Compression::Int8: return "int8";
    case Compression::Fp8: return "fp8";
    case Compression::Int4: return "int4";
    case Compression::Int2: return "int2";
  }
  return "?";
}

const char* wire_precision_name(WirePrecision p) {
  switch (p) {
    case WirePrecision::F32: return "fp32";
    case WirePrecision::BF16: return "bf16";
    case WirePrecision::F16: return "fp16";
  }
  return "?";
}

Expected<ExperimentConfig> parse_experiment(const std::string& toml_text, const std::string& source_name) {
  ExperimentConfig cfg;
  cfg.source_path = source_name;
  cfg.source_text = toml_text;
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": TOML syntax error: " << e.description();
    return make_error(ErrorCode::InvalidArgument, os.str());
  }
  const auto& sch = schema();
  for (auto& [sec_key, sec_node] : root) {
    std::string sec(sec_key.str());
    auto sit = sch.find(sec);
    if (sit == sch.end()) {
      std::string known;
      for (auto& [k, _] : sch) known += (known.empty() ? "" : ", ") + k;
      return config_error(where(source_name, sec_node), "unknown section [" + sec + "] (known: " + known + ")");
    }
    auto* table = sec_node.as_table();
    if (!table) return config_error(where(source_name, sec_node), "\"" + sec + "\" must be a [section]");
    for (auto& [key, node] : *table) {
      std::string k(key.str());
      auto kit = sit->second.find(k);
      if (kit == sit->second.end()) {
        std::string known;
        for (auto& [kk, _] : sit->second) known += (known.empty() ? "" : ", ") + kk;
        return config_error(where(source_name, node), "unknown key " + sec + "." + k + " (known: " + known + ")");
      }
      std::string err = kit->second(node, cfg);
      if (!err.empty()) return config_error(where(source_name, node), sec + "." + k + " " + err);
    }
  }
  Status st = validate_experiment(cfg);
  if (!st) return make_error(st.error().code, source_name + ": " + st.error().message);
  return cfg;
}

Expected<ExperimentConfig> load_experiment(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::NotFound, "cannot open experiment file " + path + " (check the path)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_experiment(ss.str(), path);
}

Status validate_experiment(const ExperimentConfig& c) {
  auto bad = [](const std::string& m) { return Status(make_error(ErrorCode::InvalidArgument, m)); };
  if (auto e = device_list_error(c.run.device); !e.empty()) return bad("run.device: " + e);
  const auto& m = c.model;
  if (m.d_model % m.n_heads != 0)
    return bad("model.d_model (" + std::to_string(m.d_model) + ") must be divisible by model.n_heads (" + std::to_string(m.n_heads) + ")");
  if ((m.d_model / m.n_heads) % 2 != 0) return bad("model.d_model / model.n_heads must be even (rotary embeddings rotate pairs)");
  if (m.top_k > m.n_experts)
    return bad("model.top_k (" + std::to_string(m.top_k) + ") exceeds model.n_experts (" + std::to_string(m.n_experts) + ")");
  if (c.data.format != DataFormat::Builtin && c.data.path.empty())
    return bad(std::string("data.path is empty: data.format = \"") + data_format_name(c.data.format) + "\" reads " +
               (c.data.format == DataFormat::Text || c.data.format == DataFormat::Jsonl
                    ? "your text (a file, a folder or a glob)"
                    : "a token file (megatron: the PREFIX of PREFIX.bin and PREFIX.idx)"));
  if (c.data.format == DataFormat::Jsonl && c.data.text_field.empty()) return bad("data.text_field is empty: name the field holding the text");
  if (c.data.format == DataFormat::Tokens && c.data.eos_id >= (c.data.token_dtype == "uint16" ? 65536 : (int64_t{1} << 32)))
    return bad("data.eos_id (" + std::to_string(c.data.eos_id) + ") does not fit data.token_dtype = " + c.data.token_dtype);
  if (!c.data.tokenizer.empty()) {
    // The file is read here (once per path, size and time: the configure panel validates on edits).
    auto vocab = data::tokenizer_vocab_size(c.data.tokenizer, c.data.eos_id);
    if (!vocab) return bad("data.tokenizer: " + vocab.error().message);
    if (m.vocab_size < *vocab)
      return bad("model.vocab_size (" + std::to_string(m.vocab_size) + ") is smaller than the vocabulary of data.tokenizer " +
                 c.data.tokenizer + " (" + std::to_string(*vocab) + " ids): set model.vocab_size >= " +
                 std::to_string(*vocab));
  }
  const auto& t = c.train;
  if (t.warmup_steps > t.steps) return bad("train.warmup_steps (" + std::to_string(t.warmup_steps) + ") exceeds train.steps (" + std::to_string(t.steps) + ")");
  const auto& f = c.federation;
  if (c.run.method != Method::Single) {
    if (f.replication > f.sites)
      return bad("federation.replication (" + std::to_string(f.replication) + ") exceeds federation.sites (" + std::to_string(f.sites) + "): every expert needs r distinct holders");
    if (f.quorum > f.sites) return bad("federation.quorum exceeds federation.sites");
    if (f.overlap && c.run.method == Method::Ddp)
      return bad("federation.overlap: DDP exchanges gradients every step and has no rounds to overlap");
    if (f.fragments > 1) {
      if (c.run.method == Method::Ddp)
        return bad("federation.fragments: DDP exchanges every gradient every step; streaming fragments need rounds (diloco, photon, fomoe)");
      if (f.inner_steps % f.fragments != 0)
        return bad("federation.fragments (" + std::to_string(f.fragments) + ") must divide federation.inner_steps (" +
                   std::to_string(f.inner_steps) + "): each fragment syncs every H steps, one every H / P steps");
      if (!f.coordinator_data || !f.site_data_paths.empty())
        return bad("federation.fragments with data that stays at its site (federation.site_data_paths, coordinator_data = false): a "
                   "site's held-out loss is of the global model, which a site never holds whole once fragments sync in turns");
      if (f.fragments > c.model.n_layers)
        return bad("federation.fragments (" + std::to_string(f.fragments) + ") exceeds model.n_layers (" + std::to_string(c.model.n_layers) +
                   "): fragments are strided by layer, so some would be empty");
    }
    if (f.overlap && f.fragments > 1 && f.overlap_steps >= round_steps(f))
      return bad("federation.overlap_steps (" + std::to_string(f.overlap_steps) + ") must be below a round's " + std::to_string(round_steps(f)) +
                 " inner steps (federation.inner_steps / federation.fragments)");
    if (f.overlap && f.overlap_steps >= f.inner_steps)
      return bad("federation.overlap_steps (" + std::to_string(f.overlap_steps) + ") must be below federation.inner_steps (" +
                 std::to_string(f.inner_steps) + "): a round's first tau steps overlap the exchange, the rest train on the new global model");
    if (!(f.topk >= 0 && f.topk <= 1)) return bad("federation.topk = " + std::to_string(f.topk) + ": the fraction kept must be in (0, 1], or 0 for off");
    if (!(f.down_topk >= 0 && f.down_topk <= 1))
      return bad("federation.down_topk = " + std::to_string(f.down_topk) + ": the fraction kept must be in (0, 1], or 0 for off");
    if (f.topk > 0 && f.precision != WirePrecision::F32)
      return bad(std::string("federation.precision = \"") + wire_precision_name(f.precision) +
                 "\" and federation.topk both set what travels up: choose one (top-k values are coded by federation.compression)");
    if (f.down_topk > 0 && c.run.method == Method::Ddp)
      return bad("federation.down_topk: DDP sends its averaged gradients down with federation.topk and federation.compression");
    if (f.compression != Compression::None && f.precision != WirePrecision::F32)
      return bad(std::string("federation.precision = \"") + wire_precision_name(f.precision) + "\" and federation.compression = \"" +
                 compression_name(f.compression) + "\" both set what travels up: choose one");
    if (f.max_sites != 0 && f.max_sites < f.sites)
      return bad("federation.max_sites (" + std::to_string(f.max_sites) + ") is below federation.sites (" + std::to_string(f.sites) +
                 "): it counts every site, the first sites and those that may join (0 = no joining)");
    if (f.max_sites > f.sites && c.run.method == Method::Ddp)
      return bad("federation.max_sites: DDP's sites exchange gradients every step in lockstep; sites joining a running federation "
                 "need rounds (diloco, photon, fomoe)");
    if (!f.agents.empty() && static_cast<int>(f.agents.size()) != f.sites &&
        !(f.max_sites > f.sites && static_cast<int>(f.agents.size()) == f.max_sites))
      return bad("federation.agents lists " + std::to_string(f.agents.size()) + " agents but federation.sites = " + std::to_string(f.sites) +
                 (f.max_sites > f.sites ? " and federation.max_sites = " + std::to_string(f.max_sites) : std::string()));
    if (!f.site_bandwidth_mbps.empty() && static_cast<int>(f.site_bandwidth_mbps.size()) != f.sites)
      return bad("federation.site_bandwidth_mbps lists " + std::to_string(f.site_bandwidth_mbps.size()) + " sites but federation.sites = " +
                 std::to_string(f.sites));
    if (!f.site_latency_ms.empty() && static_cast<int>(f.site_latency_ms.size()) != f.sites)
      return bad("federation.site_latency_ms lists " + std::to_string(f.site_latency_ms.size()) + " sites but federation.sites = " +
                 std::to_string(f.sites));
    if (!f.site_data_paths.empty() && static_cast<int>(f.site_data_paths.size()) != f.sites)
      return bad("federation.site_data_paths lists " + std::to_string(f.site_data_paths.size()) + " sites but federation.sites = " +
                 std::to_string(f.sites));
    // Text at a site is fine with data.tokenizer: every site tokenises with the same file.
    if (!f.site_data_paths.empty() && !reads_token_files(c.data.format) && c.data.tokenizer.empty())
      return bad(std::string("federation.site_data_paths needs token files (data.format = megatron, tokens or llmc) or "
                             "data.tokenizer, not \"") +
                 data_format_name(c.data.format) + "\" with the project's BPE: " + kOwnTextAtSiteWhy);
    if (f.placement == PlacementPolicy::Explicit && f.explicit_plan.empty())
      return bad("federation.placement = \"explicit\" needs federation.plan");
  }
  return Status::ok();
}

Status apply_overrides(ExperimentConfig& cfg, const std::vector<std::string>& assignments) {
  if (assignments.empty()) return Status::ok();
  const auto& sch = schema();
  for (const auto& a : assignments) {
    const auto eq = a.find('=');
    const auto dot = a.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq)
      return make_error(ErrorCode::InvalidArgument, "--set " + a + ": expected section.key=value, e.g. federation.replication=4");
    const std::string sec = a.substr(0, dot), key = a.substr(dot + 1, eq - dot - 1), value = a.substr(eq + 1);
    auto sit = sch.find(sec);
    if (sit == sch.end()) return make_error(ErrorCode::InvalidArgument, "--set " + a + ": unknown section [" + sec + "]");
    auto kit = sit->second.find(key);
    if (kit == sit->second.end()) return make_error(ErrorCode::InvalidArgument, "--set " + a + ": unknown key " + sec + "." + key);
    toml::table t;
    try {
      t = toml::parse("v = " + value);
    } catch (const toml::parse_error&) {
      try {
        t = toml::parse("v = \"" + value + "\"");  // a bare word: a string
      } catch (const toml::parse_error& e) {
        return make_error(ErrorCode::InvalidArgument, "--set " + a + ": cannot read the value: " + std::string(e.description()));
      }
    }
    std::string err = kit->second(*t.get("v"), cfg);
    if (!err.empty()) return make_error(ErrorCode::InvalidArgument, "--set " + a + ": " + sec + "." + key + " " + err);
  }
  if (auto st = validate_experiment(cfg); !st) return st;
  cfg.source_text = to_toml(cfg);
  return Status::ok();
}

namespace {

// Every key of a config as a TOML table: what to_toml prints and what to_toml_minimal compares
// against the defaults, so the two writers cannot disagree on which keys exist.
toml::table canonical_table(const ExperimentConfig& c) {
  auto str_arr = [](const std::vector<std::string>& v) {
    toml::array a;
    for (auto& s : v) a.push_back(s);
    return a;
  };
  toml::table root{
      {"run", toml::table{{"name", c.run.name}, {"method", method_name(c.run.method)}, {"seed", static_cast<int64_t>(c.run.seed)},
                          {"device", c.run.device}, {"db", c.run.db}, {"out_dir", c.run.out_dir}}},
      {"model", toml::table{{"vocab_size", c.model.vocab_size}, {"d_model", c.model.d_model}, {"n_layers", c.model.n_layers},
                            {"n_heads", c.model.n_heads}, {"n_kv_heads", c.model.n_kv_heads},
                            {"tie_embeddings", c.model.tie_embeddings}, {"seq_len", c.model.seq_len}, {"n_experts", c.model.n_experts},
                            {"top_k", c.model.top_k}, {"d_expert", c.model.d_expert}, {"shared_expert", c.model.shared_expert},
                            {"moe_every", c.model.moe_every}, {"aux_loss_coef", c.model.aux_loss_coef},
                            {"z_loss_coef", c.model.z_loss_coef}, {"gate", gate_mode_name(c.model.gate)},
                            {"residency", c.model.residency}, {"init_from", c.model.init_from}}},
      {"data", toml::table{{"sources", str_arr(c.data.sources)}, {"heldout_fraction", c.data.heldout_fraction},
                           {"max_bytes", c.data.max_bytes}, {"split", c.data.split == ShardSplit::Iid ? "iid" : "non_iid"},
                           {"cache_dir", c.data.cache_dir}, {"format", data_format_name(c.data.format)},
                           {"path", c.data.path}, {"token_dtype", c.data.token_dtype}, {"eos_id", c.data.eos_id},
                           {"separator", c.data.separator}, {"text_field", c.data.text_field},
                           {"domain_field", c.data.domain_field}, {"tokenizer", c.data.tokenizer}}},
      {"train", toml::table{{"steps", c.train.steps}, {"batch_size", c.train.batch_size}, {"lr", c.train.lr},
                            {"min_lr_ratio", c.train.min_lr_ratio}, {"warmup_steps", c.train.warmup_steps},
                            {"weight_decay", c.train.weight_decay}, {"beta1", c.train.beta1}, {"beta2", c.train.beta2},
                            {"grad_clip", c.train.grad_clip}, {"eval_every", c.train.eval_every},
                            {"eval_batches", c.train.eval_batches}, {"log_every", c.train.log_every},
                            {"checkpoint_every", c.train.checkpoint_every}, {"inner_optimizer", c.train.inner_optimizer},
                            {"sample_tokens", c.train.sample_tokens}, {"sample_prompts", str_arr(c.train.sample_prompts)}}},
  };
  const auto& f = c.federation;
  toml::table fed{{"sites", f.sites}, {"inner_steps", f.inner_steps}, {"replication", f.replication},
                  {"placement", placement_policy_name(f.placement)}, {"replan_every", f.replan_every},
                  {"expert_weighting", f.expert_weighting == ExpertWeighting::Tokens ? "tokens" : "uniform"},
                  {"outer_lr", f.outer_lr}, {"expert_outer_lr", f.expert_outer_lr}, {"outer_momentum", f.outer_momentum}, {"nesterov", f.nesterov},
                  {"photon_server_lr", f.photon_server_lr}, {"photon_server_momentum", f.photon_server_momentum},
                  {"stateless_clients", f.stateless_clients}, {"precision", wire_precision_name(f.precision)},
                  {"compression", compression_name(f.compression)}, {"error_feedback", f.error_feedback},
                  {"error_feedback_decay", f.error_feedback_decay},
                  {"down_compression", compression_name(f.down_compression)}, {"topk", f.topk}, {"down_topk", f.down_topk},
                  {"entropy_coding", f.entropy_coding}, {"overlap", f.overlap},
                  {"overlap_steps", f.overlap_steps}, {"overlap_mix", f.overlap_mix}, {"fragments", f.fragments},
                  {"quorum", f.quorum}, {"round_timeout_s", f.round_timeout_s}, {"heartbeat_s", f.heartbeat_s},
                  {"restart_sites", f.restart_sites}, {"max_sites", f.max_sites}, {"bandwidth_mbps", f.bandwidth_mbps},
                  {"latency_ms", f.latency_ms}, {"key_dir", f.key_dir}, {"coordinator_data", f.coordinator_data}};
  auto num_arr = [](const std::vector<double>& v) {
    toml::array a;
    for (double x : v) a.push_back(x);
    return a;
  };
  if (!f.site_bandwidth_mbps.empty()) fed.insert("site_bandwidth_mbps", num_arr(f.site_bandwidth_mbps));
  if (!f.site_latency_ms.empty()) fed.insert("site_latency_ms", num_arr(f.site_latency_ms));
  if (!f.site_data_paths.empty()) fed.insert("site_data_paths", str_arr(f.site_data_paths));
  if (!f.explicit_plan.empty()) {
    toml::array layers;
    for (auto& l : f.explicit_plan) {
      toml::array experts;
      for (auto& e : l) {
        toml::array sites;
        for (int s : e) sites.push_back(s);
        experts.push_back(sites);
      }
      layers.push_back(experts);
    }
    fed.insert("plan", layers);
  }
  if (!f.agents.empty()) {
    toml::array agents;
    for (auto& a : f.agents) agents.push_back(toml::table{{"address", a.address}, {"public_key", a.public_key}});
    fed.insert("agents", agents);
  }
  root.insert("federation", fed);
  return root;
}

// Doubles print as the shortest text that reads back to the same value; a ".0" keeps an
// integral double a TOML float.
std::string float_text(double v) {
  std::string s = shortest_number(v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // 'n' covers inf and nan
  return s;
}

std::string string_text(const std::string& v) {
  std::string out = "\"";
  for (char ch : v) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {  // TOML forbids raw control characters
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(ch));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// One value as TOML text; arrays and tables inline (the plan and the remote agents).
std::string node_text(const toml::node& n) {
  if (auto* v = n.as_floating_point()) return float_text(v->get());
  if (auto* v = n.as_integer()) return std::to_string(v->get());
  if (auto* v = n.as_boolean()) return v->get() ? "true" : "false";
  if (auto* v = n.as_string()) return string_text(v->get());
  if (auto* a = n.as_array()) {
    std::string out = "[";
    for (size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + node_text(*a->get(i));
    return out + "]";
  }
  if (auto* t = n.as_table()) {
    std::string out = "{ ";
    bool first = true;
    for (auto& [k, v] : *t) {
      out += (first ? "" : ", ") + std::string(k.str()) + " = " + node_text(v);
      first = false;
    }
    return out + " }";
  }
  return "";
}

}  // namespace

std::string to_toml(const ExperimentConfig& c) {
  std::ostringstream os;
  os << canonical_table(c) << "\n";
  return os.str();
}

std::string to_toml_minimal(const ExperimentConfig& c) {
  const toml::table mine = canonical_table(c);
  const toml::table defaults = canonical_table(ExperimentConfig{});
  std::string out = "# FoMoE experiment: the settings that differ from the defaults (fomoe/config/experiment.h).\n";
  // Sections in the order a reader thinks of them, not alphabetical.
  for (const char* section : {"run", "model", "data", "train", "federation"}) {
    const toml::table* sec = mine[section].as_table();
    const toml::table* base = defaults[section].as_table();
    if (!sec) continue;
    std::string lines;
    for (auto& [key, node] : *sec) {
      const std::string text = node_text(node);
      const toml::node* d = base ? base->get(key.str()) : nullptr;
      if (d && node_text(*d) == text) continue;
      lines += std::string(key.str()) + " = " + text + "\n";
    }
    if (!lines.empty()) out += "\n[" + std::string(section) + "]\n" + lines;
  }
  return out;
}

}  // namespace fomoe
