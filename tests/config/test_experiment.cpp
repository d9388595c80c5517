#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "fomoe/base/number_format.h"
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

TEST(Experiment, TopKFractions) {
  auto ok = parse_experiment("[run]\nmethod = \"fomoe\"\n[federation]\ntopk = 0.02\ndown_topk = 0.05\ncompression = \"int2\"\n", "t.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_DOUBLE_EQ(ok->federation.topk, 0.02);
  EXPECT_DOUBLE_EQ(ok->federation.down_topk, 0.05);
  auto again = parse_experiment(fomoe::to_toml(*ok), "u.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_DOUBLE_EQ(again->federation.topk, 0.02);
  EXPECT_DOUBLE_EQ(again->federation.down_topk, 0.05);
  EXPECT_DOUBLE_EQ(fomoe::ExperimentConfig{}.federation.topk, 0.0);  // off by default
  for (const char* bad : {"topk = 1.5", "topk = -0.1", "down_topk = 2"}) {
    auto r = parse_experiment(std::string("[federation]\n") + bad + "\n", "b.toml");
    ASSERT_FALSE(r) << bad;
    const std::string key = std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(r.error().message.find("federation." + key), std::string::npos) << r.error().message;
  }
  // DDP's gradients may be sparsified (both ways follow topk), but it has no down changes.
  EXPECT_TRUE(parse_experiment("[run]\nmethod = \"ddp\"\n[federation]\ntopk = 0.1\n", "d.toml"));
  auto ddp = parse_experiment("[run]\nmethod = \"ddp\"\n[federation]\ndown_topk = 0.1\n", "d.toml");
  ASSERT_FALSE(ddp);
  EXPECT_NE(ddp.error().message.find("federation.down_topk"), std::string::npos) << ddp.error().message;
  auto prec = parse_experiment("[run]\nmethod = \"diloco\"\n[federation]\ntopk = 0.1\nprecision = \"bf16\"\n", "p.toml");
  ASSERT_FALSE(prec);
  EXPECT_NE(prec.error().message.find("federation.topk"), std::string::npos) << prec.error().message;
}

TEST(Experiment, ErrorFeedbackDecay) {
  EXPECT_DOUBLE_EQ(fomoe::ExperimentConfig{}.federation.error_feedback_decay, 1.0);  // plain error feedback
  auto ok = parse_experiment("[federation]\ncompression = \"int4\"\nerror_feedback_decay = 0.9\n", "t.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_DOUBLE_EQ(ok->federation.error_feedback_decay, 0.9);
  auto again = parse_experiment(fomoe::to_toml(*ok), "u.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_DOUBLE_EQ(again->federation.error_feedback_decay, 0.9);
  for (const char* bad : {"error_feedback_decay = 1.5", "error_feedback_decay = -0.1", "error_feedback_decay = \"x\""}) {
    auto r = parse_experiment(std::string("[federation]\n") + bad + "\n", "b.toml");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("federation.error_feedback_decay"), std::string::npos) << r.error().message;
  }
}

TEST(Experiment, EntropyCoding) {
  EXPECT_FALSE(fomoe::ExperimentConfig{}.federation.entropy_coding);  // exact byte predictions by default
  auto ok = parse_experiment("[federation]\ncompression = \"int4\"\nentropy_coding = true\n", "t.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(ok->federation.entropy_coding);
  auto again = parse_experiment(fomoe::to_toml(*ok), "u.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->federation.entropy_coding);
  auto bad = parse_experiment("[federation]\nentropy_coding = \"zstd\"\n", "b.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("federation.entropy_coding"), std::string::npos) << bad.error().message;
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

TEST(Experiment, SitesThatMayJoin) {
  EXPECT_EQ(fomoe::ExperimentConfig{}.federation.max_sites, 0);  // no joining
  auto ok = parse_experiment("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 3\nmax_sites = 5\n", "j.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  auto again = parse_experiment(fomoe::to_toml(*ok), "again.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->federation.max_sites, 5);
  auto below = parse_experiment("[run]\nmethod = \"fomoe\"\n[federation]\nsites = 3\nmax_sites = 2\n", "b.toml");
  ASSERT_FALSE(below);
  EXPECT_NE(below.error().message.find("federation.max_sites (2) is below federation.sites (3)"), std::string::npos) << below.error().message;
  auto ddp = parse_experiment("[run]\nmethod = \"ddp\"\n[federation]\nsites = 2\nmax_sites = 3\n", "d.toml");
  ASSERT_FALSE(ddp);
  EXPECT_NE(ddp.error().message.find("DDP"), std::string::npos) << ddp.error().message;
}

TEST(Experiment, StreamingFragments) {
  auto ok = parse_experiment("[run]\nmethod = \"fomoe\"\n[model]\nn_layers = 4\n[federation]\ninner_steps = 32\nfragments = 4\n", "f.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(fomoe::round_steps(ok->federation), 8);
  auto again = parse_experiment(fomoe::to_toml(*ok), "again.toml");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->federation.fragments, 4);
  EXPECT_EQ(fomoe::parameter_fragment("layers.6.moe.expert_3.w1", 8, 4), 2);
  EXPECT_EQ(fomoe::parameter_fragment("tok_emb.weight", 8, 4), 0);
  EXPECT_EQ(fomoe::parameter_fragment("norm_f.weight", 8, 4), 3);
  EXPECT_EQ(fomoe::parameter_fragment("layers.6.attn.qkv.weight", 8, 1), 0);
  const std::pair<const char*, const char*> bad[] = {
      {"[model]\nn_layers = 4\n[federation]\ninner_steps = 30\nfragments = 4\n", "must divide federation.inner_steps (30)"},
      {"[model]\nn_layers = 2\n[federation]\ninner_steps = 32\nfragments = 4\n", "exceeds model.n_layers (2)"},
      {"[model]\nn_layers = 4\n[federation]\ninner_steps = 32\nfragments = 4\noverlap = true\noverlap_steps = 8\n", "below a round's 8 inner steps"},
      {"[model]\nn_layers = 4\n[federation]\ninner_steps = 32\nfragments = 2\ncoordinator_data = false\n", "data that stays at its site"},
  };
  for (auto& [text, why] : bad) {
    auto r = parse_experiment(std::string("[run]\nmethod = \"fomoe\"\n") + text, "b.toml");
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  }
  auto ddp = parse_experiment("[run]\nmethod = \"ddp\"\n[model]\nn_layers = 4\n[federation]\nfragments = 2\n", "d.toml");
  ASSERT_FALSE(ddp);
  EXPECT_NE(ddp.error().message.find("DDP"), std::string::npos) << ddp.error().message;
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

namespace {
// Saved experiments are for people (issue 13): only the keys that differ from the defaults, in
// the shortest numbers that read back exactly, and loading the file gives the same experiment.

// Every number token of a TOML text (outside strings and comments).
std::vector<std::string> number_tokens(const std::string& toml) {
  std::vector<std::string> out;
  std::istringstream lines(toml);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#' || line[0] == '[') continue;
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 3), token;
    bool in_string = false;
    for (char ch : value + " ") {
      if (ch == '"') in_string = !in_string;
      const bool part = !in_string && (std::isdigit(static_cast<unsigned char>(ch)) || ch == '.' || ch == 'e' || ch == '-' || ch == '+');
      if (part) token += ch;
      else if (!token.empty()) {
        if (std::isdigit(static_cast<unsigned char>(token.back()))) out.push_back(token);
        token.clear();
      }
    }
  }
  return out;
}

void expect_minimal_round_trip(const fomoe::ExperimentConfig& cfg, const std::string& what) {
  const std::string minimal = fomoe::to_toml_minimal(cfg);
  auto again = parse_experiment(minimal, what + " (minimal)");
  ASSERT_TRUE(again) << again.error().message << "\n" << minimal;
  EXPECT_EQ(fomoe::to_toml(*again), fomoe::to_toml(cfg)) << what << "\n" << minimal;
  for (const std::string& t : number_tokens(minimal)) {
    if (t.find_first_of(".e") == std::string::npos) continue;  // integers print exactly
    const std::string shortest = fomoe::shortest_number(std::stod(t));
    EXPECT_TRUE(t == shortest || t == shortest + ".0") << what << ": " << t << " could be written " << shortest;
  }
}

TEST(ExperimentMinimalToml, ShippedExperimentsRoundTrip) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(FOMOE_SOURCE_DIR) + "/experiments")) {
    if (entry.path().extension() != ".toml") continue;
    auto cfg = fomoe::load_experiment(entry.path().string());
    ASSERT_TRUE(cfg) << cfg.error().message;
    expect_minimal_round_trip(*cfg, entry.path().filename().string());
    ++n;
  }
  EXPECT_GE(n, 5);
}

TEST(ExperimentMinimalToml, EditedConfigsRoundTrip) {
  fomoe::ExperimentConfig c;
  c.run.method = fomoe::Method::FoMoE;
  c.run.name = "quote \" backslash \\ tab\t ünïcode";
  c.run.seed = 9007199254740993ull;
  c.train.lr = 0.05;
  c.federation.outer_lr = 0.1 + 0.2;  // needs all 17 digits: 0.30000000000000004
  c.federation.bandwidth_mbps = 100;  // an integral double stays a float
  c.federation.sites = 3;
  c.federation.site_bandwidth_mbps = {1000, 2.5, 0.001};
  c.federation.site_latency_ms = {1e-7, 20, 35.5};
  c.federation.agents = {{"tcp://a:1", "key\"1"}, {"tcp://b:2", ""}, {"tcp://c:3", "k3"}};
  c.federation.placement = fomoe::PlacementPolicy::Explicit;
  c.federation.explicit_plan = std::vector<std::vector<std::vector<int>>>(4, std::vector<std::vector<int>>(8, {0, 2}));
  c.data.sources = {"jargon"};
  c.data.max_bytes = 5000000000;
  ASSERT_TRUE(fomoe::validate_experiment(c)) << fomoe::validate_experiment(c).error().message;
  expect_minimal_round_trip(c, "edited");
  const std::string text = fomoe::to_toml_minimal(c);
  EXPECT_NE(text.find("lr = 0.05\n"), std::string::npos) << text;
  EXPECT_NE(text.find("outer_lr = 0.30000000000000004\n"), std::string::npos) << text;
  EXPECT_NE(text.find("bandwidth_mbps = 100.0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("0.050000"), std::string::npos) << text;
}

TEST(ExperimentMinimalToml, HoldsOnlyTheKeysThatDifferFromTheDefaults) {
  EXPECT_EQ(fomoe::to_toml_minimal(fomoe::ExperimentConfig{}).find('='), std::string::npos)
      << fomoe::to_toml_minimal(fomoe::ExperimentConfig{});
  auto cfg = fomoe::load_experiment(std::string(FOMOE_SOURCE_DIR) + "/experiments/quickstart.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  cfg->train.lr = 0.05;
  const std::string text = fomoe::to_toml_minimal(*cfg);
  EXPECT_NE(text.find("[run]\nmethod = \"fomoe\"\nname = \"quickstart\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lr = 0.05\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("vocab_size"), std::string::npos) << "quickstart's vocab_size is the default\n" << text;
  EXPECT_EQ(text.find("[data]"), std::string::npos) << "quickstart's data section is all defaults\n" << text;
  EXPECT_LT(text.find("[run]"), text.find("[model]"));
  EXPECT_LT(text.find("[train]"), text.find("[federation]"));
}
}  // namespace
