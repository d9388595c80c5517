#include <gtest/gtest.h>

#include "fomoe/base/expected.h"
#include "fomoe/base/log.h"
#include "fomoe/base/metric_names.h"

namespace {

struct Captured {
  std::string last;
  int calls = 0;
};

void capture_sink(fomoe::LogLevel, const char* module, const char* message, void* user) {
  auto* c = static_cast<Captured*>(user);
  c->last = std::string(module) + ":" + message;
  c->calls++;
}

TEST(Expected, HoldsValueOrError) {
  fomoe::Expected<int> good = 3;
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 3);
  fomoe::Expected<int> bad = fomoe::make_error(fomoe::ErrorCode::NotFound, "no such file: x.bin");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, fomoe::ErrorCode::NotFound);
  EXPECT_EQ(bad.error().message, "no such file: x.bin");
}

TEST(Log, SinkReceivesFormattedLinesAboveThreshold) {
  Captured c;
  fomoe::set_log_sink(capture_sink, &c);
  fomoe::set_log_level(fomoe::LogLevel::Info);
  FOMOE_LOG_DEBUG("test", "hidden %d", 1);
  FOMOE_LOG_INFO("test", "shown %d", 2);
  fomoe::set_log_sink(nullptr, nullptr);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.last, "test:shown 2");
}

TEST(MetricNames, LayerSuffix) {
  EXPECT_EQ(fomoe::metric::layer_metric(fomoe::metric::kSkipRate, 3), "route/skip_rate.L3");
}

}  // namespace
