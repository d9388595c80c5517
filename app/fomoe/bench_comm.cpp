// fomoe bench comm: DDP, DiLoCo, Photon and FoMoE on the same model, data and tokens, each a real
// local federation; prints measured wire bytes per site per round, the ratios, held-out loss and
// throughput side by side.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "fomoe/base/median.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/base/metric_names.h"
#include "fomoe/config/experiment.h"
#include "fomoe/federation/local_federation.h"

namespace fomoe::cli {

namespace {

struct LinkTally : RunSink {
  std::mutex mu;
  // Steady-state round time: from one round's end to the next one's (with overlap a round's
  // first steps run before the coordinator starts it, so its own start-to-end would flatter it).
  std::vector<double> round_finished;
  void on_event(const RunEvent& e) override {
    std::lock_guard<std::mutex> g(mu);
    if (e.kind == "round_finished") round_finished.push_back(e.time);
  }
  // The global model's held-out loss after each round, with its time since the run started.
  std::vector<std::pair<double, double>> eval_curve;  // (seconds, loss)
  void on_metrics(const std::vector<MetricPoint>& points) override {
    std::lock_guard<std::mutex> g(mu);
    for (auto& p : points) {
      if (p.site < 0 && p.name == metric::kEvalLoss) eval_curve.emplace_back(p.wall_time, p.value);
      if (p.name.rfind("comm/", 0) == 0) comm_error[p.name + (p.site < 0 ? "@global" : "")].push_back(p.value);
    }
  }
  // Compression error metrics ("comm/..."; "@global" for the coordinator's), every round and site.
  std::map<std::string, std::vector<double>> comm_error;
  int64_t per_round = 0;  // round traffic: parameters, pseudo-gradients, gradients
  int64_t one_time = 0;   // hello / welcome / shutdown
  std::map<int, int64_t> by_round;  // round traffic by round
  // Round traffic after the first `first_rounds` rounds: without the first, whole download.
  int64_t after_first(int first_rounds) const {
    int64_t sum = 0;
    int i = 0;
    for (auto& [round, bytes] : by_round) sum += i++ >= first_rounds ? bytes : 0;
    return sum;
  }
  void on_link_bytes(const std::vector<LinkBytes>& links) override {
    std::lock_guard<std::mutex> g(mu);
    for (auto& l : links) {
      const bool round_traffic = l.msg_type == "start_round" || l.msg_type == "round_report" ||
                                 l.msg_type == "step_grad" || l.msg_type == "step_update";
      (round_traffic ? per_round : one_time) += l.bytes;
      if (round_traffic) by_round[l.round] += l.bytes;
    }
  }
};

struct MethodResult {
  std::string name;
  std::string variant;              // compression: "none", "int4", "int4/int4" (up/down), "int4:noef"
  Method method = Method::FoMoE;
  double bytes_per_site_round = 0;  // of the first seed (bytes do not depend on the seed)
  // The same after the first H steps (their download is whole fp32), per seed: zstd-coded bytes
  // depend on the values. The table shows the first seed's, like bytes_per_site_round.
  std::vector<double> steady_by_seed;
  double steady_bytes_per_site_round() const { return steady_by_seed.empty() ? 0.0 : steady_by_seed.front(); }
  int64_t bytes_total = 0;
  std::vector<double> eval_loss;     // one per seed
  std::vector<double> tokens_per_s;  // one per seed
  std::vector<double> round_over_compute;  // per seed: median round (after the first) / mean site compute per round
  std::vector<std::vector<double>> time_to_target;  // per seed, per target: seconds, or -1 when never reached
  std::map<std::string, std::vector<double>> comm_error;  // every seed's rounds and sites, by metric
  double tokens = 0;
  int64_t params_per_site = 0;
  int rounds = 0;
};

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

// "a,b,,c" -> {"a", "b", "", "c"}.
std::vector<std::string> split_on(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(sep, pos);
    out.push_back(text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}
std::vector<std::string> split_commas(const std::string& text) { return split_on(text, ','); }

// The compression error table's columns: per-site metrics, then the coordinator's ("@global").
std::vector<std::string> comm_error_columns() {
  const std::string g = "@global";
  return {metric::kUpError,
          metric::kUpErrorExperts,
          metric::kUpdateError + g,
          metric::kUpdateErrorExperts + g,
          metric::kUpdateErrorExpertMax + g,
          metric::kDownDrift + g,
          metric::kDownDriftExperts + g};
}

nlohmann::json comm_error_json(const std::map<std::string, std::vector<double>>& errors) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& [name, values] : errors) j[name] = mean(values);
  return j;
}

// "5.8,5.6" -> {5.8, 5.6}; empty on anything else.
std::vector<double> parse_losses(const std::string& text) {
  std::vector<double> out;
  for (const std::string& item : split_commas(text)) {
    if (item.empty() || item.size() > 12 || item.find_first_not_of("0123456789.") != std::string::npos) return {};
    const double v = std::atof(item.c_str());
    if (!(v > 0)) return {};
    out.push_back(v);
  }
  return out;
}

// Seconds until the held-out curve first reaches each target (-1: never).
std::vector<double> times_to_targets(const std::vector<std::pair<double, double>>& curve, const std::vector<double>& targets) {
  std::vector<double> out;
  for (double target : targets) {
    double when = -1;
    for (auto& [t, loss] : curve)
      if (loss <= target) {
        when = t;
        break;
      }
    out.push_back(when);
  }
  return out;
}

std::vector<uint64_t> parse_seeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  for (const std::string& item : split_commas(text)) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos || item.size() > 18) return {};
    seeds.push_back(std::stoull(item));
  }
  return seeds;
}

// A variant: UP[/DOWN][:noef|:efD][:zstd][@TAU][#P], e.g. "int4/int4", "int2:noef", "int4/int4:zstd" (every
// tensor frame zstd-coded, both ways) or "int4/int4@4" (overlap:
// the next round's first TAU steps train while the exchange crosses the link); #P: P streaming
// fragments (a round of H / P steps exchanges one of them). UP and DOWN are
// COMPRESSION[+topkF] or topkF (fp32 values): top-k sparsified, fraction F kept, e.g.
// "int2+topk0.02/int4+topk0.05".
struct Variant {
  std::string text;
  Compression up = Compression::None, down = Compression::None;
  double topk = 0, down_topk = 0;
  bool error_feedback = true;
  double error_feedback_decay = 1.0;  // ":efD" (SparseLoCo's beta)
  bool entropy_coding = false;        // ":zstd": every tensor frame zstd-coded, both ways
  int overlap_steps = -1;  // -1: no overlap
  int fragments = 1;       // "#P"
};
std::optional<Compression> compression_named(const std::string& n) {
  for (Compression c : {Compression::None, Compression::Int8, Compression::Fp8, Compression::Int4, Compression::Int2})
    if (n == compression_name(c)) return c;
  return std::nullopt;
}
std::optional<Variant> parse_variant(const std::string& text) {
  Variant v;
  v.text = text;
  std::string rest = text;
  if (auto hash = rest.find('#'); hash != std::string::npos) {
    const std::string p = rest.substr(hash + 1);
    if (p.empty() || p.size() > 4 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) < 1) return std::nullopt;
    v.fragments = std::stoi(p);
    rest = rest.substr(0, hash);
  }
  if (auto at = rest.find('@'); at != std::string::npos) {
    const std::string tau = rest.substr(at + 1);
    if (tau.empty() || tau.size() > 6 || tau.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    v.overlap_steps = std::stoi(tau);
    rest = rest.substr(0, at);
  }
  if (auto colon = rest.find(':'); colon != std::string::npos) {
    for (const std::string& flag : split_on(rest.substr(colon + 1), ':')) {
      if (flag == "noef") {
        v.error_feedback = false;
      } else if (flag == "zstd") {
        v.entropy_coding = true;
      } else if (flag.rfind("ef", 0) == 0 && flag.size() > 2 && flag.size() < 12 && flag.find_first_not_of("0123456789.", 2) == std::string::npos) {
        v.error_feedback_decay = std::atof(flag.c_str() + 2);
        if (!(v.error_feedback_decay >= 0 && v.error_feedback_decay <= 1)) return std::nullopt;
      } else {
        return std::nullopt;
      }
    }
    rest = rest.substr(0, colon);
  }
  // COMPRESSION, COMPRESSION+topkF or topkF.
  auto side = [](const std::string& s, Compression& c, double& topk) {
    std::string comp = s, sparse;
    if (auto plus = s.find('+'); plus != std::string::npos) {
      comp = s.substr(0, plus);
      sparse = s.substr(plus + 1);
    } else if (s.rfind("topk", 0) == 0) {
      comp = "none";
      sparse = s;
    }
    auto named = compression_named(comp);
    if (!named) return false;
    c = *named;
    if (!sparse.empty()) {
      if (sparse.rfind("topk", 0) != 0) return false;
      const std::string f = sparse.substr(4);
      if (f.empty() || f.size() > 12 || f.find_first_not_of("0123456789.") != std::string::npos) return false;
      topk = std::atof(f.c_str());
      if (!(topk > 0 && topk <= 1)) return false;
    }
    return true;
  };
  const auto slash = rest.find('/');
  if (!side(rest.substr(0, slash), v.up, v.topk)) return std::nullopt;
  if (slash != std::string::npos && !side(rest.substr(slash + 1), v.down, v.down_topk)) return std::nullopt;
  return v;
}

}  // namespace

int bench_comm_command(const std::vector<std::string>& args, const std::string& self_exe) {
  auto app = make_app("fomoe bench comm",
                      "DDP, DiLoCo, Photon and FoMoE on the same model, data and tokens, each a real local "
                      "federation:\nmeasured wire bytes per site per round, the ratios, held-out loss and throughput.");
  std::string path = "experiments/comm.toml", format = "text", seeds_text;
  long steps = 0;
  bool skip_ddp = false;
  app->add_option("--experiment", path, "the experiment every method runs")->type_name("FILE.toml")->capture_default_str();
  app->add_option("--steps", steps, "steps per site instead of the experiment's train.steps")
      ->check(positive_integer())
      ->type_name("N");
  app->add_option("--seeds", seeds_text, "run each method once per seed (default: the experiment's run.seed)")
      ->type_name("7,8,9")
      ->check(CLI::Validator(
          [](std::string& s) {
            return parse_seeds(s).empty() ? "'" + s + "' is not a comma-separated list of integers" : std::string();
          },
          "", "seeds"));
  std::string targets_text;
  app->add_option("--targets", targets_text,
                  "held-out losses to time: the global model is evaluated after every round and each run reports the "
                  "seconds until it first reached each")
      ->type_name("5.8,5.6")
      ->check(CLI::Validator(
          [](std::string& s) {
            return parse_losses(s).empty() ? "'" + s + "' is not a comma-separated list of positive losses" : std::string();
          },
          "", "targets"));
  app->add_flag("--no-ddp", skip_ddp, "leave DDP out (the slowest)");
  std::string methods_text;
  app->add_option("--methods", methods_text, "only these methods, in this order (default: ddp,diloco,photon,fomoe)")
      ->type_name("diloco,fomoe")
      ->check(CLI::Validator(
          [](std::string& s) {
            for (auto& m : split_commas(s))
              if (m != "ddp" && m != "diloco" && m != "photon" && m != "fomoe") return "'" + m + "' is not ddp, diloco, photon or fomoe";
            return std::string();
          },
          "", "methods"));
  std::string variants_text = "none";
  double overlap_mix = -1;
  app->add_option("--overlap-mix", overlap_mix, "alpha of the variants with @TAU (default: the experiment's)")
      ->check(CLI::Range(0.0, 1.0))
      ->type_name("ALPHA");
  app->add_option("--compressions", variants_text,
                  "what travels, one run per method each: UP[/DOWN][:noef|:efD][:zstd][@TAU][#P] (none|int8|fp8|int4|int2; DOWN: the "
                  "parameters' change down; noef: no error feedback; efD: error feedback decaying by D per round; zstd: lossless zstd coding of every tensor frame; @TAU: overlap TAU steps; #P: P streaming fragments). DDP runs the first only")
      ->type_name("none,int4,int4/int4,...")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& s) {
            for (auto& v : split_commas(s))
              if (!parse_variant(v)) return "'" + v + "' is not UP[/DOWN][:noef|:efD][:zstd][@TAU][#P] with none|int8|fp8|int4|int2";
            return std::string();
          },
          "", "variants"));
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  const bool json = format == "json";
  std::vector<uint64_t> seeds = parse_seeds(seeds_text);
  const std::vector<double> targets = parse_losses(targets_text);
  auto base = load_experiment(path);
  if (!base) {
    std::cerr << "fomoe bench comm: " << base.error().message << "\n";
    return 2;
  }
  if (steps > 0) base->train.steps = static_cast<int>(steps);
  if (seeds.empty()) seeds.push_back(base->run.seed);
  const int K = base->federation.sites, H = base->federation.inner_steps;
  if (!targets.empty()) {
    base->train.eval_every = H;      // the global model's held-out loss after every round
    base->train.sample_tokens = 0;   // and nothing else between rounds that one method could pay more for
  }
  std::vector<Method> methods = {Method::Ddp, Method::DiLoCo, Method::Photon, Method::FoMoE};
  if (!methods_text.empty()) {
    methods.clear();
    for (auto& m : split_commas(methods_text))
      methods.push_back(m == "ddp" ? Method::Ddp : m == "diloco" ? Method::DiLoCo : m == "photon" ? Method::Photon : Method::FoMoE);
  }
  if (skip_ddp) methods.erase(std::remove(methods.begin(), methods.end(), Method::Ddp), methods.end());
  std::vector<Variant> variants;
  for (auto& v : split_commas(variants_text)) variants.push_back(*parse_variant(v));
  std::vector<MethodResult> results;
  for (Method m : methods)
  for (const Variant& variant : variants) {
    if (m == Method::Ddp && &variant != &variants.front()) continue;
    MethodResult mr;
    mr.name = method_name(m);
    mr.method = m;
    mr.variant = variant.text;
    // Seeds inner, so each method's seeds share its bytes row and losses pair up by seed.
    for (uint64_t seed : seeds) {
      auto cfg = *base;
      cfg.run.method = m;
      cfg.run.seed = seed;
      cfg.federation.compression = variant.up;
      cfg.federation.down_compression = m == Method::Ddp ? Compression::None : variant.down;
      cfg.federation.error_feedback = variant.error_feedback;
      cfg.federation.error_feedback_decay = variant.error_feedback_decay;
      cfg.federation.entropy_coding = variant.entropy_coding;
      cfg.federation.topk = variant.topk;
      cfg.federation.down_topk = m == Method::Ddp ? 0.0 : variant.down_topk;
      if (variant.overlap_steps >= 0 && m != Method::Ddp) {
        cfg.federation.overlap = true;
        cfg.federation.overlap_steps = variant.overlap_steps;
        if (overlap_mix >= 0) cfg.federation.overlap_mix = overlap_mix;
      }
      if (m != Method::Ddp) cfg.federation.fragments = variant.fragments;
      if (variant.up != Compression::None || variant.topk > 0) cfg.federation.precision = WirePrecision::F32;
      cfg.run.name = std::string("bench-comm-") + method_name(m);
      LinkTally tally;
      LocalFederationOptions o;
      o.self_exe = self_exe;
      o.run_dir = (std::filesystem::path(cfg.run.out_dir) / cfg.run.name).string();
      std::filesystem::remove_all(o.run_dir);
      o.sink = &tally;
      if (!json)
        std::fprintf(stderr, "bench comm: running %s (%s), seed %llu (%d sites, %d steps each)...\n", method_name(m),
                     variant.text.c_str(), static_cast<unsigned long long>(seed), K, cfg.train.steps);
      auto r = run_federation(cfg, o);
      if (!r) {
        std::cerr << "fomoe bench comm: " << method_name(m) << ": " << r.error().message << "\n";
        return 1;
      }
      // Per H inner steps ("a round" of the table): with P streaming fragments, P rounds of H / P steps.
      const int P = std::max(1, cfg.federation.fragments);
      const int periods = std::max(1, r->rounds / P);
      mr.steady_by_seed.push_back(periods > 1 ? static_cast<double>(tally.after_first(P)) / (K * (periods - 1)) : 0.0);
      if (mr.eval_loss.empty()) {
        mr.rounds = r->rounds;
        mr.bytes_total = tally.per_round + tally.one_time;
        mr.bytes_per_site_round = static_cast<double>(tally.per_round) / (K * periods);
        mr.tokens = r->tokens;
        mr.params_per_site = r->params_per_site.empty() ? 0 : r->params_per_site[0];
      }
      mr.eval_loss.push_back(r->final_eval_loss);
      for (auto& [name, values] : tally.comm_error) mr.comm_error[name].insert(mr.comm_error[name].end(), values.begin(), values.end());
      if (!targets.empty()) mr.time_to_target.push_back(times_to_targets(tally.eval_curve, targets));
      mr.tokens_per_s.push_back(r->tokens / std::max(1e-9, r->wall_s));
      {
        std::vector<double> later;  // round r-1's end to round r's, r >= 1
        for (size_t i = 1; i < tally.round_finished.size(); ++i) later.push_back(tally.round_finished[i] - tally.round_finished[i - 1]);
        mr.round_over_compute.push_back(r->compute_s_mean > 0 ? median(later) / r->compute_s_mean : 0.0);
      }
    }
    results.push_back(mr);
  }
  // References: FoMoE at the first variant (normally fp32), and DDP.
  const MethodResult* fomoe = &results.back();
  const MethodResult* ddp = nullptr;
  for (auto& r : results) {
    if (r.method == Method::FoMoE && r.variant == variants.front().text) fomoe = &r;
    if (r.method == Method::Ddp) ddp = &r;
  }
  if (json) {
    nlohmann::json j;
    j["experiment"] = path;
    j["sites"] = K;
    j["inner_steps"] = H;
    j["replication"] = base->federation.replication;
    j["precision"] = wire_precision_name(base->federation.precision);
    j["seeds"] = seeds;
    for (auto& r : results)
      j["methods"].push_back({{"method", r.name},
                              {"compression", r.variant},
                              {"bytes_per_site_per_round", r.bytes_per_site_round},
                              {"bytes_per_site_per_round_after_first", r.steady_bytes_per_site_round()},
                              {"bytes_per_site_per_round_after_first_by_seed", r.steady_by_seed},
                              {"bytes_total", r.bytes_total},
                              {"eval_loss", mean(r.eval_loss)},
                              {"eval_loss_per_seed", r.eval_loss},
                              {"tokens", r.tokens},
                              {"tokens_per_s", mean(r.tokens_per_s)},
                              {"round_over_compute", mean(r.round_over_compute)},
                              {"params_per_site", r.params_per_site},
                              {"targets", targets},
                              {"seconds_to_target_per_seed", r.time_to_target},
                              {"compression_error", comm_error_json(r.comm_error)},
                              {"fomoe_ratio", r.bytes_per_site_round / fomoe->bytes_per_site_round},
                              {"ddp_ratio", ddp ? ddp->bytes_per_site_round / r.bytes_per_site_round : 0.0}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "\nfomoe bench comm: %s, K = %d sites, H = %d, FoMoE r = %d, %s pseudo-gradients, %d steps per site, %zu "
      "seed%s\n",
      path.c_str(), K, H, base->federation.replication, wire_precision_name(base->federation.precision),
      base->train.steps, seeds.size(), seeds.size() == 1 ? "" : "s");
  std::printf("%-8s %-27s %12s %17s %15s %12s %10s %10s %24s %11s %14s\n", "method", "variant", "params/site", "bytes/site/round",
              "after 1st H", "FoMoE saves", "DDP/this", "eval loss", "minus FoMoE (per seed)", "tokens/s", "round/compute");
  for (auto& r : results) {
    // Paired by seed: negative means this row reached a lower held-out loss than the FoMoE reference.
    std::string diffs;
    for (size_t i = 0; &r != fomoe && i < r.eval_loss.size() && i < fomoe->eval_loss.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%+.3f", diffs.empty() ? "" : " ", r.eval_loss[i] - fomoe->eval_loss[i]);
      diffs += buf;
    }
    char ddp_ratio[32] = "-";
    if (ddp) std::snprintf(ddp_ratio, sizeof ddp_ratio, "%.1fx", ddp->bytes_per_site_round / r.bytes_per_site_round);
    std::printf("%-8s %-27s %12lld %17.0f %15.0f %11.2fx %10s %10.4f %24s %11.0f %13.2fx\n", r.name.c_str(), r.variant.c_str(),
                static_cast<long long>(r.params_per_site), r.bytes_per_site_round, r.steady_bytes_per_site_round(),
                r.bytes_per_site_round / fomoe->bytes_per_site_round, ddp_ratio, mean(r.eval_loss),
                diffs.empty() ? "-" : diffs.c_str(), mean(r.tokens_per_s), mean(r.round_over_compute));
  }
  std::printf(
      "(a round is H = %d inner steps for every method; DDP exchanges gradients every step; after 1st H: bytes/site/round\n"
      " without the first H steps, whose download is whole fp32 parameters; FoMoE saves: this row's\n"
      " bytes over FoMoE %s's; DDP/this: DDP's bytes over this row's; minus FoMoE: this row's held-out loss minus\n"
      " FoMoE %s's, paired by seed; variant UP/DOWN, +topkF = top-k, noef = no error feedback, efD = its decay, zstd = entropy coded, @TAU = overlap, #P = fragments; round/compute: the\n"
      " median time from one round's end to the next one's over a site's mean compute per round; means over seeds)\n",
      H, variants.front().text.c_str(), variants.front().text.c_str());
  for (auto& r : results) {
    if (r.variant.find(":zstd") == std::string::npos || r.steady_by_seed.size() < 2) continue;
    std::printf("%s %s, entropy coded: after 1st H per seed", r.name.c_str(), r.variant.c_str());
    for (double b : r.steady_by_seed) std::printf(" %.0f", b);
    // What zstd left of the tensor bytes (fomoe project --coded-fraction): every site's reports,
    // and the rounds' StartRounds (the first, whole fp32 download included).
    auto mean_of = [&](const std::string& key) {
      auto it = r.comm_error.find(key);
      return it == r.comm_error.end() ? std::nan("") : mean(it->second);
    };
    std::printf("; coded fraction up %.4f, down %.4f\n", mean_of(metric::kUpCodedFraction),
                mean_of(std::string(metric::kDownCodedFraction) + "@global"));
  }
  bool any_error = false;
  for (auto& r : results) any_error |= !r.comm_error.empty();
  if (any_error) {
    std::printf("\ncompression error (relative L2, mean over rounds, sites and seeds; update: the averaged update, the\n"
                " sites' errors taken as independent; drift: the sites' copies against the master, down compressed)\n");
    std::printf("%-8s %-27s %11s %11s %11s %11s %12s %11s %11s\n", "method", "variant", "site dense", "site experts",
                "update dense", "upd experts", "worst expert", "drift dense", "drift exp");
    for (auto& r : results) {
      if (r.comm_error.empty()) continue;
      std::printf("%-8s %-27s", r.name.c_str(), r.variant.c_str());
      for (const std::string& name : comm_error_columns()) {
        auto it = r.comm_error.find(name);
        char cell[32] = "-";
        if (it != r.comm_error.end() && !it->second.empty()) std::snprintf(cell, sizeof cell, "%.4f", mean(it->second));
        std::printf(" %11s", cell);
      }
      std::printf("\n");
    }
  }
  if (!targets.empty()) {
    // Mean over the seeds that reached it; "(n/N)" when only some did, "-" when none did.
    std::printf("\ntime to a held-out loss (seconds since the run started, the global model evaluated after every round)\n");
    std::printf("%-8s %-27s", "method", "variant");
    for (double t : targets) std::printf(" %11.3f", t);
    std::printf("\n");
    for (auto& r : results) {
      std::printf("%-8s %-27s", r.name.c_str(), r.variant.c_str());
      for (size_t i = 0; i < targets.size(); ++i) {
        double sum = 0;
        int reached = 0;
        for (auto& per_seed : r.time_to_target)
          if (per_seed[i] >= 0) {
            sum += per_seed[i];
            ++reached;
          }
        char cell[40] = "-";
        if (reached > 0 && reached == static_cast<int>(r.time_to_target.size()))
          std::snprintf(cell, sizeof cell, "%.1f s", sum / reached);
        else if (reached > 0)
          std::snprintf(cell, sizeof cell, "%.1f s (%d/%zu)", sum / reached, reached, r.time_to_target.size());
        std::printf(" %11s", cell);
      }
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace fomoe::cli
