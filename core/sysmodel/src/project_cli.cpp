// `fomoe project`: argument parsing, the side-by-side table and the JSON form.
#include "fomoe/sysmodel/project_cli.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fomoe/config/experiment.h"
#include "fomoe/sysmodel/presets.h"

namespace fomoe::sysmodel {

namespace {

constexpr const char* kUsage =
    "usage: fomoe project [--preset NAME | --experiment FILE.toml] [--sites K] [--replication r]\n"
    "                     [--inner-steps H] [--precision fp32|bf16|fp16] [--bandwidth-gbps X]\n"
    "                     [--latency-ms Y] [--batch B] [--seq-len T] [--meta-bytes N] [--bf16-weights]\n"
    "                     [--format table|json] [--list-presets]\n"
    "Predicts parameters, memory, bytes and communication time per round for DDP, DiLoCo, Photon and\n"
    "FoMoE. Without --preset or --experiment the model is the preset engine-small.\n"
    "Defaults: K, r, H from the preset or experiment; link 1 Gbit/s and 10 ms unless the experiment\n"
    "sets [federation] bandwidth_mbps / latency_ms; --meta-bytes 0 (pure tensor bytes + framing).\n";

std::string fmt(const char* f, double v) {
  if (v == 0.0) v = 0.0;  // no "-0"
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string human_count(double n) {
  const double a = std::fabs(n);
  if (a >= 1e12) return fmt("%.2fT", n / 1e12);
  if (a >= 1e9) return fmt("%.2fB", n / 1e9);
  if (a >= 1e6) return fmt("%.2fM", n / 1e6);
  if (a >= 1e3) return fmt("%.2fK", n / 1e3);
  return fmt("%.0f", n);
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024.0 && u < 5) {
    b /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt("%.0f B", b) : fmt("%.2f ", b) + units[u];
}

std::string human_seconds(double s) {
  if (s < 1.0) return fmt("%.1f ms", s * 1e3);
  if (s < 120.0) return fmt("%.2f s", s);
  if (s < 7200.0) return fmt("%.1f min", s / 60.0);
  return fmt("%.2f h", s / 3600.0);
}

std::string gib(uint64_t b) { return fmt("%.2f", static_cast<double>(b) / (1024.0 * 1024.0 * 1024.0)); }

std::string human_bps(double bps) {
  if (bps <= 0) return "unlimited";
  if (bps >= 1e9) return fmt("%g Gbit/s", bps / 1e9);
  if (bps >= 1e6) return fmt("%g Mbit/s", bps / 1e6);
  return fmt("%g bit/s", bps);
}

const Method kMethods[] = {Method::Ddp, Method::DiLoCo, Method::Photon, Method::FoMoE};
const char* kMethodTitles[] = {"DDP", "DiLoCo", "Photon", "FoMoE"};

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }

void row(std::ostringstream& o, const std::string& label, const std::function<std::string(const MethodProjection&)>& cell,
         const Projection& p) {
  o << pad(label, 36);
  for (Method m : kMethods) o << pad(cell(p.of(m)), 14);
  o << "\n";
}

nlohmann::json wire_json(const WireBytes& w) {
  return {{"total", w.total()}, {"tensor", w.tensor}, {"framing", w.framing}, {"messages", w.messages},
          {"tensors", w.tensors}};
}

nlohmann::json memory_json(const MemoryEstimate& m) {
  return {{"total", m.total()},         {"weights", m.weights},     {"grads", m.grads},
          {"optimizer", m.optimizer},   {"snapshot", m.snapshot},   {"activations", m.activations}};
}

std::string method_key(Method m) {
  switch (m) {
    case Method::Ddp: return "ddp";
    case Method::DiLoCo: return "diloco";
    case Method::Photon: return "photon";
    case Method::FoMoE: return "fomoe";
    case Method::Single: return "single";
  }
  return "?";
}

// --- argument parsing ---

bool parse_double(const std::string& s, double& out) {
  try {
    size_t used = 0;
    out = std::stod(s, &used);
    return used == s.size() && std::isfinite(out);
  } catch (const std::exception& e) {
    (void)e;  // std::stod's invalid_argument / out_of_range: reported by the caller as a bad value
    return false;
  }
}

bool parse_int(const std::string& s, int64_t& out) {
  try {
    size_t used = 0;
    out = std::stoll(s, &used);
    return used == s.size();
  } catch (const std::exception& e) {
    (void)e;  // as above
    return false;
  }
}

}  // namespace

std::string format_projection_table(const Projection& p, const std::string& title) {
  const ModelShape& m = p.model;
  const FederationShape& f = p.federation;
  const ParamCounts& c = p.counts;
  std::ostringstream o;
  o << "fomoe project: " << title << "\n";
  o << "model       " << m.n_layers << " layers (" << m.n_moe_layers() << " MoE), d_model " << m.d_model << ", "
    << m.n_experts << " experts top-" << m.top_k << ", d_expert " << m.d_expert << ", vocab " << m.vocab;
  if (m.shared_expert > 0) o << ", shared expert " << m.shared_expert;
  if (m.n_layers > m.n_moe_layers()) o << ", dense FFN " << m.dense_ffn_width();
  o << "\n";
  o << "params      total " << human_count(static_cast<double>(c.total)) << " = dense "
    << human_count(static_cast<double>(c.dense)) << " + experts " << human_count(static_cast<double>(c.experts))
    << " (active per token " << human_count(static_cast<double>(c.active)) << ")\n";
  o << "federation  K=" << f.n_sites << " sites, r=" << std::min(f.replication, f.n_sites) << ", H=" << f.inner_steps
    << ", travel " << wire_precision_name(f.precision) << ", weights " << (f.bf16_weights ? "bf16" : "fp32")
    << ", link " << human_bps(f.bandwidth_bps) << " / " << fmt("%g", f.latency_s * 1e3) << " ms, batch " << f.batch
    << " x " << f.seq_len << " tokens\n\n";

  o << pad("", 36);
  for (const char* t : kMethodTitles) o << pad(t, 14);
  o << "\n";
  row(o, "params per site (max)", [](const MethodProjection& mp) { return human_count(static_cast<double>(mp.max_params())); }, p);
  row(o, "experts held per site (max)", [](const MethodProjection& mp) {
    int64_t n = 0;
    for (const auto& s : mp.sites) n = std::max(n, s.experts_held);
    return std::to_string(n);
  }, p);
  row(o, "memory per site, GiB (max)", [](const MethodProjection& mp) { return gib(mp.max_memory()); }, p);
  row(o, "  weights + grads, GiB", [](const MethodProjection& mp) {
    const auto& s = mp.max_site();
    return gib(s.memory.weights + s.memory.grads);
  }, p);
  row(o, "  AdamW moments, GiB", [](const MethodProjection& mp) { return gib(mp.max_site().memory.optimizer); }, p);
  row(o, "  round snapshot, GiB", [](const MethodProjection& mp) { return gib(mp.max_site().memory.snapshot); }, p);
  row(o, "  activations (est.), GiB", [](const MethodProjection& mp) { return gib(mp.max_site().memory.activations); }, p);
  row(o, "up per round per site (max)", [](const MethodProjection& mp) { return human_bytes(static_cast<double>(mp.max_site().up.total())); }, p);
  row(o, "down per round per site (max)", [](const MethodProjection& mp) { return human_bytes(static_cast<double>(mp.max_site().down.total())); }, p);
  row(o, "messages each way per round", [](const MethodProjection& mp) { return std::to_string(mp.messages_each_way); }, p);
  row(o, "coordinator in per round", [](const MethodProjection& mp) { return human_bytes(static_cast<double>(mp.coordinator_in.total())); }, p);
  row(o, "coordinator out per round", [](const MethodProjection& mp) { return human_bytes(static_cast<double>(mp.coordinator_out.total())); }, p);
  row(o, "framing share of bytes", [](const MethodProjection& mp) {
    const double t = static_cast<double>(mp.coordinator_total());
    const double fr = static_cast<double>(mp.coordinator_in.framing + mp.coordinator_out.framing);
    return fmt("%.4f%%", t > 0 ? 100.0 * fr / t : 0.0);
  }, p);
  row(o, "one-time download per site", [](const MethodProjection& mp) {
    return mp.one_time_down.total() ? human_bytes(static_cast<double>(mp.one_time_down.total())) : std::string("-");
  }, p);
  row(o, "comm time per round, site (max)", [](const MethodProjection& mp) {
    double t = 0;
    for (const auto& s : mp.sites) t = std::max(t, s.comm_time_s);
    return human_seconds(t);
  }, p);
  row(o, "comm time per round, coordinator", [](const MethodProjection& mp) { return human_seconds(mp.coordinator_time_s); }, p);
  row(o, "coordinator memory, GiB", [](const MethodProjection& mp) { return gib(mp.coordinator_memory.total()); }, p);
  row(o, "bytes per round vs FoMoE", [&p](const MethodProjection& mp) { return fmt("%.2fx", p.bytes_ratio(mp.method)); }, p);
  o << "\nFoMoE sends " << fmt("%.2fx", p.bytes_ratio(Method::DiLoCo)) << " fewer bytes per round than DiLoCo, "
    << fmt("%.2fx", p.bytes_ratio(Method::Photon)) << " than Photon and " << fmt("%.2fx", p.bytes_ratio(Method::Ddp))
    << " than DDP (" << f.inner_steps << " steps per round).\n";
  o << "Parameters and bytes are exact for the engine; memory is an estimate (core/sysmodel/README.md).\n";
  return o.str();
}

std::string format_projection_json(const Projection& p) {
  const ModelShape& m = p.model;
  const FederationShape& f = p.federation;
  nlohmann::json j;
  j["model"] = {{"name", m.name},           {"vocab", m.vocab},         {"d_model", m.d_model},
                {"n_layers", m.n_layers},   {"n_heads", m.n_heads},     {"n_experts", m.n_experts},
                {"top_k", m.top_k},         {"d_expert", m.d_expert},   {"shared_expert", m.shared_expert},
                {"moe_every", m.moe_every}, {"first_dense_layers", m.first_dense_layers},
                {"d_ff_dense", m.dense_ffn_width()}, {"n_moe_layers", m.n_moe_layers()}};
  j["params"] = {{"total", p.counts.total},       {"dense", p.counts.dense},
                 {"experts", p.counts.experts},   {"per_expert", p.counts.per_expert},
                 {"embeddings", p.counts.embeddings}, {"attention", p.counts.attention},
                 {"active", p.counts.active}};
  j["federation"] = {{"sites", f.n_sites},         {"replication", std::min(f.replication, f.n_sites)},
                     {"inner_steps", f.inner_steps}, {"precision", wire_precision_name(f.precision)},
                     {"bandwidth_bps", f.bandwidth_bps}, {"latency_s", f.latency_s},
                     {"batch", f.batch},           {"seq_len", f.seq_len},
                     {"meta_bytes", f.meta_bytes}, {"bf16_weights", f.bf16_weights}};
  nlohmann::json methods = nlohmann::json::object();
  for (Method mm : kMethods) {
    const MethodProjection& mp = p.of(mm);
    nlohmann::json sites = nlohmann::json::array();
    for (const SiteProjection& s : mp.sites)
      sites.push_back({{"site", s.site},         {"params", s.params},           {"experts_held", s.experts_held},
                       {"memory", memory_json(s.memory)}, {"up", wire_json(s.up)}, {"down", wire_json(s.down)},
                       {"comm_time_s", s.comm_time_s}});
    methods[method_key(mm)] = {
        {"params_per_site_max", mp.max_params()},
        {"memory_per_site_max", mp.max_memory()},
        {"messages_each_way", mp.messages_each_way},
        {"coordinator", {{"in", wire_json(mp.coordinator_in)}, {"out", wire_json(mp.coordinator_out)},
                         {"time_s", mp.coordinator_time_s}, {"memory", memory_json(mp.coordinator_memory)}}},
        {"one_time_down", wire_json(mp.one_time_down)},
        {"bytes_ratio_vs_fomoe", p.bytes_ratio(mm)},
        {"sites", sites}};
  }
  j["methods"] = methods;
  return j.dump(2) + "\n";
}

int project_cli_main(const std::vector<std::string>& args_in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args.front() == "project") args.erase(args.begin());

  // Split "--key=value" and collect flags.
  std::map<std::string, std::string> opt;
  bool list = false, help = false, bf16_weights = false;
  static const char* kValued[] = {"--preset", "--experiment", "--sites", "--replication", "--inner-steps",
                                  "--precision", "--bandwidth-gbps", "--latency-ms", "--batch", "--seq-len",
                                  "--meta-bytes", "--format"};
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i], v;
    bool has_v = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_v = true;
    }
    if (a == "--list-presets") { list = true; continue; }
    if (a == "--help" || a == "-h") { help = true; continue; }
    if (a == "--bf16-weights") { bf16_weights = true; continue; }
    bool valued = false;
    for (const char* k : kValued) valued = valued || a == k;
    if (!valued) {
      err << "fomoe project: unknown argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
    if (!has_v) {
      if (i + 1 >= args.size()) {
        err << "fomoe project: " << a << " needs a value\n" << kUsage;
        return 2;
      }
      v = args[++i];
    }
    opt[a] = v;
  }
  if (help) {
    out << kUsage;
    return 0;
  }
  if (list) {
    out << "presets (parameters as the engine would build them vs the published total):\n";
    for (const Preset& pr : presets()) {
      const ParamCounts c = count_parameters(pr.model);
      out << "  " << pad(pr.name, 20) << pad(human_count(static_cast<double>(c.total)), 10);
      if (pr.published_total_params > 0)
        out << "published " << human_count(pr.published_total_params)
            << fmt(" (%+.1f%%)", std::round(1000.0 * (static_cast<double>(c.total) / pr.published_total_params - 1.0)) / 10.0);
      out << "\n      source: " << pr.source << "\n      shapes: " << pr.approximation << "\n";
    }
    return 0;
  }
  if (opt.count("--preset") && opt.count("--experiment")) {
    err << "fomoe project: give --preset or --experiment, not both\n";
    return 2;
  }

  ModelShape model;
  FederationShape fed;
  std::string title, note;
  if (opt.count("--experiment")) {
    auto cfg = load_experiment(opt["--experiment"]);
    if (!cfg) {
      err << "fomoe project: " << cfg.error().message << "\n";
      return 2;
    }
    model = model_shape_from(cfg->model, cfg->run.name);
    fed = federation_shape_from(*cfg);
    title = "experiment " + opt["--experiment"] + " (run '" + cfg->run.name + "')";
  } else {
    auto pr = find_preset(opt.count("--preset") ? opt["--preset"] : "engine-small");
    if (!pr) {
      err << "fomoe project: " << pr.error().message << "\n";
      return 2;
    }
    model = pr->model;
    fed = pr->federation;
    title = "preset " + pr->name;
    if (pr->published_total_params > 0) {
      const double ours = static_cast<double>(count_parameters(model).total);
      note = "published   " + human_count(pr->published_total_params) + " total; ours " +
             fmt("%+.1f%%", std::round(1000.0 * (ours / pr->published_total_params - 1.0)) / 10.0) + ": " + pr->approximation + "\n";
    }
  }

  auto bad_value = [&](const std::string& flag, const std::string& why) {
    err << "fomoe project: " << flag << " '" << opt[flag] << "' " << why << "\n";
    return 2;
  };
  struct IntFlag {
    const char* flag;
    std::function<void(int64_t)> set;
    int64_t min;
  };
  const IntFlag ints[] = {
      {"--sites", [&](int64_t v) { fed.n_sites = static_cast<int>(v); }, 1},
      {"--replication", [&](int64_t v) { fed.replication = static_cast<int>(v); }, 1},
      {"--inner-steps", [&](int64_t v) { fed.inner_steps = static_cast<int>(v); }, 1},
      {"--batch", [&](int64_t v) { fed.batch = v; }, 1},
      {"--seq-len", [&](int64_t v) { fed.seq_len = v; }, 1},
      {"--meta-bytes", [&](int64_t v) { fed.meta_bytes = static_cast<uint64_t>(v); }, 0},
  };
  for (const IntFlag& f : ints) {
    if (!opt.count(f.flag)) continue;
    int64_t v = 0;
    if (!parse_int(opt[f.flag], v) || v < f.min || v > 1000000000)
      return bad_value(f.flag, "is not an integer in [" + std::to_string(f.min) + ", 1e9]");
    f.set(v);
  }
  if (opt.count("--bandwidth-gbps")) {
    double v = 0;
    if (!parse_double(opt["--bandwidth-gbps"], v) || v <= 0)
      return bad_value("--bandwidth-gbps", "is not a positive number (Gbit/s)");
    fed.bandwidth_bps = v * 1e9;
  }
  if (opt.count("--latency-ms")) {
    double v = 0;
    if (!parse_double(opt["--latency-ms"], v) || v < 0)
      return bad_value("--latency-ms", "is not a number >= 0 (milliseconds)");
    fed.latency_s = v / 1000.0;
  }
  if (opt.count("--precision")) {
    const std::string& v = opt["--precision"];
    if (v == "fp32" || v == "f32") fed.precision = WirePrecision::F32;
    else if (v == "bf16") fed.precision = WirePrecision::BF16;
    else if (v == "fp16" || v == "f16") fed.precision = WirePrecision::F16;
    else return bad_value("--precision", "is not one of fp32, bf16, fp16");
  }
  if (bf16_weights) fed.bf16_weights = true;
  const std::string format = opt.count("--format") ? opt["--format"] : "table";
  if (format != "table" && format != "json") return bad_value("--format", "is not one of table, json");

  if (Status s = validate_model_shape(model); !s) {
    err << "fomoe project: " << s.error().message << "\n";
    return 2;
  }
  if (Status s = validate_federation_shape(fed); !s) {
    err << "fomoe project: " << s.error().message << "\n";
    return 2;
  }
  const Projection p = project(model, fed);
  if (format == "json") {
    out << format_projection_json(p);
  } else {
    std::string table = format_projection_table(p, title);
    if (!note.empty()) {
      // After the "params" line.
      const auto pos = table.find("\nfederation");
      table.insert(pos + 1, note);
    }
    out << table;
  }
  return 0;
}

}  // namespace fomoe::sysmodel
