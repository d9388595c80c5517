// The run event stream as plain structs, and RunSink, the one interface producers fan out to.
// Producers: trainer (single site), coordinator (federation). Consumers: run store, ZMQ PUB, GUI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/metric_names.h"

namespace fomoe {

// Stopped: ended on request (SIGINT, SIGTERM, the workbench's Stop) at a safe point with its state
// saved, so `--resume` can continue the same run. Cancelled: ended on request without that promise.
enum class RunStatus { Running, Finished, Failed, Interrupted, Cancelled, Stopped };
const char* run_status_name(RunStatus status);

enum class Direction { Sent, Received };  // seen from the coordinator: Sent = coordinator -> site

struct RunInfo {
  std::string name;
  std::string method;        // "single", "ddp", "diloco", "photon", "fomoe"
  std::string config_text;   // the full experiment TOML as run
  std::string git_revision;
  int n_sites = 1;
};

struct LinkBytes {
  int round = 0;
  int site = 0;
  Direction direction = Direction::Sent;
  std::string msg_type;  // wire message type name, e.g. "pseudo_grad"
  int64_t bytes = 0;
  double seconds = 0.0;  // time the transfer took (emulated link time included)
};

struct PlacementEntry {
  int round = 0;
  int layer = 0;
  int expert = 0;
  int site = 0;
};

struct ExpertLoadEntry {
  int round = 0;
  int site = 0;
  int layer = 0;
  int expert = 0;
  int64_t tokens = 0;  // token-slots the site's router sent to this expert in the round (before
                       // skip-token: only a holder processes them; skip rate = the rest)
};

struct RunEvent {
  double time = 0.0;  // seconds since run start
  int site = -1;      // -1 = coordinator
  std::string kind;   // "round_started", "round_finished", "site_dead", "site_joined", "fault", ...
  std::string text;
};

// The global model's greedy continuation of one of the experiment's fixed prompts
// (train.sample_prompts), taken after an evaluation: what the model has learned, in words.
struct SampleEntry {
  int round = -1;        // -1: a single-site run
  long step = 0;
  int prompt_index = 0;  // into train.sample_prompts
  std::string prompt;
  std::string text;      // the continuation, without the prompt
  bool ended = false;    // the model ended the document (its end-of-document token) before sample_tokens
};

struct CheckpointEntry {
  int round = 0;
  long step = 0;
  std::string path;
};

/// Receives a run's events. Calls come from the producer's thread; implementations must not block
/// for long (the store queues to its writer thread, the GUI bridge posts to the GUI thread).
class RunSink {
 public:
  virtual ~RunSink() = default;
  virtual void on_run_started(int64_t run_id, const RunInfo& info) {}
  virtual void on_metrics(const std::vector<MetricPoint>& points) {}
  virtual void on_link_bytes(const std::vector<LinkBytes>& links) {}
  virtual void on_placement(const std::vector<PlacementEntry>& placement) {}
  virtual void on_expert_load(const std::vector<ExpertLoadEntry>& load) {}
  virtual void on_event(const RunEvent& event) {}
  virtual void on_checkpoint(const CheckpointEntry& checkpoint) {}
  virtual void on_samples(const std::vector<SampleEntry>& samples) {}
  virtual void on_run_finished(RunStatus status, const std::string& message) {}
  /// The producer continues this run from saved state holding rounds 0..from_round-1 (rounds are
  /// 0-based; from_round is the first round it runs now, the round count the state was saved
  /// with): rows already recorded for rounds >= from_round came from a round the state does not
  /// include (the producer died or was stopped during it) and that round will be redone. Call it
  /// after on_run_started for the resumed run and before any row of the redone rounds, the
  /// placement for from_round included (the store drops rows of rounds >= from_round queued
  /// before the call).
  virtual void on_resumed(int from_round) {}
  /// Makes everything received so far durable (the coordinator calls it before it saves a
  /// round's state, so no completed round can be missing from the record after a crash).
  virtual void sync() {}
};

/// Forwards every call to several sinks, in order (store recorder, event publisher, GUI bridge).
class RunSinkFanout : public RunSink {
 public:
  void add(RunSink* sink) {
    if (sink) sinks_.push_back(sink);
  }
  void on_run_started(int64_t id, const RunInfo& info) override { for (auto* s : sinks_) s->on_run_started(id, info); }
  void on_metrics(const std::vector<MetricPoint>& p) override { for (auto* s : sinks_) s->on_metrics(p); }
  void on_link_bytes(const std::vector<LinkBytes>& l) override { for (auto* s : sinks_) s->on_link_bytes(l); }
  void on_placement(const std::vector<PlacementEntry>& p) override { for (auto* s : sinks_) s->on_placement(p); }
  void on_expert_load(const std::vector<ExpertLoadEntry>& l) override { for (auto* s : sinks_) s->on_expert_load(l); }
  void on_event(const RunEvent& e) override { for (auto* s : sinks_) s->on_event(e); }
  void on_checkpoint(const CheckpointEntry& c) override { for (auto* s : sinks_) s->on_checkpoint(c); }
  void on_samples(const std::vector<SampleEntry>& v) override { for (auto* s : sinks_) s->on_samples(v); }
  void on_run_finished(RunStatus st, const std::string& m) override { for (auto* s : sinks_) s->on_run_finished(st, m); }
  void on_resumed(int from_round) override { for (auto* s : sinks_) s->on_resumed(from_round); }
  void sync() override { for (auto* s : sinks_) s->sync(); }

 private:
  std::vector<RunSink*> sinks_;
};

}  // namespace fomoe
