// fomoe-agent: one site. Connects to the coordinator, says Hello with its CURVE key, is Welcomed
// with the experiment, its site id and residency, then for each round loads the broadcast
// parameters, trains H inner steps on its own shard (skip-token where it holds few experts), and
// reports its pseudo-gradient (or parameters, Photon) for what it holds. DDP: per-step gradients.
// Torch-free header; headless; no Qt.
#pragma once

#include <string>
#include <vector>

namespace fomoe {

struct AgentSettings {
  std::string connect;            // coordinator address, tcp://host:port (or:)
  std::string listen;             // bind here and let the coordinator connect (remote sites)
  std::string key_dir;            // holds NAME.key (this agent's secret) and server.pub
  std::string name = "agent";     // key file stem and display name
  bool curve = true;
  double bandwidth_mbps = 0.0;    // link emulation for this site (0 = off)
  double latency_ms = 0.0;
  double idle_timeout_s = 3600;   // exit when the coordinator stays silent this long
  int threads = 0;                // intra-op threads (0 = LibTorch's default)
  std::string devices;            // overrides run.device: "cuda:0,cuda:1" = one site on two GPUs
  bool exit_with_parent = false;  // local agents die with the process that started them
  // This site's own data: [data] keys as "key=value" (e.g. "format=jsonl", "path=/srv/a.jsonl"),
  // applied over the experiment's [data]; the coordinator never sees it. Empty: the experiment's
  // federation.site_data_paths entry for this site, else the shared data.
  std::vector<std::string> data;
};

/// Runs until Shutdown (0), a fatal error (1), or the idle timeout (3).
int run_agent(const AgentSettings& settings);

}  // namespace fomoe
