// What the federation process tests share: a tiny experiment (seconds per run on 2 cores), a
// sink that captures what a run reports, and running a local federation of real agent processes
// (the `fomoe` binary, FOMOE_CLI_PATH) in a fresh folder under the build tree.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fomoe/base/run_events.h"
#include "fomoe/config/experiment.h"
#include "fomoe/federation/local_federation.h"
#include "../tiny_experiment.h"
#include "spawn_cli.h"

namespace fomoe::test {

struct CapturingSink : RunSink {
  std::mutex mu;
  std::vector<LinkBytes> links;
  std::vector<RunEvent> events;
  std::vector<MetricPoint> metrics;
  void on_link_bytes(const std::vector<LinkBytes>& l) override {
    std::lock_guard<std::mutex> g(mu);
    links.insert(links.end(), l.begin(), l.end());
  }
  void on_event(const RunEvent& e) override {
    std::lock_guard<std::mutex> g(mu);
    events.push_back(e);
  }
  void on_metrics(const std::vector<MetricPoint>& m) override {
    std::lock_guard<std::mutex> g(mu);
    metrics.insert(metrics.end(), m.begin(), m.end());
  }
  bool has_event(const std::string& kind) {
    std::lock_guard<std::mutex> g(mu);
    for (auto& e : events)
      if (e.kind == kind) return true;
    return false;
  }
  /// Blocks (from a test's own thread) until the run reported such an event, at most 120 s.
  bool wait_for_event(const std::string& kind, std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!has_event(kind)) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      std::this_thread::sleep_for(poll);
    }
    return true;
  }
};

inline ExperimentConfig tiny(Method method, int sites) {
  ExperimentConfig c = tiny_experiment(method, sites);
  c.run.name = std::string("test-") + method_name(method);
  c.train.steps = 8;
  c.train.batch_size = 4;
  c.train.warmup_steps = 2;
  c.train.eval_batches = 2;
  c.train.eval_every = 0;
  c.federation.inner_steps = 4;
  c.federation.replication = 1;
  c.federation.round_timeout_s = 60;
  return c;
}

inline std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::path(FOMOE_BINARY_DIR) / "test-runs" / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline Expected<FederationResult> run(const ExperimentConfig& c, const std::string& name, RunSink* sink = nullptr,
                               LocalFederationOptions o = {}, std::function<bool(const RoundProgress&)> progress = {}) {
  o.self_exe = FOMOE_CLI_PATH;
  o.run_dir = fresh_dir(name).string();
  o.sink = sink;
  o.run_id = 42;
  return run_federation(c, o, progress);
}

}  // namespace fomoe::test
