// fomoe bench comm: DDP, DiLoCo, Photon and FoMoE on the same model, data and tokens, each a real
// local federation; prints measured wire bytes per site per round, the ratios, held-out loss and
// throughput side by side.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/federation/local_federation.h"

namespace fomoe::cli {

namespace {

struct LinkTally : RunSink {
  std::mutex mu;
  int64_t per_round = 0;  // round traffic: parameters, pseudo-gradients, gradients
  int64_t one_time = 0;   // hello / welcome / shutdown
  void on_link_bytes(const std::vector<LinkBytes>& links) override {
    std::lock_guard<std::mutex> g(mu);
    for (auto& l : links) {
      const bool round_traffic = l.msg_type == "start_round" || l.msg_type == "round_report" ||
                                 l.msg_type == "step_grad" || l.msg_type == "step_update";
      (round_traffic ? per_round : one_time) += l.bytes;
    }
  }
};

struct MethodResult {
  std::string name;
  double bytes_per_site_round = 0;  // of the first seed (bytes do not depend on the seed)
  int64_t bytes_total = 0;
  std::vector<double> eval_loss;     // one per seed
  std::vector<double> tokens_per_s;  // one per seed
  double tokens = 0;
  int64_t params_per_site = 0;
  int rounds = 0;
};

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

// "7,8,9" -> {7, 8, 9}; empty on anything else.
std::vector<uint64_t> parse_seeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos || item.size() > 18) return {};
    seeds.push_back(std::stoull(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return seeds;
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
  app->add_flag("--no-ddp", skip_ddp, "leave DDP out (the slowest)");
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  const bool json = format == "json";
  std::vector<uint64_t> seeds = parse_seeds(seeds_text);
  auto base = load_experiment(path);
  if (!base) {
    std::cerr << "fomoe bench comm: " << base.error().message << "\n";
    return 2;
  }
  if (steps > 0) base->train.steps = static_cast<int>(steps);
  if (seeds.empty()) seeds.push_back(base->run.seed);
  const int K = base->federation.sites, H = base->federation.inner_steps;
  std::vector<Method> methods = {Method::Ddp, Method::DiLoCo, Method::Photon, Method::FoMoE};
  if (skip_ddp) methods.erase(methods.begin());
  std::vector<MethodResult> results;
  for (Method m : methods) {
    MethodResult mr;
    mr.name = method_name(m);
    // Seeds inner, so each method's seeds share its bytes row and losses pair up by seed.
    for (uint64_t seed : seeds) {
      auto cfg = *base;
      cfg.run.method = m;
      cfg.run.seed = seed;
      cfg.run.name = std::string("bench-comm-") + method_name(m);
      LinkTally tally;
      LocalFederationOptions o;
      o.self_exe = self_exe;
      o.run_dir = (std::filesystem::path(cfg.run.out_dir) / cfg.run.name).string();
      std::filesystem::remove_all(o.run_dir);
      o.sink = &tally;
      if (!json)
        std::fprintf(stderr, "bench comm: running %s, seed %llu (%d sites, %d steps each)...\n", method_name(m),
                     static_cast<unsigned long long>(seed), K, cfg.train.steps);
      auto r = run_federation(cfg, o);
      if (!r) {
        std::cerr << "fomoe bench comm: " << method_name(m) << ": " << r.error().message << "\n";
        return 1;
      }
      if (mr.eval_loss.empty()) {
        mr.rounds = r->rounds;
        mr.bytes_total = tally.per_round + tally.one_time;
        mr.bytes_per_site_round = static_cast<double>(tally.per_round) / (K * std::max(1, r->rounds));
        mr.tokens = r->tokens;
        mr.params_per_site = r->params_per_site.empty() ? 0 : r->params_per_site[0];
      }
      mr.eval_loss.push_back(r->final_eval_loss);
      mr.tokens_per_s.push_back(r->tokens / std::max(1e-9, r->wall_s));
    }
    results.push_back(mr);
  }
  const auto& fomoe = results.back();
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
                              {"bytes_per_site_per_round", r.bytes_per_site_round},
                              {"bytes_total", r.bytes_total},
                              {"eval_loss", mean(r.eval_loss)},
                              {"eval_loss_per_seed", r.eval_loss},
                              {"tokens", r.tokens},
                              {"tokens_per_s", mean(r.tokens_per_s)},
                              {"params_per_site", r.params_per_site},
                              {"fomoe_ratio", r.bytes_per_site_round / fomoe.bytes_per_site_round}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "\nfomoe bench comm: %s, K = %d sites, H = %d, FoMoE r = %d, %s pseudo-gradients, %d steps per site, %zu "
      "seed%s\n",
      path.c_str(), K, H, base->federation.replication, wire_precision_name(base->federation.precision),
      base->train.steps, seeds.size(), seeds.size() == 1 ? "" : "s");
  std::printf("%-8s %14s %18s %12s %12s %22s %12s %12s\n", "method", "params/site", "bytes/site/round", "FoMoE saves",
              "eval loss", "FoMoE minus (per seed)", "tokens", "tokens/s");
  for (auto& r : results) {
    // Paired by seed: negative means FoMoE reached a lower held-out loss than this method.
    std::string diffs;
    for (size_t i = 0; &r != &fomoe && i < r.eval_loss.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%+.3f", diffs.empty() ? "" : " ", fomoe.eval_loss[i] - r.eval_loss[i]);
      diffs += buf;
    }
    std::printf("%-8s %14lld %18.0f %11.2fx %12.4f %22s %12.0f %12.0f\n", r.name.c_str(),
                static_cast<long long>(r.params_per_site), r.bytes_per_site_round,
                r.bytes_per_site_round / fomoe.bytes_per_site_round, mean(r.eval_loss),
                diffs.empty() ? "-" : diffs.c_str(), r.tokens, mean(r.tokens_per_s));
  }
  std::printf(
      "(a round is H = %d inner steps for every method; DDP exchanges gradients every step; eval loss and tokens/s "
      "are\n"
      " means over the seeds; tokens: all sites together, per seed)\n",
      H);
  return 0;
}

}  // namespace fomoe::cli
