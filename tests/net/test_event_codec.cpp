// Run event stream codec (no sockets): every topic round-trips through its JSON body, bodies are
// compact and carry every field, malformed bodies are rejected with a reason naming the field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "event_test_util.h"

namespace fomoe::net {
namespace {

using nlohmann::json;
using testing::expect_same_event;
using testing::RecordingSink;
using testing::sample_events;

TEST(EventCodec, TopicNamesAreStableAndInVariantOrder) {
  const std::vector<std::string> expected = {"run",         "metrics", "links",      "placement",
                                             "expert_load", "event",   "checkpoint", "finished",
                                             "samples"};
  ASSERT_EQ(all_stream_topics().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(stream_topic_name(all_stream_topics()[i]), expected[i]);
    EXPECT_EQ(stream_topic_from_name(expected[i]), all_stream_topics()[i]);
    EXPECT_EQ(topic_of(sample_events()[i]), all_stream_topics()[i]);
  }
  EXPECT_FALSE(stream_topic_from_name("metric"));
  EXPECT_FALSE(stream_topic_from_name(""));
}

TEST(EventCodec, EveryTopicRoundTrips) {
  for (const StreamEvent& e : sample_events()) {
    SCOPED_TRACE(stream_topic_name(topic_of(e)));
    const std::string body = encode_stream_body(e);
    auto back = decode_stream_event(stream_topic_name(topic_of(e)), body);
    ASSERT_TRUE(back) << back.error().message;
    expect_same_event(e, *back);
    EXPECT_EQ(encode_stream_body(*back), body);
  }
}

TEST(EventCodec, BodiesAreCompactJsonWithEveryField) {
  const auto events = sample_events();
  for (const StreamEvent& e : events) {
    const std::string body = encode_stream_body(e);
    EXPECT_EQ(body.find('\n'), std::string::npos) << body;
    EXPECT_EQ(body.find(": "), std::string::npos) << body;
  }
  const json run = json::parse(encode_stream_body(events[0]));
  EXPECT_EQ(run["run_id"], int64_t{1} << 40);
  EXPECT_EQ(run["n_sites"], 4);
  EXPECT_EQ(run.size(), 6u);
  const json metrics = json::parse(encode_stream_body(events[1]));
  ASSERT_TRUE(metrics.is_array());
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_EQ(metrics[0], (json{{"name", "train/loss"}, {"value", 3.25}, {"step", 1000},
                              {"round", 2}, {"site", -1}, {"wall_time", 12.5}}));
  EXPECT_EQ(metrics[2]["value"], "NaN");
  EXPECT_EQ(metrics[2]["wall_time"], "Infinity");
  const json links = json::parse(encode_stream_body(events[2]));
  EXPECT_EQ(links[0]["direction"], "sent");
  EXPECT_EQ(links[1]["direction"], "received");
  EXPECT_EQ(links[1]["seconds"], "-Infinity");
  EXPECT_EQ(links[0].size(), 6u);
  EXPECT_EQ(json::parse(encode_stream_body(events[3]))[1].size(), 4u);
  EXPECT_EQ(json::parse(encode_stream_body(events[4]))[0].size(), 5u);
  EXPECT_EQ(json::parse(encode_stream_body(events[5])).size(), 4u);
  EXPECT_EQ(json::parse(encode_stream_body(events[6])),
            (json{{"round", 3}, {"step", 300}, {"path", "/runs/7/ckpt-00300.pt"}}));
  EXPECT_EQ(json::parse(encode_stream_body(events[7])),
            (json{{"status", "interrupted"}, {"message", "SIGINT"}}));
}

// Every status crosses the wire by name; "stopped" (SIGINT/SIGTERM/Stop at a safe point, resumable)
// is a status of its own, not "cancelled".
TEST(EventCodec, EveryRunStatusRoundTrips) {
  const RunStatus all[] = {RunStatus::Running,     RunStatus::Finished,  RunStatus::Failed,
                           RunStatus::Interrupted, RunStatus::Cancelled, RunStatus::Stopped};
  for (RunStatus st : all) {
    SCOPED_TRACE(run_status_name(st));
    const std::string body = encode_stream_body(StreamEvent{RunFinished{st, "by request"}});
    EXPECT_EQ(json::parse(body)["status"], run_status_name(st));
    auto back = decode_stream_event("finished", body);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(std::get<RunFinished>(*back).status, st);
    EXPECT_EQ(std::get<RunFinished>(*back).message, "by request");
  }
  EXPECT_STREQ(run_status_name(RunStatus::Stopped), "stopped");
  auto stopped = decode_stream_event("finished", R"({"status":"stopped","message":"SIGTERM"})");
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(std::get<RunFinished>(*stopped).status, RunStatus::Stopped);
}

TEST(EventCodec, EmptyListsRoundTrip) {
  auto back = decode_stream_event("metrics", encode_stream_body(std::vector<MetricPoint>{}));
  ASSERT_TRUE(back);
  EXPECT_TRUE(std::get<std::vector<MetricPoint>>(*back).empty());
}

TEST(EventCodec, InvalidUtf8IsReplacedNotThrown) {
  StreamEvent e = RunEvent{0.0, 1, "fault", std::string("bad \xff\xfe bytes")};
  std::string body;
  ASSERT_NO_THROW(body = encode_stream_body(e));
  auto back = decode_stream_event("event", body);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(std::get<RunEvent>(*back).kind, "fault");
  EXPECT_NE(std::get<RunEvent>(*back).text.find("bytes"), std::string::npos);
}

TEST(EventCodec, MalformedBodiesAreRejectedWithTheFieldAtFault) {
  struct Case {
    std::string topic, body, reason;
  };
  const std::string deep = std::string(64, '[') + std::string(64, ']');
  const std::vector<Case> cases = {
      {"metric", "[]", "unknown topic 'metric'"},
      {"bogus\x01", "[]", "unknown topic 'bogus?'"},
      {"metrics", "", "metrics: empty body"},
      {"metrics", "[{", "metrics: body is not valid JSON"},
      {"metrics", "{}", "metrics: expected a JSON array, got object"},
      {"metrics", deep, "nests deeper than"},
      {"metrics", R"([{"name":"x","value":1,"step":1,"round":0,"site":0}])",
       "metrics[0]: missing field 'wall_time'"},
      {"metrics", R"([{"name":"x","value":"one","step":1,"round":0,"site":0,"wall_time":0}])",
       "metrics[0].value: expected a number"},
      {"metrics", R"([{"name":1,"value":1,"step":1,"round":0,"site":0,"wall_time":0}])",
       "metrics[0].name: expected a string, got number"},
      {"metrics", R"([{"name":"x","value":1,"step":1.5,"round":0,"site":0,"wall_time":0}])",
       "metrics[0].step: expected an integer"},
      {"metrics", R"([{"name":"x","value":1,"step":1,"round":4294967296,"site":0,"wall_time":0}])",
       "metrics[0].round: 4294967296 is out of range"},
      {"metrics", "[3]", "metrics[0]: expected a JSON object, got number"},
      {"links", R"([{"round":0,"site":0,"direction":"up","msg_type":"x","bytes":1,"seconds":0}])",
       "links[0].direction: expected \"sent\" or \"received\""},
      {"expert_load", R"([{"round":0,"site":0,"layer":0,"expert":0,"tokens":18446744073709551615}])",
       "expert_load[0].tokens: 18446744073709551615 is out of range"},
      {"run", R"({"run_id":1})", "run: missing field 'name'"},
      {"run", "[]", "run: expected a JSON object, got array"},
      {"event", R"({"time":null,"site":0,"kind":"k","text":"t"})", "event.time: expected a number"},
      {"checkpoint", R"({"round":0,"step":0,"path":null})", "checkpoint.path: expected a string"},
      {"finished", R"({"status":"done","message":""})", "finished.status: unknown run status \"done\""},
  };
  for (const Case& c : cases) {
    auto r = decode_stream_event(c.topic, c.body);
    ASSERT_FALSE(r) << c.topic << " " << c.body;
    EXPECT_EQ(r.error().code, ErrorCode::Protocol);
    EXPECT_NE(r.error().message.find(c.reason), std::string::npos)
        << "got: " << r.error().message << "\nexpected to contain: " << c.reason;
  }
}

TEST(EventCodec, ExtraFieldsAreIgnored) {
  auto r = decode_stream_event("checkpoint", R"({"round":1,"step":2,"path":"p","future":true})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(std::get<CheckpointEntry>(*r).step, 2);
}

TEST(EventCodec, DeliverCallsTheMatchingCallback) {
  RecordingSink sink;
  for (const StreamEvent& e : sample_events()) deliver(e, sink);
  ASSERT_EQ(sink.events.size(), sample_events().size());
  for (size_t i = 0; i < sink.events.size(); ++i) expect_same_event(sample_events()[i], sink.events[i]);
}

}  // namespace
}  // namespace fomoe::net
