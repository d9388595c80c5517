// fomoe bench faults: a real local federation trains while a random agent is SIGKILLed every few
// seconds; reports how fast each death is seen, how long until the restarted site trains again,
// rounds lost, site-rounds without a report per failure, and the bytes a rejoin costs (issue 16's
// reliability figures).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "fomoe/base/median.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/federation/local_federation.h"

namespace fomoe::cli {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0, Clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); }

// The pid of site k's agent now (a restarted agent has a new one); -1 if none is running.
pid_t agent_pid(const std::string& key_dir, int site) {
  // The agent's command line holds "--key-dir KEY_DIR --name site-K"; [-] keeps pgrep off itself.
  const std::string cmd = "pgrep -f -- '" + key_dir + " [-]-name site-" + std::to_string(site) + " '";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  int pid = -1;
  if (std::fscanf(p, "%d", &pid) != 1) pid = -1;
  pclose(p);
  return pid;
}

// What the coordinator said, stamped on arrival (sinks are called as it happens).
struct FaultLog : RunSink {
  std::mutex mu;
  struct Stamped {
    Clock::time_point at;
    int site;
    std::string kind;
  };
  std::vector<Stamped> events;
  std::map<int, std::set<int>> reported;            // round -> sites that reported (their per-site metrics)
  std::map<int, Clock::time_point> round_finished;  // round -> when (the last time)
  std::map<int, int> finished_count;                // round -> how often it finished (redone rounds: 2)
  std::map<std::pair<int, int>, int64_t> start_round_bytes;  // (site, round) -> StartRound bytes
  int64_t one_time_bytes_after_start = 0;                    // hello / welcome after each site's first
  std::set<std::pair<int, std::string>> first_seen;          // (site, hello | welcome) of the first join
  void on_event(const RunEvent& e) override {
    std::lock_guard<std::mutex> g(mu);
    const auto now = Clock::now();
    events.push_back({now, e.site, e.kind});
    if (e.kind == "round_finished") {
      const int round = std::atoi(e.text.c_str() + std::string("round ").size());
      round_finished[round] = now;
      ++finished_count[round];
    }
  }
  void on_metrics(const std::vector<MetricPoint>& points) override {
    std::lock_guard<std::mutex> g(mu);
    for (auto& p : points)
      if (p.site >= 0 && p.round >= 0) reported[p.round].insert(p.site);
  }
  void on_link_bytes(const std::vector<LinkBytes>& links) override {
    std::lock_guard<std::mutex> g(mu);
    for (auto& l : links) {
      if (l.msg_type == "start_round") start_round_bytes[{l.site, l.round}] += l.bytes;
      else if (l.msg_type == "hello" || l.msg_type == "welcome")
        if (!first_seen.insert({l.site, l.msg_type}).second) one_time_bytes_after_start += l.bytes;
    }
  }
};

}  // namespace

int bench_faults_command(const std::vector<std::string>& args, const std::string& self_exe) {
  auto app = make_app("fomoe bench faults",
                      "Trains a local federation while a random agent is SIGKILLed every few seconds: how fast each death "
                      "is seen, how long until the site trains again, rounds lost, the bytes a rejoin costs.");
  std::string path = "experiments/quickstart.toml", format = "text";
  int64_t kills = 20, steps = 0;
  double every_s = 6.0;
  app->add_option("--experiment", path, "the federation to train")->type_name("FILE.toml")->capture_default_str();
  app->add_option("--kills", kills, "SIGKILLs, one random agent each")->check(integer_in(1, 1000))->type_name("N")->capture_default_str();
  app->add_option("--every", every_s, "seconds between kills")->check(positive_number())->type_name("S")->capture_default_str();
  app->add_option("--steps", steps, "steps per site (default: until every killed site has trained again)")
      ->check(positive_integer())
      ->type_name("N");
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  auto cfg = load_experiment(path);
  if (!cfg) {
    std::cerr << "fomoe bench faults: " << cfg.error().message << "\n";
    return 2;
  }
  if (cfg->run.method == Method::Single) {
    std::cerr << "fomoe bench faults: " << path << " is a single-site experiment: nothing to kill\n";
    return 2;
  }
  cfg->run.name = "bench-faults";
  cfg->train.eval_every = 0;  // rounds only: their times are what is measured
  cfg->train.sample_tokens = 0;
  cfg->federation.restart_sites = std::max<int>(cfg->federation.restart_sites, static_cast<int>(kills) + 1);
  const int K = cfg->federation.sites, H = cfg->federation.inner_steps;
  // Without --steps the run is stopped (a clean stop, state saved) once every kill has healed.
  cfg->train.steps = steps > 0 ? static_cast<int>(steps) : H * 100000;

  FaultLog log;
  LocalFederationOptions o;
  o.self_exe = self_exe;
  o.run_dir = (std::filesystem::path(cfg->run.out_dir) / cfg->run.name).string();
  std::filesystem::remove_all(o.run_dir);
  o.sink = &log;
  const std::string key_dir = coordinator_key_dir(*cfg, o.run_dir);
  std::atomic<bool> started{false}, done{false}, stop{false};
  o.stop_now = &stop;
  o.on_started = [&](const std::vector<int>&, const std::string&, const std::string&) { started = true; };
  struct Kill {
    Clock::time_point at;
    int site;
  };
  std::vector<Kill> done_kills;
  std::thread chaos([&] {
    std::mt19937 rng(static_cast<uint32_t>(cfg->run.seed));
    while (!started && !done) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // Let the first round start, then one kill every `every_s`.
    for (int i = 0; i < kills && !done; ++i) {
      const auto due = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i == 0 ? every_s / 2 : every_s));
      while (Clock::now() < due && !done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (done) break;
      const int site = static_cast<int>(rng() % static_cast<uint32_t>(K));
      const pid_t pid = agent_pid(key_dir, site);
      if (pid <= 0) {  // still restarting: try the next one later
        --i;
        continue;
      }
      const auto at = Clock::now();
      if (kill(pid, SIGKILL) == 0) done_kills.push_back({at, site});
      if (format != "json") std::fprintf(stderr, "bench faults: kill %d of %lld: site %d (pid %d)\n", i + 1,
                                                       static_cast<long long>(kills), site, pid);
    }
    // Then until every killed site has reported in a round after its last kill (at most 2 min).
    const auto give_up = Clock::now() + std::chrono::minutes(2);
    while (!done && steps <= 0 && Clock::now() < give_up) {
      bool healed = true;
      {
        std::lock_guard<std::mutex> g(log.mu);
        std::map<int, Clock::time_point> last_kill;
        for (const Kill& k : done_kills) last_kill[k.site] = k.at;
        for (auto& [site, at] : last_kill) {
          bool seen = false;
          for (auto& [round, fin] : log.round_finished) seen |= fin > at && log.reported[round].count(site) > 0;
          healed &= seen;
        }
      }
      if (healed) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (steps <= 0) stop = true;
  });
  if (format != "json")
    std::fprintf(stderr, "bench faults: %s, K = %d, H = %d, %d steps per site, %lld kills every %.1f s\n", path.c_str(), K, H,
                 cfg->train.steps, static_cast<long long>(kills), every_s);
  const auto t0 = Clock::now();
  auto r = run_federation(*cfg, o);
  done = true;
  chaos.join();
  const double wall = since(t0, Clock::now());
  if (!r) {
    std::cerr << "fomoe bench faults: " << r.error().message << "\n";
    return 1;
  }

  // Per kill: the first site_dead of that site after it, its site_restarted, site_joined, and the
  // first round finished after the rejoin that the site reported in.
  std::lock_guard<std::mutex> g(log.mu);
  std::vector<double> detect, restart, trains_again;
  int unseen = 0, never_again = 0;
  for (const Kill& k : done_kills) {
    auto after = [&](Clock::time_point from, const std::string& kind) -> const FaultLog::Stamped* {
      for (auto& e : log.events)
        if (e.site == k.site && e.kind == kind && e.at >= from) return &e;
      return nullptr;
    };
    const auto* dead = after(k.at, "site_dead");
    if (!dead) {
      ++unseen;
      continue;
    }
    detect.push_back(since(k.at, dead->at));
    const auto* again = after(dead->at, "site_restarted");
    const auto* joined = again ? after(again->at, "site_rejoined") : nullptr;
    if (again) restart.push_back(since(k.at, again->at));
    bool trained = false;
    if (joined)
      for (auto& [round, at] : log.round_finished)
        if (at >= joined->at && log.reported[round].count(k.site)) {
          trains_again.push_back(since(k.at, at));
          trained = true;
          break;
        }
    never_again += !trained;
  }
  // Rounds: every one up to the last finished exactly once; site-rounds a live federation missed.
  const int planned = log.round_finished.empty() ? 0 : log.round_finished.rbegin()->first + 1;
  int missing_reports = 0;
  for (auto& [round, at] : log.round_finished) missing_reports += K - static_cast<int>(log.reported[round].size());
  // A rejoin's extra bytes: its hello / welcome, and its first StartRound beyond the site's median.
  double extra_start_bytes = 0;
  int rejoins = 0;
  for (auto& e : log.events) {
    if (e.kind != "site_rejoined") continue;
    int round = -1;
    for (auto& [rd, at] : log.round_finished)
      if (at > e.at) {
        round = rd;
        break;
      }
    if (round <= 0) continue;
    std::vector<double> site_rounds;
    for (auto& [key, bytes] : log.start_round_bytes)
      if (key.first == e.site) site_rounds.push_back(static_cast<double>(bytes));
    auto it = log.start_round_bytes.find({e.site, round});
    if (it != log.start_round_bytes.end()) extra_start_bytes += std::max(0.0, static_cast<double>(it->second) - median(site_rounds));
    ++rejoins;
  }
  const size_t n = done_kills.size();
  const double per_failure_missing = n ? static_cast<double>(missing_reports) / static_cast<double>(n) : 0.0;
  const double rejoin_bytes = rejoins ? (static_cast<double>(log.one_time_bytes_after_start) + extra_start_bytes) / rejoins : 0.0;
  const double max_detect = detect.empty() ? 0 : *std::max_element(detect.begin(), detect.end());
  if (format == "json") {
    nlohmann::json j = {{"experiment", path},
                        {"sites", K},
                        {"inner_steps", H},
                        {"kills", n},
                        {"detection_s", detect},
                        {"restart_s", restart},
                        {"trains_again_s", trains_again},
                        {"deaths_not_seen", unseen},
                        {"never_trained_again", never_again},
                        {"rounds_planned", planned},
                        {"rounds_finished", r->rounds},
                        {"stopped", r->stopped},
                        {"rounds_recorded", log.round_finished.size()},
                        {"site_rounds_without_report", missing_reports},
                        {"bytes_per_rejoin", rejoin_bytes},
                        {"wall_s", wall}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("\nfomoe bench faults: %s, K = %d sites, H = %d, %zu SIGKILLs (one random agent every %.1f s), %.0f s\n",
              path.c_str(), K, H, n, every_s, wall);
  std::printf("  death seen (kill -> site_dead)          median %.3f s, max %.3f s   (%d of %zu not seen)\n", median(detect),
              max_detect, unseen, n);
  std::printf("  restarted (kill -> site_restarted)      median %.2f s, max %.2f s\n", median(restart),
              restart.empty() ? 0 : *std::max_element(restart.begin(), restart.end()));
  std::printf("  trains again (kill -> a round it reported in)  median %.2f s, max %.2f s   (%d never did)\n",
              median(trains_again), trains_again.empty() ? 0 : *std::max_element(trains_again.begin(), trains_again.end()),
              never_again);
  int twice = 0;
  for (auto& [round, count] : log.finished_count) twice += count > 1;
  std::printf("  rounds: 0..%d, %zu finished, %d lost, %d finished more than once (redone after every site died)\n", planned - 1,
              log.round_finished.size(), planned - static_cast<int>(log.round_finished.size()), twice);
  std::printf("  site-rounds without a report: %d, %.2f per failure (x H = %.0f steps not contributed per failure)\n",
              missing_reports, per_failure_missing, per_failure_missing * H);
  std::printf("  bytes per rejoin beyond a round's own: %.0f (hello/welcome and a first StartRound above the site's median)\n",
              rejoin_bytes);
  return 0;
}

}  // namespace fomoe::cli
