#include <gtest/gtest.h>

#include <filesystem>

#include "fomoe/config/experiment.h"

using fomoe::parse_experiment;

namespace {

TEST(Experiment, DefaultsWhenEmpty) {
  auto cfg = parse_experiment("", "empty.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->model.n_experts, 8);
  EXPECT_EQ(cfg->run.method, fomoe::Method::Single);
}

TEST(Experiment, ReadsValues) {
  auto cfg = parse_experiment(R"(
[run]
method = "fomoe"
[model]
n_experts = 16
top_k = 2
gate = "renormalize"
[federation]
sites = 4
replication = 2
precision = "bf16"
)", "x.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->run.method, fomoe::Method::FoMoE);
  EXPECT_EQ(cfg->model.n_experts, 16);
  EXPECT_EQ(cfg->model.gate, fomoe::GateMode::Renormalize);
  EXPECT_EQ(cfg->federation.precision, fomoe::WirePrecision::BF16);
}

TEST(Experiment, UnknownKeyNamesKeyAndLine) {
  auto cfg = parse_experiment("[model]\nn_experts = 8\nn_expertz = 4\n", "bad.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("bad.toml:3"), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("model.n_expertz"), std::string::npos) << cfg.error().message;
}

TEST(Experiment, WrongTypeNamesKeyAndLine) {
  auto cfg = parse_experiment("[train]\n\nlr = \"fast\"\n", "t.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("t.toml:3"), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("train.lr expects a number"), std::string::npos) << cfg.error().message;
}

TEST(Experiment, SyntaxErrorHasLineAndColumn) {
  auto cfg = parse_experiment("[model]\nd_model = = 3\n", "s.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("s.toml:2:"), std::string::npos) << cfg.error().message;
}

TEST(Experiment, ContradictionIsReported) {
  auto cfg = parse_experiment("[model]\nn_experts = 4\ntop_k = 6\n", "c.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("model.top_k (6) exceeds model.n_experts (4)"), std::string::npos) << cfg.error().message;
  auto fed = parse_experiment("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 2\nreplication = 3\n", "f.toml");
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("federation.replication"), std::string::npos);
}

TEST(Experiment, OutOfRangeAndUnknownEnum) {
  auto cfg = parse_experiment("[run]\nmethod = \"fedsgd\"\n", "e.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("unknown value \"fedsgd\""), std::string::npos) << cfg.error().message;
  auto r = parse_experiment("[model]\nresidency = 1.5\n", "r.toml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("model.residency must be in"), std::string::npos) << r.error().message;
}

TEST(Experiment, DeviceListsAreCheckedItemByItem) {
  auto ok = parse_experiment("[run]\ndevice = \"cuda:0,cuda:1\"\n", "d.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->run.device, "cuda:0,cuda:1");
  auto bad = parse_experiment("[run]\n\ndevice = \"cpu,gpu\"\n", "d.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("d.toml:3"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("unknown device \"gpu\""), std::string::npos) << bad.error().message;
}

TEST(Experiment, MissingFileIsNotFound) {
  auto cfg = fomoe::load_experiment("/nonexistent/exp.toml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().code, fomoe::ErrorCode::NotFound);
  EXPECT_NE(cfg.error().message.find("/nonexistent/exp.toml"), std::string::npos);
}

TEST(Experiment, CanonicalTomlRoundTrips) {
  auto cfg = parse_experiment("[run]\nmethod = \"diloco\"\n[model]\nn_experts = 6\ngate = \"reroute\"\n[federation]\nsites = 3\n", "a.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto again = parse_experiment(fomoe::to_toml(*cfg), "b.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->run.method, fomoe::Method::DiLoCo);
  EXPECT_EQ(again->model.gate, fomoe::GateMode::Reroute);
  EXPECT_EQ(again->model.n_experts, 6);
  EXPECT_EQ(again->federation.sites, 3);
}

TEST(Experiment, PerSiteLinks) {
  auto cfg = parse_experiment("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 3\nbandwidth_mbps = 100\n"
                              "site_bandwidth_mbps = [1000, 50, 1000]\n", "l.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_DOUBLE_EQ(fomoe::site_bandwidth_mbps(cfg->federation, 1), 50);
  EXPECT_DOUBLE_EQ(fomoe::site_latency_ms(cfg->federation, 1), 0);
  auto again = parse_experiment(fomoe::to_toml(*cfg), "again.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->federation.site_bandwidth_mbps, cfg->federation.site_bandwidth_mbps);
  auto bad = parse_experiment("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 3\nsite_latency_ms = [10, 20]\n", "b.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("site_latency_ms lists 2 sites but federation.sites = 3"), std::string::npos);
}

TEST(Experiment, OverridesApplyAndValidate) {
  auto cfg = parse_experiment("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 4\n", "o.toml");
  ASSERT_TRUE(cfg);
  ASSERT_TRUE(fomoe::apply_overrides(*cfg, {"federation.replication=4", "run.method=diloco", "train.lr=0.01"}).is_ok());
  EXPECT_EQ(cfg->federation.replication, 4);
  EXPECT_EQ(cfg->run.method, fomoe::Method::DiLoCo);
  EXPECT_DOUBLE_EQ(cfg->train.lr, 0.01);
  EXPECT_NE(cfg->source_text.find("replication = 4"), std::string::npos);
  auto bad = fomoe::apply_overrides(*cfg, {"federation.replication=9"});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.error().message.find("federation.replication"), std::string::npos);
  EXPECT_FALSE(fomoe::apply_overrides(*cfg, {"model.nope=1"}).is_ok());
  EXPECT_FALSE(fomoe::apply_overrides(*cfg, {"replication=1"}).is_ok());
}

}  // namespace

namespace {
// Every experiment the project ships parses and validates: a typo there would only show when a
// user runs it.
TEST(Experiment, ShippedExperimentsAreValid) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(FOMOE_SOURCE_DIR) + "/experiments")) {
    if (entry.path().extension() != ".toml") continue;
    auto cfg = fomoe::load_experiment(entry.path().string());
    ASSERT_TRUE(cfg) << cfg.error().message;
    EXPECT_TRUE(fomoe::validate_experiment(*cfg)) << entry.path();
    ++n;
  }
  EXPECT_GE(n, 5);
}
}  // namespace
