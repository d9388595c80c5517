#include "fomoe/net/endpoint.h"

#include <cerrno>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <deque>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "fomoe/base/log.h"
#include "socket_monitor.h"
#include "zap_handler.h"

namespace fomoe::net {
namespace {

constexpr const char* kLogModule = "net";
constexpr size_t kZeroCopyMin = 4096;  // frames at least this big are handed to ZeroMQ without a copy

using Clock = std::chrono::steady_clock;

void free_string(void* /*data*/, void* hint) { delete static_cast<std::string*>(hint); }

zmq::message_t to_zmq(std::string&& frame) {
  if (frame.size() < kZeroCopyMin) return zmq::message_t(frame.data(), frame.size());
  auto* owned = new std::string(std::move(frame));
  return zmq::message_t(owned->data(), owned->size(), free_string, owned);
}

// Starting sequence numbers from the wall clock keeps them increasing across process restarts,
// so a restarted peer is not mistaken for a replay.
uint64_t initial_seq() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

void sleep_seconds(double seconds) {
  if (seconds <= 0) return;
  const auto deadline =
      Clock::now() + std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < deadline) std::this_thread::sleep_until(deadline);
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

Status set_key_option(zmq::socket_t& s, int option, const std::string& z85, const char* what) {
  if (!is_valid_z85_key(z85))
    return make_error(ErrorCode::InvalidArgument,
                      std::string(what) + " is not a 40-character Z85 CURVE key: create keys with "
                                          "`fomoe keygen --out DIR --name NAME`");
  if (zmq_setsockopt(s.handle(), option, z85.data(), z85.size()) != 0)
    return make_error(ErrorCode::InvalidArgument,
                      std::string("cannot set ") + what + ": " + zmq_strerror(zmq_errno()));
  return Status::ok();
}

void common_socket_options(zmq::socket_t& s, const DecodeLimits& limits, int send_timeout_ms,
                           int linger_ms) {
  // Per-frame cap enforced by libzmq before the bytes reach us; the peer is disconnected.
  const uint64_t cap = std::min<uint64_t>(limits.max_message_bytes, INT64_MAX);
  s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(cap));
  s.set(zmq::sockopt::sndtimeo, send_timeout_ms);
  s.set(zmq::sockopt::linger, linger_ms);
}

std::string short_key(const std::string& key) { return key.empty() ? "(none)" : key; }

// heartbeat_s's bound from the ZMTP-heartbeat days (TTL in deciseconds in a u16): configs that
// were valid stay valid.
constexpr double kMaxHeartbeatS = 6553.0;
// Linux refuses TCP_KEEPCNT above 127 (MAX_TCP_KEEPCNT), and libzmq then closes every connection
// it makes or accepts: none ever comes up.
constexpr int kMaxKeepaliveCount = 127;

// Liveness is the kernel's TCP, not ZMTP heartbeats. A ZMTP heartbeat timeout only counts complete
// frames as traffic (libzmq #2709): a tensor that takes longer than the timeout to cross a slow
// link has its connection cut and is lost, and WAN links carry frames of minutes. TCP counts
// every ACK, so a slow but alive transfer is never cut:
//   - TCP_USER_TIMEOUT (ZMQ_TCP_MAXRT on Linux): data unacknowledged for heartbeat_s closes the
//     connection (a link dead while we send);
//   - keepalive probes every second after one idle second (a link dead while nothing is sent):
//     TCP_USER_TIMEOUT also bounds how long they may go unanswered, in place of keepalive's probe
//     count, so a dead idle link closes after about heartbeat_s too. KEEPALIVE_CNT only matters
//     where TCP_USER_TIMEOUT is missing;
//   - ZMQ_CONNECT_TIMEOUT: a connection attempt unanswered for heartbeat_s is dropped and
//     retried, so a link that comes back is used again within about heartbeat_s, not after the
//     kernel's SYN backoff (SYNs into a dead link are resent after 1, 3, 7, .. 63 s).
// ZMTP heartbeats stay off (libzmq's default) rather than PINGs with a huge timeout: any timeout
// brings the #2709 cut back (an unset HEARTBEAT_TIMEOUT defaults to the interval), and PINGs
// without one only add traffic the keepalive probes already make (they keep NAT entries fresh
// too). A process that dies closes its connection at once either way; a peer whose kernel still
// ACKs (a stopped or hung process) is the federation's round timeout's to judge.
Status liveness_options(zmq::socket_t& s, double heartbeat_s) {
  if (!(heartbeat_s >= 0.0) || heartbeat_s > kMaxHeartbeatS)
    return make_error(ErrorCode::InvalidArgument,
                      "heartbeat_s must be 0 (off) or a number of seconds up to 6553, got " +
                          std::to_string(heartbeat_s));
  if (heartbeat_s == 0.0) return Status::ok();  // the OS defaults: no keepalive, no user timeout
  const int ms = std::max(1, static_cast<int>(std::lround(heartbeat_s * 1000.0)));
  s.set(zmq::sockopt::tcp_keepalive, 1);
  s.set(zmq::sockopt::tcp_keepalive_idle, 1);   // seconds
  s.set(zmq::sockopt::tcp_keepalive_intvl, 1);  // seconds
  s.set(zmq::sockopt::tcp_keepalive_cnt,
        std::clamp(static_cast<int>(std::ceil(heartbeat_s)), 1, kMaxKeepaliveCount));
  s.set(zmq::sockopt::tcp_maxrt, ms);  // TCP_USER_TIMEOUT
  s.set(zmq::sockopt::connect_timeout, ms);
  return Status::ok();
}

}  // namespace

double LinkEmulator::delay_seconds(uint64_t bytes) const {
  double d = latency_s > 0 ? latency_s : 0.0;
  if (bandwidth_bits_per_s > 0) d += static_cast<double>(bytes) * 8.0 / bandwidth_bits_per_s;
  return d;
}

// =============================================================================================
// Coordinator
// =============================================================================================

struct CoordinatorEndpoint::Impl {
  CoordinatorOptions opt;
  zmq::context_t ctx;  // declared first: destroyed last
  std::unique_ptr<ZapHandler> zap;  // before router: destroyed after it, before ctx
  zmq::socket_t router;
  std::string endpoint;

  std::map<std::string, uint64_t> peer_of_identity;
  std::map<uint64_t, std::string> identity_of_peer;
  std::map<uint64_t, int> site_of_peer;
  std::map<int, uint64_t> peer_of_site;
  uint64_t next_peer = 1;

  ReplayGuard guard;
  uint64_t seq = initial_seq();
  DropStats drops;

  // ---- liveness: which peer's connection closed (take_lost_sites) ----
  // The monitor names connections by file descriptor (ACCEPTED / CONNECTED open one, DISCONNECTED
  // closes it, TCP timeouts included); messages name theirs by ZMQ_SRCFD. libzmq 4.3 has
  // nothing better without its DRAFT API (ZMQ_ROUTER_NOTIFY, monitor v2): Peer-Address is only
  // the IP. fd numbers are reused, so each opened connection gets its own id, and a message only
  // (re)links its peer to the connection on its fd when that cannot be a stale leftover.
  zmq::socket_t monitor;  // after router: closed before it
  bool monitoring = false;
  struct Conn {
    uint64_t id = 0;
    bool outgoing = false;  // we connected (connect_addresses): the session, and the peer's
                            // identity, outlive the connection and reconnect to `address`
    std::string address;    // outgoing: the agent's address; accepted: our bound endpoint
  };
  enum class LinkKind { Unknown, Accepted, Outgoing };
  struct Link {
    uint64_t conn = 0;  // live connection id; 0 = closed (the peer is down)
    LinkKind kind = LinkKind::Unknown;
    std::string address;
    bool loss_pending = false;  // bound and lost, not yet returned by take_lost_sites
  };
  std::map<int, Conn> conn_of_fd;  // connections the ROUTER holds now
  std::map<uint64_t, uint64_t> peer_of_conn;
  std::map<uint64_t, Link> link_of_peer;
  // Identities of closed accepted connections (never reused by the ROUTER): what they still have
  // queued is dropped once they are unbound. Bounded: the oldest are forgotten.
  std::set<std::string> gone_identities;
  std::deque<std::string> gone_order;
  uint64_t next_conn = 1;
  uint64_t n_bound_losses = 0;  // poll() returns early when this moves

  ~Impl() {
    if (monitoring) zmq_socket_monitor(router.handle(), nullptr, 0);
  }
  void drain_monitor();
  void note_peer_fd(uint64_t peer, int fd);
  void link_peer(uint64_t peer, const Conn& conn);
  void connection_lost(uint64_t peer);
  void forget(uint64_t peer);

  uint64_t peer_for(const std::string& identity);
  int site_of(uint64_t peer) const {
    auto it = site_of_peer.find(peer);
    return it == site_of_peer.end() ? kUnassignedSite : it->second;
  }
  Expected<SendResult> send_identity(const std::string& identity, int site, Message msg);
  Status connect(const std::string& address);
};

uint64_t CoordinatorEndpoint::Impl::peer_for(const std::string& identity) {
  auto it = peer_of_identity.find(identity);
  if (it != peer_of_identity.end()) return it->second;
  const uint64_t peer = next_peer++;
  peer_of_identity.emplace(identity, peer);
  identity_of_peer.emplace(peer, identity);
  return peer;
}

void CoordinatorEndpoint::Impl::drain_monitor() {
  if (!monitoring) return;
  while (auto ev = next_monitor_event(monitor)) {
    const int fd = static_cast<int>(ev->value);
    if (ev->event == ZMQ_EVENT_ACCEPTED || ev->event == ZMQ_EVENT_CONNECTED) {
      // An earlier connection on this fd number has closed: its DISCONNECTED came first.
      FOMOE_LOG_DEBUG(kLogModule, "connection %llu %s %s on fd %d",
                      static_cast<unsigned long long>(next_conn),
                      ev->event == ZMQ_EVENT_CONNECTED ? "to" : "accepted on", ev->address.c_str(), fd);
      conn_of_fd[fd] = Conn{next_conn++, ev->event == ZMQ_EVENT_CONNECTED, std::move(ev->address)};
    } else if (ev->event == ZMQ_EVENT_DISCONNECTED) {
      auto c = conn_of_fd.find(fd);
      if (c == conn_of_fd.end()) continue;
      const uint64_t id = c->second.id;
      FOMOE_LOG_DEBUG(kLogModule, "connection %llu on fd %d closed", static_cast<unsigned long long>(id), fd);
      conn_of_fd.erase(c);
      auto p = peer_of_conn.find(id);
      if (p == peer_of_conn.end()) continue;  // closed before it sent anything
      const uint64_t peer = p->second;
      peer_of_conn.erase(p);
      auto l = link_of_peer.find(peer);
      if (l != link_of_peer.end() && l->second.conn == id) connection_lost(peer);
    }
  }
}

// Called for every received message, after drain_monitor(): the ACCEPTED / CONNECTED of the
// message's connection, and the DISCONNECTED of any earlier one on the same fd, are in.
void CoordinatorEndpoint::Impl::note_peer_fd(uint64_t peer, int fd) {
  auto c = conn_of_fd.find(fd);
  auto l = link_of_peer.find(peer);
  if (c == conn_of_fd.end()) {
    // Read after its connection closed. A peer first seen here is down from the start: if it is
    // bound anyway, bind_site reports it.
    if (l == link_of_peer.end()) link_of_peer.emplace(peer, Link{});
    return;
  }
  const Conn& conn = c->second;
  if (l != link_of_peer.end()) {
    const Link& k = l->second;
    if (k.conn == conn.id) return;
    const bool same_session =
        k.kind == LinkKind::Outgoing && conn.outgoing && conn.address == k.address;
    // Else a leftover from the peer's closed connection, read after its fd was reused.
    if (k.kind != LinkKind::Unknown && !same_session) return;
  }
  link_peer(peer, conn);
}

void CoordinatorEndpoint::Impl::link_peer(uint64_t peer, const Conn& conn) {
  auto prev = peer_of_conn.find(conn.id);
  if (prev != peer_of_conn.end() && prev->second != peer) {
    // One connection carries one identity: the other peer's only message was a leftover from a
    // closed connection, so that peer is gone.
    const uint64_t other = prev->second;
    auto ol = link_of_peer.find(other);
    if (ol != link_of_peer.end() && ol->second.conn == conn.id) connection_lost(other);
  }
  Link& k = link_of_peer[peer];
  if (k.conn != 0 && k.conn != conn.id) {
    auto q = peer_of_conn.find(k.conn);
    if (q != peer_of_conn.end() && q->second == peer) peer_of_conn.erase(q);
  }
  k.conn = conn.id;
  k.kind = conn.outgoing ? LinkKind::Outgoing : LinkKind::Accepted;
  k.address = conn.address;
  peer_of_conn[conn.id] = peer;
}

void CoordinatorEndpoint::Impl::connection_lost(uint64_t peer) {
  Link& k = link_of_peer[peer];
  if (k.conn != 0) {
    auto q = peer_of_conn.find(k.conn);
    if (q != peer_of_conn.end() && q->second == peer) peer_of_conn.erase(q);
    k.conn = 0;
  }
  auto s = site_of_peer.find(peer);
  if (s == site_of_peer.end()) {
    FOMOE_LOG_DEBUG(kLogModule, "unbound peer %llu went away", static_cast<unsigned long long>(peer));
    forget(peer);
    return;
  }
  k.loss_pending = true;
  ++n_bound_losses;
  if (opt.heartbeat_s > 0)
    FOMOE_LOG_WARN(kLogModule,
                   "site %d: connection closed (agent gone, or its link dead for %.1f s)",
                   s->second, opt.heartbeat_s);
  else
    FOMOE_LOG_WARN(kLogModule, "site %d: connection closed (agent gone)", s->second);
}

// Drops everything about an unbound peer whose connection closed.
void CoordinatorEndpoint::Impl::forget(uint64_t peer) {
  auto l = link_of_peer.find(peer);
  const bool accepted = l != link_of_peer.end() && l->second.kind == LinkKind::Accepted;
  if (l != link_of_peer.end()) {
    if (l->second.conn != 0) {
      auto q = peer_of_conn.find(l->second.conn);
      if (q != peer_of_conn.end() && q->second == peer) peer_of_conn.erase(q);
    }
    link_of_peer.erase(l);
  }
  auto id = identity_of_peer.find(peer);
  if (id == identity_of_peer.end()) return;
  if (accepted && gone_identities.insert(id->second).second) {
    constexpr size_t kMaxGone = 4096;
    gone_order.push_back(id->second);
    if (gone_order.size() > kMaxGone) {
      gone_identities.erase(gone_order.front());
      gone_order.pop_front();
    }
  }
  peer_of_identity.erase(id->second);
  identity_of_peer.erase(id);
}

Expected<SendResult> CoordinatorEndpoint::Impl::send_identity(const std::string& identity, int site,
                                                              Message msg) {
  msg.header.sender = kCoordinatorSite;
  msg.header.seq = ++seq;
  const MsgType type = msg.header.type;
  const uint32_t round = msg.header.round;
  auto frames = encode(std::move(msg), opt.limits);
  if (!frames) return frames.error();
  SendResult result;
  for (const std::string& f : *frames) result.bytes += f.size();
  try {
    if (!router.send(zmq::buffer(identity), zmq::send_flags::sndmore))
      return make_error(ErrorCode::Timeout, "send to site " + std::to_string(site) + " timed out");
    for (size_t i = 0; i < frames->size(); ++i) {
      auto flags = i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!router.send(to_zmq(std::move((*frames)[i])), flags))
        return make_error(ErrorCode::Timeout, "send to site " + std::to_string(site) + " timed out");
    }
  } catch (const zmq::error_t& e) {
    const bool gone = e.num() == EHOSTUNREACH;
    return make_error(gone ? ErrorCode::NotFound : ErrorCode::Io,
                      std::string("send ") + msg_type_name(type) + " to site " + std::to_string(site) +
                          (gone ? ": the agent is not connected" : std::string(": ") + e.what()));
  }
  if (opt.counter)
    opt.counter->record(static_cast<int>(round), site, Direction::Sent, type,
                        static_cast<int64_t>(result.bytes));
  return result;
}

CoordinatorEndpoint::CoordinatorEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CoordinatorEndpoint::~CoordinatorEndpoint() = default;

Expected<std::unique_ptr<CoordinatorEndpoint>> CoordinatorEndpoint::create(CoordinatorOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  const CoordinatorOptions& opt = impl->opt;
  try {
    if (opt.curve) {
      if (!curve_available())
        return make_error(ErrorCode::Unsupported, "this libzmq has no CURVE support");
      if (opt.allowed_public_keys.empty())
        return make_error(ErrorCode::InvalidArgument,
                          "CURVE is on but the allow-list is empty: load agent keys with "
                          "load_allow_list(DIR)");
      for (const std::string& k : opt.allowed_public_keys) {
        if (!is_valid_z85_key(k))
          return make_error(ErrorCode::InvalidArgument,
                            "allow-list key '" + k + "' is not a 40-character Z85 CURVE key");
      }
      // The ZAP handler must be bound before the CURVE socket accepts connections.
      auto zap = ZapHandler::start(impl->ctx, opt.allowed_public_keys,
                                   "add its .pub file to the coordinator's allow-list directory");
      if (!zap) return zap.error();
      impl->zap = std::move(*zap);
    }
    if (opt.bind_address.empty() && opt.connect_addresses.empty())
      return make_error(ErrorCode::InvalidArgument,
                        "coordinator: neither bind_address nor connect_addresses is set: bind "
                        "(e.g. tcp://0.0.0.0:5555) and/or list the agents' --listen addresses");
    impl->router = zmq::socket_t(impl->ctx, zmq::socket_type::router);
    zmq::socket_t& r = impl->router;
    common_socket_options(r, opt.limits, opt.send_timeout_ms, opt.linger_ms);
    r.set(zmq::sockopt::router_mandatory, 1);
    if (Status s = liveness_options(r, opt.heartbeat_s); !s) return s.error();
    impl->monitoring = start_monitor(impl->ctx, r, impl->monitor, "inproc://fomoe-coordinator-monitor",
                                     ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED);
    if (opt.curve) {
      r.set(zmq::sockopt::curve_server, 1);
      if (Status s = set_key_option(r, ZMQ_CURVE_SECRETKEY, opt.server_keys.secret_key,
                                    "the coordinator's secret key");
          !s)
        return s.error();
      r.set(zmq::sockopt::zap_domain, "fomoe");
    }
    if (!opt.bind_address.empty()) {
      try {
        r.bind(opt.bind_address);
      } catch (const zmq::error_t& e) {
        return make_error(ErrorCode::Io, "cannot bind coordinator to " + opt.bind_address + ": " +
                                             e.what() + " (is the port in use? use ':*' for any port)");
      }
      impl->endpoint = r.get(zmq::sockopt::last_endpoint);
    }
    for (const std::string& address : opt.connect_addresses)
      if (Status s = impl->connect(address); !s) return s.error();
  } catch (const zmq::error_t& e) {
    return make_error(ErrorCode::Internal, std::string("coordinator endpoint setup: ") + e.what());
  }
  if (!impl->endpoint.empty())
    FOMOE_LOG_INFO(kLogModule, "coordinator listening on %s (CURVE %s)", impl->endpoint.c_str(),
                   opt.curve ? "on" : "OFF");
  return std::unique_ptr<CoordinatorEndpoint>(new CoordinatorEndpoint(std::move(impl)));
}

std::string CoordinatorEndpoint::endpoint() const { return impl_->endpoint; }

Status CoordinatorEndpoint::Impl::connect(const std::string& address) {
  if (address.empty())
    return make_error(ErrorCode::InvalidArgument, "coordinator: an agent address is empty");
  try {
    router.connect(address);
  } catch (const zmq::error_t& e) {
    return make_error(ErrorCode::InvalidArgument,
                      "coordinator cannot connect to agent '" + address + "': " + e.what() +
                          " (expected tcp://HOST:PORT, the agent's --listen address)");
  }
  FOMOE_LOG_INFO(kLogModule, "coordinator connecting to agent at %s (CURVE %s)", address.c_str(),
                 opt.curve ? "on" : "OFF");
  return Status::ok();
}

Status CoordinatorEndpoint::connect(const std::string& address) { return impl_->connect(address); }

std::optional<Incoming> CoordinatorEndpoint::poll(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  const auto deadline = Clock::now() + timeout;
  const uint64_t losses_before = m.n_bound_losses;
  std::vector<zmq::pollitem_t> items = {{m.router.handle(), 0, ZMQ_POLLIN, 0}};
  if (m.monitoring) items.push_back({m.monitor.handle(), 0, ZMQ_POLLIN, 0});
  for (;;) {
    m.drain_monitor();
    if (m.n_bound_losses != losses_before) return std::nullopt;  // see take_lost_sites()
    std::vector<zmq::message_t> frames;
    try {
      auto got = zmq::recv_multipart(m.router, std::back_inserter(frames), zmq::recv_flags::dontwait);
      if (!got) {
        if (Clock::now() >= deadline) return std::nullopt;
        zmq::poll(items.data(), items.size(), remaining(deadline));
        continue;
      }
    } catch (const zmq::error_t& e) {
      // A signal (Ctrl-C's stop request) interrupts the wait: no message, and nothing wrong.
      if (e.num() != EINTR) FOMOE_LOG_ERROR(kLogModule, "coordinator receive failed: %s", e.what());
      return std::nullopt;
    }
    if (frames.size() < 2) {
      ++m.drops.malformed;
      FOMOE_LOG_WARN(kLogModule, "dropped a message without payload frames");
      continue;
    }
    // Events up to this message's arrival, so its fd names the right connection.
    m.drain_monitor();
    const std::string identity = frames[0].to_string();
    if (m.gone_identities.count(identity)) {
      FOMOE_LOG_DEBUG(kLogModule, "dropped a message left over from a closed, unbound connection");
      continue;
    }
    const uint64_t peer = m.peer_for(identity);
    if (const int fd = zmq_msg_get(frames[1].handle(), ZMQ_SRCFD); fd >= 0) m.note_peer_fd(peer, fd);
    const int site = m.site_of(peer);
    std::string key;
    if (const char* uid = zmq_msg_gets(frames[1].handle(), "User-Id")) key = uid;

    std::vector<FrameView> views;
    uint64_t bytes = 0;
    for (size_t i = 1; i < frames.size(); ++i) {
      views.push_back(FrameView{frames[i].data(), frames[i].size()});
      bytes += frames[i].size();
    }
    auto decoded = decode(views, m.opt.limits);
    if (!decoded) {
      ++m.drops.malformed;
      if (m.opt.counter)
        m.opt.counter->record(-1, site, Direction::Received, kInvalidTypeName,
                              static_cast<int64_t>(bytes));
      FOMOE_LOG_WARN(kLogModule, "dropped malformed message from peer %llu (site %d, key %s): %s",
                     static_cast<unsigned long long>(peer), site, short_key(key).c_str(),
                     decoded.error().message.c_str());
      continue;
    }
    Message& msg = *decoded;
    const MsgType type = msg.header.type;
    if (m.opt.counter)
      m.opt.counter->record(static_cast<int>(msg.header.round), site, Direction::Received, type,
                            static_cast<int64_t>(bytes));

    std::string reject;
    if (type == MsgType::Hello) {
      const std::string claimed = msg.meta[field::kPublicKey].get<std::string>();
      if (m.opt.curve && claimed != key)
        reject = "Hello claims public key " + claimed + " but the connection authenticated with " + key;
    } else if (site == kUnassignedSite) {
      reject = std::string(msg_type_name(type)) + " from a peer that has not been welcomed (send Hello first)";
    } else if (msg.header.sender != site && msg.header.sender != kUnassignedSite) {
      reject = "header claims sender " + std::to_string(msg.header.sender) +
               " but the connection belongs to site " + std::to_string(site);
    } else if (m.opt.run_id != 0 && msg.header.run_id != m.opt.run_id) {
      reject = "run id " + std::to_string(msg.header.run_id) + " is not this run (" +
               std::to_string(m.opt.run_id) + ")";
    }
    if (!reject.empty()) {
      ++m.drops.unexpected;
      FOMOE_LOG_WARN(kLogModule, "dropped %s from peer %llu (site %d): %s", msg_type_name(type),
                     static_cast<unsigned long long>(peer), site, reject.c_str());
      continue;
    }
    if (site != kUnassignedSite) {
      if (Status s = m.guard.check(msg.header.run_id, site, msg.header.seq); !s) {
        ++m.drops.replayed;
        FOMOE_LOG_WARN(kLogModule, "dropped %s from site %d: %s", msg_type_name(type), site,
                       s.error().message.c_str());
        continue;
      }
    }
    Incoming in;
    in.peer = peer;
    in.site = site;
    in.public_key = key;
    in.wire_bytes = bytes;
    in.message = std::move(msg);
    return in;
  }
}

Expected<SendResult> CoordinatorEndpoint::send(int site, Message msg) {
  auto it = impl_->peer_of_site.find(site);
  if (it == impl_->peer_of_site.end())
    return make_error(ErrorCode::NotFound,
                      "no agent is bound to site " + std::to_string(site) + ": it never said Hello "
                      "or was unbound");
  return impl_->send_identity(impl_->identity_of_peer.at(it->second), site, std::move(msg));
}

Expected<SendResult> CoordinatorEndpoint::broadcast(const std::vector<int>& sites, Message msg) {
  Impl& m = *impl_;
  std::vector<const std::string*> identities;
  for (int site : sites) {
    auto it = m.peer_of_site.find(site);
    if (it == m.peer_of_site.end())
      return make_error(ErrorCode::NotFound, "broadcast: no agent is bound to site " + std::to_string(site));
    identities.push_back(&m.identity_of_peer.at(it->second));
  }
  msg.header.sender = kCoordinatorSite;
  msg.header.seq = ++m.seq;
  const MsgType type = msg.header.type;
  const uint32_t round = msg.header.round;
  auto frames = encode(std::move(msg), m.opt.limits);
  if (!frames) return frames.error();
  SendResult result;
  for (const std::string& f : *frames) result.bytes += f.size();
  std::vector<zmq::message_t> shared;
  shared.reserve(frames->size());
  for (std::string& f : *frames) shared.push_back(to_zmq(std::move(f)));
  for (size_t s = 0; s < sites.size(); ++s) {
    try {
      bool ok = m.router.send(zmq::buffer(*identities[s]), zmq::send_flags::sndmore).has_value();
      for (size_t i = 0; ok && i < shared.size(); ++i) {
        zmq::message_t part;
        part.copy(shared[i]);  // reference-counted for large frames: the bytes are not copied
        ok = m.router.send(part, i + 1 < shared.size() ? zmq::send_flags::sndmore : zmq::send_flags::none)
                 .has_value();
      }
      if (!ok)
        return make_error(ErrorCode::Timeout, "broadcast to site " + std::to_string(sites[s]) + " timed out");
    } catch (const zmq::error_t& e) {
      return make_error(e.num() == EHOSTUNREACH ? ErrorCode::NotFound : ErrorCode::Io,
                        std::string("broadcast ") + msg_type_name(type) + " to site " +
                            std::to_string(sites[s]) + ": " + e.what());
    }
    if (m.opt.counter)
      m.opt.counter->record(static_cast<int>(round), sites[s], Direction::Sent, type,
                            static_cast<int64_t>(result.bytes));
  }
  return result;
}

Expected<SendResult> CoordinatorEndpoint::send_to_peer(uint64_t peer, Message msg) {
  auto it = impl_->identity_of_peer.find(peer);
  if (it == impl_->identity_of_peer.end())
    return make_error(ErrorCode::NotFound, "unknown peer " + std::to_string(peer));
  if (msg.header.type == MsgType::Welcome) {
    auto sid = msg.meta.find(field::kSiteId);
    if (sid == msg.meta.end() || !sid->is_number_integer())
      return make_error(ErrorCode::Protocol, "welcome: metadata field 'site_id' is missing");
    if (Status s = bind_site(peer, sid->get<int>()); !s) return s.error();
  }
  return impl_->send_identity(it->second, impl_->site_of(peer), std::move(msg));
}

Status CoordinatorEndpoint::bind_site(uint64_t peer, int site) {
  Impl& m = *impl_;
  if (site < 0) return make_error(ErrorCode::InvalidArgument, "site id must be >= 0, got " + std::to_string(site));
  if (!m.identity_of_peer.count(peer))
    return make_error(ErrorCode::NotFound, "unknown peer " + std::to_string(peer));
  if (auto cur = m.peer_of_site.find(site); cur != m.peer_of_site.end() && cur->second != peer)
    unbind_site(site);
  auto old = m.site_of_peer.find(peer);
  if (old != m.site_of_peer.end()) m.peer_of_site.erase(old->second);
  m.site_of_peer[peer] = site;
  m.peer_of_site[site] = peer;
  // A fresh binding supersedes an unreported loss; binding a peer that is already down reports it.
  if (auto l = m.link_of_peer.find(peer); l != m.link_of_peer.end()) {
    l->second.loss_pending = l->second.conn == 0;
    if (l->second.loss_pending) ++m.n_bound_losses;
  }
  return Status::ok();
}

void CoordinatorEndpoint::unbind_site(int site) {
  Impl& m = *impl_;
  auto it = m.peer_of_site.find(site);
  if (it == m.peer_of_site.end()) return;
  const uint64_t peer = it->second;
  m.site_of_peer.erase(peer);
  m.peer_of_site.erase(it);
  auto l = m.link_of_peer.find(peer);
  if (l == m.link_of_peer.end()) return;
  l->second.loss_pending = false;
  if (l->second.conn == 0) m.forget(peer);
}

std::vector<int> CoordinatorEndpoint::take_lost_sites() {
  Impl& m = *impl_;
  m.drain_monitor();
  std::vector<int> lost;
  for (const auto& [site, peer] : m.peer_of_site) {
    auto l = m.link_of_peer.find(peer);
    if (l == m.link_of_peer.end() || !l->second.loss_pending) continue;
    l->second.loss_pending = false;
    lost.push_back(site);
  }
  return lost;
}

std::vector<int> CoordinatorEndpoint::bound_sites() const {
  std::vector<int> out;
  for (const auto& kv : impl_->peer_of_site) out.push_back(kv.first);
  return out;
}

void CoordinatorEndpoint::allow_key(const std::string& public_key) {
  if (impl_->zap) impl_->zap->allow_key(public_key);
}

DropStats CoordinatorEndpoint::drops() const {
  DropStats d = impl_->drops;
  d.refused_keys = impl_->zap ? impl_->zap->refused() : 0;
  return d;
}

// =============================================================================================
// Agent
// =============================================================================================

struct AgentEndpoint::Impl {
  AgentOptions opt;
  zmq::context_t ctx;  // declared first: destroyed last
  zmq::socket_t dealer;
  zmq::socket_t monitor;
  bool monitoring = false;
  int site = kUnassignedSite;
  uint64_t run_id = 0;
  bool have_run = false;
  double link_total = 0.0;
  bool auth_failed = false;
  ReplayGuard guard;
  uint64_t seq = initial_seq();
  DropStats drops;
  bool bound = false;        // bind mode (AgentOptions::bind_address)
  std::string address;       // the coordinator's address, or our bound endpoint (for logs)
  std::deque<std::vector<zmq::message_t>> outbox;  // bind mode: accepted, not yet in ZeroMQ
  // Link emulation in the background (set_link_in_background): messages cross the emulated link
  // one after another in each direction, and the caller goes on meanwhile (a real link's send
  // returns at once too). Each waits here until the time its last byte would arrive.
  struct Delayed {
    std::vector<std::string> frames;
    Clock::time_point release;
    MsgType type = MsgType::Hello;
  };
  struct DelayedIn {
    std::vector<zmq::message_t> frames;
    uint64_t bytes = 0;
    double delay = 0.0;
    Clock::time_point release;
  };
  bool background_link = false;
  Clock::time_point up_free{}, down_free{};  // when each direction of the emulated link is free
  std::deque<Delayed> delayed_out;
  std::deque<DelayedIn> delayed_in;

  // Connection state from the monitor. HANDSHAKE_SUCCEEDED carries no fd, so handshakes are
  // counted: with the context's single I/O thread a failed handshake's FAILED_* event comes right
  // before its connection's DISCONNECTED, so a DISCONNECTED without one closes a handshaken
  // connection. Connect mode holds at most one connection; bind mode may hold several.
  std::set<int> open_fds;    // TCP connections the DEALER holds (connected or accepted)
  size_t n_up = 0;           // of those, handshaken
  bool last_failed = false;  // the previous event was a HANDSHAKE_FAILED_*
  bool was_up = false;
  bool lost = false;         // was up, is down since
  bool reconnected = false;  // up again after `lost`, not yet taken
  uint64_t n_reconnects = 0; // poll() returns early when this moves

  ~Impl() {
    if (monitoring) zmq_socket_monitor(dealer.handle(), nullptr, 0);
  }
  void drain_monitor();
  void flush_outbox();
  Status transmit(std::vector<std::string>& frames, MsgType type);
  void send_due();          // background link: what has crossed the link goes to ZeroMQ
  void read_into_delay();   // background link: what ZeroMQ has starts crossing the link
};

Status AgentEndpoint::Impl::transmit(std::vector<std::string>& frames, MsgType type) {
  if (bound) {
    std::vector<zmq::message_t> parts;
    parts.reserve(frames.size());
    for (std::string& f : frames) parts.push_back(to_zmq(std::move(f)));
    outbox.push_back(std::move(parts));
    flush_outbox();
    if (!outbox.empty())
      FOMOE_LOG_DEBUG(kLogModule, "agent at %s: %s pending until the coordinator connects", address.c_str(),
                      msg_type_name(type));
    return Status::ok();
  }
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!dealer.send(to_zmq(std::move(frames[i])), flags))
        return make_error(ErrorCode::Timeout,
                          std::string("send ") + msg_type_name(type) + " to the coordinator at " + address + " timed out");
    }
  } catch (const zmq::error_t& e) {
    return make_error(ErrorCode::Io, std::string("send ") + msg_type_name(type) + ": " + e.what());
  }
  return Status::ok();
}

void AgentEndpoint::Impl::send_due() {
  while (!delayed_out.empty() && delayed_out.front().release <= Clock::now()) {
    Delayed d = std::move(delayed_out.front());
    delayed_out.pop_front();
    if (Status st = transmit(d.frames, d.type); !st)
      FOMOE_LOG_ERROR(kLogModule, "agent: %s", st.error().message.c_str());
  }
}

void AgentEndpoint::Impl::read_into_delay() {
  for (;;) {
    std::vector<zmq::message_t> frames;
    try {
      if (!zmq::recv_multipart(dealer, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) FOMOE_LOG_ERROR(kLogModule, "agent receive failed: %s", e.what());
      return;
    }
    DelayedIn d;
    for (const zmq::message_t& f : frames) d.bytes += f.size();
    d.delay = opt.link->delay_seconds(d.bytes);
    d.release = std::max(Clock::now(), down_free) +
                std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(d.delay));
    down_free = d.release;
    d.frames = std::move(frames);
    delayed_in.push_back(std::move(d));
  }
}

// Bind mode: a DEALER without a connected (and, with CURVE, authenticated) peer has no pipe to
// queue into, so a send would block. Pending messages go out here, in order, without blocking.
void AgentEndpoint::Impl::flush_outbox() {
  while (!outbox.empty()) {
    std::vector<zmq::message_t>& parts = outbox.front();
    try {
      const auto first = parts.size() > 1 ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                          : zmq::send_flags::dontwait;
      if (!dealer.send(parts[0], first)) return;  // no coordinator yet (or its queue is full)
      // The rest of a multipart message cannot block once its first frame is in a pipe.
      for (size_t i = 1; i < parts.size(); ++i) {
        const auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                                : zmq::send_flags::dontwait;
        if (!dealer.send(parts[i], flags))
          FOMOE_LOG_ERROR(kLogModule, "agent at %s: frame %zu of a pending message did not go out",
                          address.c_str(), i);
      }
    } catch (const zmq::error_t& e) {
      FOMOE_LOG_ERROR(kLogModule, "agent at %s dropped a pending message: %s", address.c_str(),
                      e.what());
    }
    outbox.pop_front();
  }
}

void AgentEndpoint::Impl::drain_monitor() {
  if (!monitoring) return;
  while (auto ev = next_monitor_event(monitor)) {
    const bool failed = ev->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                        ev->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                        ev->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (ev->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      if (!auth_failed)
        FOMOE_LOG_ERROR(kLogModule,
                        "coordinator at %s refused this agent's CURVE key %s (ZAP status %u): add "
                        "its .pub file to the coordinator's allow-list",
                        address.c_str(), opt.client_keys.public_key.c_str(), ev->value);
      auth_failed = true;
    } else if (ev->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
      FOMOE_LOG_WARN(kLogModule, "handshake with %s failed (protocol error %u)%s", address.c_str(),
                     ev->value, opt.curve ? ": is the server key right?" : "");
    } else if (ev->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      auth_failed = false;
      n_up = std::min(n_up + 1, open_fds.size());
    } else if (ev->event == ZMQ_EVENT_CONNECTED || ev->event == ZMQ_EVENT_ACCEPTED) {
      open_fds.insert(static_cast<int>(ev->value));
    } else if (ev->event == ZMQ_EVENT_DISCONNECTED) {
      open_fds.erase(static_cast<int>(ev->value));
      if (!last_failed && n_up > 0) --n_up;
      n_up = std::min(n_up, open_fds.size());
    }
    last_failed = failed;
    const bool up = n_up > 0;
    if (was_up && !up) {
      lost = true;
      FOMOE_LOG_WARN(kLogModule, "agent: lost the connection %s %s",
                     bound ? "accepted on" : "to the coordinator at", address.c_str());
    } else if (!was_up && up && lost) {
      lost = false;
      reconnected = true;
      ++n_reconnects;
      FOMOE_LOG_INFO(kLogModule, "agent: %s %s again",
                     bound ? "the coordinator is connected to" : "connected to the coordinator at",
                     address.c_str());
    }
    was_up = up;
  }
}

AgentEndpoint::AgentEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AgentEndpoint::~AgentEndpoint() = default;

Expected<std::unique_ptr<AgentEndpoint>> AgentEndpoint::create(AgentOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  const AgentOptions& opt = impl->opt;
  if (opt.connect_address.empty() == opt.bind_address.empty())
    return make_error(ErrorCode::InvalidArgument,
                      opt.connect_address.empty()
                          ? "agent: set a connect address (the coordinator's) or a bind address "
                            "(--listen, the coordinator connects to it)"
                          : "agent: connect_address and bind_address are mutually exclusive: "
                            "connect to a coordinator or listen for one, not both");
  impl->bound = !opt.bind_address.empty();
  impl->address = impl->bound ? opt.bind_address : opt.connect_address;
  try {
    impl->dealer = zmq::socket_t(impl->ctx, zmq::socket_type::dealer);
    zmq::socket_t& d = impl->dealer;
    common_socket_options(d, opt.limits, opt.send_timeout_ms, opt.linger_ms);
    if (opt.curve) {
      if (!curve_available())
        return make_error(ErrorCode::Unsupported, "this libzmq has no CURVE support");
      if (Status s = set_key_option(d, ZMQ_CURVE_SERVERKEY, opt.server_public_key,
                                    "the coordinator's public key");
          !s)
        return s.error();
      if (Status s = set_key_option(d, ZMQ_CURVE_PUBLICKEY, opt.client_keys.public_key,
                                    "the agent's public key");
          !s)
        return s.error();
      if (Status s = set_key_option(d, ZMQ_CURVE_SECRETKEY, opt.client_keys.secret_key,
                                    "the agent's secret key");
          !s)
        return s.error();
    }
    if (Status s = liveness_options(d, opt.heartbeat_s); !s) return s.error();
    // Watch connections and handshakes: a refused key is reported instead of silently retried,
    // and connected() / take_reconnected() follow the link.
    impl->monitoring = start_monitor(
        impl->ctx, d, impl->monitor, "inproc://fomoe-agent-monitor",
        ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    if (impl->bound) {
      try {
        d.bind(opt.bind_address);
      } catch (const zmq::error_t& e) {
        return make_error(ErrorCode::Io, "agent cannot listen on " + opt.bind_address + ": " +
                                             e.what() + " (is the port in use? use ':*' for any port)");
      }
      impl->address = d.get(zmq::sockopt::last_endpoint);
      FOMOE_LOG_INFO(kLogModule, "agent listening on %s for the coordinator (CURVE %s)",
                     impl->address.c_str(), opt.curve ? "on" : "OFF");
    } else {
      try {
        d.connect(opt.connect_address);
      } catch (const zmq::error_t& e) {
        return make_error(ErrorCode::InvalidArgument,
                          "agent cannot connect to '" + opt.connect_address + "': " + e.what());
      }
    }
  } catch (const zmq::error_t& e) {
    return make_error(ErrorCode::Internal, std::string("agent endpoint setup: ") + e.what());
  }
  return std::unique_ptr<AgentEndpoint>(new AgentEndpoint(std::move(impl)));
}

Expected<SendResult> AgentEndpoint::send(Message msg) {
  Impl& m = *impl_;
  m.drain_monitor();
  msg.header.sender = m.site;
  msg.header.seq = ++m.seq;
  const MsgType type = msg.header.type;
  const uint32_t round = msg.header.round;
  auto frames = encode(std::move(msg), m.opt.limits);
  if (!frames) return frames.error();
  SendResult result;
  for (const std::string& f : *frames) result.bytes += f.size();
  if (m.bound) {
    m.flush_outbox();
    if (m.outbox.size() >= std::max<size_t>(m.opt.max_pending, 1))
      return make_error(ErrorCode::Timeout,
                        std::string("send ") + msg_type_name(type) + ": " +
                            std::to_string(m.outbox.size()) +
                            " messages are still pending because no coordinator has connected to " +
                            m.address + " (check the coordinator's connect_addresses and keys)");
  }
  if (m.opt.link) {
    result.link_seconds = m.opt.link->delay_seconds(result.bytes);
    m.link_total += result.link_seconds;
  }
  if (m.opt.link && m.background_link) {
    Impl::Delayed d;
    d.release = std::max(Clock::now(), m.up_free) +
                std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(result.link_seconds));
    m.up_free = d.release;
    d.frames = std::move(*frames);
    d.type = type;
    m.delayed_out.push_back(std::move(d));
    m.send_due();
  } else {
    if (m.opt.link) sleep_seconds(result.link_seconds);
    if (Status st = m.transmit(*frames, type); !st) return st.error();
  }
  if (m.opt.counter)
    m.opt.counter->record(static_cast<int>(round), m.site, Direction::Received, type,
                          static_cast<int64_t>(result.bytes), result.link_seconds);
  return result;
}

std::optional<Inbound> AgentEndpoint::poll(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  const auto deadline = Clock::now() + timeout;
  std::vector<zmq::pollitem_t> items = {{m.dealer.handle(), 0, ZMQ_POLLIN, 0}};
  if (m.monitoring) items.push_back({m.monitor.handle(), 0, ZMQ_POLLIN, 0});
  const uint64_t reconnects_before = m.n_reconnects;
  for (;;) {
    m.drain_monitor();
    if (m.n_reconnects != reconnects_before) return std::nullopt;  // see take_reconnected()
    if (m.bound) {
      m.flush_outbox();
      // Wake up when the coordinator connects, to send what is pending.
      items[0].events = static_cast<short>(ZMQ_POLLIN | (m.outbox.empty() ? 0 : ZMQ_POLLOUT));
    }
    std::vector<zmq::message_t> frames;
    uint64_t bytes = 0;
    double delay = 0.0;
    if (m.opt.link && m.background_link) {
      m.send_due();
      m.read_into_delay();
      const auto now = Clock::now();
      if (m.delayed_in.empty() || m.delayed_in.front().release > now) {
        if (now >= deadline) return std::nullopt;
        auto wake = deadline;
        if (!m.delayed_in.empty()) wake = std::min(wake, m.delayed_in.front().release);
        if (!m.delayed_out.empty()) wake = std::min(wake, m.delayed_out.front().release);
        zmq::poll(items.data(), items.size(),
                  std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(wake - now)));
        continue;
      }
      Impl::DelayedIn d = std::move(m.delayed_in.front());
      m.delayed_in.pop_front();
      frames = std::move(d.frames);
      bytes = d.bytes;
      delay = d.delay;
      m.link_total += delay;
    } else {
      try {
        auto got = zmq::recv_multipart(m.dealer, std::back_inserter(frames), zmq::recv_flags::dontwait);
        if (!got) {
          if (Clock::now() >= deadline) return std::nullopt;
          zmq::poll(items.data(), items.size(), remaining(deadline));
          continue;
        }
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) FOMOE_LOG_ERROR(kLogModule, "agent receive failed: %s", e.what());
        return std::nullopt;
      }
      for (const zmq::message_t& f : frames) bytes += f.size();
      // The bytes crossed the emulated link whether or not they decode.
      if (m.opt.link) {
        delay = m.opt.link->delay_seconds(bytes);
        sleep_seconds(delay);
        m.link_total += delay;
      }
    }
    std::vector<FrameView> views;
    for (const zmq::message_t& f : frames) views.push_back(FrameView{f.data(), f.size()});
    auto decoded = decode(views, m.opt.limits);
    if (!decoded) {
      ++m.drops.malformed;
      if (m.opt.counter)
        m.opt.counter->record(-1, m.site, Direction::Sent, kInvalidTypeName,
                              static_cast<int64_t>(bytes), delay);
      FOMOE_LOG_WARN(kLogModule, "agent dropped a malformed message: %s",
                     decoded.error().message.c_str());
      continue;
    }
    Message& msg = *decoded;
    const MsgType type = msg.header.type;
    if (m.opt.counter)
      m.opt.counter->record(static_cast<int>(msg.header.round), m.site, Direction::Sent, type,
                            static_cast<int64_t>(bytes), delay);
    std::string reject;
    if (msg.header.sender != kCoordinatorSite)
      reject = "sender " + std::to_string(msg.header.sender) + " is not the coordinator";
    else if (type != MsgType::Welcome && m.have_run && msg.header.run_id != m.run_id)
      reject = "run id " + std::to_string(msg.header.run_id) + " is not this agent's run " +
               std::to_string(m.run_id);
    if (!reject.empty()) {
      ++m.drops.unexpected;
      FOMOE_LOG_WARN(kLogModule, "agent dropped %s: %s", msg_type_name(type), reject.c_str());
      continue;
    }
    if (Status s = m.guard.check(msg.header.run_id, kCoordinatorSite, msg.header.seq); !s) {
      ++m.drops.replayed;
      FOMOE_LOG_WARN(kLogModule, "agent dropped %s: %s", msg_type_name(type), s.error().message.c_str());
      continue;
    }
    if (type == MsgType::Welcome && msg.meta[field::kSiteId].get<uint64_t>() > INT32_MAX) {
      ++m.drops.unexpected;
      FOMOE_LOG_WARN(kLogModule, "agent dropped welcome: site_id out of range");
      continue;
    }
    if (type == MsgType::Welcome) {
      m.site = msg.meta[field::kSiteId].get<int>();
      m.run_id = msg.header.run_id;
      m.have_run = true;
    }
    Inbound in;
    in.wire_bytes = bytes;
    in.link_seconds = delay;
    in.message = std::move(msg);
    return in;
  }
}

void AgentEndpoint::set_link_in_background(bool on) {
  Impl& m = *impl_;
  if (!on) {  // what is still crossing the link goes out first, in order
    while (!m.delayed_out.empty()) {
      sleep_seconds(std::chrono::duration<double>(m.delayed_out.front().release - Clock::now()).count());
      m.send_due();
    }
  }
  m.background_link = on;
}

void AgentEndpoint::pump() {
  Impl& m = *impl_;
  if (!m.opt.link || !m.background_link) return;
  m.send_due();
  m.read_into_delay();
}

int AgentEndpoint::site() const { return impl_->site; }
std::string AgentEndpoint::endpoint() const { return impl_->address; }
size_t AgentEndpoint::pending() const { return impl_->outbox.size(); }
uint64_t AgentEndpoint::run_id() const { return impl_->run_id; }
double AgentEndpoint::link_seconds_total() const { return impl_->link_total; }
bool AgentEndpoint::auth_failed() const {
  impl_->drain_monitor();
  return impl_->auth_failed;
}
bool AgentEndpoint::connected() const {
  impl_->drain_monitor();
  return impl_->was_up;
}
bool AgentEndpoint::take_reconnected() {
  impl_->drain_monitor();
  return std::exchange(impl_->reconnected, false);
}
DropStats AgentEndpoint::drops() const { return impl_->drops; }

}  // namespace fomoe::net
