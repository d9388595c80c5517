// Loopback socket tests (label net): coordinator/agent plumbing, CURVE allow-list, hostile peers,
// replay and spoofing, byte counts against predictions, link emulation. Ports via tcp://127.0.0.1:*.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "fomoe/base/log.h"
#include "fomoe/net/endpoint.h"
#include "net_test_util.h"

namespace fomoe::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::f32_tensor;
using testing::minimal_meta;

// ---- log capture (the ZAP handler logs from its own thread) ----
struct LogCapture {
  std::mutex mutex;
  std::vector<std::string> lines;
  static void sink(LogLevel, const char* module, const char* message, void* user) {
    auto* self = static_cast<LogCapture*>(user);
    std::lock_guard<std::mutex> lock(self->mutex);
    self->lines.push_back(std::string(module) + ": " + message);
  }
  bool contains(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex);
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
};

class EndpointTest : public ::testing::Test {
 protected:
  void SetUp() override { set_log_sink(&LogCapture::sink, &log_); }
  void TearDown() override { set_log_sink(nullptr, nullptr); }
  LogCapture log_;
};

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

CoordinatorOptions plain_coordinator(ByteCounter* counter = nullptr) {
  CoordinatorOptions o;
  o.curve = false;
  o.counter = counter;
  o.linger_ms = 0;
  return o;
}

AgentOptions plain_agent(const std::string& address, ByteCounter* counter = nullptr) {
  AgentOptions o;
  o.connect_address = address;
  o.curve = false;
  o.counter = counter;
  return o;
}

Message hello(const std::string& key = "") {
  auto meta = minimal_meta(MsgType::Hello);
  if (!key.empty()) meta[field::kPublicKey] = key;
  return make_message(MsgType::Hello, meta);
}

Message welcome(int site) {
  auto meta = minimal_meta(MsgType::Welcome);
  meta[field::kSiteId] = site;
  return make_message(MsgType::Welcome, meta, /*run_id=*/9);
}

// Polls until a message arrives or `limit` passes (generous: failure means "never arrived").
std::optional<Incoming> poll_for(CoordinatorEndpoint& c, std::chrono::milliseconds limit = 5000ms) {
  return c.poll(limit);
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 10000ms) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// Hello -> Welcome(site) handshake; returns the coordinator-side peer.
uint64_t join(CoordinatorEndpoint& coord, AgentEndpoint& agent, int site) {
  EXPECT_TRUE(agent.send(hello()));
  auto in = poll_for(coord);
  EXPECT_TRUE(in);
  if (!in) return 0;
  EXPECT_EQ(in->message.header.type, MsgType::Hello);
  EXPECT_EQ(in->site, kUnassignedSite);
  EXPECT_TRUE(coord.send_to_peer(in->peer, welcome(site)));
  auto w = agent.poll(5000ms);
  EXPECT_TRUE(w);
  if (w) {
    EXPECT_EQ(w->message.header.type, MsgType::Welcome);
  }
  EXPECT_EQ(agent.site(), site);
  return in->peer;
}

TEST_F(EndpointTest, PlainRoundTripBindsSitesAndCountsPredictedBytes) {
  ByteCounter coord_bytes, agent_bytes;
  auto coord = make_coordinator(plain_coordinator(&coord_bytes));
  ASSERT_TRUE(coord);
  EXPECT_NE(coord->endpoint().find("tcp://127.0.0.1:"), std::string::npos);
  auto agent = make_agent(plain_agent(coord->endpoint(), &agent_bytes));
  ASSERT_TRUE(agent);
  join(*coord, *agent, /*site=*/3);
  EXPECT_EQ(agent->run_id(), 9u);
  EXPECT_EQ(coord->bound_sites(), std::vector<int>{3});

  // Agent -> coordinator: a report with fp32 / bf16 / fp16 tensors; bytes == prediction.
  Message report = make_message(MsgType::RoundReport, minimal_meta(MsgType::RoundReport), 9, 4);
  std::vector<TensorSpec> specs = {{"dense.w", DType::F32, {32, 16}},
                                   {"experts.0.w1", DType::BF16, {16, 64}},
                                   {"experts.0.w2", DType::F16, {64, 16}}};
  for (const auto& s : specs) {
    std::string raw(static_cast<size_t>(s.shape[0] * s.shape[1]) * dtype_size(s.dtype), '\x02');
    report.tensors.push_back(make_tensor(s.name, s.dtype, s.shape, raw.data()));
  }
  const uint64_t predicted = predicted_wire_bytes(MsgType::RoundReport, report.meta, specs);
  auto sent = agent->send(report);
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_EQ(sent->bytes, predicted);

  auto in = poll_for(*coord);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->site, 3);
  EXPECT_EQ(in->message.header.sender, 3);
  EXPECT_EQ(in->message.header.type, MsgType::RoundReport);
  EXPECT_EQ(in->wire_bytes, predicted);
  ASSERT_EQ(in->message.tensors.size(), 3u);
  EXPECT_EQ(in->message.tensors[1].data, report.tensors[1].data);

  // Coordinator -> agent.
  Message start = make_message(MsgType::StartRound, minimal_meta(MsgType::StartRound), 9, 5);
  start.tensors.push_back(f32_tensor("dense.w", {32, 16}));
  const uint64_t start_bytes = encoded_size(start);
  ASSERT_TRUE(coord->send(3, start));
  auto got = agent->poll(5000ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->message.header.type, MsgType::StartRound);
  EXPECT_EQ(got->message.header.sender, kCoordinatorSite);
  EXPECT_EQ(got->wire_bytes, start_bytes);

  auto find = [](const std::vector<ByteRow>& rows, int round, Direction d, const char* type) {
    for (const auto& r : rows)
      if (r.round == round && r.direction == d && r.msg_type == type) return r;
    return ByteRow{};
  };
  auto crows = coord_bytes.snapshot();
  EXPECT_EQ(find(crows, 4, Direction::Received, "round_report").bytes, static_cast<int64_t>(predicted));
  EXPECT_EQ(find(crows, 4, Direction::Received, "round_report").site, 3);
  EXPECT_EQ(find(crows, 5, Direction::Sent, "start_round").bytes, static_cast<int64_t>(start_bytes));
  auto arows = agent_bytes.snapshot();  // the agent records with the coordinator's direction
  EXPECT_EQ(find(arows, 4, Direction::Received, "round_report").bytes, static_cast<int64_t>(predicted));
  EXPECT_EQ(find(arows, 5, Direction::Sent, "start_round").bytes, static_cast<int64_t>(start_bytes));
  EXPECT_EQ(coord_bytes.total(Direction::Received), agent_bytes.total(Direction::Received));
  EXPECT_EQ(coord_bytes.total(Direction::Sent), agent_bytes.total(Direction::Sent));

  // Unknown site: a clear error, no crash.
  auto none = coord->send(99, make_message(MsgType::Heartbeat));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no agent is bound to site 99"), std::string::npos);
}

TEST_F(EndpointTest, BroadcastReachesEverySiteAndCountsPerSite) {
  ByteCounter bytes;
  auto coord = make_coordinator(plain_coordinator(&bytes));
  ASSERT_TRUE(coord);
  auto a0 = make_agent(plain_agent(coord->endpoint()));
  auto a1 = make_agent(plain_agent(coord->endpoint()));
  ASSERT_TRUE(a0 && a1);
  join(*coord, *a0, 0);
  join(*coord, *a1, 1);
  Message start = make_message(MsgType::StartRound, minimal_meta(MsgType::StartRound), 9, 2);
  start.tensors.push_back(f32_tensor("dense.w", {256, 64}, 1.f));
  const std::string payload = start.tensors[0].data;
  const uint64_t size = encoded_size(start);
  auto sent = coord->broadcast({0, 1}, std::move(start));
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_EQ(sent->bytes, size);
  for (AgentEndpoint* a : {a0.get(), a1.get()}) {
    auto got = a->poll(5000ms);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->message.header.type, MsgType::StartRound);
    EXPECT_EQ(got->message.tensors[0].data, payload);
  }
  int64_t round2 = 0;
  int rows = 0;
  for (const auto& r : bytes.snapshot())
    if (r.round == 2 && r.direction == Direction::Sent) {
      round2 += r.bytes;
      ++rows;
    }
  EXPECT_EQ(rows, 2);
  EXPECT_EQ(round2, static_cast<int64_t>(2 * size));
  auto bad = coord->broadcast({0, 7}, make_message(MsgType::Heartbeat));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("site 7"), std::string::npos);
}

TEST_F(EndpointTest, CurveAllowedAgentTalksUnknownKeyIsRefusedAndLogged) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), good = generate_keypair(), bad = generate_keypair();
  ASSERT_TRUE(server && good && bad);

  CoordinatorOptions co;
  co.server_keys = *server;
  co.allowed_public_keys = {good->public_key};
  co.linger_ms = 0;
  auto coord = make_coordinator(co);
  ASSERT_TRUE(coord);

  AgentOptions bo;
  bo.connect_address = coord->endpoint();
  bo.client_keys = *bad;
  bo.server_public_key = server->public_key;
  bo.linger_ms = 0;
  auto intruder = make_agent(bo);
  ASSERT_TRUE(intruder);
  ASSERT_TRUE(intruder->send(hello(bad->public_key)));

  // The coordinator never receives the intruder's Hello; the refusal is counted and logged.
  bool refused = wait_until([&] {
    EXPECT_FALSE(coord->poll(20ms)) << "a message from an unknown key reached the coordinator";
    return coord->drops().refused_keys >= 1;
  });
  ASSERT_TRUE(refused);
  EXPECT_TRUE(log_.contains("refused CURVE key " + bad->public_key));
  EXPECT_TRUE(wait_until([&] { return intruder->auth_failed(); }));

  AgentOptions go = bo;
  go.client_keys = *good;
  auto agent = make_agent(go);
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->send(hello(good->public_key)));
  auto in = poll_for(*coord);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->public_key, good->public_key);
  EXPECT_EQ(in->message.meta[field::kPublicKey], good->public_key);
  ASSERT_TRUE(coord->send_to_peer(in->peer, welcome(0)));
  auto w = agent->poll(5000ms);
  ASSERT_TRUE(w);
  EXPECT_EQ(agent->site(), 0);
  EXPECT_FALSE(agent->auth_failed());
  EXPECT_FALSE(coord->poll(200ms));  // still nothing from the intruder

  // A Hello claiming another key than the one authenticated is dropped.
  ASSERT_TRUE(agent->send(hello(bad->public_key)));
  EXPECT_FALSE(coord->poll(500ms));
  EXPECT_EQ(coord->drops().unexpected, 1u);
}

TEST_F(EndpointTest, CurveWrongServerKeyNeverConnects) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), other = generate_keypair(), good = generate_keypair();
  ASSERT_TRUE(server && other && good);
  CoordinatorOptions co;
  co.server_keys = *server;
  co.allowed_public_keys = {good->public_key};
  co.linger_ms = 0;
  auto coord = make_coordinator(co);
  ASSERT_TRUE(coord);
  AgentOptions ao;
  ao.connect_address = coord->endpoint();
  ao.client_keys = *good;
  ao.server_public_key = other->public_key;  // not the coordinator's
  ao.linger_ms = 0;
  auto agent = make_agent(ao);
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->send(hello(good->public_key)));
  EXPECT_FALSE(coord->poll(500ms));
}

TEST_F(EndpointTest, BadOptionsAreClearErrors) {
  CoordinatorOptions co;  // CURVE on, no keys
  auto c = CoordinatorEndpoint::create(co);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("allow-list is empty"), std::string::npos);
  co.allowed_public_keys = {"nonsense"};
  c = CoordinatorEndpoint::create(co);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("'nonsense' is not a 40-character Z85"), std::string::npos);

  CoordinatorOptions po = plain_coordinator();
  po.bind_address = "tcp://256.1.1.1:1";
  c = CoordinatorEndpoint::create(po);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("cannot bind coordinator to tcp://256.1.1.1:1"), std::string::npos);

  AgentOptions ao;
  ao.connect_address = "tcp://127.0.0.1:1";
  auto a = AgentEndpoint::create(ao);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("coordinator's public key"), std::string::npos);
}

// Sends raw frames from a socket that speaks ZeroMQ but not our protocol.
void send_raw(zmq::socket_t& s, const std::vector<std::string>& frames) {
  std::vector<zmq::message_t> msgs;
  for (const auto& f : frames) msgs.emplace_back(f.data(), f.size());
  ASSERT_TRUE(zmq::send_multipart(s, msgs));
}

std::vector<std::vector<std::string>> garbage_messages() {
  std::vector<std::vector<std::string>> out;
  std::mt19937 rng(1234);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
  };
  out.push_back({random_bytes(7)});
  out.push_back({random_bytes(32), random_bytes(100), random_bytes(3)});
  auto good = encode(hello());
  auto frames = *good;
  frames[1] = "{not json";
  out.push_back(frames);
  frames = *good;
  frames[0][0] = 'Z';
  out.push_back(frames);
  Message m = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad));
  m.tensors.push_back(f32_tensor("g", {4}));
  frames = *encode(m);
  frames[2][4 + 1] = '\x7f';  // shape[0] low byte: declared size no longer matches the data
  out.push_back(frames);
  frames = *encode(m);
  frames.pop_back();
  out.push_back(frames);
  for (int i = 0; i < 20; ++i) out.push_back({random_bytes(32), "{}", random_bytes(rng() % 64)});
  return out;
}

TEST_F(EndpointTest, HostilePeerSendingGarbageDoesNotStopTheCoordinator) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), good = generate_keypair(), insider = generate_keypair();
  ASSERT_TRUE(server && good && insider);
  ByteCounter bytes;
  CoordinatorOptions co;
  co.server_keys = *server;
  co.allowed_public_keys = {good->public_key, insider->public_key};
  co.counter = &bytes;
  co.linger_ms = 0;
  auto coord = make_coordinator(co);
  ASSERT_TRUE(coord);

  AgentOptions go;
  go.connect_address = coord->endpoint();
  go.client_keys = *good;
  go.server_public_key = server->public_key;
  auto agent = make_agent(go);
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->send(hello(good->public_key)));
  auto in = poll_for(*coord);
  ASSERT_TRUE(in);
  ASSERT_TRUE(coord->send_to_peer(in->peer, welcome(0)));
  ASSERT_TRUE(agent->poll(5000ms));

  // An authenticated insider sends garbage multipart messages.
  zmq::context_t ctx;
  zmq::socket_t hostile(ctx, zmq::socket_type::dealer);
  hostile.set(zmq::sockopt::linger, 0);
  hostile.set(zmq::sockopt::curve_serverkey, server->public_key);
  hostile.set(zmq::sockopt::curve_publickey, insider->public_key);
  hostile.set(zmq::sockopt::curve_secretkey, insider->secret_key);
  hostile.connect(coord->endpoint());
  const auto garbage = garbage_messages();
  for (const auto& g : garbage) send_raw(hostile, g);
  // An unauthenticated raw TCP peer writes junk into the port.
  zmq::socket_t stream(ctx, zmq::socket_type::stream);
  stream.set(zmq::sockopt::linger, 0);
  stream.connect(coord->endpoint());
  const std::string sid = stream.get(zmq::sockopt::routing_id);
  std::string junk(4096, '\xAB');
  stream.send(zmq::buffer(sid), zmq::send_flags::sndmore);
  stream.send(zmq::buffer(junk), zmq::send_flags::none);

  EXPECT_TRUE(wait_until([&] {
    auto m = coord->poll(20ms);
    EXPECT_FALSE(m) << "garbage was delivered as a message";
    return coord->drops().malformed >= garbage.size();
  }));
  EXPECT_EQ(coord->drops().malformed, garbage.size());
  EXPECT_TRUE(log_.contains("dropped malformed message"));
  bool counted_invalid = false;
  for (const auto& r : bytes.snapshot()) counted_invalid |= (r.msg_type == kInvalidTypeName && r.bytes > 0);
  EXPECT_TRUE(counted_invalid);

  // The good agent is still served, both ways.
  ASSERT_TRUE(agent->send(make_message(MsgType::Heartbeat, {}, 9)));
  auto hb = poll_for(*coord);
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->message.header.type, MsgType::Heartbeat);
  EXPECT_EQ(hb->site, 0);
  ASSERT_TRUE(coord->send(0, make_message(MsgType::Shutdown, {{field::kReason, "done"}}, 9)));
  auto bye = agent->poll(5000ms);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->message.header.type, MsgType::Shutdown);
}

TEST_F(EndpointTest, ReplaySpoofAndUnwelcomedMessagesAreDropped) {
  auto coord = make_coordinator(plain_coordinator());
  ASSERT_TRUE(coord);
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(coord->endpoint());
  auto frames_of = [](Message m, int32_t sender, uint64_t seq) {
    m.header.sender = sender;
    m.header.seq = seq;
    return *encode(std::move(m));
  };
  // Before Hello: anything else is dropped.
  send_raw(raw, frames_of(make_message(MsgType::Heartbeat), kUnassignedSite, 1));
  send_raw(raw, frames_of(hello(), kUnassignedSite, 2));
  auto in = poll_for(*coord);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->message.header.type, MsgType::Hello);
  EXPECT_EQ(coord->drops().unexpected, 1u);
  ASSERT_TRUE(coord->send_to_peer(in->peer, welcome(2)));

  send_raw(raw, frames_of(make_message(MsgType::Heartbeat, {}, 9), 2, 10));
  send_raw(raw, frames_of(make_message(MsgType::Heartbeat, {}, 9), 2, 10));  // replay
  send_raw(raw, frames_of(make_message(MsgType::Heartbeat, {}, 9), 2, 9));   // older
  send_raw(raw, frames_of(make_message(MsgType::Heartbeat, {}, 9), 5, 11));  // claims site 5
  send_raw(raw, frames_of(make_message(MsgType::Ack, {{field::kAckSeq, 1}}, 9), 2, 12));
  auto first = poll_for(*coord);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->message.header.seq, 10u);
  auto next = poll_for(*coord);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->message.header.type, MsgType::Ack);
  EXPECT_EQ(next->site, 2);
  EXPECT_EQ(coord->drops().replayed, 2u);
  EXPECT_EQ(coord->drops().unexpected, 2u);
  EXPECT_TRUE(log_.contains("is not above the last accepted 10"));
  EXPECT_TRUE(log_.contains("claims sender 5"));
}

TEST_F(EndpointTest, AgentDropsReplayedCoordinatorMessages) {
  // A raw ROUTER plays a misbehaving coordinator.
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  auto agent = make_agent(plain_agent(router.get(zmq::sockopt::last_endpoint)));
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->send(hello()));
  std::vector<zmq::message_t> req;
  ASSERT_TRUE(zmq::recv_multipart(router, std::back_inserter(req)));
  const std::string id = req[0].to_string();
  auto send_as_coord = [&](Message m, uint64_t seq, int32_t sender = kCoordinatorSite) {
    m.header.sender = sender;
    m.header.seq = seq;
    std::vector<std::string> f = *encode(std::move(m));
    f.insert(f.begin(), id);
    send_raw(router, f);
  };
  send_as_coord(welcome(1), 5);
  send_as_coord(make_message(MsgType::Heartbeat, {}, 9), 5);      // replay of seq 5
  send_as_coord(make_message(MsgType::Heartbeat, {}, 9), 6, 3);   // not the coordinator
  send_as_coord(make_message(MsgType::Heartbeat, {}, 77), 7);     // another run
  send_as_coord(make_message(MsgType::Shutdown, {{field::kReason, "x"}}, 9), 8);
  auto w = agent->poll(5000ms);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->message.header.type, MsgType::Welcome);
  auto s = agent->poll(5000ms);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message.header.type, MsgType::Shutdown);
  EXPECT_EQ(agent->drops().replayed, 1u);
  EXPECT_EQ(agent->drops().unexpected, 2u);
}

TEST_F(EndpointTest, LinkEmulationDelaysBothDirectionsByThePredictedAmount) {
  ByteCounter agent_bytes;
  auto coord = make_coordinator(plain_coordinator());
  ASSERT_TRUE(coord);
  AgentOptions ao = plain_agent(coord->endpoint(), &agent_bytes);
  ao.link = LinkEmulator{/*bandwidth_bits_per_s=*/8e6, /*latency_s=*/0.02};  // 1 MB/s, 20 ms
  auto agent = make_agent(ao);
  ASSERT_TRUE(agent);
  join(*coord, *agent, 0);
  const double before = agent->link_seconds_total();

  Message grad = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad), 9, 1);
  grad.tensors.push_back(f32_tensor("g", {25000}));  // 100 kB -> 0.1 s + 0.02 s
  const uint64_t bytes = encoded_size(grad);
  const double predicted = 0.02 + static_cast<double>(bytes) * 8.0 / 8e6;
  EXPECT_NEAR(ao.link->delay_seconds(bytes), predicted, 1e-12);

  auto t0 = Clock::now();
  auto sent = agent->send(grad);
  const double send_elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(sent);
  EXPECT_GE(send_elapsed, predicted);
  EXPECT_DOUBLE_EQ(sent->link_seconds, predicted);
  ASSERT_TRUE(poll_for(*coord));

  Message update = make_message(MsgType::StepUpdate, minimal_meta(MsgType::StepUpdate), 9, 1);
  update.tensors.push_back(f32_tensor("g", {25000}));
  ASSERT_TRUE(coord->send(0, update));
  t0 = Clock::now();
  auto got = agent->poll(5000ms);
  const double recv_elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(got);
  EXPECT_DOUBLE_EQ(got->link_seconds, predicted);
  EXPECT_GE(recv_elapsed, predicted);
  EXPECT_NEAR(agent->link_seconds_total() - before, 2 * predicted, 1e-9);

  double counted = 0;
  for (const auto& r : agent_bytes.snapshot())
    if (r.round == 1) counted += r.seconds;
  EXPECT_NEAR(counted, 2 * predicted, 1e-9);
}


// In the background, the emulated link does not block the caller: send() returns at once, the
// message reaches the coordinator after the link's delay (pump() moves it), sends queue one after
// another, and a received message comes out of poll() only once it has crossed.
TEST_F(EndpointTest, BackgroundLinkDelaysWithoutBlockingTheCaller) {
  auto coord = make_coordinator(plain_coordinator());
  ASSERT_TRUE(coord);
  AgentOptions ao = plain_agent(coord->endpoint(), nullptr);
  ao.link = LinkEmulator{/*bandwidth_bits_per_s=*/8e6, /*latency_s=*/0.02};  // 1 MB/s, 20 ms
  auto agent = make_agent(ao);
  ASSERT_TRUE(agent);
  join(*coord, *agent, 0);
  agent->set_link_in_background(true);

  Message grad = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad), 9, 1);
  grad.tensors.push_back(f32_tensor("g", {25000}));  // 100 kB -> 0.12 s
  const double one = ao.link->delay_seconds(encoded_size(grad));
  auto t0 = Clock::now();
  ASSERT_TRUE(agent->send(grad));
  ASSERT_TRUE(agent->send(grad));  // queues behind the first: arrives after 2x the delay
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), one / 2) << "send blocked on the emulated link";
  std::vector<double> arrivals;
  while (arrivals.size() < 2 && std::chrono::duration<double>(Clock::now() - t0).count() < 5.0) {
    agent->pump();
    if (coord->poll(10ms)) arrivals.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  ASSERT_EQ(arrivals.size(), 2u);
  EXPECT_GE(arrivals[0], one);
  EXPECT_GE(arrivals[1], 2 * one);

  Message update = make_message(MsgType::StepUpdate, minimal_meta(MsgType::StepUpdate), 9, 1);
  update.tensors.push_back(f32_tensor("g", {25000}));
  ASSERT_TRUE(coord->send(0, update));
  t0 = Clock::now();
  auto got = agent->poll(5000ms);
  ASSERT_TRUE(got);
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), one);
  EXPECT_DOUBLE_EQ(got->link_seconds, one);

  // Off again: what is still crossing goes out first (a goodbye is never lost).
  ASSERT_TRUE(agent->send(grad));
  agent->set_link_in_background(false);
  EXPECT_TRUE(poll_for(*coord));
}

// ---- listening agents: the agent binds (`fomoe agent --listen`), the coordinator connects ----

AgentOptions listening_agent(const CurveKeyPair& keys, const std::string& server_key) {
  AgentOptions o;
  o.bind_address = "tcp://127.0.0.1:*";
  o.client_keys = keys;
  o.server_public_key = server_key;
  o.linger_ms = 0;
  return o;
}

TEST_F(EndpointTest, CoordinatorConnectsToListeningAgentsWithCurve) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), k0 = generate_keypair(), k1 = generate_keypair(),
       bad = generate_keypair();
  ASSERT_TRUE(server && k0 && k1 && bad);

  // Agents start first, listen, and send their Hello right away: it waits for the coordinator.
  auto a0 = make_agent(listening_agent(*k0, server->public_key));
  auto a1 = make_agent(listening_agent(*k1, server->public_key));
  auto intruder = make_agent(listening_agent(*bad, server->public_key));
  ASSERT_TRUE(a0 && a1 && intruder);
  EXPECT_NE(a0->endpoint().find("tcp://127.0.0.1:"), std::string::npos);
  EXPECT_NE(a0->endpoint(), a1->endpoint());
  ASSERT_TRUE(a0->send(hello(k0->public_key)));
  ASSERT_TRUE(a1->send(hello(k1->public_key)));
  ASSERT_TRUE(intruder->send(hello(bad->public_key)));
  EXPECT_EQ(a0->pending(), 1u);  // nobody connected yet
  EXPECT_FALSE(a0->poll(20ms));

  CoordinatorOptions co;
  co.bind_address = "";  // connect only
  co.connect_addresses = {a0->endpoint(), a1->endpoint()};
  co.server_keys = *server;
  co.allowed_public_keys = {k0->public_key, k1->public_key};
  co.linger_ms = 0;
  auto coord = make_coordinator(co);
  ASSERT_TRUE(coord);
  EXPECT_EQ(coord->endpoint(), "");
  ASSERT_TRUE(coord->connect(intruder->endpoint()));  // one more, with a key not allowed

  // The agents' poll() sends the pending Hello once the coordinator is connected.
  std::map<std::string, Incoming> hellos;  // by public key
  ASSERT_TRUE(wait_until([&] {
    EXPECT_FALSE(a0->poll(0ms));
    EXPECT_FALSE(a1->poll(0ms));
    EXPECT_FALSE(intruder->poll(0ms));
    if (auto in = coord->poll(20ms)) {
      EXPECT_EQ(in->message.header.type, MsgType::Hello);
      hellos[in->public_key] = std::move(*in);
    }
    return hellos.size() == 2 && coord->drops().refused_keys >= 1;
  }));
  ASSERT_TRUE(hellos.count(k0->public_key) && hellos.count(k1->public_key));
  EXPECT_EQ(a0->pending(), 0u);
  EXPECT_EQ(a1->pending(), 0u);
  EXPECT_TRUE(log_.contains("refused CURVE key " + bad->public_key));
  EXPECT_TRUE(wait_until([&] { return intruder->auth_failed(); }));
  EXPECT_EQ(intruder->pending(), 1u);  // its Hello never left

  // Welcome both, then a broadcast round and a report from each site.
  ASSERT_TRUE(coord->send_to_peer(hellos[k0->public_key].peer, welcome(0)));
  ASSERT_TRUE(coord->send_to_peer(hellos[k1->public_key].peer, welcome(1)));
  for (AgentEndpoint* a : {a0.get(), a1.get()}) {
    auto w = a->poll(5000ms);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->message.header.type, MsgType::Welcome);
  }
  EXPECT_EQ(a0->site(), 0);
  EXPECT_EQ(a1->site(), 1);

  Message start = make_message(MsgType::StartRound, minimal_meta(MsgType::StartRound), 9, 1);
  start.tensors.push_back(f32_tensor("dense.w", {8, 4}));
  ASSERT_TRUE(coord->broadcast({0, 1}, std::move(start)));
  for (AgentEndpoint* a : {a0.get(), a1.get()}) {
    auto s = a->poll(5000ms);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->message.header.type, MsgType::StartRound);
    ASSERT_EQ(s->message.tensors.size(), 1u);
    EXPECT_EQ(s->message.tensors[0].shape, (std::vector<int64_t>{8, 4}));
    Message report = make_message(MsgType::RoundReport, minimal_meta(MsgType::RoundReport), 9, 1);
    report.tensors.push_back(f32_tensor("dense.w", {8, 4}, static_cast<float>(a->site())));
    ASSERT_TRUE(a->send(std::move(report)));
  }
  std::set<int> reported;
  for (int i = 0; i < 2; ++i) {
    auto in = poll_for(*coord);
    ASSERT_TRUE(in);
    EXPECT_EQ(in->message.header.type, MsgType::RoundReport);
    EXPECT_EQ(in->message.header.sender, in->site);
    reported.insert(in->site);
  }
  EXPECT_EQ(reported, (std::set<int>{0, 1}));
  EXPECT_FALSE(coord->poll(100ms));  // nothing from the intruder
  EXPECT_EQ(intruder->site(), kUnassignedSite);
}

TEST_F(EndpointTest, CoordinatorBindsAndConnectsAtOnce) {
  auto listening = make_agent([] {
    AgentOptions o;
    o.bind_address = "tcp://127.0.0.1:*";
    o.curve = false;
    o.linger_ms = 0;
    return o;
  }());
  ASSERT_TRUE(listening);
  ASSERT_TRUE(listening->send(hello()));
  CoordinatorOptions co = plain_coordinator();
  co.connect_addresses = {listening->endpoint()};
  auto coord = make_coordinator(co);
  ASSERT_TRUE(coord);
  auto connecting = make_agent(plain_agent(coord->endpoint()));
  ASSERT_TRUE(connecting);
  ASSERT_TRUE(connecting->send(hello()));
  std::set<uint64_t> peers;
  ASSERT_TRUE(wait_until([&] {
    listening->poll(0ms);
    if (auto in = coord->poll(20ms)) peers.insert(in->peer);
    return peers.size() == 2;
  }));
  int site = 0;
  for (uint64_t peer : peers) ASSERT_TRUE(coord->send_to_peer(peer, welcome(site++)));
  ASSERT_TRUE(listening->poll(5000ms));
  ASSERT_TRUE(connecting->poll(5000ms));
  EXPECT_NE(listening->site(), connecting->site());
  EXPECT_EQ(coord->bound_sites(), (std::vector<int>{0, 1}));
}

TEST_F(EndpointTest, ListeningAgentBoundsWhatWaitsForTheCoordinator) {
  AgentOptions o;
  o.bind_address = "tcp://127.0.0.1:*";
  o.curve = false;
  o.max_pending = 2;
  ByteCounter bytes;
  o.counter = &bytes;
  auto agent = make_agent(o);
  ASSERT_TRUE(agent);
  auto first = agent->send(hello());
  ASSERT_TRUE(first);
  ASSERT_TRUE(agent->send(make_message(MsgType::Heartbeat, nlohmann::json::object())));
  EXPECT_EQ(agent->pending(), 2u);
  auto third = agent->send(make_message(MsgType::Heartbeat, nlohmann::json::object()));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::Timeout);
  EXPECT_NE(third.error().message.find("no coordinator has connected to " + agent->endpoint()),
            std::string::npos)
      << third.error().message;
  EXPECT_EQ(agent->pending(), 2u);
  // Accepted messages are counted once; the refused one is not.
  int64_t counted = 0;
  for (const ByteRow& r : bytes.take()) counted += r.bytes;
  EXPECT_EQ(counted, static_cast<int64_t>(first->bytes + encoded_size(make_message(
                                                             MsgType::Heartbeat, nlohmann::json::object()))));
}

TEST_F(EndpointTest, ListenOptionsAreValidated) {
  AgentOptions both;
  both.connect_address = "tcp://127.0.0.1:5555";
  both.bind_address = "tcp://127.0.0.1:*";
  both.curve = false;
  auto a = AgentEndpoint::create(both);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("mutually exclusive"), std::string::npos) << a.error().message;

  AgentOptions neither;
  neither.curve = false;
  a = AgentEndpoint::create(neither);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("bind address"), std::string::npos) << a.error().message;

  AgentOptions bad_bind;
  bad_bind.curve = false;
  bad_bind.bind_address = "tcp://256.1.1.1:1";
  a = AgentEndpoint::create(bad_bind);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("cannot listen on tcp://256.1.1.1:1"), std::string::npos)
      << a.error().message;

  CoordinatorOptions co = plain_coordinator();
  co.bind_address = "";
  auto c = CoordinatorEndpoint::create(co);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("connect_addresses"), std::string::npos) << c.error().message;

  co.connect_addresses = {"nonsense"};
  c = CoordinatorEndpoint::create(co);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("'nonsense'"), std::string::npos) << c.error().message;
}

}  // namespace
}  // namespace fomoe::net
