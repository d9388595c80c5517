// The run event stream over ZeroMQ PUB/SUB, so a GUI on another machine can watch a run live.
// EventPublisher is a RunSink: each callback becomes one two-frame message, a topic frame
// ("run", "metrics", "links", "placement", "expert_load", "event", "checkpoint", "finished",
// "samples") and a
// compact JSON body with every field of the struct (lists are JSON arrays of objects).
// EventSubscriber decodes them back into the same structs and can replay them into any RunSink.
//
// Bodies (field names = struct member names):
//   run          {"run_id":7,"name":..,"method":..,"config_text":..,"git_revision":..,"n_sites":2}
//   metrics      [{"name":"train/loss","value":3.1,"step":10,"round":1,"site":-1,"wall_time":2.5},..]
//   links        [{"round":1,"site":0,"direction":"sent"|"received","msg_type":..,"bytes":..,"seconds":..},..]
//   placement    [{"round":1,"layer":0,"expert":3,"site":1},..]
//   expert_load  [{"round":1,"site":0,"layer":0,"expert":3,"tokens":1024},..]
//   event        {"time":1.5,"site":-1,"kind":"round_started","text":..}
//   checkpoint   {"round":3,"step":300,"path":..}
//   finished     {"status":"finished"|"failed"|..,"message":..}   (run_status_name)
//   samples      [{"round":2,"step":40,"prompt_index":0,"prompt":..,"text":..,"ended":false},..]
// Non-finite doubles are written as the strings "NaN", "Infinity", "-Infinity".
//
// Delivery is best effort (PUB/SUB): a subscriber that joins late misses earlier messages, and a
// slow one loses messages beyond the high-water marks. The run store is the durable record.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"
#include "fomoe/net/keys.h"

namespace fomoe::net {

/// One value per RunSink callback; the order matches StreamEvent's alternatives.
enum class StreamTopic { Run, Metrics, Links, Placement, ExpertLoad, Event, Checkpoint, Finished, Samples };

/// "run", "metrics", "links", "placement", "expert_load", "event", "checkpoint", "finished", "samples".
const char* stream_topic_name(StreamTopic topic);
std::optional<StreamTopic> stream_topic_from_name(std::string_view name);
const std::vector<StreamTopic>& all_stream_topics();

struct RunStarted {  // on_run_started
  int64_t run_id = 0;
  RunInfo info;
};

struct RunFinished {  // on_run_finished
  RunStatus status = RunStatus::Finished;
  std::string message;
};

/// A decoded event. Alternative index == static_cast<size_t>(StreamTopic).
using StreamEvent = std::variant<RunStarted, std::vector<MetricPoint>, std::vector<LinkBytes>,
                                 std::vector<PlacementEntry>, std::vector<ExpertLoadEntry>, RunEvent,
                                 CheckpointEntry, RunFinished, std::vector<SampleEntry>>;

StreamTopic topic_of(const StreamEvent& event);
/// The compact JSON body (see the table above). Never throws: invalid UTF-8 in strings is replaced.
std::string encode_stream_body(const StreamEvent& event);
/// Decodes one message. Errors (ErrorCode::Protocol) name the topic and the field at fault.
Expected<StreamEvent> decode_stream_event(std::string_view topic, std::string_view body);
/// Calls the RunSink callback that `event` came from.
void deliver(const StreamEvent& event, RunSink& sink);

struct EventPublisherOptions {
  std::string bind_address = "tcp://127.0.0.1:*";  // ':*' picks a free port; see endpoint()
  bool curve = false;                 // encrypt; subscribers then need server_keys.public_key
  CurveKeyPair server_keys;           // required with curve
  /// With curve: subscriber keys allowed by a ZAP handler; empty (and no allowed_keys_dir) = any
  /// subscriber that knows the server's public key.
  std::vector<std::string> allowed_public_keys;
  /// With curve: the subscriber keys of DIR/*.pub are allowed too (load_allow_list). The
  /// directory may be missing or empty at first: it is read again (at most once a second) when
  /// an unknown key knocks, so a watcher's NAME.pub copied there is admitted without a restart.
  /// Refused keys are logged once each (warning), with this directory as the remedy.
  std::string allowed_keys_dir;
  int send_hwm = 10000;               // messages queued per subscriber; beyond that PUB drops
  size_t max_queue = 100000;          // callbacks queued for the publisher thread; beyond: dropped
  int linger_ms = 200;                // on destruction, how long queued messages may still go out
};

struct PublisherStats {
  uint64_t published = 0;  // handed to the PUB socket
  uint64_t dropped = 0;    // dropped because the queue to the publisher thread was full
  uint64_t refused = 0;    // subscriber handshakes the allow-list refused (a peer retries: many)
};

/// True for a ZeroMQ address only this machine can reach: tcp://127.x.y.z:PORT,
/// tcp://localhost:PORT, tcp://[::1]:PORT, ipc://PATH, inproc://NAME. `fomoe run` publishes in
/// plaintext only there unless told otherwise (--publish-insecure).
bool is_loopback_address(std::string_view address);

/// A RunSink that publishes every callback. Callbacks only copy the event into a queue (never
/// block on the network); a dedicated thread owns the PUB socket, encodes and sends.
/// All methods are thread-safe.
class EventPublisher : public RunSink {
 public:
  /// Binds (and with curve and an allow-list, starts a ZAP handler). Errors name the address/key.
  static Expected<std::unique_ptr<EventPublisher>> create(EventPublisherOptions options);
  /// Sends what is still queued (bounded by linger_ms), then stops the thread.
  ~EventPublisher() override;
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  /// The bound address with the real port, e.g. "tcp://127.0.0.1:41234".
  std::string endpoint() const;
  /// Queues one event for publishing.
  void publish(StreamEvent event);
  PublisherStats stats() const;

  void on_run_started(int64_t run_id, const RunInfo& info) override;
  void on_metrics(const std::vector<MetricPoint>& points) override;
  void on_link_bytes(const std::vector<LinkBytes>& links) override;
  void on_placement(const std::vector<PlacementEntry>& placement) override;
  void on_expert_load(const std::vector<ExpertLoadEntry>& load) override;
  void on_event(const RunEvent& event) override;
  void on_checkpoint(const CheckpointEntry& checkpoint) override;
  void on_samples(const std::vector<SampleEntry>& samples) override;
  void on_run_finished(RunStatus status, const std::string& message) override;

 private:
  struct Impl;
  explicit EventPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct EventSubscriberOptions {
  std::string connect_address;        // the publisher's endpoint(), e.g. "tcp://10.0.0.5:5560"
  std::vector<StreamTopic> topics;    // empty = every topic
  bool curve = false;
  CurveKeyPair client_keys;           // required with curve
  std::string server_public_key;      // Z85; required with curve
  uint64_t max_message_bytes = 256ull << 20;  // larger frames are refused by ZeroMQ
  int receive_hwm = 100000;
  /// ZeroMQ gives up on a connection whose handshake the publisher refused (a key not in its
  /// allow-list) or that failed on the protocol (CURVE on one side only): connect again after
  /// this long, so a key added to the publisher's allow-list is admitted. 0 = never.
  int retry_refused_ms = 1000;
};

/// What the subscriber's socket monitor saw of its connection to the publisher. CURVE handshake
/// failures are otherwise silent in ZeroMQ: a refused or mismatched subscriber just receives
/// nothing (EventSubscriberOptions::retry_refused_ms says when it tries again).
struct SubscriberConnection {
  bool connected = false;     // a handshake succeeded and that connection is still open
  uint64_t tcp_connects = 0;  // TCP connections made (something listens there)
  uint64_t handshakes = 0;    // handshakes that succeeded
  uint64_t refused = 0;       // the publisher's allow-list refused our key (ZAP status 400)
  uint64_t failed = 0;        // other handshake failures: CURVE on one side only, a wrong server key
};

/// Receives and decodes the stream. Single-thread object (it owns a ZeroMQ socket).
class EventSubscriber {
 public:
  static Expected<std::unique_ptr<EventSubscriber>> create(EventSubscriberOptions options);
  ~EventSubscriber();
  EventSubscriber(const EventSubscriber&) = delete;
  EventSubscriber& operator=(const EventSubscriber&) = delete;

  /// Next valid event, or nullopt after `timeout`. Malformed messages are dropped (logged with
  /// the reason, counted in dropped()) and the wait goes on.
  std::optional<StreamEvent> poll(std::chrono::milliseconds timeout);
  /// Waits up to `timeout` for the first event, then also delivers every event that has already
  /// arrived, each into `sink`. Returns how many were delivered.
  size_t pump(RunSink& sink, std::chrono::milliseconds timeout);
  uint64_t dropped() const;
  /// The connection as of the last poll() / pump().
  SubscriberConnection connection() const;
  /// Why nothing arrives, for a person (the CLI's `fomoe watch` and the workbench's Attach say
  /// it after a few quiet seconds): "" while connected; otherwise what the monitor saw and what
  /// to do, e.g. that the publisher uses CURVE and this subscriber has no keys.
  std::string connection_problem() const;

 private:
  struct Impl;
  explicit EventSubscriber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fomoe::net
