// ZeroMQ transport for the federation: CoordinatorEndpoint (ROUTER, CURVE server with a ZAP
// allow-list) and AgentEndpoint (DEALER, CURVE client, optional link emulation). Usually the
// coordinator binds and agents connect; for sites that only accept inbound connections the agent
// binds (AgentOptions::bind_address, `fomoe agent --listen`) and the coordinator connects to it
// (CoordinatorOptions::connect_addresses). CURVE roles do not change with the direction.
// Both decode with protocol.h, drop every malformed / replayed / spoofed message with a logged
// reason (never crash), and record every message in a ByteCounter. ZeroMQ stays behind a pimpl.
// Liveness is the transport's: kernel TCP timeouts (heartbeat_s) and a socket monitor tell the
// coordinator which sites' connections closed (take_lost_sites) and the agent when its link went
// away and came back (connected, take_reconnected). What a lost site means for a run is the
// federation's.
// Each endpoint is used from ONE thread (ZeroMQ sockets are not thread-safe); the ByteCounter
// may be shared and read from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/net/byte_counter.h"
#include "fomoe/net/keys.h"
#include "fomoe/net/protocol.h"

namespace fomoe::net {

/// Emulated WAN link, applied by the agent to both directions: before sending and after receiving
/// it sleeps latency_s + bytes * 8 / bandwidth_bits_per_s. K agents emulate K links in parallel.
struct LinkEmulator {
  double bandwidth_bits_per_s = 0.0;  // 0 = unlimited
  double latency_s = 0.0;             // one-way

  double delay_seconds(uint64_t bytes) const;
};

struct SendResult {
  uint64_t bytes = 0;          // sum of frame sizes (see byte_counter.h)
  double link_seconds = 0.0;   // emulated link time spent before the send
};

/// Counts of messages an endpoint dropped, by reason class.
struct DropStats {
  uint64_t malformed = 0;    // decode() rejected it
  uint64_t replayed = 0;     // ReplayGuard rejected it
  uint64_t unexpected = 0;   // spoofed sender, wrong run, message before Hello/Welcome
  uint64_t refused_keys = 0; // CURVE handshakes the ZAP handler refused (coordinator only)
};

struct CoordinatorOptions {
  std::string bind_address = "tcp://127.0.0.1:*";  // ':*' picks a free port; see endpoint(); "" = no bind
  /// Listening agents (`fomoe agent --listen ADDR`) to connect to after binding. ZeroMQ reconnects
  /// on its own (every ~100 ms) until the agent is up. bind_address and this may not both be empty.
  std::vector<std::string> connect_addresses;
  bool curve = true;                 // false only for plumbing tests
  CurveKeyPair server_keys;          // required with curve
  std::vector<std::string> allowed_public_keys;  // Z85; required (non-empty) with curve
  uint64_t run_id = 0;               // 0 = accept any run id; else non-Hello messages must match
  DecodeLimits limits;
  ByteCounter* counter = nullptr;    // not owned; nullptr = do not count
  int send_timeout_ms = 30000;       // a send blocked this long (peer gone / HWM) fails
  int linger_ms = 1000;
  /// Liveness timeout of every connection, kept by the kernel's TCP (TCP_USER_TIMEOUT =
  /// heartbeat_s, keepalive probes every second after one idle second): a connection on which the
  /// peer has acknowledged nothing for heartbeat_s is closed and reported by take_lost_sites. A
  /// link that dies, idle or in the middle of a transfer, shows after about heartbeat_s (measured
  /// 3.0 .. 3.4 s at the default, 1.4 .. 2.0 s at 1 s, and hardly less below: keepalive ticks in
  /// whole seconds; a sender whose own interface lost its carrier notices ~2 s later). TCP counts
  /// every ACK, not whole frames, so a slow but alive link is safe however long a tensor takes on
  /// the wire. Size heartbeat_s above the link's worst round trip, queueing included. A connection
  /// attempt unanswered for heartbeat_s is dropped and retried, so a link that comes back is used
  /// again soon. A peer whose kernel ACKs is alive here: a process that is stopped, hung or busy
  /// training is left to the federation's round timeout (unless it stops reading while a large
  /// message waits for it: its receive window shuts and the sender times out after heartbeat_s).
  /// A process that dies closes its connection and is reported at once. 0 = off (OS defaults):
  /// a dead link is never noticed. Use the same value on both ends (each times out its own side).
  double heartbeat_s = 3.0;
};

struct Incoming {
  uint64_t peer = 0;       // connection handle; stable while the agent stays connected
  int site = kUnassignedSite;  // bound site, kUnassignedSite before its Welcome
  std::string public_key;  // Z85 CURVE key the peer authenticated with ("" without CURVE)
  uint64_t wire_bytes = 0;
  Message message;
};

class CoordinatorEndpoint {
 public:
  /// Binds, and with CURVE starts the ZAP handler thread. Errors name the address / key at fault.
  static Expected<std::unique_ptr<CoordinatorEndpoint>> create(CoordinatorOptions options);
  ~CoordinatorEndpoint();
  CoordinatorEndpoint(const CoordinatorEndpoint&) = delete;
  CoordinatorEndpoint& operator=(const CoordinatorEndpoint&) = delete;

  /// The bound address with the real port, e.g. "tcp://127.0.0.1:41234"; "" when not bound.
  std::string endpoint() const;
  /// Connects the ROUTER to one more listening agent (as connect_addresses does at creation).
  Status connect(const std::string& address);

  /// Next valid message, or nullopt after `timeout`. Malformed, replayed or spoofed messages are
  /// dropped (logged, counted) and the wait goes on. A Hello whose public_key differs from the
  /// CURVE key the peer authenticated with is dropped too. Returns nullopt early when the
  /// connection of a bound site closes (see take_lost_sites). What a closed connection left
  /// queued is still delivered while its site is bound, and dropped once it is unbound.
  std::optional<Incoming> poll(std::chrono::milliseconds timeout);
  /// Bound sites whose connection closed (peer process gone, or nothing ACKed for heartbeat_s)
  /// since the last call, ascending, each reported once. The caller marks them dead and
  /// unbind_site()s them; the agent rejoins later with a new Hello. Unbound peers that go away are
  /// forgotten without a report. A site that is bound again (bind_site / Welcome) before this
  /// call is not reported for its old connection.
  std::vector<int> take_lost_sites();

  /// Sends to a bound site. Fills header.sender (coordinator) and header.seq.
  Expected<SendResult> send(int site, Message msg);
  /// Sends one message to several bound sites, encoding it once and sharing the tensor frames
  /// between the copies (no per-site copy of a large model). All copies carry the same seq.
  /// Stops at the first failing site; the error names it.
  Expected<SendResult> broadcast(const std::vector<int>& sites, Message msg);
  /// Sends to a connection; sending a Welcome binds the peer to meta.site_id first.
  Expected<SendResult> send_to_peer(uint64_t peer, Message msg);
  /// Binds a connection to a site id (replacing an earlier binding of that site).
  Status bind_site(uint64_t peer, int site);
  void unbind_site(int site);
  std::vector<int> bound_sites() const;

  /// Adds a key to the allow-list at run time (thread-safe).
  void allow_key(const std::string& public_key);
  DropStats drops() const;

 private:
  struct Impl;
  explicit CoordinatorEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct AgentOptions {
  /// Exactly one of the two: connect to a binding coordinator, or bind and let the coordinator
  /// connect (the site accepts only inbound connections; the coordinator lists this address in
  /// CoordinatorOptions::connect_addresses).
  std::string connect_address;       // e.g. "tcp://10.0.0.5:5555"
  std::string bind_address;          // e.g. "tcp://0.0.0.0:5556"; ':*' picks a free port
  /// Bind mode: messages sent before the coordinator has connected (or while its queue is full)
  /// wait in the endpoint and go out from poll()/send(); more than this many pending is an error.
  size_t max_pending = 16;
  bool curve = true;
  CurveKeyPair client_keys;          // required with curve
  std::string server_public_key;     // Z85; required with curve
  DecodeLimits limits;
  ByteCounter* counter = nullptr;    // not owned; nullptr = do not count
  std::optional<LinkEmulator> link;  // nullopt = no emulation
  int send_timeout_ms = 30000;
  int linger_ms = 1000;
  double heartbeat_s = 3.0;  // TCP liveness timeout, as CoordinatorOptions::heartbeat_s; 0 = off
};

struct Inbound {
  Message message;
  uint64_t wire_bytes = 0;
  double link_seconds = 0.0;  // emulated delay applied after receipt
};

class AgentEndpoint {
 public:
  static Expected<std::unique_ptr<AgentEndpoint>> create(AgentOptions options);
  ~AgentEndpoint();
  AgentEndpoint(const AgentEndpoint&) = delete;
  AgentEndpoint& operator=(const AgentEndpoint&) = delete;

  /// Fills header.sender (site id once welcomed, else kUnassignedSite) and header.seq; with link
  /// emulation, sleeps for the link delay first. In bind mode it never waits for the coordinator:
  /// a message that cannot go out yet is kept (pending()) and sent by a later poll()/send(); bytes
  /// are counted when send() accepts the message.
  Expected<SendResult> send(Message msg);
  /// Next valid coordinator message or nullopt after `timeout` (emulated receive delay comes on
  /// top). A Welcome sets site() and run_id(). In bind mode it also sends pending messages as
  /// soon as the coordinator has connected. Returns nullopt early when the connection to the
  /// coordinator comes back after a loss (take_reconnected() is then true).
  std::optional<Inbound> poll(std::chrono::milliseconds timeout);

  /// With link emulation: on, send() and poll() do not sleep for the link; a message crosses it in
  /// the background (one after another per direction, from when it was handed over or read) and
  /// goes to ZeroMQ, or comes out of poll(), when its last byte would have arrived, so the caller
  /// can compute meanwhile (as with a real link). Off again: waits until what is crossing is sent.
  void set_link_in_background(bool on);
  /// Background link: moves what is due (sends, and starts received messages crossing). Call it
  /// between units of work so arrivals are stamped on time.
  void pump();

  /// True while a connection to the coordinator has completed its (CURVE) handshake and not
  /// closed since: connect mode, our connection; bind mode, an accepted one.
  bool connected() const;
  /// True once after the connection was lost and is up again (ZeroMQ reconnects by itself; in
  /// bind mode the coordinator reconnects). The coordinator has likely dropped this site by then,
  /// and what was in flight may be lost: send Hello again to rejoin. The first connection does
  /// not count.
  bool take_reconnected();

  /// Bind mode: the bound address with the real port (e.g. "tcp://127.0.0.1:41234"); connect
  /// mode: the connect address.
  std::string endpoint() const;
  /// Bind mode: messages accepted by send() that have not reached ZeroMQ yet (always 0 otherwise).
  size_t pending() const;

  int site() const;
  uint64_t run_id() const;
  double link_seconds_total() const;  // all emulated delay so far, both directions
  /// True once the coordinator refused our CURVE key (ZAP 400): fix the allow-list.
  bool auth_failed() const;
  DropStats drops() const;

 private:
  struct Impl;
  explicit AgentEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fomoe::net
