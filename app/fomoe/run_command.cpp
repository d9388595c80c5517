// fomoe run EXPERIMENT.toml: a federation (local agents by default) or, for method "single",
// one site. fomoe agent: one site of a federation.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli_experiment.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/federation/agent.h"
#include "fomoe/federation/local_federation.h"
#include "fomoe/net/event_stream.h"
#include "fomoe/federation/placement.h"
#include "fomoe/store/run_store.h"
#include "fomoe/train/single_site.h"
#include "progress_bar.h"
#include "recording.h"
#include "stop_signals.h"

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
// `fomoe run --publish ADDR`: CURVE with the coordinator's key pair (or --publish-keys DIR's) and
// the watchers' keys of KEYDIR/watchers (or --watchers DIR) by default; plaintext when asked
// (the loopback rule is checked at parse time). Prints where the keys are and how to watch.
Expected<std::unique_ptr<net::EventPublisher>> start_publisher(const ExperimentConfig& cfg, const std::string& run_dir,
                                                               const std::string& address, const std::string& keys_flag,
                                                               const std::string& watchers_flag, bool plaintext) {
  namespace fs = std::filesystem;
  net::EventPublisherOptions po;
  po.bind_address = address;
  const std::string key_dir = !keys_flag.empty() ? keys_flag : coordinator_key_dir(cfg, run_dir);
  if (!plaintext) {
    auto server = !keys_flag.empty() ? net::load_keypair((fs::path(key_dir) / "server.key").string())
                                     : coordinator_server_keys(cfg, run_dir);
    if (!server)
      return make_error(ErrorCode::NotFound, "--publish: " + server.error().message +
                                                 (keys_flag.empty() ? std::string()
                                                                    : " (make it with `fomoe keygen --out " + key_dir +
                                                                          " --name server`)"));
    po.curve = true;
    po.server_keys = *server;
    po.allowed_keys_dir = !watchers_flag.empty() ? watchers_flag : (fs::path(key_dir) / "watchers").string();
  }
  auto p = net::EventPublisher::create(po);
  if (!p) return make_error(p.error().code == ErrorCode::InvalidArgument || p.error().code == ErrorCode::Corrupt
                                ? p.error().code
                                : ErrorCode::Io,
                            p.error().message);
  const std::string endpoint = (*p)->endpoint();
  if (plaintext) {
    std::fprintf(stderr, "fomoe run: publishing run events on %s in plaintext (watch with `fomoe watch %s`)\n",
                 endpoint.c_str(), endpoint.c_str());
    return p;
  }
  auto listed = net::load_allow_list(po.allowed_keys_dir);
  const size_t n = listed ? listed->size() : 0;
  std::fprintf(stderr,
               "fomoe run: publishing run events on %s (CURVE, server public key %s of %s; watchers' keys: %s/*.pub, "
               "%zu now, read again when an unknown key connects)\n"
               "fomoe run: a watcher keeps its NAME.key and a copy of server.pub in a directory DIR and runs "
               "`fomoe watch %s --keys DIR --name NAME`\n",
               endpoint.c_str(), po.server_keys.public_key.c_str(), (fs::path(key_dir) / "server.key").string().c_str(),
               po.allowed_keys_dir.c_str(), n, endpoint.c_str());
  if (n == 0)
    std::fprintf(stderr,
                 "fomoe run: no watcher keys in %s yet: every watcher is refused until its NAME.pub (from `fomoe keygen "
                 "--out DIR --name NAME`) is copied there\n",
                 po.allowed_keys_dir.c_str());
  return p;
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
  auto app = make_app("fomoe run",
                      "Runs a federation: K local agent processes by default, or the remote ones the experiment "
                      "lists; an experiment of method \"single\" trains one site (as `fomoe train`).");
  std::string path, db, publish, publish_keys, watchers;
  long placement_run = -1;
  bool resume = false, publish_plaintext = false, publish_insecure = false;
  std::vector<std::string> overrides;
  long steps_override = 0;
  app->add_option("EXPERIMENT", path, "experiment TOML file (experiments/*.toml)")->required()->type_name("FILE.toml");
  app->add_option("--steps", steps_override, "train this many steps per site instead of the experiment's train.steps")
      ->check(positive_integer())
      ->type_name("N");
  app->add_flag("--resume", resume, "go on from the coordinator state saved in the run directory");
  app->add_option("--db", db, "run store (default: the experiment's run.db, else ~/.local/share/fomoe/runs.db)")
      ->type_name("PATH");
  CLI::Option* publish_opt =
      app->add_option("--publish", publish,
                      "serve the run's live event stream here, CURVE-encrypted, to the watchers whose keys are "
                      "allowed (`fomoe watch ADDRESS --keys DIR --name NAME`)")
          ->type_name("tcp://*:PORT");
  CLI::Option* keys_opt =
      app->add_option("--publish-keys", publish_keys,
                      "the publisher's key directory: DIR/server.key (default: the coordinator's, federation.key_dir or "
                      "else runs/NAME/keys, where a local run makes server.key)")
          ->type_name("DIR")
          ->needs(publish_opt);
  CLI::Option* watchers_opt =
      app->add_option("--watchers", watchers,
                      "the watchers' public keys, DIR/*.pub, one NAME.pub per watcher (default: KEYDIR/watchers; "
                      "read again when an unknown key connects)")
          ->type_name("DIR")
          ->needs(publish_opt);
  app->add_flag("--publish-plaintext", publish_plaintext,
                    "publish unencrypted, to anyone who connects: only on a loopback address (tcp://127.0.0.1:PORT, "
                    "tcp://localhost:PORT, tcp://[::1]:PORT, ipc://PATH)")
          ->needs(publish_opt)
          ->excludes(keys_opt)
          ->excludes(watchers_opt);
  app->add_flag("--publish-insecure", publish_insecure,
                "publish unencrypted on any address (implies --publish-plaintext): anyone who can connect watches "
                "the run")
      ->needs(publish_opt)
      ->excludes(keys_opt)
      ->excludes(watchers_opt);
  app->add_option("--placement-from-run", placement_run,
                  "load-aware expert placement from the expert load a recorded run measured")
      ->check(integer_in(0, INT64_MAX))
      ->type_name("ID");
  add_repeated(*app, "--set", overrides, "override an experiment key, e.g. --set federation.sites=8 (repeatable)")
      ->type_name("section.key=value");
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  if (publish_plaintext && !publish_insecure && !net::is_loopback_address(publish))
    return usage_error(*app,
                       "--publish-plaintext: " + publish +
                           " is not a loopback address, so the unencrypted stream would reach anyone who can "
                           "connect: publish with CURVE (drop --publish-plaintext), bind tcp://127.0.0.1:PORT or "
                           "ipc://PATH, or say --publish-insecure",
                       std::cerr);
  auto cfg = load_cli_experiment("run", path, overrides, steps_override);
  if (!cfg) return 2;
  if (cfg->run.method == Method::Single) {
    // One site in this process: the same event stream, from the trainer instead of a coordinator.
    std::unique_ptr<net::EventPublisher> publisher;
    if (!publish.empty()) {
      const std::string single_dir = (std::filesystem::path(cfg->run.out_dir) / cfg->run.name).string();
      auto p = start_publisher(*cfg, single_dir, publish, publish_keys, watchers, publish_plaintext || publish_insecure);
      if (!p) {
        std::cerr << "fomoe run: " << p.error().message << "\n";
        return p.error().code == ErrorCode::Io ? 1 : 2;
      }
      publisher = std::move(p).value();
    }
    TrainArgs t;
    t.also = publisher.get();
    t.path = path;
    t.steps = steps_override;
    t.db = db;
    t.overrides = overrides;
    if (resume) t.resume = checkpoint_path(*cfg);  // where a stopped single-site run left its state
    t.command = "run";
    return train(t);
  }
  if (placement_run >= 0) {
    auto st = load_aware_placement_from_run(*cfg, db, placement_run);
    if (!st) {
      std::cerr << "fomoe run: " << st.error().message << "\n";
      return 2;
    }
  }
  const auto& f = cfg->federation;
  const int rounds = (cfg->train.steps + round_steps(f) - 1) / round_steps(f);
  const std::string fragments = f.fragments > 1 ? " in " + std::to_string(f.fragments) + " streaming fragments" : "";
  std::fprintf(stderr, "fomoe run: %s — %s, %d %s sites, H = %d%s, %d rounds (%d steps per site), %s on the wire%s\n",
               path.c_str(), method_name(cfg->run.method), f.sites, f.agents.empty() ? "local" : "remote", f.inner_steps, fragments.c_str(), rounds,
               cfg->train.steps, wire_precision_name(f.precision),
               cfg->run.method == Method::FoMoE ? (", each expert on " + std::to_string(f.replication) + (f.replication == 1 ? " site" : " sites")).c_str() : "");
  // Measured (docs/BENCHMARKS.md "Sparsified rounds"): top-k's residuals, sent later while the
  // sites re-learn the same progress, overshoot under an outer momentum.
  if ((f.topk > 0 || f.down_topk > 0) && f.error_feedback && f.error_feedback_decay > 0.5 && f.outer_momentum > 0 &&
      cfg->run.method != Method::Ddp)
    std::fprintf(stderr, "fomoe run: note: top-k with error feedback under federation.outer_momentum = %g overshoots "
                 "(docs/BENCHMARKS.md, \"Sparsified rounds\"); as SparseLoCo, try federation.outer_momentum = 0 or "
                 "federation.error_feedback_decay = 0.5\n",
                 f.outer_momentum);
  const std::string run_dir = (std::filesystem::path(cfg->run.out_dir) / cfg->run.name).string();
  // The publisher binds before anything is recorded: a taken port or a missing key records no run.
  std::unique_ptr<net::EventPublisher> publisher;
  if (!publish.empty()) {
    auto p = start_publisher(*cfg, run_dir, publish, publish_keys, watchers, publish_plaintext || publish_insecure);
    if (!p) {
      std::cerr << "fomoe run: " << p.error().message << "\n";
      return p.error().code == ErrorCode::Io ? 1 : 2;
    }
    publisher = std::move(p).value();
  }
  int64_t resume_id = -1;
  if (resume) resume_id = recorded_run_id(run_record_file(run_dir), resolved_db_path(*cfg, db));
  auto rec = start_recording(*cfg, db, f.sites, resume_id);
  if (!rec) {
    std::cerr << "fomoe run: " << rec.error().message << "\n";
    return 1;
  }
  if (resume_id >= 0 && rec->run_id == resume_id)
    std::fprintf(stderr, "fomoe run: resuming run %lld in %s\n", static_cast<long long>(resume_id), rec->db_path.c_str());
  write_record_file(run_record_file(run_dir), rec->db_path, rec->run_id);
  RunSinkFanout sinks;
  sinks.add(rec->recorder.get());
  if (publisher) {
    sinks.add(publisher.get());
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
  o.run_dir = run_dir;
  o.resume = resume;
  o.run_id = static_cast<uint64_t>(rec->run_id);
  o.stop_now = StopSignals::flag();
  if (resume_id >= 0 && rec->run_id == resume_id) o.wall_offset_s = seconds_since_record_start(rec->db_path, rec->run_id);
  if (f.max_sites > f.sites && f.agents.empty())
    o.on_started = [&](const std::vector<int>&, const std::string& endpoint, const std::string& key_dir) {
      const int more = f.max_sites - f.sites;
      const std::string whose = more == 1 ? "its key" : "their keys (site-" + std::to_string(f.sites) + " ... site-" +
                                                            std::to_string(f.max_sites - 1) + ")";
      std::fprintf(stderr, "fomoe run: up to %d more site%s may join while it trains, with %s from %s:\n"
                   "  fomoe agent --connect %s --key-dir %s --name site-%d\n",
                   more, more == 1 ? "" : "s", whose.c_str(), key_dir.c_str(), endpoint.c_str(), key_dir.c_str(), f.sites);
    };
  StopSignals signals("fomoe run");
  ProgressBar bar(rounds);
  auto result = run_federation(*cfg, o, [&](const RoundProgress& p) {
    char status[200];
    std::snprintf(status, sizeof status, "round loss %.3f%s sites %d/%d wire %s", p.train_loss,
                  p.eval_loss >= 0 ? (" eval " + std::to_string(p.eval_loss).substr(0, 5)).c_str() : "", p.alive_sites,
                  std::max(f.sites, p.alive_sites),
                  human_bytes(static_cast<double>(p.bytes_total)).c_str());
    bar.update(p.round, status, p.elapsed_s);
    return true;
  });
  bar.finish();
  if (result && result->stopped) {
    const int sig = StopSignals::signal() != 0 ? StopSignals::signal() : SIGINT;
    const std::string why = std::string("stopped by ") + signal_name(sig) + " after round " + std::to_string(result->rounds) +
                            " of " + std::to_string(rounds);
    sinks.on_run_finished(RunStatus::Stopped, why);
    TrainArgs as_typed;
    as_typed.command = "run";
    as_typed.path = path;
    as_typed.db = db;
    as_typed.overrides = overrides;
    as_typed.steps = steps_override;
    const std::string again = resume_command(as_typed);
    std::fprintf(stderr, "fomoe run: %s; recorded as run %lld (stopped) in %s\nresume with: %s\n", why.c_str(),
                 static_cast<long long>(rec->run_id), rec->db_path.c_str(), again.c_str());
    return 128 + sig;
  }
  sinks.on_run_finished(result ? RunStatus::Finished : RunStatus::Failed, result ? "" : result.error().message);
  if (!result) {
    std::cerr << "fomoe run: " << result.error().message << "\n";
    return StopSignals::signal() != 0 ? 128 + StopSignals::signal() : 1;
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
  auto app = make_app("fomoe agent",
                      "Is one site of a federation: (--connect tcp://COORDINATOR:PORT | --listen tcp://*:PORT) "
                      "--key-dir DIR --name NAME.\nDIR holds NAME.key (this site's secret key) and server.pub (the "
                      "coordinator's public key);\nmake them with `fomoe keygen --out DIR --name NAME`.");
  AgentSettings s;
  bool no_curve = false;
  CLI::Option* connect =
      app->add_option("--connect", s.connect, "the coordinator's address")->type_name("tcp://HOST:PORT");
  app->add_option("--listen", s.listen, "bind here and let the coordinator connect")
      ->type_name("tcp://*:PORT")
      ->excludes(connect);
  app->add_option("--key-dir", s.key_dir, "holds NAME.key and server.pub")->type_name("DIR");
  app->add_option("--name", s.name, "this site's name (the key file stem)")->type_name("NAME")->capture_default_str();
  app->add_flag("--no-curve", no_curve, "plaintext, no keys (tests and trusted loopback only)");
  app->add_option("--bandwidth-mbps", s.bandwidth_mbps, "emulate a link of this bandwidth, Mbit/s (0: off)")
      ->check(number_at_least(0, /*integer=*/false))
      ->type_name("X");
  app->add_option("--latency-ms", s.latency_ms, "emulate this one-way latency, milliseconds")
      ->check(number_at_least(0, /*integer=*/false))
      ->type_name("Y");
  app->add_option("--idle-timeout", s.idle_timeout_s, "leave when the coordinator stays silent this long, seconds")
      ->check(positive_number())
      ->type_name("S")
      ->capture_default_str();
  app->add_option("--threads", s.threads, "intra-op threads (0: LibTorch's default)")
      ->check(integer_in(0, 4096))
      ->type_name("N");
  app->add_option("--devices", s.devices, "train here instead of run.device; several: data parallel in the site")
      ->type_name("cpu|cuda|cuda:0,cuda:1");
  app->add_flag("--exit-with-parent", s.exit_with_parent, "die with the process that started this one (local agents)");
  add_repeated(*app, "--data", s.data,
               "this site's own data: a [data] key=value, repeated (e.g. --data format=megatron --data path=/srv/c4); "
               "token files, or text with the experiment's data.tokenizer; read by this site alone")
      ->type_name("KEY=VALUE");
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  s.curve = !no_curve;
  if (s.connect.empty() && s.listen.empty())
    return usage_error(*app, "give --connect tcp://COORDINATOR:PORT or --listen tcp://*:PORT", std::cerr);
  if (s.curve && s.key_dir.empty())
    return usage_error(*app, "--key-dir DIR is needed (it holds NAME.key and server.pub; or --no-curve)", std::cerr);
  return run_agent(s);
}

}  // namespace fomoe::cli
