// fomoe bench comm: DDP, DiLoCo, Photon and FoMoE on the same model, data and tokens, each a real
// local federation; prints measured wire bytes per site per round, the ratios, held-out loss and
// throughput side by side.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

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
      const bool round_traffic = l.msg_type == "start_round" || l.msg_type == "round_report" || l.msg_type == "step_grad" ||
                                 l.msg_type == "step_update";
      (round_traffic ? per_round : one_time) += l.bytes;
    }
  }
};

struct MethodResult {
  std::string name;
  double bytes_per_site_round = 0;
  int64_t bytes_total = 0;
  double eval_loss = 0;
  double tokens_per_s = 0;
  double tokens = 0;
  int64_t params_per_site = 0;
  int rounds = 0;
};

}  // namespace

int bench_comm_command(const std::vector<std::string>& args, const std::string& self_exe) {
  std::string path = "experiments/comm.toml";
  bool json = false;
  long steps = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") json = true;
    else if (args[i] == "--steps" && i + 1 < args.size()) steps = std::stol(args[++i]);
    else if (args[i] == "--experiment" && i + 1 < args.size()) path = args[++i];
    else {
      std::cerr << "usage: fomoe bench comm [--experiment FILE.toml] [--steps N] [--json]\n";
      return 2;
    }
  }
  auto base = load_experiment(path);
  if (!base) {
    std::cerr << "fomoe bench comm: " << base.error().message << "\n";
    return 2;
  }
  if (steps > 0) base->train.steps = static_cast<int>(steps);
  const int K = base->federation.sites, H = base->federation.inner_steps;
  std::vector<MethodResult> results;
  for (Method m : {Method::Ddp, Method::DiLoCo, Method::Photon, Method::FoMoE}) {
    auto cfg = *base;
    cfg.run.method = m;
    cfg.run.name = std::string("bench-comm-") + method_name(m);
    LinkTally tally;
    LocalFederationOptions o;
    o.self_exe = self_exe;
    o.run_dir = (std::filesystem::path(cfg.run.out_dir) / cfg.run.name).string();
    std::filesystem::remove_all(o.run_dir);
    o.sink = &tally;
    if (!json) std::fprintf(stderr, "bench comm: running %s (%d sites, %d steps each)...\n", method_name(m), K, cfg.train.steps);
    auto r = run_federation(cfg, o);
    if (!r) {
      std::cerr << "fomoe bench comm: " << method_name(m) << ": " << r.error().message << "\n";
      return 1;
    }
    MethodResult mr;
    mr.name = method_name(m);
    mr.rounds = r->rounds;
    mr.bytes_total = tally.per_round + tally.one_time;
    mr.bytes_per_site_round = static_cast<double>(tally.per_round) / (K * std::max(1, r->rounds));
    mr.eval_loss = r->final_eval_loss;
    mr.tokens = r->tokens;
    mr.tokens_per_s = r->tokens / std::max(1e-9, r->wall_s);
    mr.params_per_site = r->params_per_site.empty() ? 0 : r->params_per_site[0];
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
    for (auto& r : results)
      j["methods"].push_back({{"method", r.name}, {"bytes_per_site_per_round", r.bytes_per_site_round}, {"bytes_total", r.bytes_total},
                              {"eval_loss", r.eval_loss}, {"tokens", r.tokens}, {"tokens_per_s", r.tokens_per_s},
                              {"params_per_site", r.params_per_site}, {"fomoe_ratio", r.bytes_per_site_round / fomoe.bytes_per_site_round}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("\nfomoe bench comm: %s, K = %d sites, H = %d, FoMoE r = %d, %s pseudo-gradients, %d steps per site\n", path.c_str(), K,
              H, base->federation.replication, wire_precision_name(base->federation.precision), base->train.steps);
  std::printf("%-8s %14s %18s %12s %12s %12s %12s\n", "method", "params/site", "bytes/site/round", "FoMoE saves", "eval loss",
              "tokens", "tokens/s");
  for (auto& r : results)
    std::printf("%-8s %14lld %18.0f %11.2fx %12.4f %12.0f %12.0f\n", r.name.c_str(), static_cast<long long>(r.params_per_site),
                r.bytes_per_site_round, r.bytes_per_site_round / fomoe.bytes_per_site_round, r.eval_loss, r.tokens, r.tokens_per_s);
  std::printf("(a round is H = %d inner steps for every method; DDP exchanges gradients every step)\n", H);
  return 0;
}

}  // namespace fomoe::cli
