// Liveness over loopback (label net): ZMTP heartbeats, CoordinatorEndpoint::take_lost_sites and
// AgentEndpoint::connected / take_reconnected, with CURVE on as in production. A killed agent is a
// forked child process; a silent link loss is a TCP proxy that stops forwarding (both ways) but
// keeps its connections open, which is what a cut WAN link looks like to both ends.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "fomoe/base/log.h"
#include "fomoe/net/endpoint.h"
#include "net_test_util.h"

namespace fomoe::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::minimal_meta;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int port_of(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

Message hello(const std::string& name, const std::string& key) {
  auto meta = minimal_meta(MsgType::Hello);
  meta[field::kAgentName] = name;
  meta[field::kPublicKey] = key;
  return make_message(MsgType::Hello, meta);
}

Message welcome(int site) {
  auto meta = minimal_meta(MsgType::Welcome);
  meta[field::kSiteId] = site;
  return make_message(MsgType::Welcome, meta, /*run_id=*/9);
}

struct Keys {
  CurveKeyPair server;
  std::vector<CurveKeyPair> agents;
};

Keys make_keys(int n_agents) {
  Keys k;
  auto s = generate_keypair();
  EXPECT_TRUE(s);
  if (s) k.server = *s;
  for (int i = 0; i < n_agents; ++i) {
    auto a = generate_keypair();
    EXPECT_TRUE(a);
    if (a) k.agents.push_back(*a);
  }
  return k;
}

CoordinatorOptions curve_coordinator(const Keys& k, double heartbeat_s) {
  CoordinatorOptions o;
  o.server_keys = k.server;
  for (const auto& a : k.agents) o.allowed_public_keys.push_back(a.public_key);
  o.linger_ms = 0;
  o.heartbeat_s = heartbeat_s;
  return o;
}

AgentOptions curve_agent(const Keys& k, int i, double heartbeat_s) {
  AgentOptions o;
  o.client_keys = k.agents[static_cast<size_t>(i)];
  o.server_public_key = k.server.public_key;
  o.linger_ms = 0;
  o.heartbeat_s = heartbeat_s;
  return o;
}

std::unique_ptr<CoordinatorEndpoint> make_coordinator(CoordinatorOptions opt) {
  auto c = CoordinatorEndpoint::create(std::move(opt));
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? std::move(*c) : nullptr;
}

std::unique_ptr<AgentEndpoint> make_agent(AgentOptions opt) {
  auto a = AgentEndpoint::create(std::move(opt));
  EXPECT_TRUE(a) << (a ? "" : a.error().message);
  return a ? std::move(*a) : nullptr;
}

// Hello -> Welcome(site) for an in-process agent; returns the coordinator-side peer (0 on failure).
uint64_t join(CoordinatorEndpoint& coord, AgentEndpoint& agent, const std::string& key, int site) {
  EXPECT_TRUE(agent.send(hello("site-" + std::to_string(site), key)));
  const auto t0 = Clock::now();
  while (seconds_since(t0) < 10) {
    agent.poll(0ms);  // bind mode: sends the pending Hello once the coordinator is connected
    auto in = coord.poll(20ms);
    if (!in) continue;
    EXPECT_EQ(in->message.header.type, MsgType::Hello);
    EXPECT_TRUE(coord.send_to_peer(in->peer, welcome(site)));
    auto w = agent.poll(5000ms);
    EXPECT_TRUE(w);
    EXPECT_EQ(agent.site(), site);
    return in->peer;
  }
  ADD_FAILURE() << "no Hello within 10 s";
  return 0;
}

// Polls the coordinator (and drives the agent) until pred() or `limit`; true if pred() held.
// What these polls receive is dropped.
template <typename Pred>
bool poll_until(CoordinatorEndpoint& coord, AgentEndpoint* agent, Pred pred, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    coord.poll(10ms);
    if (agent) agent->poll(0ms);
  }
  return pred();
}

// ---- a TCP proxy that can go silent ---------------------------------------------------------

// Forwards every connection accepted on 127.0.0.1:<port()> to 127.0.0.1:<target_port>, from its
// own thread (poll(2), plain sockets). Frozen, it neither reads, writes nor accepts, but keeps
// every socket open: both ends see an established connection that carries nothing.
class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr = loopback(0);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 16) != 0 ||
        ::pipe(wake_) != 0) {
      ADD_FAILURE() << "proxy setup failed";
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TcpProxy() {
    stop_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
    close_all();
    for (int fd : {listen_fd_, wake_[0], wake_[1]})
      if (fd >= 0) ::close(fd);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::string address() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  void set_frozen(bool frozen) {
    frozen_ = frozen;
    wake();
  }
  /// Closes every proxied connection (a NAT that forgot them); new ones are accepted as before.
  void drop_connections() {
    drop_ = true;
    wake();
  }
  int n_connections() const { return n_pairs_.load(); }
  /// Forwards at most this many bytes per second (each way); 0 = as fast as loopback goes.
  void set_rate(double bytes_per_s) { rate_ = bytes_per_s; }

 private:
  struct Pair {
    int a = -1;  // accepted (the connecting side)
    int b = -1;  // ours, to the target
  };

  static sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
  }
  void wake() {
    const char c = 'w';
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
  }
  void close_all() {
    for (const Pair& p : pairs_) {
      ::close(p.a);
      ::close(p.b);
    }
    pairs_.clear();
    n_pairs_ = 0;
  }
  // Copies what is readable on `from` to `to`; false when the connection is over.
  bool forward(int from, int to) {
    char buf[65536];
    const double rate = rate_;
    const size_t chunk = rate > 0 ? 8192 : sizeof(buf);
    const ssize_t n = ::recv(from, buf, chunk, 0);
    if (n <= 0) return false;
    if (rate > 0) std::this_thread::sleep_for(std::chrono::duration<double>(static_cast<double>(n) / rate));
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }
  void loop() {
    while (!stop_) {
      const bool frozen = frozen_;
      if (drop_.exchange(false)) close_all();
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}};
      const size_t n = pairs_.size();
      if (!frozen) {
        for (const Pair& p : pairs_) {
          fds.push_back({p.a, POLLIN, 0});
          fds.push_back({p.b, POLLIN, 0});
        }
        fds.push_back({listen_fd_, POLLIN, 0});
      }
      ::poll(fds.data(), fds.size(), 100);
      if (fds[0].revents) {
        char drain[64];
        [[maybe_unused]] auto r = ::read(wake_[0], drain, sizeof(drain));
      }
      if (frozen) continue;
      std::vector<Pair> alive;
      for (size_t i = 0; i < n; ++i) {
        const Pair& p = pairs_[i];
        bool ok = true;
        if (fds[1 + 2 * i].revents) ok = forward(p.a, p.b);
        if (ok && fds[2 + 2 * i].revents) ok = forward(p.b, p.a);
        if (ok) {
          alive.push_back(p);
        } else {
          ::close(p.a);
          ::close(p.b);
        }
      }
      pairs_ = std::move(alive);
      if (fds.back().revents & POLLIN) {
        const int a = ::accept(listen_fd_, nullptr, nullptr);
        if (a >= 0) {
          const int b = ::socket(AF_INET, SOCK_STREAM, 0);
          sockaddr_in t = loopback(target_port_);
          if (::connect(b, reinterpret_cast<sockaddr*>(&t), sizeof(t)) == 0) {
            pairs_.push_back({a, b});
          } else {
            ::close(a);
            ::close(b);
          }
        }
      }
      n_pairs_ = static_cast<int>(pairs_.size());
    }
  }

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::vector<Pair> pairs_;  // the proxy thread's
  std::atomic<int> n_pairs_{0};
  std::atomic<bool> frozen_{false};
  std::atomic<double> rate_{0.0};
  std::atomic<bool> drop_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---- an agent in a child process --------------------------------------------------------------

enum class ChildMode {
  Poll,       // welcomed, then polls forever
  Block,      // welcomed, then its only thread sleeps: it never calls into the endpoint again
  HelloOnly,  // says Hello, is never welcomed, polls forever
};

// fork()s at construction, before the parent starts any thread (the coordinator's ZAP handler),
// so the child is single-threaded and may create its own ZeroMQ context. The child connects once
// it is told the address, reports 'R' when ready and dies at SIGKILL (or after 30 s, alarm).
class ForkedAgent {
 public:
  ForkedAgent(const Keys& keys, int index, ChildMode mode, double heartbeat_s) {
    if (::pipe(to_child_) != 0 || ::pipe(from_child_) != 0) {
      ADD_FAILURE() << "pipe failed";
      return;
    }
    pid_ = ::fork();
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
    if (pid_ == 0) {
      ::close(to_child_[1]);
      ::close(from_child_[0]);
      ::_exit(child(keys, index, mode, heartbeat_s));
    }
    ::close(to_child_[0]);
    ::close(from_child_[1]);
  }
  ~ForkedAgent() {
    kill();
    ::close(to_child_[1]);
    ::close(from_child_[0]);
  }
  ForkedAgent(const ForkedAgent&) = delete;
  ForkedAgent& operator=(const ForkedAgent&) = delete;

  void start(const std::string& address) {
    const std::string line = address + "\n";
    ASSERT_EQ(::write(to_child_[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }
  bool wait_ready(std::chrono::milliseconds limit) {
    pollfd p = {from_child_[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
    char c = 0;
    return ::read(from_child_[0], &c, 1) == 1 && c == 'R';
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  static void child_log(LogLevel, const char* module, const char* message, void* user) {
    std::fprintf(stderr, "[child site-%d] %s: %s\n", *static_cast<int*>(user), module, message);
  }
  int child(const Keys& keys, int index, ChildMode mode, double heartbeat_s) {
    ::alarm(30);
    set_log_sink(&child_log, &index);
    std::string address;
    char c = 0;
    while (::read(to_child_[0], &c, 1) == 1 && c != '\n') address += c;
    AgentOptions o = curve_agent(keys, index, heartbeat_s);
    o.connect_address = address;
    auto agent = AgentEndpoint::create(o);
    if (!agent) return 2;
    const std::string& key = keys.agents[static_cast<size_t>(index)].public_key;
    if (!(*agent)->send(hello("site-" + std::to_string(index), key))) return 3;
    if (mode != ChildMode::HelloOnly) {
      auto w = (*agent)->poll(10000ms);
      if (!w || w->message.header.type != MsgType::Welcome) return 4;
    }
    const char ready = 'R';
    if (::write(from_child_[1], &ready, 1) != 1) return 5;
    if (mode == ChildMode::Block)
      for (;;) ::pause();
    for (;;) (*agent)->poll(100ms);
  }

  pid_t pid_ = -1;
  int to_child_[2] = {-1, -1};
  int from_child_[2] = {-1, -1};
};

// Collects one Hello per agent name; returns name -> peer.
std::map<std::string, uint64_t> collect_hellos(CoordinatorEndpoint& coord, size_t n) {
  std::map<std::string, uint64_t> peers;
  const auto t0 = Clock::now();
  while (peers.size() < n && seconds_since(t0) < 10) {
    auto in = coord.poll(50ms);
    if (in && in->message.header.type == MsgType::Hello)
      peers[in->message.meta[field::kAgentName].get<std::string>()] = in->peer;
  }
  EXPECT_EQ(peers.size(), n) << "not every agent said Hello";
  return peers;
}

// ---- tests ------------------------------------------------------------------------------------

TEST(LivenessTest, KilledAgentIsReportedAtOnceOthersAreNot) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const double hb = 3.0;  // the default
  const Keys keys = make_keys(3);
  ForkedAgent a(keys, 0, ChildMode::Poll, hb);
  ForkedAgent b(keys, 1, ChildMode::Poll, hb);
  ForkedAgent unbound(keys, 2, ChildMode::HelloOnly, hb);
  auto coord = make_coordinator(curve_coordinator(keys, hb));
  ASSERT_TRUE(coord);
  for (ForkedAgent* f : {&a, &b, &unbound}) f->start(coord->endpoint());
  auto peers = collect_hellos(*coord, 3);
  ASSERT_EQ(peers.size(), 3u);
  ASSERT_TRUE(coord->send_to_peer(peers["site-0"], welcome(0)));
  ASSERT_TRUE(coord->send_to_peer(peers["site-1"], welcome(1)));
  for (ForkedAgent* f : {&a, &b, &unbound}) ASSERT_TRUE(f->wait_ready(10000ms));
  EXPECT_EQ(coord->bound_sites(), (std::vector<int>{0, 1}));
  EXPECT_TRUE(coord->take_lost_sites().empty());

  // An unbound peer that dies is forgotten without a report.
  unbound.kill();
  const uint64_t gone = peers["site-2"];
  EXPECT_TRUE(poll_until(
      *coord, nullptr,
      [&] {
        auto r = coord->send_to_peer(gone, make_message(MsgType::Heartbeat));
        return !r && r.error().message == "unknown peer " + std::to_string(gone);
      },
      3000ms));
  EXPECT_TRUE(coord->take_lost_sites().empty());

  // A bound one: its TCP connection closes with the process, and poll() wakes up for it.
  const auto t0 = Clock::now();  // kill() returns once the process is reaped
  a.kill();
  std::vector<int> lost;
  while (lost.empty() && seconds_since(t0) < hb + 1.0) {
    auto in = coord->poll(std::chrono::milliseconds(static_cast<int>((hb + 1.0) * 1000)));
    EXPECT_FALSE(in) << "no agent sends anything here";
    lost = coord->take_lost_sites();
  }
  const double detected = seconds_since(t0);
  std::printf("[liveness] SIGKILLed agent reported after %.3f s (heartbeat_s %.1f)\n", detected, hb);
  EXPECT_EQ(lost, std::vector<int>{0});
  EXPECT_LT(detected, hb + 1.0);
  EXPECT_TRUE(coord->take_lost_sites().empty()) << "reported once";
  EXPECT_EQ(coord->bound_sites(), (std::vector<int>{0, 1})) << "the caller unbinds";
  coord->unbind_site(0);
  EXPECT_EQ(coord->bound_sites(), std::vector<int>{1});

  // The other site is untouched.
  EXPECT_TRUE(coord->send(1, make_message(MsgType::Heartbeat, {}, 9)));
  EXPECT_FALSE(coord->poll(300ms));
  EXPECT_TRUE(coord->take_lost_sites().empty());
}

TEST(LivenessTest, SilentAgentWithBlockedThreadStaysAlive) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const double hb = 1.0;
  const Keys keys = make_keys(1);
  ForkedAgent child(keys, 0, ChildMode::Block, hb);
  auto coord = make_coordinator(curve_coordinator(keys, hb));
  ASSERT_TRUE(coord);
  child.start(coord->endpoint());
  auto peers = collect_hellos(*coord, 1);
  ASSERT_EQ(peers.size(), 1u);
  ASSERT_TRUE(coord->send_to_peer(peers["site-0"], welcome(0)));
  ASSERT_TRUE(child.wait_ready(10000ms));

  // The child's only thread sleeps from here on; its ZeroMQ I/O thread answers the PINGs.
  const auto t0 = Clock::now();
  while (seconds_since(t0) < 3 * hb) {
    EXPECT_FALSE(coord->poll(100ms));
    ASSERT_TRUE(coord->take_lost_sites().empty()) << "lost after " << seconds_since(t0) << " s";
  }
  EXPECT_EQ(coord->bound_sites(), std::vector<int>{0});
  // Messages still reach it (they queue in its endpoint).
  EXPECT_TRUE(coord->send(0, make_message(MsgType::Heartbeat, {}, 9)));

  const auto t1 = Clock::now();
  child.kill();
  EXPECT_TRUE(poll_until(
      *coord, nullptr, [&] { return coord->take_lost_sites() == std::vector<int>{0}; },
      std::chrono::milliseconds(static_cast<int>((hb + 1.0) * 1000))));
  std::printf("[liveness] blocked agent alive for %.1f s; reported %.3f s after SIGKILL\n", 3 * hb, seconds_since(t1));
}

TEST(LivenessTest, ReusedFdNumbersAndLeftoverMessagesAreNotMisattributed) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const Keys keys = make_keys(3);
  CoordinatorOptions co = curve_coordinator(keys, 3.0);
  co.linger_ms = 1000;
  auto coord = make_coordinator(co);
  ASSERT_TRUE(coord);
  auto connect_agent = [&](int i) {
    AgentOptions o = curve_agent(keys, i, 3.0);
    o.connect_address = coord->endpoint();
    return make_agent(o);
  };
  auto a = connect_agent(0);
  ASSERT_TRUE(a);
  ASSERT_NE(join(*coord, *a, keys.agents[0].public_key, 0), 0u);

  // A sends, then goes away before the coordinator reads it; B connects and says Hello, most
  // likely on the fd number A's connection had.
  ASSERT_TRUE(a->send(make_message(MsgType::Heartbeat, {}, 9)));
  std::this_thread::sleep_for(200ms);
  a.reset();
  std::this_thread::sleep_for(200ms);
  auto b = connect_agent(1);
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->send(hello("site-1", keys.agents[1].public_key)));
  std::this_thread::sleep_for(200ms);

  // The coordinator reads A's leftover (site 0 is still bound: delivered), B's Hello, and the loss.
  bool leftover = false, b_hello = false;
  uint64_t b_peer = 0;
  std::vector<int> lost;
  for (const auto t0 = Clock::now(); seconds_since(t0) < 5 && !(leftover && b_hello && !lost.empty());) {
    if (auto in = coord->poll(10ms)) {
      if (in->message.header.type == MsgType::Heartbeat && in->site == 0) leftover = true;
      if (in->message.header.type == MsgType::Hello) {
        b_hello = true;
        b_peer = in->peer;
      }
    }
    for (int site : coord->take_lost_sites()) lost.push_back(site);
  }
  EXPECT_TRUE(leftover) << "a message queued before the close is still delivered while bound";
  ASSERT_TRUE(b_hello);
  EXPECT_EQ(lost, std::vector<int>{0});
  // The caller has not unbound site 0 yet. B's connection closing must not be taken for site 0's
  // (A's leftover came in on the fd number B's connection now has).
  b.reset();
  EXPECT_TRUE(poll_until(
      *coord, nullptr,
      [&] {
        auto r = coord->send_to_peer(b_peer, make_message(MsgType::Heartbeat));
        return !r && r.error().message == "unknown peer " + std::to_string(b_peer);
      },
      3000ms))
      << "B was not forgotten";
  EXPECT_TRUE(coord->take_lost_sites().empty());
  coord->unbind_site(0);

  // A new agent takes site 0; its loss is reported once.
  auto c = connect_agent(2);
  ASSERT_TRUE(c);
  ASSERT_NE(join(*coord, *c, keys.agents[2].public_key, 0), 0u);
  EXPECT_TRUE(coord->take_lost_sites().empty());
  c.reset();
  lost.clear();
  EXPECT_TRUE(poll_until(
      *coord, nullptr,
      [&] {
        for (int site : coord->take_lost_sites()) lost.push_back(site);
        return !lost.empty();
      },
      3000ms));
  coord->poll(200ms);
  for (int site : coord->take_lost_sites()) lost.push_back(site);
  EXPECT_EQ(lost, std::vector<int>{0});
}

// Freezes the proxy between a connecting agent and the coordinator; returns the seconds until the
// coordinator reported site 0 and until the agent saw connected() go false (-1 = not within limit).
std::pair<double, double> freeze_and_time(CoordinatorEndpoint& coord, AgentEndpoint& agent, TcpProxy& proxy,
                                          double limit_s) {
  proxy.set_frozen(true);
  const auto t0 = Clock::now();
  double coord_s = -1, agent_s = -1;
  while ((coord_s < 0 || agent_s < 0) && seconds_since(t0) < limit_s) {
    coord.poll(10ms);
    if (coord_s < 0 && !coord.take_lost_sites().empty()) coord_s = seconds_since(t0);
    if (agent_s < 0 && !agent.connected()) agent_s = seconds_since(t0);
  }
  return {coord_s, agent_s};
}

TEST(LivenessTest, SilentLinkLossIsReportedAfterHeartbeatAndTheAgentRejoins) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const double hb = 3.0;  // the default: the issue's ~3 s
  const Keys keys = make_keys(1);
  auto coord = make_coordinator(curve_coordinator(keys, hb));
  ASSERT_TRUE(coord);
  TcpProxy proxy(port_of(coord->endpoint()));
  AgentOptions ao = curve_agent(keys, 0, hb);
  ao.connect_address = proxy.address();
  auto agent = make_agent(ao);
  ASSERT_TRUE(agent);
  ASSERT_NE(join(*coord, *agent, keys.agents[0].public_key, 0), 0u);
  EXPECT_TRUE(agent->connected());
  EXPECT_FALSE(agent->take_reconnected()) << "the first connection is not a reconnection";

  auto [coord_s, agent_s] = freeze_and_time(*coord, *agent, proxy, hb + 3.0);
  std::printf(
      "[liveness] frozen link (heartbeat_s %.1f): coordinator lost the site after %.3f s, "
      "agent saw it after %.3f s\n",
      hb, coord_s, agent_s);
  ASSERT_GE(coord_s, 0) << "coordinator never reported the site";
  ASSERT_GE(agent_s, 0) << "agent still believes it is connected";
  // The timeout runs from the last PING sent before the loss or the first after it (every hb / 3):
  // hb .. hb + hb / 3, plus slack for a loaded machine.
  EXPECT_GT(coord_s, hb / 2);
  EXPECT_LT(coord_s, hb + hb / 3 + 1.0);
  EXPECT_GT(agent_s, hb / 2);
  EXPECT_LT(agent_s, hb + hb / 3 + 1.0);
  EXPECT_FALSE(agent->take_reconnected());
  coord->unbind_site(0);  // what the federation does with a lost site

  // The link comes back: the agent's DEALER reconnects through the proxy by itself.
  proxy.drop_connections();
  proxy.set_frozen(false);
  const auto t1 = Clock::now();
  bool back = false;
  while (!back && seconds_since(t1) < 5) {
    agent->poll(20ms);  // returns early on the reconnection
    back = agent->take_reconnected();
  }
  ASSERT_TRUE(back) << "no reconnection within 5 s";
  std::printf("[liveness] agent reconnected %.3f s after the link came back\n", seconds_since(t1));
  EXPECT_TRUE(agent->connected());
  EXPECT_FALSE(agent->take_reconnected()) << "reported once";

  // Rejoin: a new Hello, a new Welcome on a new connection.
  EXPECT_NE(join(*coord, *agent, keys.agents[0].public_key, 0), 0u);
  EXPECT_EQ(coord->bound_sites(), std::vector<int>{0});
  ASSERT_TRUE(coord->send(0, make_message(MsgType::Heartbeat, {}, 9)));
  auto got = agent->poll(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->message.header.type, MsgType::Heartbeat);
  EXPECT_TRUE(coord->take_lost_sites().empty());
}

TEST(LivenessTest, HeartbeatZeroTurnsSilentLossDetectionOff) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const double interval = 1.0;  // what would have been detected after about 1 s
  const Keys keys = make_keys(1);
  auto coord = make_coordinator(curve_coordinator(keys, /*heartbeat_s=*/0));
  ASSERT_TRUE(coord);
  TcpProxy proxy(port_of(coord->endpoint()));
  AgentOptions ao = curve_agent(keys, 0, /*heartbeat_s=*/0);
  ao.connect_address = proxy.address();
  auto agent = make_agent(ao);
  ASSERT_TRUE(agent);
  ASSERT_NE(join(*coord, *agent, keys.agents[0].public_key, 0), 0u);

  auto [coord_s, agent_s] = freeze_and_time(*coord, *agent, proxy, 3 * interval);
  EXPECT_LT(coord_s, 0) << "reported after " << coord_s << " s without heartbeats";
  EXPECT_LT(agent_s, 0) << "agent saw a loss after " << agent_s << " s without heartbeats";

  // Unfrozen, the same connection carries on.
  proxy.set_frozen(false);
  ASSERT_TRUE(coord->send(0, make_message(MsgType::Heartbeat, {}, 9)));
  auto got = agent->poll(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->message.header.type, MsgType::Heartbeat);
  EXPECT_FALSE(agent->take_reconnected());
  EXPECT_EQ(coord->bound_sites(), std::vector<int>{0});
}

TEST(LivenessTest, ListeningAgentLosesAndRegainsTheConnectingCoordinator) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const double hb = 1.0;
  const Keys keys = make_keys(1);
  AgentOptions ao = curve_agent(keys, 0, hb);
  ao.bind_address = "tcp://127.0.0.1:*";
  auto agent = make_agent(ao);
  ASSERT_TRUE(agent);
  EXPECT_FALSE(agent->connected()) << "nobody has connected yet";
  TcpProxy proxy(port_of(agent->endpoint()));
  CoordinatorOptions co = curve_coordinator(keys, hb);
  co.bind_address = "";
  co.connect_addresses = {proxy.address()};
  auto coord = make_coordinator(co);
  ASSERT_TRUE(coord);
  const uint64_t first_peer = join(*coord, *agent, keys.agents[0].public_key, 0);
  ASSERT_NE(first_peer, 0u);
  EXPECT_TRUE(agent->connected());
  EXPECT_FALSE(agent->take_reconnected());

  auto [coord_s, agent_s] = freeze_and_time(*coord, *agent, proxy, hb + 3.0);
  std::printf(
      "[liveness] bind mode, frozen link (heartbeat_s %.1f): coordinator %.3f s, agent "
      "%.3f s\n",
      hb, coord_s, agent_s);
  ASSERT_GE(coord_s, 0) << "coordinator never reported the site";
  ASSERT_GE(agent_s, 0) << "agent still believes it is connected";
  EXPECT_LT(coord_s, hb + hb / 3 + 1.0);
  EXPECT_LT(agent_s, hb + hb / 3 + 1.0);
  coord->unbind_site(0);

  // The coordinator's ROUTER reconnects to the proxy by itself; the agent sees an accepted,
  // handshaken connection again and says Hello.
  proxy.drop_connections();
  proxy.set_frozen(false);
  EXPECT_TRUE(poll_until(
      *coord, agent.get(), [&] { return agent->take_reconnected(); }, 5000ms));
  EXPECT_TRUE(agent->connected());
  EXPECT_NE(join(*coord, *agent, keys.agents[0].public_key, 0), 0u);
  ASSERT_TRUE(coord->send(0, make_message(MsgType::Heartbeat, {}, 9)));
  auto got = agent->poll(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->message.header.type, MsgType::Heartbeat);

  // A second loss of the same outgoing session is reported as well.
  auto [coord2_s, agent2_s] = freeze_and_time(*coord, *agent, proxy, hb + 3.0);
  EXPECT_GE(coord2_s, 0) << "second loss not reported";
  EXPECT_GE(agent2_s, 0);
}

// Characterises a libzmq limit the caller must size heartbeat_s for (libzmq #2709, still so in
// 4.3.4): only complete frames count as traffic, so while one frame is crossing a slow link the
// receiver's PINGs go unanswered (the PONG waits behind the frame) and the connection is cut when
// the frame takes longer than heartbeat_s. The frame is lost. If this test starts failing, libzmq
// has fixed it: drop the caveat in endpoint.h.
TEST(LivenessTest, FrameSlowerThanHeartbeatIsCut_Libzmq2709) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  const double hb = 1.0;
  const double rate = 1e6;  // 1 MB/s
  const Keys keys = make_keys(1);
  auto coord = make_coordinator(curve_coordinator(keys, hb));
  ASSERT_TRUE(coord);
  TcpProxy proxy(port_of(coord->endpoint()));
  AgentOptions ao = curve_agent(keys, 0, hb);
  ao.connect_address = proxy.address();
  auto agent = make_agent(ao);
  ASSERT_TRUE(agent);
  ASSERT_NE(join(*coord, *agent, keys.agents[0].public_key, 0), 0u);
  proxy.set_rate(rate);

  auto start_round = [](int64_t n_floats) {
    Message m = make_message(MsgType::StartRound, minimal_meta(MsgType::StartRound), 9, 1);
    m.tensors.push_back(testing::f32_tensor("w", {n_floats}));
    return m;
  };
  // 0.4 MB: 0.4 s on the wire, under heartbeat_s: arrives.
  ASSERT_TRUE(coord->send(0, start_round(100000)));
  auto got = agent->poll(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->message.tensors.at(0).data.size(), 400000u);
  EXPECT_TRUE(coord->take_lost_sites().empty());

  // 3 MB: 3 s on the wire, over heartbeat_s: the connection is cut mid-frame.
  ASSERT_TRUE(coord->send(0, start_round(750000)));
  const auto t0 = Clock::now();
  bool cut = false, arrived = false;
  while (seconds_since(t0) < 5 && !cut) {
    if (agent->poll(10ms)) arrived = true;
    coord->poll(0ms);
    cut = coord->take_lost_sites() == std::vector<int>{0};
  }
  std::printf("[liveness] a 3 MB frame at 1 MB/s with heartbeat_s 1: connection cut after %.3f s\n", seconds_since(t0));
  EXPECT_TRUE(cut);
  EXPECT_FALSE(arrived);
}

TEST(LivenessTest, BadHeartbeatIsAClearError) {
  CoordinatorOptions co;
  co.curve = false;
  co.heartbeat_s = -1;
  auto c = CoordinatorEndpoint::create(co);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("heartbeat_s must be 0 (off)"), std::string::npos) << c.error().message;
  AgentOptions ao;
  ao.curve = false;
  ao.connect_address = "tcp://127.0.0.1:1";
  ao.heartbeat_s = 1e9;
  auto a = AgentEndpoint::create(ao);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("heartbeat_s must be 0 (off)"), std::string::npos) << a.error().message;
}

}  // namespace
}  // namespace fomoe::net
