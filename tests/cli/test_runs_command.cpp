// `fomoe runs ...` through runs_command with string streams.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#include "commands.h"
#include "store_test_util.h"

namespace fomoe {
namespace {

using test::point;

struct CliResult {
  int code;
  std::string out;
  std::string err;
};

class RunsCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.file("runs.db");
    auto rec = RunRecorder::open(db_);
    ASSERT_TRUE(rec);
    const std::string cfg_a = "# experiment\n[model]\nd_model = 256\nn_experts = 8\n[train]\nlr = 3e-4 # peak\n";
    const std::string cfg_b = "[model]\nd_model = 256\nn_experts = 16\n[train]\nlr = 3e-4\nsites = [\n  0,\n  1,\n]\n";
    for (int i = 0; i < 2; ++i) {
      ids_.push_back((*rec)->begin_run(test::test_run_info(i ? "wide" : "base", "fomoe", i ? cfg_b : cfg_a)));
      std::vector<MetricPoint> pts;
      for (long s = 0; s < 500; ++s) pts.push_back(point(metric::kTrainLoss, s, 4.0 - s * 0.001 - i, 0));
      pts.push_back(point(metric::kEvalLoss, 499, 3.5 - i));
      (*rec)->on_metrics(pts);
      (*rec)->on_link_bytes({{0, 0, Direction::Sent, "pseudo_grad", 1000 * (i + 1), 0.5},
                             {0, 0, Direction::Received, "update", 1000 * (i + 1), 0.25}});
      (*rec)->on_event({2.0, 0, "site_dead", "link lost"});
      (*rec)->on_run_finished(RunStatus::Finished, "");
    }
    ids_.push_back((*rec)->begin_run(test::test_run_info("single-run", "single")));
    (*rec)->on_run_finished(RunStatus::Cancelled, "stopped by user");
  }

  CliResult run(std::vector<std::string> args) {
    args.push_back("--db");
    args.push_back(db_);
    std::ostringstream out, err;
    int code = cli::runs_command(args, out, err);
    return {code, out.str(), err.str()};
  }

  test::TempDir dir_;
  std::string db_;
  std::vector<int64_t> ids_;
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

TEST_F(RunsCommand, ListTableIsAligned) {
  auto r = run({"list"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto ls = lines(r.out);
  ASSERT_GE(ls.size(), 5u);
  const size_t method_col = ls[0].find("METHOD");
  const size_t status_col = ls[0].find("STATUS");
  ASSERT_NE(method_col, std::string::npos);
  EXPECT_EQ(ls[1].find("single ", method_col), method_col) << r.out;  // newest first, columns line up
  EXPECT_EQ(ls[1].find("cancelled", status_col), status_col) << r.out;
  EXPECT_EQ(ls[3].find("finished", status_col), status_col) << r.out;
  EXPECT_TRUE(has(ls[2], "wide"));
  EXPECT_TRUE(has(ls[2], "2.5010"));  // final train loss of "wide": 4 - 0.499 - 1
  EXPECT_TRUE(has(ls[2], "4.00 kB"));
  EXPECT_TRUE(has(r.out, "3 run(s)"));
}

TEST_F(RunsCommand, ListJsonCsvAndFilters) {
  auto r = run({"list", "--method", "fomoe", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "wide");
  EXPECT_DOUBLE_EQ(j[0]["best_eval_loss"].get<double>(), 2.5);
  EXPECT_EQ(j[0]["total_bytes"], 4000);
  r = run({"list", "--status", "cancelled", "--format", "csv"});
  ASSERT_EQ(r.code, 0);
  auto ls = lines(r.out);
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0].rfind("id,name,method,status", 0), 0u);
  EXPECT_TRUE(has(ls[1], ",single-run,single,cancelled,"));
  EXPECT_EQ(run({"list", "--format", "yaml"}).code, 2);
}

TEST_F(RunsCommand, ShowPrintsConfigSummaryLinksEvents) {
  auto r = run({"show", std::to_string(ids_[0])});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Run " + std::to_string(ids_[0]) + ": base"));
  EXPECT_TRUE(has(r.out, "final train loss"));
  EXPECT_TRUE(has(r.out, "3.5010"));
  EXPECT_TRUE(has(r.out, "pseudo_grad"));
  EXPECT_TRUE(has(r.out, "received"));
  EXPECT_TRUE(has(r.out, "site_dead"));
  EXPECT_TRUE(has(r.out, "link lost"));
  EXPECT_TRUE(has(r.out, "n_experts = 8"));
  EXPECT_TRUE(has(r.out, "train/loss"));
}

TEST_F(RunsCommand, UnknownRunAndBadArgs) {
  auto r = run({"show", "999"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "no run with id 999")) << r.err;
  r = run({"show", "abc"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "run id must be a number")) << r.err;
  EXPECT_TRUE(has(r.err, "usage: fomoe runs")) << r.err;
  r = run({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown command 'frobnicate'"));
  r = run({"list", "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown option '--bogus'"));
  std::ostringstream out, err;
  EXPECT_EQ(cli::runs_command({}, out, err), 2);
  EXPECT_EQ(cli::runs_command({"--help"}, out, err), 0);
  EXPECT_TRUE(has(out.str(), "compare RUN RUN"));
  EXPECT_EQ(run({"compare", std::to_string(ids_[0])}).code, 2);
}

TEST_F(RunsCommand, ShowFormatJsonHasEverythingShowPrints) {  // #16
  auto r = run({"show", std::to_string(ids_[0]), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["id"], ids_[0]);
  EXPECT_EQ(j["name"], "base");
  EXPECT_EQ(j["status"], "finished");
  EXPECT_DOUBLE_EQ(j["final_eval_loss"].get<double>(), 3.5);
  EXPECT_EQ(j["total_bytes"], 2000);
  EXPECT_EQ(j["last_step"], 499);
  ASSERT_EQ(j["metrics"].size(), 2u);
  bool train_loss = false;
  for (const auto& m : j["metrics"]) {
    if (m["name"] == "train/loss") {
      train_loss = true;
      EXPECT_EQ(m["points"], 500);
      EXPECT_EQ(m["site"], 0);
    }
  }
  EXPECT_TRUE(train_loss) << r.out;
  ASSERT_EQ(j["links"].size(), 2u);
  EXPECT_EQ(j["links"][0]["msg_type"].get<std::string>().empty(), false);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["kind"], "site_dead");
  EXPECT_NE(j["config_text"].get<std::string>().find("n_experts = 8"), std::string::npos);
  // --json is the same as --format json, and the table is still the default.
  EXPECT_EQ(run({"show", std::to_string(ids_[0]), "--json"}).out, r.out);
  EXPECT_TRUE(has(run({"show", std::to_string(ids_[0])}).out, "Run " + std::to_string(ids_[0]) + ": base"));
  EXPECT_EQ(run({"show", std::to_string(ids_[0]), "--format", "yaml"}).code, 2);
}

TEST_F(RunsCommand, CompareFormatJson) {
  auto r = run({"compare", std::to_string(ids_[0]), std::to_string(ids_[1]), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][1]["name"], "wide");
  EXPECT_DOUBLE_EQ(j["runs"][1]["bytes_vs_first"].get<double>(), 2.0);
  EXPECT_EQ(j["config_differs"].size(), 2u) << r.out;
  EXPECT_EQ(j["config_differs"]["model.n_experts"][1], "16");
  EXPECT_TRUE(j["config_differs"]["train.sites"][0].is_null());
}

TEST_F(RunsCommand, HelpOfEachSubcommand) {
  for (const char* cmd : {"list", "show", "compare", "export", "delete", "tag"}) {
    std::ostringstream out, err;
    ASSERT_EQ(cli::runs_command({cmd, "--help"}, out, err), 0) << cmd << err.str();
    EXPECT_TRUE(has(out.str(), std::string("usage: fomoe runs ") + cmd)) << out.str();
    EXPECT_TRUE(err.str().empty()) << err.str();
  }
  std::ostringstream out, err;
  ASSERT_EQ(cli::runs_command({"show", "--help"}, out, err), 0);
  EXPECT_TRUE(has(out.str(), "--format")) << out.str();
}

TEST_F(RunsCommand, UsageErrorsNameTheOption) {
  auto r = run({"list", "--limit", "many"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--limit: 'many' is not an integer")) << r.err;
  std::ostringstream out, err;
  EXPECT_EQ(cli::runs_command({"export", std::to_string(ids_[0]), "--format"}, out, err), 2);
  EXPECT_TRUE(has(err.str(), "--format")) << err.str();
  r = run({"show"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "RUN is required")) << r.err;
  r = run({"show", std::to_string(ids_[0]), "extra"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unexpected argument 'extra'")) << r.err;
  r = run({"tag", std::to_string(ids_[0])});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "TAGS is required")) << r.err;
}

TEST_F(RunsCommand, CompareShowsOnlyDifferingKeysAndRatios) {
  auto r = run({"compare", std::to_string(ids_[0]), std::to_string(ids_[1])});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "model.n_experts")) << r.out;
  EXPECT_TRUE(has(r.out, "16"));
  EXPECT_TRUE(has(r.out, "train.sites"));    // multi-line array only in the second config
  EXPECT_TRUE(has(r.out, "(unset)"));
  EXPECT_FALSE(has(r.out, "model.d_model")) << r.out;  // equal in both
  EXPECT_FALSE(has(r.out, "train.lr")) << r.out;       // equal once the comment is stripped
  EXPECT_TRUE(has(r.out, "2 keys differ"));
  EXPECT_TRUE(has(r.out, "1.000x"));
  EXPECT_TRUE(has(r.out, "2.000x"));
  EXPECT_TRUE(has(r.out, "2.5000"));  // best eval of the second run
}

TEST_F(RunsCommand, ExportEveryPoint) {
  const std::string id = std::to_string(ids_[0]);
  auto r = run({"export", id, "--format", "csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto ls = lines(r.out);
  ASSERT_EQ(ls.size(), 1u + 501u);
  EXPECT_EQ(ls[0], "run_id,name,site,step,round,value,wall_time");
  // Numbers in their shortest round-trip form: 3.999, not 3.9990000000000001.
  EXPECT_TRUE(has(r.out, ",train/loss,0,1,-1,3.999,0.5\n")) << r.out.substr(0, 400);
  r = run({"export", id, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metrics"].size(), 501u);
  EXPECT_EQ(j["links"].size(), 2u);
  EXPECT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["run"]["name"], "base");
  const std::string file = dir_.file("out.csv");
  r = run({"export", id, "--format", "csv", "--out", file});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Wrote 501 metric points"));
  std::ifstream in(file);
  int n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  EXPECT_EQ(n, 502);
}

TEST_F(RunsCommand, DeleteNeedsYes) {
  const std::string id = std::to_string(ids_[1]);
  auto r = run({"delete", id});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "--yes")) << r.err;
  EXPECT_EQ(run({"show", id}).code, 0);
  r = run({"--yes", "delete", id});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "Deleted run " + id));
  EXPECT_EQ(run({"show", id}).code, 2);
  EXPECT_EQ(lines(run({"list", "--format", "csv"}).out).size(), 3u);
}

// A federated run, stopped and resumed: `show` puts each site's held-out loss beside the global
// one and lists the stop and the resume even when they are older than the events it shows.
TEST_F(RunsCommand, ShowHeldOutLossPerSiteAndStopsAndResumes) {
  int64_t id = -1;
  {
    auto rec = RunRecorder::open(db_);
    ASSERT_TRUE(rec);
    RunRecorder& r = **rec;
    id = r.begin_run(test::test_run_info("federated"));
    auto eval_point = [&](int k) {
      const long step = 100L * k;
      std::vector<MetricPoint> pts = {point(metric::kEvalLoss, step, 3.0 - k * 0.1, -1, k)};
      for (int site = 0; site < 2; ++site) {
        if (site == 1 && k == 12) continue;  // site 1 missed this eval point
        pts.push_back(point(metric::kSiteEvalLoss, step, 3.25 - k * 0.1 + site * 0.5, site, k));
      }
      r.on_metrics(pts);
      r.on_event({k * 1.0, -1, "round_started", "round " + std::to_string(k)});
    };
    for (int k = 0; k < 5; ++k) eval_point(k);
    r.on_event({5.0, -1, "stopped", "SIGTERM: stopped after round 4"});
    r.on_run_finished(RunStatus::Stopped, "SIGTERM");
    EXPECT_TRUE(has(run({"list", "--status", "stopped"}).out, "federated"));
    ASSERT_TRUE(r.resume_run(id));
    r.on_event({6.0, -1, "resumed", "resumed after round 4"});  // the clock goes on from the run's start
    r.on_resumed(5);
    for (int k = 5; k < 14; ++k) eval_point(k);
    for (int i = 0; i < 25; ++i) r.on_event({10.0 + i, 0, "heartbeat", "ok"});
    r.on_run_finished(RunStatus::Finished, "");
  }
  auto res = run({"show", std::to_string(id)});
  ASSERT_EQ(res.code, 0) << res.err;
  const auto ls = lines(res.out);
  auto find = [&](const std::string& part) {
    for (size_t i = 0; i < ls.size(); ++i)
      if (has(ls[i], part)) return i;
    return ls.size();
  };
  const size_t head = find("STEP  GLOBAL");
  ASSERT_LT(head, ls.size()) << res.out;
  EXPECT_TRUE(has(ls[head], "SITE 0")) << ls[head];
  EXPECT_TRUE(has(ls[head], "SITE 1")) << ls[head];
  EXPECT_TRUE(has(res.out, "Held-out loss (14 eval points")) << res.out;
  EXPECT_TRUE(has(res.out, "4 earlier eval points not shown")) << res.out;
  ASSERT_LT(head + 10, ls.size());
  auto cells = [](const std::string& line) {
    std::vector<std::string> v;
    std::istringstream in(line);
    for (std::string w; in >> w;) v.push_back(w);
    return v;
  };
  EXPECT_EQ(cells(ls[head + 1]), (std::vector<std::string>{"400", "2.6000", "2.8500", "3.3500"})) << res.out;
  EXPECT_EQ(cells(ls[head + 8]), (std::vector<std::string>{"1100", "1.9000", "2.1500", "2.6500"}));
  EXPECT_EQ(cells(ls[head + 9]), (std::vector<std::string>{"1200", "1.8000", "2.0500", "-"}));
  EXPECT_EQ(cells(ls[head + 10]), (std::vector<std::string>{"1300", "1.7000", "1.9500", "2.4500"}));
  // Columns line up: each value ends under the end of its header.
  EXPECT_EQ(ls[head].find("SITE 1") + 6, ls[head + 1].size()) << ls[head] << "\n" << ls[head + 1];

  const size_t stops = find("Stopped and resumed (2)");
  ASSERT_LT(stops, ls.size()) << res.out;
  EXPECT_TRUE(has(ls[stops + 2], "stopped") && has(ls[stops + 2], "SIGTERM: stopped after round 4")) << res.out;
  EXPECT_TRUE(has(ls[stops + 3], "resumed") && has(ls[stops + 3], "resumed after round 4")) << res.out;
  EXPECT_TRUE(has(res.out, "Events (41)"));
  EXPECT_TRUE(has(res.out, "21 earlier events not shown; --all shows every one")) << res.out;

  auto all = run({"show", std::to_string(id), "--all"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_FALSE(has(all.out, "not shown")) << all.out;
  const auto all_ls = lines(all.out);
  size_t all_head = 0;
  while (all_head < all_ls.size() && !has(all_ls[all_head], "STEP  GLOBAL")) ++all_head;
  ASSERT_LT(all_head + 1, all_ls.size());
  EXPECT_EQ(cells(all_ls[all_head + 1]), (std::vector<std::string>{"0", "3.0000", "3.2500", "3.7500"})) << all.out;

  auto json = run({"show", std::to_string(id), "--format", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  const auto& h = j["held_out_loss"];
  EXPECT_EQ(h["metric"], "eval/loss");
  EXPECT_EQ(h["site_metric"], "eval/site_loss");
  ASSERT_EQ(h["global"].size(), 14u);
  EXPECT_EQ(h["global"][13]["step"], 1300);
  EXPECT_EQ(h["global"][13]["round"], 13);
  EXPECT_DOUBLE_EQ(h["global"][13]["value"].get<double>(), 3.0 - 13 * 0.1);
  ASSERT_EQ(h["sites"].size(), 2u);
  EXPECT_EQ(h["sites"][0]["site"], 0);
  EXPECT_EQ(h["sites"][0]["points"].size(), 14u);
  EXPECT_EQ(h["sites"][1]["site"], 1);
  ASSERT_EQ(h["sites"][1]["points"].size(), 13u);
  EXPECT_DOUBLE_EQ(h["sites"][1]["points"][12]["value"].get<double>(), 3.25 - 1.3 + 0.5);
  EXPECT_EQ(j["status"], "finished");
  EXPECT_EQ(j["events"].size(), 41u);

  // A run without site losses: the global column only.
  auto base = run({"show", std::to_string(ids_[0])});
  ASSERT_EQ(base.code, 0);
  EXPECT_TRUE(has(base.out, "Held-out loss (1 eval points")) << base.out;
  EXPECT_FALSE(has(base.out, "SITE 0"));
  EXPECT_EQ(nlohmann::json::parse(run({"show", std::to_string(ids_[0]), "--json"}).out)["held_out_loss"]["sites"].size(),
            0u);
}

TEST_F(RunsCommand, TagThenListShowsTags) {
  ASSERT_EQ(run({"tag", std::to_string(ids_[0]), "baseline"}).code, 0);
  EXPECT_TRUE(has(run({"list"}).out, "baseline"));
}

}  // namespace
}  // namespace fomoe
