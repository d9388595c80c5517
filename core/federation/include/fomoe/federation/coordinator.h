// The coordinator: fp32 master copy and outer optimizer (GlobalModel), the placement plan, the
// round state machine (start round -> collect -> aggregate -> outer step -> broadcast), failure
// handling (timeouts, dead sites, rejoin, quorum), and the event stream to a RunSink.
// A core object with no Qt; the CLI and the workbench host it. Torch-free header (pimpl).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"
#include "fomoe/config/experiment.h"
#include "fomoe/net/keys.h"

namespace fomoe {

struct CoordinatorSettings {
  ExperimentConfig cfg;
  std::string bind = "tcp://127.0.0.1:*";        // "" = do not bind (connect only)
  std::vector<std::string> connect_addresses;    // listening agents (`fomoe agent --listen`)
  bool curve = true;
  net::CurveKeyPair server_keys;
  std::vector<std::string> agent_public_keys;  // allow-list; position = site id of that key
  std::string state_path;                      // saved after every round ("" = no resume file)
  bool resume = false;                         // continue from state_path's last completed round
  RunSink* sink = nullptr;                     // not owned; receives every event
  uint64_t run_id = 0;                         // carried in every wire header
  double join_timeout_s = 300;                 // all K sites must say Hello within this
};

struct RoundProgress {
  int round = 0;          // completed rounds
  int total_rounds = 0;
  long step = 0;          // inner steps done per site
  double train_loss = 0;  // mean over reporting sites
  double eval_loss = -1;  // global model, -1 before the first evaluation
  int alive_sites = 0;
  int64_t bytes_total = 0;
  double elapsed_s = 0;
};

struct SiteTotals {
  int64_t bytes_sent = 0;      // coordinator -> site
  int64_t bytes_received = 0;  // site -> coordinator
};

struct FederationResult {
  int rounds = 0;
  long steps = 0;
  double final_eval_loss = 0;
  double final_train_loss = 0;
  std::vector<SiteTotals> sites;
  int64_t bytes_total = 0;
  double wall_s = 0;
  double tokens = 0;           // trained tokens, all sites
  double compute_s_mean = 0;   // per site per round
  double comm_s_mean = 0;
  double wait_s_mean = 0;
  std::vector<int64_t> params_per_site;
  std::vector<std::string> faults;  // one line per fault event
};

class Coordinator {
 public:
  static Expected<std::unique_ptr<Coordinator>> create(CoordinatorSettings settings);
  ~Coordinator();
  /// The bound address agents connect to (real port).
  std::string endpoint() const;
  /// Runs every round; blocking. progress returning false cancels (the run ends cleanly).
  Expected<FederationResult> run(const std::function<bool(const RoundProgress&)>& progress = {});
  /// Thread-safe; the run stops after the current round.
  void request_stop();

 private:
  struct Impl;
  explicit Coordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fomoe
