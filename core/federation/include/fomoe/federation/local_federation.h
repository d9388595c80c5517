// Runs a whole federation from one experiment: K local agent processes on this machine over
// loopback TCP (the embedded default), or the remote agents the experiment lists. Generates the
// CURVE keys of a local run, starts and stops the agent processes, hosts the Coordinator.
#pragma once

#include <functional>
#include <string>

#include "fomoe/federation/coordinator.h"

namespace fomoe {

struct LocalFederationOptions {
  std::string self_exe;        // the `fomoe` binary, started as `fomoe agent ...` per site
  std::string run_dir;         // keys, agent logs and coordinator state go here
  RunSink* sink = nullptr;
  bool resume = false;
  uint64_t run_id = 0;
  const std::atomic<bool>* stop_now = nullptr;  // see CoordinatorSettings::stop_now
  double wall_offset_s = 0.0;                    // see CoordinatorSettings::wall_offset_s
  /// Called once the coordinator is bound and the agents are started (tests use it to kill one).
  std::function<void(const std::vector<int>& agent_pids, const std::string& endpoint, const std::string& key_dir)> on_started;
};

/// The coordinator's CURVE key directory: federation.key_dir, else RUN_DIR/keys. It holds
/// server.key / server.pub (the coordinator's key pair: agents and watchers hold server.pub) and,
/// for a local run, the generated site-K keys.
std::string coordinator_key_dir(const ExperimentConfig& cfg, const std::string& run_dir);
/// The coordinator's key pair, KEY_DIR/server.key: a local run makes it when missing (and keeps
/// it for later runs in that directory); remote sites need the operator's
/// (`fomoe keygen --out KEY_DIR --name server`).
Expected<net::CurveKeyPair> coordinator_server_keys(const ExperimentConfig& cfg, const std::string& run_dir);

Expected<FederationResult> run_federation(const ExperimentConfig& cfg, const LocalFederationOptions& options,
                                          const std::function<bool(const RoundProgress&)>& progress = {});

}  // namespace fomoe
