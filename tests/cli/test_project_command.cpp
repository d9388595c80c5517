// `fomoe project` through project_command with string streams.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "fomoe/sysmodel/presets.h"

namespace fomoe::sysmodel {
namespace {

struct CliResult {
  int rc;
  std::string out, err;
};

CliResult cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int rc = cli::project_command(args, out, err);
  return {rc, out.str(), err.str()};
}

std::string fmt2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", v);
  return buf;
}

TEST(ProjectCommand, TableShowsMethodsAndRatios) {
  const CliResult r = cli({"project", "--preset", "mixtral-8x7b", "--sites", "8", "--replication", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* s : {"DDP", "DiLoCo", "Photon", "FoMoE", "bytes per round vs FoMoE", "memory per site",
                        "comm time per round", "coordinator in per round", "published"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  Preset pr = *find_preset("mixtral-8x7b");
  pr.federation.n_sites = 8;
  const Projection p = project(pr.model, pr.federation);
  EXPECT_NE(r.out.find(fmt2(p.bytes_ratio(Method::DiLoCo))), std::string::npos);
  EXPECT_NE(r.out.find(fmt2(p.bytes_ratio(Method::Ddp))), std::string::npos);
  EXPECT_GT(p.bytes_ratio(Method::DiLoCo), 3.0);  // 8 sites, r 2: a site holds 1/4 of the experts
}

TEST(ProjectCommand, JsonIsExactAndParses) {
  const CliResult r = cli({"--preset=olmoe-1b-7b", "--format", "json", "--precision", "bf16", "--inner-steps", "16"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  Preset pr = *find_preset("olmoe-1b-7b");
  pr.federation.precision = WirePrecision::BF16;
  pr.federation.inner_steps = 16;
  const Projection p = project(pr.model, pr.federation);
  EXPECT_EQ(j["params"]["total"].get<int64_t>(), p.counts.total);
  EXPECT_EQ(j["federation"]["precision"], "bf16");
  EXPECT_EQ(j["methods"]["fomoe"]["coordinator"]["in"]["total"].get<uint64_t>(), p.fomoe.coordinator_in.total());
  EXPECT_EQ(j["methods"]["ddp"]["sites"].size(), 4u);
  EXPECT_NEAR(j["methods"]["ddp"]["bytes_ratio_vs_fomoe"].get<double>(), p.bytes_ratio(Method::Ddp), 1e-9);
}

TEST(ProjectCommand, FragmentsShowTheLargestSingleRound) {  // #15
  const CliResult r = cli({"--preset", "mixtral-8x7b", "--fragments", "4", "--format", "json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  Preset pr = *find_preset("mixtral-8x7b");
  pr.federation.fragments = 4;
  const Projection p = project(pr.model, pr.federation);
  EXPECT_EQ(j["federation"]["fragments"], 4);
  EXPECT_EQ(j["methods"]["fomoe"]["messages_each_way"], 4);
  EXPECT_EQ(j["methods"]["fomoe"]["sites"][0]["largest_round_bytes"].get<uint64_t>(), p.fomoe.sites[0].largest_round_bytes);
  const CliResult table = cli({"--preset", "mixtral-8x7b", "--fragments", "4"});
  ASSERT_EQ(table.rc, 0) << table.err;
  EXPECT_NE(table.out.find("largest single round"), std::string::npos) << table.out;
  // P must divide H (32) and stay within the layers (32): each refusal names the problem.
  const CliResult uneven = cli({"--preset", "mixtral-8x7b", "--fragments", "5"});
  EXPECT_EQ(uneven.rc, 2);
  EXPECT_NE(uneven.err.find("must divide inner_steps = 32"), std::string::npos) << uneven.err;
  const CliResult too_many = cli({"--preset", "mixtral-8x7b", "--fragments", "64", "--inner-steps", "64"});
  EXPECT_EQ(too_many.rc, 2);
  EXPECT_NE(too_many.err.find("more than the model's 32 layers"), std::string::npos) << too_many.err;
}

TEST(ProjectCommand, CodedFractionScalesTheRoundsBytes) {  // #15: entropy coding at scale
  const CliResult r = cli({"--preset", "mixtral-8x7b", "--compression", "int4", "--down-compression", "int4",
                           "--coded-fraction", "0.92", "--format", "json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  Preset pr = *find_preset("mixtral-8x7b");
  pr.federation.compression = pr.federation.down_compression = Compression::Int4;
  pr.federation.coded_fraction = 0.92;
  const Projection p = project(pr.model, pr.federation);
  EXPECT_EQ(j["federation"]["coded_fraction"], 0.92);
  EXPECT_EQ(j["methods"]["fomoe"]["coordinator"]["in"]["total"].get<uint64_t>(), p.fomoe.coordinator_in.total());
  const CliResult table = cli({"--preset", "mixtral-8x7b", "--compression", "int4", "--coded-fraction", "0.92"});
  ASSERT_EQ(table.rc, 0) << table.err;
  EXPECT_NE(table.out.find("entropy coded to 0.92"), std::string::npos) << table.out;
  for (const char* bad : {"0", "1.5", "x"}) {
    const CliResult refused = cli({"--preset", "mixtral-8x7b", "--coded-fraction", bad});
    EXPECT_EQ(refused.rc, 2) << bad;
    EXPECT_NE(refused.err.find("--coded-fraction"), std::string::npos) << refused.err;
  }
}

TEST(ProjectCommand, BadPresetListsPresets) {
  const CliResult r = cli({"--preset", "nope"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("unknown preset 'nope'"), std::string::npos) << r.err;
  for (const Preset& p : presets()) EXPECT_NE(r.err.find(p.name), std::string::npos) << p.name;
}

TEST(ProjectCommand, ListPresets) {
  const CliResult r = cli({"--list-presets"});
  ASSERT_EQ(r.rc, 0);
  for (const Preset& p : presets()) EXPECT_NE(r.out.find(p.name), std::string::npos);
  EXPECT_NE(r.out.find("MHA"), std::string::npos);
}

TEST(ProjectCommand, BadValuesAreUsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--sites", "0"}, {"--sites", "four"}, {"--precision", "int8"}, {"--bandwidth-gbps", "-1"},
           {"--format", "xml"}, {"--bogus"}, {"--latency-ms"}, {"--preset", "mixtral-8x7b", "--experiment", "x.toml"}}) {
    const CliResult r = cli(args);
    EXPECT_EQ(r.rc, 2) << args[0];
    EXPECT_FALSE(r.err.empty()) << args[0];
  }
  const CliResult missing = cli({"--experiment", "/nonexistent/dir/x.toml"});
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("x.toml"), std::string::npos) << missing.err;
}

TEST(ProjectCommand, HelpAndMessagesThatNameTheOption) {  // #16
  CliResult r = cli({"--help"});
  ASSERT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("usage: fomoe project"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--bandwidth-gbps"), std::string::npos) << r.out;
  r = cli({"--sites", "four"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--sites: 'four' is not an integer"), std::string::npos) << r.err;
  r = cli({"--bandwidth-gbps", "fast"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--bandwidth-gbps: 'fast' is not a number"), std::string::npos) << r.err;
  // --json, the older spelling, is --format json.
  r = cli({"--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::accept(r.out)) << r.out;
}

TEST(ProjectCommand, ExperimentFileDrivesTheShapes) {
  const std::string path = std::string(FOMOE_BINARY_DIR) + "/sysmodel_cli_test.toml";
  {
    std::ofstream f(path);
    f << "[run]\nname = \"cli\"\nmethod = \"fomoe\"\n[model]\nvocab_size = 256\nd_model = 32\nn_layers = 2\n"
         "n_heads = 2\nn_experts = 6\ntop_k = 2\nd_expert = 16\nshared_expert = true\n"
         "[federation]\nsites = 3\ninner_steps = 8\nreplication = 1\nbandwidth_mbps = 100.0\nlatency_ms = 5.0\n";
  }
  const CliResult r = cli({"--experiment", path, "--format", "json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"]["n_experts"], 6);
  EXPECT_EQ(j["model"]["shared_expert"], 16);
  EXPECT_EQ(j["federation"]["sites"], 3);
  EXPECT_EQ(j["federation"]["inner_steps"], 8);
  EXPECT_DOUBLE_EQ(j["federation"]["bandwidth_bps"].get<double>(), 1e8);
  EXPECT_DOUBLE_EQ(j["federation"]["latency_s"].get<double>(), 0.005);
  // r = 1 of 3 sites: each site holds 2 of 6 experts per layer.
  for (const auto& s : j["methods"]["fomoe"]["sites"]) EXPECT_EQ(s["experts_held"], 4);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace fomoe::sysmodel
