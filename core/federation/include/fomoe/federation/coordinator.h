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

/// The processes of local sites, as their parent sees them: an exit is known at once (no timeout),
/// and a dead site can be started again. run_federation implements it for local agents.
class SiteSupervisor {
 public:
  virtual ~SiteSupervisor() = default;
  /// Sites whose process exited since the last call, with how ("killed by signal 9 (SIGKILL)").
  virtual std::vector<std::pair<int, std::string>> exited() = 0;
  /// Starts the site's process again; false (and why) when it cannot.
  virtual bool restart(int site, std::string* why) = 0;
};

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
  SiteSupervisor* supervisor = nullptr;        // local sites: exits seen at once, restarts (not owned)
  /// Set (e.g. from a SIGINT handler) to stop at the next safe point: a round in flight is
  /// abandoned, the state saved after the last completed round stays the one to resume from.
  const std::atomic<bool>* stop_now = nullptr;
  /// Added to every event and metric time: a resumed run's clock goes on from where the record's
  /// earlier sessions left it (seconds since the record's start), so its times never go back.
  double wall_offset_s = 0.0;
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
  bool stopped = false;             // ended by a stop request before its last round
  int first_round = 0;              // 0, or the round a resumed run continued from
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
