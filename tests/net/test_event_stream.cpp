// Run event stream over loopback PUB/SUB (label net): every topic arrives equal, pump() forwards
// into a RunSink, topic filters, CURVE allow/refuse (an unlisted key, a plaintext subscriber and a
// wrong server key get nothing and are told why; a refused key is logged once; an allow-list
// directory is read again), queued events survive the publisher's destruction, and garbage from
// a raw PUB socket never crashes the subscriber.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "event_test_util.h"
#include "fomoe/base/log.h"

namespace fomoe::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::expect_same_event;
using testing::RecordingSink;
using testing::sample_events;

struct LogCapture {
  std::mutex mutex;
  std::vector<std::string> lines;
  static void sink(LogLevel, const char* module, const char* message, void* user) {
    auto* self = static_cast<LogCapture*>(user);
    std::lock_guard<std::mutex> lock(self->mutex);
    self->lines.push_back(std::string(module) + ": " + message);
  }
  size_t count(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex);
    return static_cast<size_t>(std::count_if(lines.begin(), lines.end(),
                                             [&](const std::string& l) { return l.find(needle) != std::string::npos; }));
  }
  bool contains(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex);
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
};

class EventStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { set_log_sink(&LogCapture::sink, &log_); }
  void TearDown() override { set_log_sink(nullptr, nullptr); }
  LogCapture log_;
};

std::unique_ptr<EventPublisher> make_publisher(EventPublisherOptions opt = {}) {
  auto p = EventPublisher::create(std::move(opt));
  EXPECT_TRUE(p) << (p ? "" : p.error().message);
  return p ? std::move(*p) : nullptr;
}

std::unique_ptr<EventSubscriber> make_subscriber(EventSubscriberOptions opt) {
  auto s = EventSubscriber::create(std::move(opt));
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

std::unique_ptr<EventSubscriber> make_subscriber(const std::string& address) {
  EventSubscriberOptions o;
  o.connect_address = address;
  return make_subscriber(o);
}

bool is_hello(const StreamEvent& e) {
  if (auto* ev = std::get_if<RunEvent>(&e)) return ev->kind == "hello";
  if (auto* m = std::get_if<std::vector<MetricPoint>>(&e))
    return m->size() == 1 && (*m)[0].name == "hello";
  return false;
}

// PUB/SUB slow joiner: publish hellos until the subscriber sees one (bounded), so later messages
// are not lost to a subscription still in flight. `publish` sends one hello.
template <typename Publish>
bool settle(EventSubscriber& sub, Publish publish, std::chrono::milliseconds limit = 10000ms) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    publish();
    if (auto e = sub.poll(20ms)) {
      if (is_hello(*e)) return true;
    }
  }
  return false;
}

void publish_hello(EventPublisher& pub) { pub.on_event(RunEvent{0.0, -1, "hello", ""}); }

// Next event that is not a leftover settle hello.
std::optional<StreamEvent> next_event(EventSubscriber& sub, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    auto e = sub.poll(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (e && !is_hello(*e)) return e;
  }
  return std::nullopt;
}

void publish_via_sink(RunSink& sink, const StreamEvent& e) { deliver(e, sink); }

TEST_F(EventStreamTest, EveryKindArrivesEqualInOrder) {
  auto pub = make_publisher();
  ASSERT_TRUE(pub);
  EXPECT_NE(pub->endpoint().find("tcp://127.0.0.1:"), std::string::npos);
  auto sub = make_subscriber(pub->endpoint());
  ASSERT_TRUE(sub);
  ASSERT_TRUE(settle(*sub, [&] { publish_hello(*pub); }));

  const auto events = sample_events();
  for (const StreamEvent& e : events) publish_via_sink(*pub, e);  // the RunSink callbacks
  for (const StreamEvent& e : events) {
    SCOPED_TRACE(stream_topic_name(topic_of(e)));
    auto got = next_event(*sub);
    ASSERT_TRUE(got);
    expect_same_event(e, *got);
  }
  EXPECT_EQ(sub->dropped(), 0u);
  EXPECT_GE(pub->stats().published, events.size());
  EXPECT_EQ(pub->stats().dropped, 0u);
}

TEST_F(EventStreamTest, PumpForwardsIntoARunSink) {
  auto pub = make_publisher();
  ASSERT_TRUE(pub);
  auto sub = make_subscriber(pub->endpoint());
  ASSERT_TRUE(sub);
  ASSERT_TRUE(settle(*sub, [&] { publish_hello(*pub); }));
  for (const StreamEvent& e : sample_events()) pub->publish(e);

  RecordingSink sink;
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    sub->pump(sink, 50ms);
    sink.events.erase(std::remove_if(sink.events.begin(), sink.events.end(), is_hello),
                      sink.events.end());
    if (sink.events.size() >= sample_events().size()) break;
  }
  ASSERT_EQ(sink.events.size(), sample_events().size());
  for (size_t i = 0; i < sink.events.size(); ++i) expect_same_event(sample_events()[i], sink.events[i]);
  EXPECT_EQ(sub->pump(sink, 0ms), 0u);  // nothing left
}

TEST_F(EventStreamTest, TopicFilterDeliversOnlyChosenTopics) {
  auto pub = make_publisher();
  ASSERT_TRUE(pub);
  EventSubscriberOptions so;
  so.connect_address = pub->endpoint();
  so.topics = {StreamTopic::Metrics, StreamTopic::Finished};
  auto sub = make_subscriber(so);
  ASSERT_TRUE(sub);
  ASSERT_TRUE(settle(*sub, [&] { pub->on_metrics({MetricPoint{"hello", 0, 0, -1, -1, 0}}); }));
  for (const StreamEvent& e : sample_events()) pub->publish(e);
  auto first = next_event(*sub);
  ASSERT_TRUE(first);
  EXPECT_EQ(topic_of(*first), StreamTopic::Metrics);
  auto second = next_event(*sub);
  ASSERT_TRUE(second);
  EXPECT_EQ(topic_of(*second), StreamTopic::Finished);
  EXPECT_FALSE(next_event(*sub, 200ms));
}

TEST_F(EventStreamTest, QueuedEventsGoOutWhenThePublisherIsDestroyed) {
  auto pub = make_publisher();
  ASSERT_TRUE(pub);
  auto sub = make_subscriber(pub->endpoint());
  ASSERT_TRUE(sub);
  ASSERT_TRUE(settle(*sub, [&] { publish_hello(*pub); }));
  constexpr int kEvents = 500;
  for (int i = 0; i < kEvents; ++i) pub->on_checkpoint(CheckpointEntry{i, i * 10L, "p"});
  pub.reset();  // joins the publisher thread after it sent the queue
  int received = 0;
  while (auto e = next_event(*sub, 2000ms)) {
    ASSERT_EQ(topic_of(*e), StreamTopic::Checkpoint);
    EXPECT_EQ(std::get<CheckpointEntry>(*e).round, received);
    ++received;
    if (received == kEvents) break;
  }
  EXPECT_EQ(received, kEvents);
}

TEST_F(EventStreamTest, CurveAllowedSubscriberReceivesOthersDoNot) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), good = generate_keypair(), bad = generate_keypair(),
       other = generate_keypair();
  ASSERT_TRUE(server && good && bad && other);
  EventPublisherOptions po;
  po.curve = true;
  po.server_keys = *server;
  po.allowed_public_keys = {good->public_key};
  auto pub = make_publisher(po);
  ASSERT_TRUE(pub);

  auto subscriber_with = [&](const CurveKeyPair& keys, const std::string& server_key) {
    EventSubscriberOptions so;
    so.connect_address = pub->endpoint();
    so.curve = true;
    so.client_keys = keys;
    so.server_public_key = server_key;
    return make_subscriber(so);
  };
  auto intruder = subscriber_with(*bad, server->public_key);
  auto wrong_server = subscriber_with(*good, other->public_key);
  auto allowed = subscriber_with(*good, server->public_key);
  ASSERT_TRUE(intruder && wrong_server && allowed);
  ASSERT_TRUE(settle(*allowed, [&] { publish_hello(*pub); }));
  pub->on_run_finished(RunStatus::Finished, "ok");
  auto got = next_event(*allowed);
  ASSERT_TRUE(got);
  EXPECT_EQ(std::get<RunFinished>(*got).message, "ok");
  // The intruder's key is refused by the ZAP handler; the other never completes the handshake.
  const auto deadline = Clock::now() + 10s;
  while (!log_.contains("refused CURVE key " + bad->public_key) && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(log_.contains("refused CURVE key " + bad->public_key));
  EXPECT_FALSE(intruder->poll(200ms));
  EXPECT_FALSE(wrong_server->poll(200ms));
}

TEST_F(EventStreamTest, CurveWithoutAllowListAcceptsAnySubscriberThatKnowsTheServerKey) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), client = generate_keypair();
  ASSERT_TRUE(server && client);
  EventPublisherOptions po;
  po.curve = true;
  po.server_keys = *server;
  auto pub = make_publisher(po);
  ASSERT_TRUE(pub);
  EventSubscriberOptions so;
  so.connect_address = pub->endpoint();
  so.curve = true;
  so.client_keys = *client;
  so.server_public_key = server->public_key;
  auto sub = make_subscriber(so);
  ASSERT_TRUE(sub);
  EXPECT_TRUE(settle(*sub, [&] { publish_hello(*pub); }));
}

// Polls until `done(connection)` or the limit; false if the subscriber received an event.
template <typename Done>
bool wait_connection(EventSubscriber& sub, Done done, std::chrono::milliseconds limit = 10000ms) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline && !done(sub.connection()))
    if (sub.poll(50ms)) return false;
  return done(sub.connection());
}

EventSubscriberOptions curve_subscriber(const std::string& address, const CurveKeyPair& keys,
                                        const std::string& server_key) {
  EventSubscriberOptions so;
  so.connect_address = address;
  so.curve = true;
  so.client_keys = keys;
  so.server_public_key = server_key;
  return so;
}

TEST_F(EventStreamTest, RefusedSubscribersGetNothingAndAreToldWhy) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), good = generate_keypair(), bad = generate_keypair(),
       other = generate_keypair();
  ASSERT_TRUE(server && good && bad && other);
  EventPublisherOptions po;
  po.curve = true;
  po.server_keys = *server;
  po.allowed_public_keys = {good->public_key};
  auto pub = make_publisher(po);
  ASSERT_TRUE(pub);
  auto unlisted = make_subscriber(curve_subscriber(pub->endpoint(), *bad, server->public_key));
  auto plaintext = make_subscriber(pub->endpoint());
  auto wrong_server = make_subscriber(curve_subscriber(pub->endpoint(), *good, other->public_key));
  auto allowed = make_subscriber(curve_subscriber(pub->endpoint(), *good, server->public_key));
  ASSERT_TRUE(unlisted && plaintext && wrong_server && allowed);
  ASSERT_TRUE(settle(*allowed, [&] { publish_hello(*pub); }));
  EXPECT_TRUE(allowed->connection().connected);
  EXPECT_EQ(allowed->connection_problem(), "");

  // The publisher keeps publishing while the others try: none of it reaches them.
  std::atomic<bool> stop{false};
  std::thread publishing([&] {
    while (!stop) {
      publish_hello(*pub);
      std::this_thread::sleep_for(20ms);
    }
  });
  EXPECT_TRUE(wait_connection(*unlisted, [](const SubscriberConnection& c) { return c.refused > 0; }));
  EXPECT_TRUE(wait_connection(*plaintext, [](const SubscriberConnection& c) { return c.failed > 0; }));
  EXPECT_TRUE(wait_connection(*wrong_server, [](const SubscriberConnection& c) { return c.failed > 0; }));
  for (EventSubscriber* s : {unlisted.get(), plaintext.get(), wrong_server.get()}) {
    EXPECT_FALSE(s->poll(300ms));
    EXPECT_FALSE(s->connection().connected);
    EXPECT_EQ(s->connection().handshakes, 0u);
  }
  stop = true;
  publishing.join();
  EXPECT_NE(unlisted->connection_problem().find("refused this subscriber's key " + bad->public_key), std::string::npos)
      << unlisted->connection_problem();
  EXPECT_NE(plaintext->connection_problem().find("probably uses CURVE"), std::string::npos)
      << plaintext->connection_problem();
  EXPECT_NE(wrong_server->connection_problem().find("is server.pub the publisher's public key"), std::string::npos)
      << wrong_server->connection_problem();
  EXPECT_GE(pub->stats().refused, 1u);
}

TEST_F(EventStreamTest, ARefusedKeyIsLoggedOnceNotPerRetry) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  auto server = generate_keypair(), good = generate_keypair(), bad = generate_keypair();
  ASSERT_TRUE(server && good && bad);
  EventPublisherOptions po;
  po.curve = true;
  po.server_keys = *server;
  po.allowed_public_keys = {good->public_key};
  auto pub = make_publisher(po);
  ASSERT_TRUE(pub);
  auto intruder = make_subscriber(curve_subscriber(pub->endpoint(), *bad, server->public_key));
  ASSERT_TRUE(intruder);
  // The refused subscriber retries every ~100 ms: let it knock several times.
  const auto deadline = Clock::now() + 10s;
  while (pub->stats().refused < 4 && Clock::now() < deadline) EXPECT_FALSE(intruder->poll(50ms));
  EXPECT_GE(pub->stats().refused, 4u);
  EXPECT_EQ(log_.count("refused CURVE key " + bad->public_key), 1u);
  EXPECT_TRUE(log_.contains("not in the allow-list"));
}

TEST_F(EventStreamTest, AnAllowListDirectoryIsReadAgainWhenAnUnknownKeyKnocks) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("fomoe_watchers_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto server = generate_keypair();
  auto alice = write_keypair((dir / "alice").string(), "alice");
  ASSERT_TRUE(server && alice);
  EventPublisherOptions po;
  po.curve = true;
  po.server_keys = *server;
  po.allowed_keys_dir = (dir / "watchers").string();  // missing at first: everyone is refused
  auto pub = make_publisher(po);
  ASSERT_TRUE(pub);
  auto sub = make_subscriber(curve_subscriber(pub->endpoint(), *alice, server->public_key));
  ASSERT_TRUE(sub);
  EXPECT_TRUE(wait_connection(*sub, [](const SubscriberConnection& c) { return c.refused > 0; }));
  EXPECT_TRUE(log_.contains("refused CURVE key " + alice->public_key));
  EXPECT_TRUE(log_.contains("copy the subscriber's NAME.pub into " + po.allowed_keys_dir));
  // The operator copies alice.pub there; no restart.
  fs::create_directories(dir / "watchers");
  fs::copy_file(dir / "alice" / "alice.pub", dir / "watchers" / "alice.pub");
  EXPECT_TRUE(settle(*sub, [&] { publish_hello(*pub); }));
  EXPECT_TRUE(sub->connection().connected);
  fs::remove_all(dir);
}

TEST_F(EventStreamTest, ABadKeyFileInTheAllowListDirectoryIsAnError) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("fomoe_badwatchers_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "eve.pub") << "not a key\n";
  EventPublisherOptions po;
  po.curve = true;
  po.server_keys = *generate_keypair();
  po.allowed_keys_dir = dir.string();
  auto p = EventPublisher::create(po);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("eve.pub"), std::string::npos) << p.error().message;
  fs::remove_all(dir);
}

TEST_F(EventStreamTest, NoPublisherThereIsNamed) {
  auto sub = make_subscriber("tcp://127.0.0.1:1");  // nothing listens on port 1
  ASSERT_TRUE(sub);
  EXPECT_FALSE(sub->poll(500ms));
  EXPECT_EQ(sub->connection().tcp_connects, 0u);
  EXPECT_NE(sub->connection_problem().find("no publisher answers at tcp://127.0.0.1:1"), std::string::npos)
      << sub->connection_problem();
}

TEST(EventStreamAddresses, LoopbackAddresses) {
  for (const char* a : {"tcp://127.0.0.1:5560", "tcp://127.0.0.1:*", "tcp://127.1.2.3:1", "tcp://localhost:5560",
                        "tcp://[::1]:5560", "ipc:///tmp/fomoe.sock", "inproc://x"})
    EXPECT_TRUE(is_loopback_address(a)) << a;
  for (const char* a : {"tcp://*:5560", "tcp://0.0.0.0:5560", "tcp://10.0.0.5:5560", "tcp://[::]:5560",
                        "tcp://eth0:5560", "tcp://127.0.0.1.example.com:1", "tcp://localhost.evil:1", "tcp://127.0.0.1",
                        "udp://127.0.0.1:1", ""})
    EXPECT_FALSE(is_loopback_address(a)) << a;
}

TEST_F(EventStreamTest, GarbageFromARawPublisherIsDroppedNotFatal) {
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::pub);
  raw.set(zmq::sockopt::linger, 0);
  raw.bind("tcp://127.0.0.1:*");
  auto sub = make_subscriber(raw.get(zmq::sockopt::last_endpoint));
  ASSERT_TRUE(sub);
  auto send = [&](std::vector<std::string> frames) {
    std::vector<zmq::message_t> parts;
    for (auto& f : frames) parts.emplace_back(f.data(), f.size());
    zmq::send_multipart(raw, parts);
  };
  const std::string hello_body = encode_stream_body(RunEvent{0.0, -1, "hello", ""});
  ASSERT_TRUE(settle(*sub, [&] { send({"event", hello_body}); }));
  const uint64_t dropped_before = sub->dropped();

  std::string binary(300, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 37 + 11);
  const std::vector<std::vector<std::string>> garbage = {
      {"metrics"},                                  // one frame
      {"metrics", "[]", "extra"},                   // three frames
      {"nonsense", "{}"},                           // unknown topic
      {"metrics", binary},                          // not JSON
      {"event", "{\"time\":\"soon\"}"},             // wrong type
      {"links", std::string(100000, '[')},          // hostile nesting
      {"finished", "{\"status\":7,\"message\":1}"},  // wrong types
      {"run", ""},                                  // empty body
      {binary, binary},                             // binary topic
  };
  for (const auto& g : garbage) send(g);
  send({"checkpoint", encode_stream_body(CheckpointEntry{9, 90, "after-garbage"})});

  auto got = next_event(*sub);
  ASSERT_TRUE(got);
  ASSERT_EQ(topic_of(*got), StreamTopic::Checkpoint);
  EXPECT_EQ(std::get<CheckpointEntry>(*got).path, "after-garbage");
  // Messages arrive in order, so every piece of garbage was seen (and dropped) before it.
  EXPECT_EQ(sub->dropped() - dropped_before, garbage.size());
  EXPECT_TRUE(log_.contains("dropped a message: expected 2 frames (topic, JSON body), got 1"));
  EXPECT_TRUE(log_.contains("dropped a message: unknown topic 'nonsense'"));
  EXPECT_TRUE(log_.contains("dropped a message: links: JSON body nests deeper than"));
  EXPECT_TRUE(log_.contains("dropped a message: event.time: expected a number"));
}

TEST_F(EventStreamTest, BadOptionsAreClearErrors) {
  EventPublisherOptions po;
  po.bind_address = "tcp://256.0.0.1:1";
  auto p = EventPublisher::create(po);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("tcp://256.0.0.1:1"), std::string::npos) << p.error().message;

  po = {};
  po.allowed_public_keys = {generate_keypair()->public_key};  // without curve
  p = EventPublisher::create(po);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("needs curve = true"), std::string::npos) << p.error().message;
  po.allowed_public_keys.clear();
  po.allowed_keys_dir = "/tmp";  // without curve too
  p = EventPublisher::create(po);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("needs curve = true"), std::string::npos) << p.error().message;

  po = {};
  po.curve = true;  // no keys
  p = EventPublisher::create(po);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("secret key"), std::string::npos) << p.error().message;

  po.server_keys = *generate_keypair();
  po.allowed_public_keys = {"short"};
  p = EventPublisher::create(po);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("'short'"), std::string::npos) << p.error().message;

  auto s = EventSubscriber::create(EventSubscriberOptions{});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("connect address is empty"), std::string::npos);

  EventSubscriberOptions so;
  so.connect_address = "tcp://127.0.0.1:1";
  so.curve = true;
  s = EventSubscriber::create(so);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("publisher's public key"), std::string::npos) << s.error().message;

  so.curve = false;
  so.connect_address = "nonsense://x";
  s = EventSubscriber::create(so);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("nonsense://x"), std::string::npos);
}

}  // namespace
}  // namespace fomoe::net
