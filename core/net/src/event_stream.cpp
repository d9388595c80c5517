#include "fomoe/net/event_stream.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "fomoe/base/log.h"
#include "fomoe/net/protocol.h"
#include "socket_monitor.h"
#include "zap_handler.h"

namespace fomoe::net {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kLogModule = "net";
constexpr int kMaxBodyDepth = 8;  // the deepest body is 2 (array of objects)

constexpr std::array<const char*, 9> kTopicNames = {
    "run", "metrics", "links", "placement", "expert_load", "event", "checkpoint", "finished", "samples"};
static_assert(kTopicNames.size() == std::variant_size_v<StreamEvent>,
              "one topic name per StreamEvent alternative");

constexpr std::array<RunStatus, 6> kStatuses = {RunStatus::Running, RunStatus::Finished,
                                                RunStatus::Failed, RunStatus::Interrupted,
                                                RunStatus::Cancelled, RunStatus::Stopped};

// ---- encoding ----

json number(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "Infinity" : "-Infinity";
}

const char* direction_name(Direction d) { return d == Direction::Sent ? "sent" : "received"; }

json to_json(const RunStarted& e) {
  return json{{"run_id", e.run_id},
              {"name", e.info.name},
              {"method", e.info.method},
              {"config_text", e.info.config_text},
              {"git_revision", e.info.git_revision},
              {"n_sites", e.info.n_sites}};
}
json to_json(const MetricPoint& p) {
  return json{{"name", p.name},       {"value", number(p.value)}, {"step", p.step},
              {"round", p.round},     {"site", p.site},           {"wall_time", number(p.wall_time)}};
}
json to_json(const LinkBytes& l) {
  return json{{"round", l.round},   {"site", l.site},   {"direction", direction_name(l.direction)},
              {"msg_type", l.msg_type}, {"bytes", l.bytes}, {"seconds", number(l.seconds)}};
}
json to_json(const PlacementEntry& p) {
  return json{{"round", p.round}, {"layer", p.layer}, {"expert", p.expert}, {"site", p.site}};
}
json to_json(const ExpertLoadEntry& e) {
  return json{{"round", e.round},   {"site", e.site},    {"layer", e.layer},
              {"expert", e.expert}, {"tokens", e.tokens}};
}
json to_json(const RunEvent& e) {
  return json{{"time", number(e.time)}, {"site", e.site}, {"kind", e.kind}, {"text", e.text}};
}
json to_json(const CheckpointEntry& c) {
  return json{{"round", c.round}, {"step", c.step}, {"path", c.path}};
}
json to_json(const SampleEntry& s) {
  return json{{"round", s.round}, {"step", s.step}, {"prompt_index", s.prompt_index}, {"prompt", s.prompt}, {"text", s.text}, {"ended", s.ended}};
}
json to_json(const RunFinished& f) {
  return json{{"status", run_status_name(f.status)}, {"message", f.message}};
}
template <typename T>
json to_json(const std::vector<T>& items) {
  json out = json::array();
  for (const T& item : items) out.push_back(to_json(item));
  return out;
}

// ---- decoding: a BadBody names the field; decode_stream_event turns it into an Error ----

struct BadBody : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const json& member(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) throw BadBody(where + ": expected a JSON object, got " + obj.type_name());
  auto it = obj.find(key);
  if (it == obj.end()) throw BadBody(where + ": missing field '" + key + "'");
  return *it;
}

std::string get_string(const json& obj, const char* key, const std::string& where) {
  const json& v = member(obj, key, where);
  if (!v.is_string())
    throw BadBody(where + "." + key + ": expected a string, got " + v.type_name());
  return v.get<std::string>();
}

bool get_bool(const json& obj, const char* key, const std::string& where) {
  const json& v = member(obj, key, where);
  if (!v.is_boolean()) throw BadBody(where + "." + key + ": expected true or false, got " + v.type_name());
  return v.get<bool>();
}

int64_t get_int(const json& obj, const char* key, const std::string& where,
                int64_t lo = std::numeric_limits<int32_t>::min(),
                int64_t hi = std::numeric_limits<int32_t>::max()) {
  const json& v = member(obj, key, where);
  if (!v.is_number_integer())
    throw BadBody(where + "." + key + ": expected an integer, got " + v.type_name());
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
    throw BadBody(where + "." + key + ": " + v.dump() + " is out of range");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) throw BadBody(where + "." + key + ": " + v.dump() + " is out of range");
  return x;
}

int64_t get_int64(const json& obj, const char* key, const std::string& where) {
  return get_int(obj, key, where, std::numeric_limits<int64_t>::min(),
                 std::numeric_limits<int64_t>::max());
}

double get_double(const json& obj, const char* key, const std::string& where) {
  const json& v = member(obj, key, where);
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  throw BadBody(where + "." + key + ": expected a number (or \"NaN\"/\"Infinity\"/\"-Infinity\"), got " +
                v.dump());
}

const json& as_array(const json& body, const std::string& where) {
  if (!body.is_array()) throw BadBody(where + ": expected a JSON array, got " + body.type_name());
  return body;
}

template <typename T, typename F>
std::vector<T> read_list(const json& body, const std::string& topic, F read_one) {
  std::vector<T> out;
  const json& arr = as_array(body, topic);
  out.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i)
    out.push_back(read_one(arr[i], topic + "[" + std::to_string(i) + "]"));
  return out;
}

StreamEvent read_body(StreamTopic topic, const json& b) {
  const std::string t = stream_topic_name(topic);
  switch (topic) {
    case StreamTopic::Run: {
      RunStarted e;
      e.run_id = get_int64(b, "run_id", t);
      e.info.name = get_string(b, "name", t);
      e.info.method = get_string(b, "method", t);
      e.info.config_text = get_string(b, "config_text", t);
      e.info.git_revision = get_string(b, "git_revision", t);
      e.info.n_sites = static_cast<int>(get_int(b, "n_sites", t));
      return e;
    }
    case StreamTopic::Metrics:
      return read_list<MetricPoint>(b, t, [](const json& o, const std::string& w) {
        MetricPoint p;
        p.name = get_string(o, "name", w);
        p.value = get_double(o, "value", w);
        p.step = static_cast<long>(get_int(o, "step", w, std::numeric_limits<long>::min(),
                                           std::numeric_limits<long>::max()));
        p.round = static_cast<int>(get_int(o, "round", w));
        p.site = static_cast<int>(get_int(o, "site", w));
        p.wall_time = get_double(o, "wall_time", w);
        return p;
      });
    case StreamTopic::Links:
      return read_list<LinkBytes>(b, t, [](const json& o, const std::string& w) {
        LinkBytes l;
        l.round = static_cast<int>(get_int(o, "round", w));
        l.site = static_cast<int>(get_int(o, "site", w));
        const std::string d = get_string(o, "direction", w);
        if (d == "sent") l.direction = Direction::Sent;
        else if (d == "received") l.direction = Direction::Received;
        else throw BadBody(w + ".direction: expected \"sent\" or \"received\", got \"" + d + "\"");
        l.msg_type = get_string(o, "msg_type", w);
        l.bytes = get_int64(o, "bytes", w);
        l.seconds = get_double(o, "seconds", w);
        return l;
      });
    case StreamTopic::Placement:
      return read_list<PlacementEntry>(b, t, [](const json& o, const std::string& w) {
        PlacementEntry p;
        p.round = static_cast<int>(get_int(o, "round", w));
        p.layer = static_cast<int>(get_int(o, "layer", w));
        p.expert = static_cast<int>(get_int(o, "expert", w));
        p.site = static_cast<int>(get_int(o, "site", w));
        return p;
      });
    case StreamTopic::ExpertLoad:
      return read_list<ExpertLoadEntry>(b, t, [](const json& o, const std::string& w) {
        ExpertLoadEntry e;
        e.round = static_cast<int>(get_int(o, "round", w));
        e.site = static_cast<int>(get_int(o, "site", w));
        e.layer = static_cast<int>(get_int(o, "layer", w));
        e.expert = static_cast<int>(get_int(o, "expert", w));
        e.tokens = get_int64(o, "tokens", w);
        return e;
      });
    case StreamTopic::Event: {
      RunEvent e;
      e.time = get_double(b, "time", t);
      e.site = static_cast<int>(get_int(b, "site", t));
      e.kind = get_string(b, "kind", t);
      e.text = get_string(b, "text", t);
      return e;
    }
    case StreamTopic::Checkpoint: {
      CheckpointEntry c;
      c.round = static_cast<int>(get_int(b, "round", t));
      c.step = static_cast<long>(get_int(b, "step", t, std::numeric_limits<long>::min(),
                                         std::numeric_limits<long>::max()));
      c.path = get_string(b, "path", t);
      return c;
    }
    case StreamTopic::Finished: {
      RunFinished f;
      const std::string s = get_string(b, "status", t);
      auto it = std::find_if(kStatuses.begin(), kStatuses.end(),
                             [&](RunStatus st) { return s == run_status_name(st); });
      if (it == kStatuses.end())
        throw BadBody(t + ".status: unknown run status \"" + s +
                      "\" (expected running, finished, failed, interrupted, cancelled or stopped)");
      f.status = *it;
      f.message = get_string(b, "message", t);
      return f;
    }
    case StreamTopic::Samples:
      return read_list<SampleEntry>(b, t, [](const json& o, const std::string& w) {
        SampleEntry s;
        s.round = static_cast<int>(get_int(o, "round", w));
        s.step = static_cast<long>(get_int(o, "step", w, std::numeric_limits<long>::min(), std::numeric_limits<long>::max()));
        s.prompt_index = static_cast<int>(get_int(o, "prompt_index", w));
        s.prompt = get_string(o, "prompt", w);
        s.text = get_string(o, "text", w);
        s.ended = get_bool(o, "ended", w);
        return s;
      });
  }
  throw BadBody("unknown topic");
}

Error body_error(std::string message) { return make_error(ErrorCode::Protocol, std::move(message)); }

}  // namespace

// =============================================================================================
// Codec
// =============================================================================================

const char* stream_topic_name(StreamTopic topic) {
  const auto i = static_cast<size_t>(topic);
  return i < kTopicNames.size() ? kTopicNames[i] : "unknown";
}

std::optional<StreamTopic> stream_topic_from_name(std::string_view name) {
  for (size_t i = 0; i < kTopicNames.size(); ++i)
    if (name == kTopicNames[i]) return static_cast<StreamTopic>(i);
  return std::nullopt;
}

const std::vector<StreamTopic>& all_stream_topics() {
  static const std::vector<StreamTopic> topics = [] {
    std::vector<StreamTopic> v;
    for (size_t i = 0; i < kTopicNames.size(); ++i) v.push_back(static_cast<StreamTopic>(i));
    return v;
  }();
  return topics;
}

StreamTopic topic_of(const StreamEvent& event) { return static_cast<StreamTopic>(event.index()); }

std::string encode_stream_body(const StreamEvent& event) {
  const json body = std::visit([](const auto& e) { return to_json(e); }, event);
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Expected<StreamEvent> decode_stream_event(std::string_view topic, std::string_view body) {
  const auto t = stream_topic_from_name(topic);
  if (!t) {
    std::string shown(topic.substr(0, 64));
    for (char& c : shown)
      if (c < 0x20 || c > 0x7e) c = '?';
    return body_error("unknown topic '" + shown + "' (expected run, metrics, links, placement, "
                      "expert_load, event, checkpoint, finished or samples)");
  }
  const std::string tname = stream_topic_name(*t);
  if (body.empty()) return body_error(tname + ": empty body (expected JSON)");
  if (json_nesting_depth(body) > kMaxBodyDepth)
    return body_error(tname + ": JSON body nests deeper than " + std::to_string(kMaxBodyDepth));
  json parsed;
  try {
    parsed = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    return body_error(tname + ": body is not valid JSON: " + e.what());
  }
  try {
    return read_body(*t, parsed);
  } catch (const BadBody& e) {
    return body_error(e.what());
  } catch (const json::exception& e) {
    return body_error(tname + ": " + e.what());
  }
}

void deliver(const StreamEvent& event, RunSink& sink) {
  switch (topic_of(event)) {
    case StreamTopic::Run: {
      const auto& e = std::get<RunStarted>(event);
      sink.on_run_started(e.run_id, e.info);
      break;
    }
    case StreamTopic::Metrics: sink.on_metrics(std::get<std::vector<MetricPoint>>(event)); break;
    case StreamTopic::Links: sink.on_link_bytes(std::get<std::vector<LinkBytes>>(event)); break;
    case StreamTopic::Placement: sink.on_placement(std::get<std::vector<PlacementEntry>>(event)); break;
    case StreamTopic::ExpertLoad:
      sink.on_expert_load(std::get<std::vector<ExpertLoadEntry>>(event));
      break;
    case StreamTopic::Event: sink.on_event(std::get<RunEvent>(event)); break;
    case StreamTopic::Checkpoint: sink.on_checkpoint(std::get<CheckpointEntry>(event)); break;
    case StreamTopic::Samples: sink.on_samples(std::get<std::vector<SampleEntry>>(event)); break;
    case StreamTopic::Finished: {
      const auto& f = std::get<RunFinished>(event);
      sink.on_run_finished(f.status, f.message);
      break;
    }
  }
}

// =============================================================================================
// Publisher
// =============================================================================================

bool is_loopback_address(std::string_view address) {
  if (address.rfind("ipc://", 0) == 0 || address.rfind("inproc://", 0) == 0) return true;
  if (address.rfind("tcp://", 0) != 0) return false;
  std::string_view rest = address.substr(6);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string host(rest.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return host.rfind("127.", 0) == 0 && inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

namespace {

// DIR/*.pub as keys; a missing directory or one without .pub files is an empty list (watchers
// are added while the publisher runs), a bad key file an error naming it.
Expected<std::vector<std::string>> read_allowed_keys_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool any = false;
  if (fs::is_directory(dir, ec))
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end && !any; it.increment(ec))
      any = it->path().extension() == ".pub";
  if (!any) return std::vector<std::string>{};
  auto listed = load_allow_list(dir);
  if (!listed) return listed.error();
  std::vector<std::string> keys;
  for (const AllowedKey& k : *listed) keys.push_back(k.public_key);
  return keys;
}

}  // namespace

struct EventPublisher::Impl {
  EventPublisherOptions opt;
  zmq::context_t ctx;  // declared first: destroyed last
  std::unique_ptr<ZapHandler> zap;
  zmq::socket_t pub;   // used only by `thread` once it runs
  std::string endpoint;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<StreamEvent> queue;
  bool stop = false;
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> dropped{0};
  bool warned_full = false;
  std::thread thread;

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    wake.notify_one();
    if (thread.joinable()) thread.join();
  }

  void push(StreamEvent event);
  void run();
  void send(const StreamEvent& event);
};

void EventPublisher::Impl::push(StreamEvent event) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (queue.size() >= std::max<size_t>(opt.max_queue, 1)) {
      dropped.fetch_add(1);
      if (!warned_full) {
        warned_full = true;
        FOMOE_LOG_WARN(kLogModule,
                       "event publisher queue is full (%zu events): dropping events until it "
                       "drains (raise EventPublisherOptions::max_queue if this persists)",
                       queue.size());
      }
      return;
    }
    queue.push_back(std::move(event));
  }
  wake.notify_one();
}

void EventPublisher::Impl::send(const StreamEvent& event) {
  const char* topic = stream_topic_name(topic_of(event));
  std::string body = encode_stream_body(event);
  try {
    // PUB never blocks: beyond a subscriber's high-water mark the message is dropped for it.
    if (pub.send(zmq::buffer(std::string_view(topic)), zmq::send_flags::sndmore) &&
        pub.send(zmq::message_t(body.data(), body.size()), zmq::send_flags::dontwait))
      published.fetch_add(1);
  } catch (const zmq::error_t& e) {
    FOMOE_LOG_ERROR(kLogModule, "event publisher: sending '%s' failed: %s", topic, e.what());
  }
}

void EventPublisher::Impl::run() {
  std::deque<StreamEvent> batch;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stop || !queue.empty(); });
      batch.swap(queue);
      stopping = stop;
      warned_full = false;
    }
    for (const StreamEvent& e : batch) send(e);
    batch.clear();
    if (stopping) {
      std::lock_guard<std::mutex> lock(mutex);
      if (queue.empty()) break;
    }
  }
  pub.close();  // linger_ms bounds how long the context waits for unsent messages
}

EventPublisher::EventPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventPublisher::~EventPublisher() = default;

Expected<std::unique_ptr<EventPublisher>> EventPublisher::create(EventPublisherOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  const EventPublisherOptions& opt = impl->opt;
  if (!opt.curve && (!opt.allowed_public_keys.empty() || !opt.allowed_keys_dir.empty()))
    return make_error(ErrorCode::InvalidArgument,
                      "event publisher: an allow-list (allowed_public_keys, allowed_keys_dir) needs "
                      "curve = true (keys are only checked in the CURVE handshake)");
  try {
    if (opt.curve) {
      if (!curve_available())
        return make_error(ErrorCode::Unsupported, "this libzmq has no CURVE support");
      for (const std::string& k : opt.allowed_public_keys)
        if (!is_valid_z85_key(k))
          return make_error(ErrorCode::InvalidArgument, "event publisher: allowed subscriber key '" +
                                                            k + "' is not a 40-character Z85 CURVE key");
      ZapHandler::KeySource reload;
      if (!opt.allowed_keys_dir.empty()) {
        // At the start a bad key file is an error; later it is logged and the last keys stay.
        auto first = read_allowed_keys_dir(opt.allowed_keys_dir);
        if (!first) return first.error();
        reload = [dir = opt.allowed_keys_dir, last_error = std::string()]() mutable
            -> std::optional<std::vector<std::string>> {
          auto keys = read_allowed_keys_dir(dir);
          if (keys) {
            last_error.clear();
            return std::move(*keys);
          }
          if (keys.error().message != last_error)
            FOMOE_LOG_WARN(kLogModule, "event publisher: %s (keeping the keys read before)",
                           keys.error().message.c_str());
          last_error = keys.error().message;
          return std::nullopt;
        };
      }
      if (!opt.allowed_public_keys.empty() || reload) {
        const std::string hint =
            opt.allowed_keys_dir.empty()
                ? "add it to the event publisher's allowed subscriber keys"
                : "to admit it, copy the subscriber's NAME.pub into " + opt.allowed_keys_dir;
        auto zap = ZapHandler::start(impl->ctx, opt.allowed_public_keys, hint, std::move(reload));
        if (!zap) return zap.error();
        impl->zap = std::move(*zap);
      }
    }
    impl->pub = zmq::socket_t(impl->ctx, zmq::socket_type::pub);
    zmq::socket_t& p = impl->pub;
    p.set(zmq::sockopt::sndhwm, std::max(opt.send_hwm, 1));
    p.set(zmq::sockopt::linger, std::max(opt.linger_ms, 0));
    if (opt.curve) {
      p.set(zmq::sockopt::curve_server, 1);
      if (!is_valid_z85_key(opt.server_keys.secret_key))
        return make_error(ErrorCode::InvalidArgument,
                          "event publisher: the server secret key is not a 40-character Z85 CURVE "
                          "key: create keys with `fomoe keygen --out DIR --name NAME`");
      p.set(zmq::sockopt::curve_secretkey, opt.server_keys.secret_key);
      if (impl->zap) p.set(zmq::sockopt::zap_domain, "fomoe-events");
    }
    try {
      p.bind(opt.bind_address);
    } catch (const zmq::error_t& e) {
      return make_error(ErrorCode::Io, "cannot bind the event publisher to " + opt.bind_address +
                                           ": " + e.what() +
                                           " (is the port in use? use ':*' for any port)");
    }
    impl->endpoint = p.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return make_error(ErrorCode::Internal, std::string("event publisher setup: ") + e.what());
  }
  // From here on only the publisher thread touches the socket (thread start is a full barrier).
  impl->thread = std::thread([p = impl.get()] { p->run(); });
  FOMOE_LOG_INFO(kLogModule, "run events published on %s (CURVE %s%s)", impl->endpoint.c_str(),
                 opt.curve ? "on" : "off",
                 impl->zap ? ", subscriber keys checked" : opt.curve ? ", any subscriber key" : "");
  return std::unique_ptr<EventPublisher>(new EventPublisher(std::move(impl)));
}

std::string EventPublisher::endpoint() const { return impl_->endpoint; }
void EventPublisher::publish(StreamEvent event) { impl_->push(std::move(event)); }
PublisherStats EventPublisher::stats() const {
  return PublisherStats{impl_->published.load(), impl_->dropped.load(),
                        impl_->zap ? impl_->zap->refused() : 0};
}

void EventPublisher::on_run_started(int64_t run_id, const RunInfo& info) {
  publish(RunStarted{run_id, info});
}
void EventPublisher::on_metrics(const std::vector<MetricPoint>& points) { publish(points); }
void EventPublisher::on_link_bytes(const std::vector<LinkBytes>& links) { publish(links); }
void EventPublisher::on_placement(const std::vector<PlacementEntry>& placement) {
  publish(placement);
}
void EventPublisher::on_expert_load(const std::vector<ExpertLoadEntry>& load) { publish(load); }
void EventPublisher::on_event(const RunEvent& event) { publish(event); }
void EventPublisher::on_checkpoint(const CheckpointEntry& checkpoint) { publish(checkpoint); }
void EventPublisher::on_samples(const std::vector<SampleEntry>& samples) { publish(samples); }
void EventPublisher::on_run_finished(RunStatus status, const std::string& message) {
  publish(RunFinished{status, message});
}

// =============================================================================================
// Subscriber
// =============================================================================================

struct EventSubscriber::Impl {
  EventSubscriberOptions opt;
  zmq::context_t ctx;  // declared first: destroyed last
  zmq::socket_t sub;
  zmq::socket_t monitor;  // after sub: closed before it
  bool monitoring = false;
  SubscriberConnection conn;
  bool retry_pending = false;  // a refused or mismatched handshake that ZeroMQ will not retry
  Clock::time_point retry_at{};
  uint64_t dropped = 0;

  ~Impl() {
    if (monitoring) zmq_socket_monitor(sub.handle(), nullptr, 0);
  }

  void drain_monitor() {
    if (!monitoring) return;
    while (auto ev = next_monitor_event(monitor)) {
      switch (ev->event) {
        case ZMQ_EVENT_CONNECTED: ++conn.tcp_connects; break;
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
          ++conn.handshakes;
          conn.connected = true;
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
          ++conn.refused;
          schedule_retry();
          FOMOE_LOG_DEBUG(kLogModule, "event subscriber: %s refused our key (ZAP status %u)",
                          opt.connect_address.c_str(), ev->value);
          break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
          schedule_retry();
          [[fallthrough]];
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:  // the peer hung up: ZeroMQ reconnects itself
          ++conn.failed;
          FOMOE_LOG_DEBUG(kLogModule, "event subscriber: handshake with %s failed (event %u, %u)",
                          opt.connect_address.c_str(), ev->event, ev->value);
          break;
        case ZMQ_EVENT_DISCONNECTED: conn.connected = false; break;
        default: break;
      }
    }
  }

  void schedule_retry() {
    if (opt.retry_refused_ms <= 0) return;
    retry_pending = true;
    retry_at = Clock::now() + std::chrono::milliseconds(opt.retry_refused_ms);
  }

  // A fresh connection for one ZeroMQ dropped after a refused handshake (it keeps the socket's
  // subscriptions).
  void retry_if_due() {
    if (!retry_pending || Clock::now() < retry_at) return;
    retry_pending = false;
    try {
      sub.disconnect(opt.connect_address);
    } catch (const zmq::error_t&) {
      // already gone
    }
    try {
      sub.connect(opt.connect_address);
    } catch (const zmq::error_t& e) {
      FOMOE_LOG_WARN(kLogModule, "event subscriber cannot connect to %s again: %s",
                     opt.connect_address.c_str(), e.what());
    }
  }

  void drop(const std::string& reason) {
    ++dropped;
    FOMOE_LOG_WARN(kLogModule, "event subscriber (%s) dropped a message: %s",
                   opt.connect_address.c_str(), reason.c_str());
  }
};

EventSubscriber::EventSubscriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventSubscriber::~EventSubscriber() = default;

Expected<std::unique_ptr<EventSubscriber>> EventSubscriber::create(EventSubscriberOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  const EventSubscriberOptions& opt = impl->opt;
  if (opt.connect_address.empty())
    return make_error(ErrorCode::InvalidArgument,
                      "event subscriber: connect address is empty (use the publisher's endpoint)");
  try {
    impl->sub = zmq::socket_t(impl->ctx, zmq::socket_type::sub);
    zmq::socket_t& s = impl->sub;
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::rcvhwm, std::max(opt.receive_hwm, 1));
    s.set(zmq::sockopt::maxmsgsize,
          static_cast<int64_t>(std::min<uint64_t>(opt.max_message_bytes, INT64_MAX)));
    if (opt.curve) {
      if (!curve_available())
        return make_error(ErrorCode::Unsupported, "this libzmq has no CURVE support");
      const std::pair<const std::string*, const char*> keys[] = {
          {&opt.server_public_key, "the publisher's public key"},
          {&opt.client_keys.public_key, "the subscriber's public key"},
          {&opt.client_keys.secret_key, "the subscriber's secret key"}};
      for (const auto& [key, what] : keys)
        if (!is_valid_z85_key(*key))
          return make_error(ErrorCode::InvalidArgument,
                            std::string("event subscriber: ") + what +
                                " is not a 40-character Z85 CURVE key");
      s.set(zmq::sockopt::curve_serverkey, opt.server_public_key);
      s.set(zmq::sockopt::curve_publickey, opt.client_keys.public_key);
      s.set(zmq::sockopt::curve_secretkey, opt.client_keys.secret_key);
    }
    if (opt.topics.empty()) {
      s.set(zmq::sockopt::subscribe, "");
    } else {
      for (StreamTopic t : opt.topics) s.set(zmq::sockopt::subscribe, stream_topic_name(t));
    }
    impl->monitoring =
        start_monitor(impl->ctx, s, impl->monitor, "inproc://fomoe-subscriber-monitor",
                      ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                          ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                          ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    try {
      s.connect(opt.connect_address);
    } catch (const zmq::error_t& e) {
      return make_error(ErrorCode::InvalidArgument, "event subscriber cannot connect to '" +
                                                        opt.connect_address + "': " + e.what());
    }
  } catch (const zmq::error_t& e) {
    return make_error(ErrorCode::Internal, std::string("event subscriber setup: ") + e.what());
  }
  return std::unique_ptr<EventSubscriber>(new EventSubscriber(std::move(impl)));
}

std::optional<StreamEvent> EventSubscriber::poll(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  const auto deadline = Clock::now() + timeout;
  zmq::pollitem_t items[] = {{m.sub.handle(), 0, ZMQ_POLLIN, 0},
                             {m.monitoring ? m.monitor.handle() : nullptr, 0, ZMQ_POLLIN, 0}};
  for (;;) {
    std::vector<zmq::message_t> frames;
    try {
      m.drain_monitor();
      m.retry_if_due();
      if (!zmq::recv_multipart(m.sub, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        const auto now = Clock::now();
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        if (left.count() <= 0) return std::nullopt;
        if (m.retry_pending)
          left = std::min(left, std::max(std::chrono::milliseconds(1),
                                         std::chrono::ceil<std::chrono::milliseconds>(m.retry_at - now)));
        zmq::poll(items, m.monitoring ? 2 : 1, left);
        continue;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return std::nullopt;  // a signal (Ctrl-C): the caller decides
      FOMOE_LOG_ERROR(kLogModule, "event subscriber receive failed: %s", e.what());
      return std::nullopt;
    }
    if (frames.size() != 2) {
      m.drop("expected 2 frames (topic, JSON body), got " + std::to_string(frames.size()));
      continue;
    }
    auto event = decode_stream_event(
        std::string_view(static_cast<const char*>(frames[0].data()), frames[0].size()),
        std::string_view(static_cast<const char*>(frames[1].data()), frames[1].size()));
    if (!event) {
      m.drop(event.error().message);
      continue;
    }
    return std::move(*event);
  }
}

size_t EventSubscriber::pump(RunSink& sink, std::chrono::milliseconds timeout) {
  size_t n = 0;
  for (auto wait = timeout;; wait = std::chrono::milliseconds(0)) {
    auto event = poll(wait);
    if (!event) return n;
    deliver(*event, sink);
    ++n;
  }
}

uint64_t EventSubscriber::dropped() const { return impl_->dropped; }

SubscriberConnection EventSubscriber::connection() const { return impl_->conn; }

std::string EventSubscriber::connection_problem() const {
  const SubscriberConnection& c = impl_->conn;
  const EventSubscriberOptions& o = impl_->opt;
  const std::string& at = o.connect_address;
  if (c.connected) return "";
  if (c.refused > 0)
    return "the publisher at " + at + " refused this subscriber's key " + o.client_keys.public_key +
           ": its NAME.pub must be in the publisher's watcher allow-list (`fomoe run --publish`: "
           "KEYDIR/watchers/, see --publish-keys)";
  if (c.failed > 0 && !o.curve)
    return "the handshake with " + at +
           " failed: the publisher probably uses CURVE and needs this subscriber's keys (a key "
           "directory with NAME.key and the coordinator's server.pub: `fomoe watch --keys DIR "
           "--name NAME`)";
  if (c.failed > 0)
    return "the CURVE handshake with " + at +
           " failed: is server.pub the publisher's public key (KEYDIR/server.pub of `fomoe run "
           "--publish`)? A plaintext publisher (--publish-plaintext) takes no keys";
  if (c.handshakes > 0) return "the connection to " + at + " was lost; reconnecting";
  if (c.tcp_connects == 0)
    return "no publisher answers at " + at +
           " (is `fomoe run --publish` running there, and the address and port right?)";
  return "connected to " + at + " but the handshake has not finished";
}

}  // namespace fomoe::net
