// Shared helpers for the run event stream tests: one sample event per topic, field-by-field
// equality (the run_events structs have no operator==) and a RunSink that records what it gets.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "fomoe/net/event_stream.h"

namespace fomoe::net::testing {

/// One event of every topic, in StreamTopic order, with values that stress the codec
/// (negative ids, int64 extremes, non-ASCII and JSON-special characters, non-finite numbers).
inline std::vector<StreamEvent> sample_events() {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<StreamEvent> v;
  v.push_back(RunStarted{int64_t{1} << 40,
                         RunInfo{"fomoe-\xc3\xa9t\xc3\xa9", "fomoe", "[model]\nd_model = 64 # \"q\"\n",
                                 "abc123-dirty", 4}});
  v.push_back(std::vector<MetricPoint>{{"train/loss", 3.25, 1000, 2, -1, 12.5},
                                       {"route/skip_rate.L3", 0.1, 1001, 2, 3, 12.75},
                                       {"eval/loss", std::nan(""), -5, -1, 0, inf}});
  v.push_back(std::vector<LinkBytes>{{1, 0, Direction::Sent, "start_round", int64_t{5} << 33, 0.5},
                                     {1, 3, Direction::Received, "round_report", 0, -inf}});
  v.push_back(std::vector<PlacementEntry>{{0, 0, 0, 0}, {3, 1, 7, 2}});
  v.push_back(std::vector<ExpertLoadEntry>{{3, 1, 0, 7, std::numeric_limits<int64_t>::max()},
                                           {3, 2, 1, 0, std::numeric_limits<int64_t>::min()}});
  v.push_back(RunEvent{1.5, -1, "site_dead", "site 2 missed 3 heartbeats\n\ttab \\ \"quote\""});
  v.push_back(CheckpointEntry{3, 300, "/runs/7/ckpt-00300.pt"});
  v.push_back(RunFinished{RunStatus::Interrupted, "SIGINT"});
  v.push_back(std::vector<SampleEntry>{{-1, 40, 0, "The ", "cat \xc3\xa9t\xc3\xa9\n\"q\"", false}, {2, 1L << 40, 3, "Q-What is", "", true}});
  return v;
}

inline void expect_same_double(double a, double b, const std::string& what) {
  if (std::isnan(a) || std::isnan(b)) {
    EXPECT_TRUE(std::isnan(a) && std::isnan(b)) << what << ": " << a << " vs " << b;
  } else {
    EXPECT_EQ(a, b) << what;
  }
}

inline void expect_same(const RunStarted& a, const RunStarted& b) {
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.info.name, b.info.name);
  EXPECT_EQ(a.info.method, b.info.method);
  EXPECT_EQ(a.info.config_text, b.info.config_text);
  EXPECT_EQ(a.info.git_revision, b.info.git_revision);
  EXPECT_EQ(a.info.n_sites, b.info.n_sites);
}
inline void expect_same(const MetricPoint& a, const MetricPoint& b) {
  EXPECT_EQ(a.name, b.name);
  expect_same_double(a.value, b.value, "value of " + a.name);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.site, b.site);
  expect_same_double(a.wall_time, b.wall_time, "wall_time of " + a.name);
}
inline void expect_same(const LinkBytes& a, const LinkBytes& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.site, b.site);
  EXPECT_EQ(a.direction, b.direction);
  EXPECT_EQ(a.msg_type, b.msg_type);
  EXPECT_EQ(a.bytes, b.bytes);
  expect_same_double(a.seconds, b.seconds, "seconds");
}
inline void expect_same(const PlacementEntry& a, const PlacementEntry& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.layer, b.layer);
  EXPECT_EQ(a.expert, b.expert);
  EXPECT_EQ(a.site, b.site);
}
inline void expect_same(const ExpertLoadEntry& a, const ExpertLoadEntry& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.site, b.site);
  EXPECT_EQ(a.layer, b.layer);
  EXPECT_EQ(a.expert, b.expert);
  EXPECT_EQ(a.tokens, b.tokens);
}
inline void expect_same(const RunEvent& a, const RunEvent& b) {
  expect_same_double(a.time, b.time, "time");
  EXPECT_EQ(a.site, b.site);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.text, b.text);
}
inline void expect_same(const CheckpointEntry& a, const CheckpointEntry& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.path, b.path);
}
inline void expect_same(const SampleEntry& a, const SampleEntry& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.prompt_index, b.prompt_index);
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.ended, b.ended);
}
inline void expect_same(const RunFinished& a, const RunFinished& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.message, b.message);
}
template <typename T>
void expect_same(const std::vector<T>& a, const std::vector<T>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) expect_same(a[i], b[i]);
}

inline void expect_same_event(const StreamEvent& a, const StreamEvent& b) {
  ASSERT_EQ(a.index(), b.index()) << stream_topic_name(topic_of(a)) << " vs "
                                  << stream_topic_name(topic_of(b));
  std::visit([&](const auto& x) { expect_same(x, std::get<std::decay_t<decltype(x)>>(b)); }, a);
}

/// Records every callback as the StreamEvent it came from.
struct RecordingSink : RunSink {
  std::vector<StreamEvent> events;
  void on_run_started(int64_t run_id, const RunInfo& info) override {
    events.push_back(RunStarted{run_id, info});
  }
  void on_metrics(const std::vector<MetricPoint>& p) override { events.push_back(p); }
  void on_link_bytes(const std::vector<LinkBytes>& l) override { events.push_back(l); }
  void on_placement(const std::vector<PlacementEntry>& p) override { events.push_back(p); }
  void on_expert_load(const std::vector<ExpertLoadEntry>& l) override { events.push_back(l); }
  void on_event(const RunEvent& e) override { events.push_back(e); }
  void on_checkpoint(const CheckpointEntry& c) override { events.push_back(c); }
  void on_samples(const std::vector<SampleEntry>& s) override { events.push_back(s); }
  void on_run_finished(RunStatus s, const std::string& m) override {
    events.push_back(RunFinished{s, m});
  }
};

}  // namespace fomoe::net::testing
