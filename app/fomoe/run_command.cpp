// fomoe run EXPERIMENT.toml: a federation (local agents by default) or, for method "single",
// one site. fomoe agent: one site of a federation.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "cli_experiment.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/federation/agent.h"
#include "fomoe/federation/local_federation.h"
#include "fomoe/net/event_stream.h"
#include "fomoe/federation/placement.h"
#include "fomoe/store/run_store.h"
#include "progress_bar.h"
#include "recording.h"

namespace fomoe::cli {

namespace {
std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", b, units[u]);
  return buf;
}
}  // namespace

// Load-aware placement from the expert load a recorded run measured (summed over its rounds and
// sites): heavy experts are spread over the least-loaded sites. Becomes an explicit plan.
Status load_aware_placement_from_run(ExperimentConfig& cfg, const std::string& db_flag, long run_id) {
  const std::string db = !db_flag.empty() ? db_flag : !cfg.run.db.empty() ? cfg.run.db : default_db_path();
  auto store = RunStore::open(db);
  if (!store) return store.error();
  auto rows = (*store)->expert_load(run_id, -1);
  if (!rows) return rows.error();
  int n_layers = 0;
  for (int l = 0; l < cfg.model.n_layers; ++l) n_layers += (cfg.model.moe_every == 1 || l % 2 == 1) ? 1 : 0;
  std::vector<std::vector<int64_t>> load(static_cast<size_t>(n_layers), std::vector<int64_t>(static_cast<size_t>(cfg.model.n_experts), 0));
  for (const auto& r : *rows) {
    if (r.layer >= n_layers || r.expert >= cfg.model.n_experts)
      return make_error(ErrorCode::InvalidArgument, "run " + std::to_string(run_id) + " recorded expert " + std::to_string(r.expert) +
                                                        " of MoE layer " + std::to_string(r.layer) + ", which this model does not have");
    load[static_cast<size_t>(r.layer)][static_cast<size_t>(r.expert)] += r.tokens;
  }
  if (rows->empty()) return make_error(ErrorCode::NotFound, "run " + std::to_string(run_id) + " in " + db + " recorded no expert load");
  auto plan = PlacementPlan::load_aware(cfg.federation.sites, load, cfg.federation.replication);
  if (auto st = plan.validate(); !st) return st;
  cfg.federation.placement = PlacementPolicy::Explicit;
  cfg.federation.explicit_plan = plan.holders();
  cfg.source_text = to_toml(cfg);
  std::fprintf(stderr, "fomoe run: load-aware placement from the expert load of run %ld (%zu rows)\n", run_id, rows->size());
  return Status::ok();
}

int run_command(const std::vector<std::string>& args, const std::string& self_exe) {
  std::string path, db, publish;
  long placement_run = -1;
  bool resume = false;
  std::vector<std::string> overrides;
  long steps_override = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--resume") resume = true;
    else if (args[i] == "--steps" && i + 1 < args.size()) steps_override = std::stol(args[++i]);
    else if (args[i] == "--db" && i + 1 < args.size()) db = args[++i];
    else if (args[i] == "--publish" && i + 1 < args.size()) publish = args[++i];
    else if (args[i] == "--placement-from-run" && i + 1 < args.size()) placement_run = std::stol(args[++i]);
    else if (args[i] == "--set" && i + 1 < args.size()) overrides.push_back(args[++i]);
    else if (!args[i].empty() && args[i][0] != '-' && path.empty()) path = args[i];
    else {
      std::cerr << "fomoe run: unexpected argument '" << args[i] << "'\nusage: fomoe run EXPERIMENT.toml [--steps N] [--resume] [--db PATH] [--publish tcp://*:PORT] [--placement-from-run ID] [--set section.key=value ...]\n";
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "usage: fomoe run EXPERIMENT.toml [--steps N] [--resume] [--db PATH] [--publish tcp://*:PORT] [--placement-from-run ID] [--set section.key=value ...]\n";
    return 2;
  }
  auto cfg = load_cli_experiment("run", path, overrides, steps_override);
  if (!cfg) return 2;
  if (cfg->run.method == Method::Single) {
    std::vector<std::string> train_args = {path};
    if (steps_override > 0) train_args.insert(train_args.end(), {"--steps", std::to_string(steps_override)});
    if (!db.empty()) train_args.insert(train_args.end(), {"--db", db});
    for (auto& o : overrides) train_args.insert(train_args.end(), {"--set", o});
    return train_command(train_args);
  }
  if (placement_run >= 0) {
    auto st = load_aware_placement_from_run(*cfg, db, placement_run);
    if (!st) {
      std::cerr << "fomoe run: " << st.error().message << "\n";
      return 2;
    }
  }
  const auto& f = cfg->federation;
  const int rounds = (cfg->train.steps + f.inner_steps - 1) / f.inner_steps;
  std::fprintf(stderr, "fomoe run: %s — %s, %d %s sites, H = %d, %d rounds (%d steps per site), %s on the wire%s\n",
               path.c_str(), method_name(cfg->run.method), f.sites, f.agents.empty() ? "local" : "remote", f.inner_steps, rounds,
               cfg->train.steps, wire_precision_name(f.precision),
               cfg->run.method == Method::FoMoE ? (", each expert on " + std::to_string(f.replication) + " sites").c_str() : "");
  auto rec = start_recording(*cfg, db, f.sites);
  if (!rec) {
    std::cerr << "fomoe run: " << rec.error().message << "\n";
    return 1;
  }
  RunSinkFanout sinks;
  sinks.add(rec->recorder.get());
  std::unique_ptr<net::EventPublisher> publisher;
  if (!publish.empty()) {
    net::EventPublisherOptions po;
    po.bind_address = publish;
    auto p = net::EventPublisher::create(po);
    if (!p) {
      std::cerr << "fomoe run: " << p.error().message << "\n";
      return 1;
    }
    publisher = std::move(p).value();
    sinks.add(publisher.get());
    std::fprintf(stderr, "fomoe run: publishing run events on %s (watch with `fomoe watch %s`)\n", publisher->endpoint().c_str(),
                 publisher->endpoint().c_str());
    net::RunStarted started;
    started.run_id = rec->run_id;
    started.info.name = cfg->run.name;
    started.info.method = method_name(cfg->run.method);
    started.info.n_sites = f.sites;
    publisher->publish(started);
  }
  LocalFederationOptions o;
  o.sink = &sinks;
  o.self_exe = self_exe;
  o.run_dir = (std::filesystem::path(cfg->run.out_dir) / cfg->run.name).string();
  o.resume = resume;
  o.run_id = static_cast<uint64_t>(rec->run_id);
  ProgressBar bar(rounds);
  auto result = run_federation(*cfg, o, [&](const RoundProgress& p) {
    char status[200];
    std::snprintf(status, sizeof status, "round loss %.3f%s sites %d/%d wire %s", p.train_loss,
                  p.eval_loss >= 0 ? (" eval " + std::to_string(p.eval_loss).substr(0, 5)).c_str() : "", p.alive_sites, f.sites,
                  human_bytes(static_cast<double>(p.bytes_total)).c_str());
    bar.update(p.round, status, p.elapsed_s);
    return true;
  });
  bar.finish();
  sinks.on_run_finished(result ? RunStatus::Finished : RunStatus::Failed, result ? "" : result.error().message);
  if (!result) {
    std::cerr << "fomoe run: " << result.error().message << "\n";
    return 1;
  }
  std::printf("done: %d rounds, %ld steps per site, held-out loss %.4f, %.1f s\n", result->rounds, result->steps,
              result->final_eval_loss, result->wall_s);
  std::printf("%-6s %14s %14s %14s\n", "site", "parameters", "bytes down", "bytes up");
  for (size_t k = 0; k < result->sites.size(); ++k)
    std::printf("%-6zu %14lld %14s %14s\n", k, static_cast<long long>(result->params_per_site[k]),
                human_bytes(static_cast<double>(result->sites[k].bytes_sent)).c_str(),
                human_bytes(static_cast<double>(result->sites[k].bytes_received)).c_str());
  std::printf("round time per site: compute %.2f s, communication %.2f s, waiting %.2f s\n", result->compute_s_mean,
              result->comm_s_mean, result->wait_s_mean);
  for (auto& f : result->faults) std::printf("fault: %s\n", f.c_str());
  std::printf("run directory: %s\nrecorded as run %lld in %s (see `fomoe runs show %lld`)\n", o.run_dir.c_str(),
              static_cast<long long>(rec->run_id), rec->db_path.c_str(), static_cast<long long>(rec->run_id));
  return 0;
}

int agent_command(const std::vector<std::string>& args) {
  AgentSettings s;
  for (size_t i = 0; i < args.size(); ++i) {
    auto need = [&](const char* flag) -> std::string {
      if (i + 1 >= args.size()) throw std::invalid_argument(std::string(flag) + " needs a value");
      return args[++i];
    };
    if (args[i] == "--connect") s.connect = need("--connect");
    else if (args[i] == "--listen") s.listen = need("--listen");
    else if (args[i] == "--key-dir") s.key_dir = need("--key-dir");
    else if (args[i] == "--name") s.name = need("--name");
    else if (args[i] == "--no-curve") s.curve = false;
    else if (args[i] == "--bandwidth-mbps") s.bandwidth_mbps = std::stod(need("--bandwidth-mbps"));
    else if (args[i] == "--latency-ms") s.latency_ms = std::stod(need("--latency-ms"));
    else if (args[i] == "--idle-timeout") s.idle_timeout_s = std::stod(need("--idle-timeout"));
    else if (args[i] == "--threads") s.threads = std::stoi(need("--threads"));
    else if (args[i] == "--devices") s.devices = need("--devices");
    else if (args[i] == "--exit-with-parent") s.exit_with_parent = true;
    else if (args[i] == "--data") s.data.push_back(need("--data"));
    else {
      std::cerr << "fomoe agent: unexpected argument '" << args[i] << "'\n";
      s.connect.clear();
      break;
    }
  }
  if (s.connect.empty() == s.listen.empty() || (s.curve && s.key_dir.empty())) {
    std::cerr << "usage: fomoe agent (--connect tcp://COORDINATOR:PORT | --listen tcp://*:PORT) --key-dir DIR --name NAME\n"
                 "                   [--bandwidth-mbps X] [--latency-ms Y] [--threads N]\n"
                 "                   [--devices cpu|cuda|cuda:0,cuda:1]   (several: data parallel in the site)\n"
                 "                   [--data key=value ...]   this site's own data, e.g. --data format=jsonl --data path=/srv/a.jsonl\n"
                 "  DIR holds NAME.key (this site's secret key) and server.pub (the coordinator's public key);\n"
                 "  make them with `fomoe keygen --out DIR --name NAME`.\n";
    return 2;
  }
  return run_agent(s);
}

}  // namespace fomoe::cli
