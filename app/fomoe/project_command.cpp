// `fomoe project`: the system model from the command line, as a side-by-side table or JSON
// (the model itself: core/sysmodel).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/sysmodel/presets.h"
#include "fomoe/sysmodel/projection.h"

namespace fomoe::cli {

using namespace fomoe::sysmodel;

namespace {

constexpr const char* kDescription =
    "Predicts parameters, memory, bytes and communication time per round for DDP, DiLoCo, Photon and\n"
    "FoMoE. Without --preset or --experiment the model is the preset engine-small.\n"
    "Defaults: K, r, H from the preset or experiment; link 1 Gbit/s and 10 ms unless the experiment\n"
    "sets [federation] bandwidth_mbps / latency_ms; --meta-bytes 0 (pure tensor bytes + framing).\n"
    "With --site-tflops (what one site achieves training), also compute and wall time per round,\n"
    "less what --overlap-steps (or the experiment's federation.overlap_steps) train under the exchange.\n"
    "--fragments P (Streaming DiLoCo; not DDP): H is P rounds of H / P steps, each exchanging one\n"
    "layer-strided fragment; per-round rows then cover those P rounds, and 'largest single round' is one.";

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

// The human-readable table (what `--format table` prints).
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
    << ", travel " << (f.compression == Compression::None ? wire_precision_name(f.precision) : compression_name(f.compression))
    << (f.topk > 0 ? fmt(" + top-k %g", f.topk) : std::string())
    << (f.down_compression == Compression::None && f.down_topk <= 0
            ? ""
            : std::string(" up, ") + compression_name(f.down_compression) + (f.down_topk > 0 ? fmt(" + top-k %g", f.down_topk) : std::string()) +
                  " down")
    << (f.coded_fraction < 1 ? fmt(", entropy coded to %g", f.coded_fraction) : std::string())
    << ", weights " << (f.bf16_weights ? "bf16" : "fp32")
    << ", link " << human_bps(f.bandwidth_bps) << " / " << fmt("%g", f.latency_s * 1e3) << " ms, batch " << f.batch
    << " x " << f.seq_len << " tokens"
    << (f.site_tflops > 0 ? fmt(", %g TFLOP/s per site", f.site_tflops) : std::string())
    << (f.overlap_steps > 0 ? fmt(", overlap %g steps", f.overlap_steps) : std::string())
    << (f.fragments > 1 ? fmt(", %g streaming fragments", f.fragments) : std::string())
    << "\n\n";

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
  if (f.fragments > 1)
    row(o, "largest single round, site (max)", [](const MethodProjection& mp) {
      uint64_t n = 0;
      for (const auto& s : mp.sites) n = std::max(n, s.largest_round_bytes);
      return human_bytes(static_cast<double>(n));
    }, p);
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
  if (f.site_tflops > 0) {
    // The site whose round takes longest.
    auto slowest = [](const MethodProjection& mp) -> const SiteProjection& {
      const SiteProjection* w = &mp.sites.front();
      for (const auto& s : mp.sites)
        if (s.round_time_s > w->round_time_s) w = &s;
      return *w;
    };
    row(o, "compute per round, site (est.)", [&](const MethodProjection& mp) { return human_seconds(slowest(mp).compute_time_s); }, p);
    row(o, "round time, slowest site (est.)", [&](const MethodProjection& mp) { return human_seconds(slowest(mp).round_time_s); }, p);
    row(o, "  round time / compute", [&](const MethodProjection& mp) {
      const auto& s = slowest(mp);
      return fmt("%.2fx", s.compute_time_s > 0 ? s.round_time_s / s.compute_time_s : 0.0);
    }, p);
  }
  row(o, "coordinator memory, GiB", [](const MethodProjection& mp) { return gib(mp.coordinator_memory.total()); }, p);
  row(o, "bytes per round vs FoMoE", [&p](const MethodProjection& mp) { return fmt("%.2fx", p.bytes_ratio(mp.method)); }, p);
  o << "\nFoMoE sends " << fmt("%.2fx", p.bytes_ratio(Method::DiLoCo)) << " fewer bytes per round than DiLoCo, "
    << fmt("%.2fx", p.bytes_ratio(Method::Photon)) << " than Photon and " << fmt("%.2fx", p.bytes_ratio(Method::Ddp))
    << " than DDP (" << f.inner_steps << " steps per round).\n";
  if (f.fragments > 1)
    o << "With " << f.fragments << " streaming fragments (not DDP) a round is " << f.inner_steps / f.fragments
      << " steps and exchanges one fragment; the per-round rows cover the " << f.fragments << " rounds of "
      << f.inner_steps << " steps, the largest single round is one of them.\n";
  o << "Parameters and bytes are exact for the engine; memory is an estimate (core/sysmodel/README.md).\n";
  return o.str();
}

// Machine-readable JSON text (what `--format json` prints); exact integers for every byte count.
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
                     {"compression", compression_name(f.compression)}, {"down_compression", compression_name(f.down_compression)},
                     {"topk", f.topk}, {"down_topk", f.down_topk}, {"coded_fraction", f.coded_fraction},
                     {"bandwidth_bps", f.bandwidth_bps}, {"latency_s", f.latency_s},
                     {"batch", f.batch},           {"seq_len", f.seq_len},
                     {"meta_bytes", f.meta_bytes}, {"bf16_weights", f.bf16_weights},
                     {"site_tflops", f.site_tflops}, {"overlap_steps", f.overlap_steps}, {"fragments", f.fragments}};
  nlohmann::json methods = nlohmann::json::object();
  for (Method mm : kMethods) {
    const MethodProjection& mp = p.of(mm);
    nlohmann::json sites = nlohmann::json::array();
    for (const SiteProjection& s : mp.sites)
      sites.push_back({{"site", s.site},         {"params", s.params},           {"experts_held", s.experts_held},
                       {"memory", memory_json(s.memory)}, {"up", wire_json(s.up)}, {"down", wire_json(s.down)},
                       {"comm_time_s", s.comm_time_s}, {"compute_time_s", s.compute_time_s},
                       {"round_time_s", s.round_time_s}, {"largest_round_bytes", s.largest_round_bytes}});
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

}  // namespace

int project_command(const std::vector<std::string>& args_in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args.front() == "project") args.erase(args.begin());

  auto app = make_app("fomoe project", kDescription);
  std::string preset, experiment, precision, compression, down_compression, format = "table";
  int64_t sites = 0, replication = 0, inner_steps = 0, batch = 0, seq_len = 0, meta_bytes = 0;
  double bandwidth_gbps = 0, latency_ms = 0;
  bool list = false, bf16_weights = false;
  CLI::Option* preset_opt = app->add_option("--preset", preset, "a published model's shapes (see --list-presets)")
                                ->type_name("NAME");
  app->add_option("--experiment", experiment, "the model and federation of an experiment")
      ->type_name("FILE.toml")
      ->excludes(preset_opt);
  const auto in_range = [](int64_t min) { return integer_in(min, 1000000000); };
  CLI::Option* sites_opt = app->add_option("--sites", sites, "K, sites in the federation")->check(in_range(1))->type_name("K");
  CLI::Option* repl_opt =
      app->add_option("--replication", replication, "r, sites holding each expert (FoMoE)")->check(in_range(1))->type_name("r");
  CLI::Option* inner_opt =
      app->add_option("--inner-steps", inner_steps, "H, local steps per round")->check(in_range(1))->type_name("H");
  CLI::Option* precision_opt = app->add_option("--precision", precision, "pseudo-gradients on the wire")
                                   ->check(one_of({"fp32", "f32", "bf16", "fp16", "f16"}))
                                   ->type_name("fp32|bf16|fp16");
  const std::vector<std::string> compressions = {"none", "int8", "fp8", "int4", "int2"};
  CLI::Option* compression_opt = app->add_option("--compression", compression, "what travels up, block-quantized (DDP: both ways)")
                                     ->check(one_of(compressions))
                                     ->type_name("none|int8|fp8|int4|int2");
  CLI::Option* down_opt = app->add_option("--down-compression", down_compression,
                                          "parameters down after the first round, as quantized changes")
                              ->check(one_of(compressions))
                              ->type_name("none|int8|fp8|int4|int2");
  double topk = 0, down_topk = 0;
  auto fraction = CLI::Validator(
      [](std::string& s) {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        return end && *end == 0 && v >= 0 && v <= 1 ? std::string() : "'" + s + "' is not a fraction in [0, 1] (0 = off)";
      },
      "", "fraction");
  CLI::Option* topk_opt = app->add_option("--topk", topk, "top-k sparsification up: fraction of values kept per chunk of 4096 (0 = off)")
                              ->check(fraction)
                              ->type_name("F");
  CLI::Option* down_topk_opt =
      app->add_option("--down-topk", down_topk, "top-k sparsification of the changes down: fraction kept (0 = off)")->check(fraction)->type_name("F");
  double coded_fraction = 1.0;
  CLI::Option* coded_opt =
      app->add_option("--coded-fraction", coded_fraction,
                      "entropy coding (federation.entropy_coding): the share of the tensor bytes that zstd leaves, as a run "
                      "records it in comm/up_coded_fraction (1 = uncoded)")
          ->check(CLI::Range(1e-6, 1.0))
          ->type_name("F");
  CLI::Option* bw_opt = app->add_option("--bandwidth-gbps", bandwidth_gbps, "link bandwidth, Gbit/s")
                            ->check(positive_number())
                            ->type_name("X");
  CLI::Option* lat_opt =
      app->add_option("--latency-ms", latency_ms, "link latency, milliseconds")
          ->check(number_at_least(0, /*integer=*/false))
          ->type_name("Y");
  CLI::Option* batch_opt = app->add_option("--batch", batch, "sequences per step")->check(in_range(1))->type_name("B");
  CLI::Option* seq_opt = app->add_option("--seq-len", seq_len, "tokens per sequence")->check(in_range(1))->type_name("T");
  CLI::Option* meta_opt =
      app->add_option("--meta-bytes", meta_bytes, "metadata bytes per message")->check(in_range(0))->type_name("N");
  app->add_flag("--bf16-weights", bf16_weights, "weights kept in bf16");
  double site_tflops = 0;
  int64_t overlap_steps = 0, fragments = 1;
  CLI::Option* tflops_opt = app->add_option("--site-tflops", site_tflops,
                                            "training TFLOP/s one site achieves (e.g. 400: an H100 in bf16 at 40% of peak); "
                                            "adds compute and round time")
                                ->check(positive_number())
                                ->type_name("X");
  CLI::Option* overlap_opt = app->add_option("--overlap-steps", overlap_steps,
                                             "tau: the next round's first steps trained while the exchange crosses the link")
                                 ->check(in_range(0))
                                 ->type_name("TAU");
  CLI::Option* fragments_opt = app->add_option("--fragments", fragments,
                                               "streaming fragments: rounds of H / P steps, each exchanging one layer-strided "
                                               "fragment (not DDP)")
                                   ->check(in_range(1))
                                   ->type_name("P");
  add_format(*app, format, {"table", "text", "json"}, /*json_alias=*/true)->capture_default_str();
  app->add_flag("--list-presets", list, "the presets, their parameters and sources");
  if (auto code = parse(*app, args, out, err)) return *code;

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
  ModelShape model;
  FederationShape fed;
  std::string title, note;
  if (!experiment.empty()) {
    auto cfg = load_experiment(experiment);
    if (!cfg) {
      err << "fomoe project: " << cfg.error().message << "\n";
      return 2;
    }
    model = model_shape_from(cfg->model, cfg->run.name);
    fed = federation_shape_from(*cfg);
    title = "experiment " + experiment + " (run '" + cfg->run.name + "')";
  } else {
    auto pr = find_preset(preset.empty() ? "engine-small" : preset);
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

  if (sites_opt->count()) fed.n_sites = static_cast<int>(sites);
  if (repl_opt->count()) fed.replication = static_cast<int>(replication);
  if (inner_opt->count()) fed.inner_steps = static_cast<int>(inner_steps);
  if (batch_opt->count()) fed.batch = batch;
  if (seq_opt->count()) fed.seq_len = seq_len;
  if (meta_opt->count()) fed.meta_bytes = static_cast<uint64_t>(meta_bytes);
  if (bw_opt->count()) fed.bandwidth_bps = bandwidth_gbps * 1e9;
  if (lat_opt->count()) fed.latency_s = latency_ms / 1000.0;
  if (precision_opt->count()) {
    fed.precision = precision == "bf16"                       ? WirePrecision::BF16
                    : precision == "fp16" || precision == "f16" ? WirePrecision::F16
                                                                : WirePrecision::F32;
  }
  if (bf16_weights) fed.bf16_weights = true;
  if (tflops_opt->count()) fed.site_tflops = site_tflops;
  if (overlap_opt->count()) fed.overlap_steps = static_cast<int>(overlap_steps);
  if (fragments_opt->count()) fed.fragments = static_cast<int>(fragments);
  auto compression_of = [](const std::string& v) {
    return v == "int8" ? Compression::Int8 : v == "fp8" ? Compression::Fp8 : v == "int4" ? Compression::Int4
         : v == "int2" ? Compression::Int2 : Compression::None;
  };
  if (compression_opt->count()) fed.compression = compression_of(compression);
  if (down_opt->count()) fed.down_compression = compression_of(down_compression);
  if (topk_opt->count()) fed.topk = topk;
  if (down_topk_opt->count()) fed.down_topk = down_topk;
  if (coded_opt->count()) fed.coded_fraction = coded_fraction;
  if (fed.topk > 0 && fed.precision != WirePrecision::F32) {
    err << "fomoe project: --precision " << wire_precision_name(fed.precision) << " and --topk both set what travels up: choose one\n";
    return 2;
  }
  if (fed.compression != Compression::None && fed.precision != WirePrecision::F32) {
    err << "fomoe project: --precision " << wire_precision_name(fed.precision) << " and --compression " << compression_name(fed.compression)
        << " both set what travels up: choose one\n";
    return 2;
  }

  if (Status s = validate_model_shape(model); !s) {
    err << "fomoe project: " << s.error().message << "\n";
    return 2;
  }
  if (Status s = validate_federation_shape(fed); !s) {
    err << "fomoe project: " << s.error().message << "\n";
    return 2;
  }
  Projection p;
  try {
    p = project(model, fed);  // also checks what needs the model and the federation together
  } catch (const std::invalid_argument& e) {
    err << "fomoe project: " << e.what() << "\n";
    return 2;
  }
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

}  // namespace fomoe::cli
