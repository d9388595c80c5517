// Real federations on loopback: K agent processes (`fomoe agent`), CURVE, real bytes counted.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <filesystem>
#include <mutex>
#include <thread>

#include "federation_test_support.h"
#include "fomoe/federation/global_model.h"
#include "fomoe/federation/local_federation.h"
#include "fomoe/net/keys.h"
#include "fomoe/net/protocol.h"
#include "fomoe/sysmodel/model_shape.h"
#include "fomoe/sysmodel/presets.h"
#include "fomoe/store/run_store.h"
#include "fomoe/sysmodel/wire_bytes.h"

extern char** environ;

using namespace fomoe;
namespace fs = std::filesystem;
using namespace fomoe::test;

namespace {

TEST(FederationProcesses, FomoeRunsAndMeasuredBytesEqualPredictedFromShapes) {
  auto c = tiny(Method::FoMoE, 2);
  CapturingSink sink;
  auto r = run(c, "bytes", &sink);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 2);
  EXPECT_TRUE(std::isfinite(r->final_eval_loss));
  // Routing stability of the global model on the probe batch: overlap with the previous round.
  bool overlap = false;
  for (auto& m : sink.metrics)
    if (m.name == metric::kTopkOverlap && m.site == -1) {
      overlap = true;
      EXPECT_GE(m.value, 0.0);
      EXPECT_LE(m.value, 1.0);
    }
  EXPECT_TRUE(overlap);

  GlobalModel g(c);
  auto plan = PlacementPlan::round_robin(2, 2, 4, 1);
  for (int site = 0; site < 2; ++site) {
    std::vector<net::TensorSpec> f32, travel;
    int64_t tensor_bytes = 0;
    for (auto& name : g.names_for_site(plan, site)) {
      f32.push_back({name, net::DType::F32, g.shape_of(name)});
      tensor_bytes += g.parameter(name).numel() * 4;
    }
    const auto down = net::predicted_wire_bytes(net::MsgType::StartRound, {{"steps", 4}}, f32);
    int64_t measured_down = 0, measured_up = 0;
    for (auto& l : sink.links) {
      if (l.site != site || l.round != 0) continue;
      if (l.direction == Direction::Sent && l.msg_type == "start_round") measured_down += l.bytes;
      if (l.direction == Direction::Received && l.msg_type == "round_report") measured_up += l.bytes;
    }
    EXPECT_EQ(measured_down, static_cast<int64_t>(down)) << "site " << site;
    // Up: the same tensors (fp32 pseudo-gradients) plus a metadata frame of metrics.
    const auto up_tensors = net::predicted_wire_bytes(net::MsgType::RoundReport, nlohmann::json::object(), f32);
    EXPECT_GE(measured_up, static_cast<int64_t>(up_tensors));
    EXPECT_LT(measured_up, static_cast<int64_t>(up_tensors) + 64 * 1024);
    // The system model (`fomoe project`) predicts the same bytes from the config alone.
    auto shape = sysmodel::model_shape_from(c.model);
    auto held = sysmodel::round_robin_held(site, 2, 1, 2, 4);
    auto predicted_by_sysmodel = sysmodel::message_wire_bytes(sysmodel::enumerate_site_parameters(shape, held), 4,
                                                              nlohmann::json({{"steps", 4}}).dump().size());
    EXPECT_EQ(measured_down, static_cast<int64_t>(predicted_by_sysmodel.tensor + predicted_by_sysmodel.framing)) << "site " << site;
    // Partial residency: the site sent less than a full replica would.
    EXPECT_LT(r->params_per_site[site], GlobalModel(tiny(Method::DiLoCo, 2)).numel_for_site(plan, site));
  }
}

// Federated runs record train loss per site at train.log_every steps (carried in the round
// report), and the mean over sites at each of those steps: per-step curves, not one point a round.
TEST(FederationProcesses, TrainLossIsRecordedPerSiteAtLogEverySteps) {
  auto c = tiny(Method::FoMoE, 2);
  c.train.log_every = 2;  // H = 4: steps 2 and 4 of each round
  CapturingSink sink;
  auto r = run(c, "loss_steps", &sink);
  ASSERT_TRUE(r) << r.error().message;
  std::map<int, std::vector<long>> steps_of_site;
  for (auto& m : sink.metrics)
    if (m.name == metric::kTrainLoss) {
      steps_of_site[m.site].push_back(m.step);
      EXPECT_TRUE(std::isfinite(m.value)) << "site " << m.site << " step " << m.step;
      EXPECT_EQ(m.round, static_cast<int>((m.step - 1) / c.federation.inner_steps)) << "step " << m.step;
    }
  const std::vector<long> expected = {2, 4, 6, 8};
  for (int site : {-1, 0, 1}) {
    auto got = steps_of_site[site];
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expected) << "site " << site;
  }
}

// A federation of real agents trains on data other tools wrote (by Python in the project venv):
// Megatron .bin/.idx, a flat nanoGPT array and a gzip'd JSONL file; the held-out loss falls.
TEST(FederationProcesses, TrainsOnTokenFilesOtherStacksWrote) {
  const auto dir = fresh_dir("token-files");
  const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
  if (!fs::exists(python)) GTEST_SKIP() << "no project venv (scripts/install-deps makes it)";
  const std::string cmd = python + " " + FOMOE_SOURCE_DIR + "/tests/data/write_token_files.py " + dir.string() + " > /dev/null && " +
                          python + " " + FOMOE_SOURCE_DIR + "/tests/data/write_own_text.py " + dir.string() + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (auto [format, path] : {std::pair{DataFormat::Megatron, (dir / "learn").string()},
                              std::pair{DataFormat::Tokens, (dir / "learn_flat.bin").string()},
                              std::pair{DataFormat::Jsonl, (dir / "corpus.jsonl.gz").string()}}) {
    SCOPED_TRACE(data_format_name(format));
    auto c = tiny(Method::FoMoE, 2);
    c.data.format = format;
    c.data.path = path;
    c.data.eos_id = 0;
    c.data.cache_dir = (dir / "cache").string();
    c.train.steps = 24;
    c.train.eval_every = 4;
    CapturingSink sink;
    auto r = run(c, std::string("token-files-") + data_format_name(format), &sink);
    ASSERT_TRUE(r) << r.error().message;
    std::vector<double> eval;
    for (auto& m : sink.metrics)
      if (m.name == metric::kEvalLoss && m.site == -1) eval.push_back(m.value);
    ASSERT_GE(eval.size(), 2u);
    EXPECT_LT(eval.back(), eval.front() - 0.3) << "held-out loss did not fall: " << eval.front() << " -> " << eval.back();
  }
}

// Data that stays at its site: each site trains on token files in a folder of its own
// (federation.site_data_paths); the coordinator reads no data (its data.path does not even
// exist), the sites report their held-out losses on their own splits, the run's held-out loss is
// their mean, and the run records what each site read (files, sizes, hashes), never the data.
// A site's own flat token file in its own folder: 300 documents of 60 tokens and an EOS 0 each,
// non-IID on purpose (site 0's documents use ids 1..159, site 1's 160..319, uint16).
std::string write_site_tokens(const fs::path& dir, int site) {
  const auto folder = dir / ("site" + std::to_string(site));
  fs::create_directories(folder);
  std::vector<uint16_t> tokens;
  uint64_t x = 12345 + site;
  for (int doc = 0; doc < 300; ++doc) {
    for (int i = 0; i < 60; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      tokens.push_back(static_cast<uint16_t>(1 + site * 159 + (x >> 33) % 159));
    }
    tokens.push_back(0);
  }
  const auto path = (folder / "mine.bin").string();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(tokens.data()),
                                              static_cast<std::streamsize>(tokens.size() * 2));
  return path;
}

// Two sites, each with a token file of its own in `folder`; the coordinator reads no data.
ExperimentConfig each_site_its_own_data(const fs::path& folder, std::vector<std::string>* paths) {
  for (int site = 0; site < 2; ++site) paths->push_back(write_site_tokens(folder, site));
  auto c = tiny(Method::FoMoE, 2);
  c.data.format = DataFormat::Tokens;
  c.data.path = (folder / "the-coordinator-has-no-such-file.bin").string();
  c.data.eos_id = 0;
  c.federation.site_data_paths = *paths;
  c.federation.coordinator_data = false;
  c.train.steps = 24;  // eval points at steps 8, 16, 24
  c.train.eval_every = 8;
  return c;
}

TEST(FederationProcesses, EachSiteTrainsOnDataOnlyItReads) {
  std::vector<std::string> paths;
  auto c = each_site_its_own_data(fresh_dir("site-data-files"), &paths);
  CapturingSink sink;
  auto r = run(c, "site-data", &sink);
  ASSERT_TRUE(r) << r.error().message;
  std::map<int, std::vector<std::pair<long, double>>> site_loss;
  std::vector<std::pair<long, double>> run_loss;
  for (auto& m : sink.metrics) {
    if (m.name == metric::kSiteEvalLoss) site_loss[m.site].emplace_back(m.step, m.value);
    if (m.name == metric::kEvalLoss && m.site == -1) run_loss.emplace_back(m.step, m.value);
  }
  ASSERT_EQ(site_loss.size(), 2u);
  for (auto& [site, curve] : site_loss) {
    SCOPED_TRACE(site);
    ASSERT_EQ(curve.size(), 3u);  // steps 8, 16, and 24 (the last, through an evaluation-only exchange)
    EXPECT_EQ(curve.back().first, 24);
    EXPECT_LT(curve.back().second, curve.front().second) << "the site's own held-out loss did not fall";
  }
  ASSERT_EQ(run_loss.size(), 3u);
  for (size_t i = 0; i < run_loss.size(); ++i)
    EXPECT_NEAR(run_loss[i].second, (site_loss[0][i].second + site_loss[1][i].second) / 2, 1e-9);
  EXPECT_NEAR(r->final_eval_loss, run_loss.back().second, 1e-9);
  // What each site read: its own file, its size and content hash.
  int manifests = 0;
  for (auto& e : sink.events) {
    if (e.kind != "site_data") continue;
    ++manifests;
    auto j = nlohmann::json::parse(e.text);
    ASSERT_EQ(j["files"].size(), 1u) << e.text;
    EXPECT_EQ(j["files"][0]["path"], paths[static_cast<size_t>(e.site)]);
    EXPECT_EQ(j["files"][0]["bytes"].get<uint64_t>(), 300u * 61u * 2u);
    EXPECT_EQ(j["files"][0]["hash"].get<std::string>().rfind("fnv1a64:", 0), 0u);
  }
  EXPECT_EQ(manifests, 2);
}

// Stopped right after an eval point, a run whose sites hold all the data asks them for that
// point's held-out losses again when it resumes (they were to come with the next round's
// reports, which never came): the curve has no gap across the resume.
TEST(FederationProcesses, SitesOwnHeldOutCurveHasNoGapAcrossAResume) {
  std::vector<std::string> paths;
  auto c = each_site_its_own_data(fresh_dir("site-data-resume-files"), &paths);  // 6 rounds
  LocalFederationOptions o;
  o.self_exe = FOMOE_CLI_PATH;
  o.run_dir = fresh_dir("site-data-resume").string();
  auto first = run_federation(c, o, [](const RoundProgress& p) { return p.round < 2; });  // stop after step 8
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->stopped);
  ASSERT_EQ(first->rounds, 2);
  CapturingSink sink;
  o.resume = true;
  o.sink = &sink;
  auto second = run_federation(c, o);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->rounds, 6);
  std::map<long, int> run_points;
  std::map<int, std::set<long>> site_points;
  for (auto& m : sink.metrics) {
    if (m.name == metric::kEvalLoss && m.site == -1) ++run_points[m.step];
    if (m.name == metric::kSiteEvalLoss) site_points[m.site].insert(m.step);
  }
  EXPECT_EQ(run_points, (std::map<long, int>{{8, 1}, {16, 1}, {24, 1}}));
  for (int site : {0, 1}) EXPECT_EQ(site_points[site], (std::set<long>{8, 16, 24})) << "site " << site;
}

// Remote sites whose data exists only on their own command line (`fomoe agent --listen ...
// --data format=tokens --data path=...`): the experiment the coordinator runs (`fomoe run`, a
// process of its own) names no site's data, its own data.path does not exist, and still every
// site trains, reports its held-out loss on its own split and records what it read.
TEST(FederationProcesses, RemoteAgentsTrainOnDataNamedOnlyOnTheirCommandLine) {
  const auto dir = fresh_dir("remote-agent-data");
  const std::string keys = (dir / "keys").string();
  auto server = net::write_keypair(keys, net::kServerKeyName, /*overwrite=*/true);
  ASSERT_TRUE(server) << server.error().message;
  auto c = tiny(Method::FoMoE, 2);
  c.run.name = "remote-data";
  c.run.out_dir = (dir / "runs").string();
  c.data.format = DataFormat::Tokens;
  c.data.path = (dir / "the-coordinator-has-no-such-file.bin").string();
  c.data.eos_id = 0;
  c.federation.coordinator_data = false;
  c.federation.key_dir = keys;
  c.train.steps = 16;
  c.train.eval_every = 8;
  std::vector<pid_t> agents;
  std::vector<std::string> paths;
  const int base_port = 21000 + static_cast<int>(getpid() % 4000) * 2;
  for (int site = 0; site < 2; ++site) {
    const std::string name = "site-" + std::to_string(site);
    auto kp = net::write_keypair(keys, name, /*overwrite=*/true);
    ASSERT_TRUE(kp) << kp.error().message;
    paths.push_back(write_site_tokens(dir / "only-here", site));
    const std::string port = std::to_string(base_port + site);
    c.federation.agents.push_back({"tcp://127.0.0.1:" + port, kp->public_key});
    agents.push_back(spawn_cli({"agent", "--listen", "tcp://127.0.0.1:" + port, "--key-dir", keys, "--name", name,
                                "--threads", "1", "--idle-timeout", "60", "--data", "format=tokens", "--data",
                                "path=" + paths.back(), "--data", "eos_id=0"},
                               (dir / (name + ".log")).string(), /*both_to_log=*/true));
    ASSERT_GT(agents.back(), 0);
  }
  const std::string exp = (dir / "exp.toml").string();
  std::ofstream(exp) << to_toml(c);
  const std::string db = (dir / "runs.db").string();
  const std::string log = (dir / "run.log").string();
  const pid_t coordinator = spawn_cli({"run", exp, "--db", db}, log, /*both_to_log=*/true);
  ASSERT_GT(coordinator, 0);
  int status = -1;
  waitpid(coordinator, &status, 0);
  for (pid_t a : agents) {
    int st;
    waitpid(a, &st, 0);  // they leave on the coordinator's Shutdown
  }
  std::ifstream in(log);
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_EQ(to_toml(c).find("only-here"), std::string::npos) << "the experiment names no site's data";

  auto store = RunStore::open(db);
  ASSERT_TRUE(store) << store.error().message;
  auto runs = (*store)->list_runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  const int64_t id = runs->front().run.id;
  EXPECT_EQ(runs->front().run.status, "finished");
  for (int site = 0; site < 2; ++site) {
    SCOPED_TRACE(site);
    auto curve = (*store)->read_series(id, metric::kSiteEvalLoss, site, 0, 1 << 20);
    ASSERT_TRUE(curve);
    ASSERT_EQ(curve->size(), 2u);  // steps 8 and 16
    EXPECT_LT(curve->back().value, curve->front().value) << "the site's own held-out loss did not fall";
  }
  auto events = (*store)->events(id);
  ASSERT_TRUE(events);
  int manifests = 0;
  for (auto& e : *events) {
    if (e.kind != "site_data") continue;
    ++manifests;
    auto j = nlohmann::json::parse(e.text);
    ASSERT_EQ(j["files"].size(), 1u) << e.text;
    EXPECT_EQ(j["files"][0]["path"], paths[static_cast<size_t>(e.site)]);
  }
  EXPECT_EQ(manifests, 2);
}

TEST(FederationProcesses, LinkEmulationShowsUpAsCommunicationTime) {
  auto c = tiny(Method::FoMoE, 2);
  c.federation.bandwidth_mbps = 20;  // 20 Mbit/s, 30 ms: a slow WAN link per site
  c.federation.latency_ms = 30;
  CapturingSink sink;
  auto r = run(c, "wan", &sink);
  ASSERT_TRUE(r) << r.error().message;
  // Each round moves the site's parameters down and its pseudo-gradient up over its link.
  const double bytes_per_round = static_cast<double>(r->sites[0].bytes_sent + r->sites[0].bytes_received) / r->rounds;
  const double predicted = bytes_per_round * 8 / 20e6 + 2 * 0.030;
  EXPECT_GE(r->comm_s_mean, 0.9 * predicted) << "predicted " << predicted;
  double comm_metric = 0;
  for (auto& m : sink.metrics)
    if (m.name == metric::kRoundComm && m.site == 0) comm_metric = std::max(comm_metric, m.value);
  EXPECT_GE(comm_metric, 0.9 * predicted);
}

TEST(FederationProcesses, FomoeWithFullReplicationAndUniformWeightsEqualsDiloco) {
  auto f = tiny(Method::FoMoE, 2);
  f.federation.replication = 2;
  f.federation.expert_weighting = ExpertWeighting::Uniform;
  auto d = tiny(Method::DiLoCo, 2);
  auto rf = run(f, "identity-fomoe");
  auto rd = run(d, "identity-diloco");
  ASSERT_TRUE(rf) << rf.error().message;
  ASSERT_TRUE(rd) << rd.error().message;
  EXPECT_NEAR(rf->final_eval_loss, rd->final_eval_loss, 1e-5);
  EXPECT_EQ(rf->params_per_site, rd->params_per_site);
}

// Each site on two CPU ranks (c10d Gloo inside the agent process): the same federation as with
// one device per site, to float tolerance (aux loss off: it is not additive over batch halves).
TEST(FederationProcesses, SitesOnTwoDevicesTrainAsSitesOnOne) {
  auto one = tiny(Method::FoMoE, 2);
  one.model.aux_loss_coef = 0.0;
  auto two = one;
  two.run.device = "cpu,cpu";
  auto r1 = run(one, "devices-one");
  auto r2 = run(two, "devices-two");
  ASSERT_TRUE(r1) << r1.error().message;
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_NEAR(r2->final_eval_loss, r1->final_eval_loss, 1e-4);
  EXPECT_EQ(r2->params_per_site, r1->params_per_site);
}

// A site that cannot set up (here: a batch of 4 over 3 devices) is out of the run with its reason,
// without LibTorch's backtrace; when no site can, the run stops with that reason.
TEST(FederationProcesses, SitesThatCannotSetUpStopTheRunWithTheReason) {
  auto c = tiny(Method::FoMoE, 2);
  c.run.device = "cpu,cpu,cpu";
  CapturingSink sink;
  const auto start = std::chrono::steady_clock::now();
  auto r = run(c, "setup-failure", &sink);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r);
  // Local agents with this config can never set up: the reason comes at once, not after the
  // minute a run waits for dead sites that may come back.
  EXPECT_LT(seconds, 30.0);
  EXPECT_NE(r.error().message.find("could not set up"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("does not split evenly over the site's 3 devices"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("Exception raised from"), std::string::npos) << r.error().message;
  EXPECT_TRUE(sink.has_event("site_dead"));
}

TEST(FederationProcesses, DilocoWithOneInnerSgdStepEqualsDdp) {
  auto d = tiny(Method::DiLoCo, 2);
  d.federation.inner_steps = 1;
  d.train.inner_optimizer = "sgd";
  d.train.lr = 0.5;
  d.train.grad_clip = 0;  // DDP clips the average, DiLoCo each site: disable both
  d.federation.outer_lr = 1.0;
  d.federation.outer_momentum = 0.0;
  d.federation.nesterov = false;
  d.train.steps = 4;
  auto p = d;
  p.run.method = Method::Ddp;
  p.federation.inner_steps = 2;  // DDP averages every step whatever H is
  auto rd = run(d, "identity-diloco-h1");
  auto rp = run(p, "identity-ddp");
  ASSERT_TRUE(rd) << rd.error().message;
  ASSERT_TRUE(rp) << rp.error().message;
  EXPECT_NEAR(rd->final_eval_loss, rp->final_eval_loss, 1e-4);
}

TEST(FederationProcesses, KilledAgentIsDetectedAndRejoinsWithItsKey) {
  auto c = tiny(Method::FoMoE, 3);
  c.federation.replication = 2;
  c.train.steps = 24;
  c.federation.inner_steps = 4;
  c.federation.round_timeout_s = 4;
  c.federation.restart_sites = 0;  // the test starts it again itself, as a remote site's operator would
  CapturingSink sink;
  std::thread killer;
  std::atomic<pid_t> restarted{-1};
  LocalFederationOptions o;
  o.on_started = [&](const std::vector<int>& pids, const std::string& endpoint, const std::string& key_dir) {
    killer = std::thread([&, pid = pids[1], endpoint, key_dir] {
      sink.wait_for_event("round_finished", std::chrono::milliseconds(20));
      kill(pid, SIGKILL);  // mid-run, no goodbye
      sink.wait_for_event("site_dead", std::chrono::milliseconds(50));
      const pid_t p = spawn_cli({"agent", "--connect", endpoint, "--key-dir", key_dir, "--name", "site-1", "--threads", "1",
                                 "--idle-timeout", "60"});
      if (p > 0) restarted = p;
    });
  };
  // Give the restarted agent time to start and say Hello before the run ends (rounds are fast).
  bool waited = false;
  auto progress = [&](const RoundProgress&) {
    if (!waited && restarted > 0) {
      waited = true;
      std::this_thread::sleep_for(std::chrono::seconds(4));
    }
    return true;
  };
  auto r = run(c, "kill-rejoin", &sink, o, progress);
  killer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 6);
  EXPECT_TRUE(sink.has_event("site_dead"));
  EXPECT_TRUE(sink.has_event("site_rejoined"));
  EXPECT_FALSE(r->faults.empty());
  // The rejoined site reported again: it has train-loss metrics after its death.
  double dead_at = 1e30, last_report = -1;
  for (auto& e : sink.events)
    if (e.kind == "site_dead") dead_at = std::min(dead_at, e.time);
  for (auto& m : sink.metrics)
    if (m.site == 1 && m.name == metric::kTrainLoss) last_report = std::max(last_report, m.wall_time);
  EXPECT_GT(last_report, dead_at);
  if (restarted > 0) {
    int st;
    waitpid(restarted, &st, 0);  // it leaves on the coordinator's Shutdown
  }
}

double first_event_time(CapturingSink& sink, const std::string& kind, int site = -2) {
  std::lock_guard<std::mutex> g(sink.mu);
  for (auto& e : sink.events)
    if (e.kind == kind && (site == -2 || e.site == site)) return e.time;
  return -1;
}

// Process-table check: no agent of this run directory is left (running or defunct).
bool agents_of_run_dir_left(const fs::path& run_dir) {
  const std::string probe = "pgrep -f '" + (run_dir / "[k]eys").string() + "' > /dev/null";
  return std::system(probe.c_str()) == 0;
}

// Every local agent SIGKILLed at once, mid-round: the run does not end (their restarts are due),
// the sites come back, the round nobody finished is trained again, and every step of the run is
// recorded exactly once.
TEST(FederationProcesses, EveryAgentKilledAtOnceComesBackAndTheLostRoundIsRedone) {
  auto c = tiny(Method::FoMoE, 2);
  c.train.steps = 32;
  c.train.log_every = 1;
  c.federation.inner_steps = 4;
  c.federation.round_timeout_s = 600;
  CapturingSink sink;
  std::thread killer;
  LocalFederationOptions o;
  o.on_started = [&](const std::vector<int>& pids, const std::string&, const std::string&) {
    killer = std::thread([&, pids] {
      sink.wait_for_event("round_finished", std::chrono::milliseconds(5));
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // into the next round's training
      for (int pid : pids) kill(pid, SIGKILL);
    });
  };
  auto r = run(c, "kill-all", &sink, o);
  killer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 8);
  int dead = 0, restarted = 0, rejoined = 0;
  for (auto& e : sink.events) {
    dead += e.kind == "site_dead";
    restarted += e.kind == "site_restarted";
    rejoined += e.kind == "site_rejoined";
  }
  EXPECT_EQ(dead, 2);
  EXPECT_EQ(restarted, 2);
  EXPECT_EQ(rejoined, 2);
  std::map<long, int> global_loss_rows;
  for (auto& m : sink.metrics)
    if (m.name == metric::kTrainLoss && m.site == -1) ++global_loss_rows[m.step];
  for (long step = 1; step <= 32; ++step) EXPECT_EQ(global_loss_rows[step], 1) << "global train loss at step " << step;
  EXPECT_TRUE(std::isfinite(r->final_eval_loss));
}

// A local agent SIGKILLed mid-run is seen at once (its exit, not a timeout: the round timeout is
// 600 s here), started again by the coordinator, and rejoins with the current global model.
TEST(FederationProcesses, KilledLocalAgentIsSeenAtOnceRestartedAndRejoins) {
  auto c = tiny(Method::FoMoE, 3);
  c.federation.replication = 2;
  c.train.steps = 40;
  c.federation.inner_steps = 4;
  c.federation.round_timeout_s = 600;
  CapturingSink sink;
  std::thread killer;
  std::atomic<double> killed_at{-1};
  auto t0 = std::chrono::steady_clock::now();
  LocalFederationOptions o;
  o.on_started = [&](const std::vector<int>& pids, const std::string&, const std::string&) {
    t0 = std::chrono::steady_clock::now();
    killer = std::thread([&, pid = pids[1]] {
      sink.wait_for_event("round_finished", std::chrono::milliseconds(10));
      killed_at = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      kill(pid, SIGKILL);
    });
  };
  // Slow the rounds down once the site is dead, so the restarted agent rejoins before the end.
  auto progress = [&](const RoundProgress&) {
    if (sink.has_event("site_dead") && !sink.has_event("site_rejoined")) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return true;
  };
  auto r = run(c, "kill-restart", &sink, o, progress);
  killer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 10);
  const double dead_at = first_event_time(sink, "site_dead", 1);
  ASSERT_GE(dead_at, 0) << "the killed site was never marked dead";
  // Coordinator wall time starts a little before on_started; the gap is what matters.
  EXPECT_LT(dead_at - killed_at, 2.0) << "detected " << dead_at - killed_at << " s after the kill";
  EXPECT_GE(first_event_time(sink, "site_restarted", 1), dead_at);
  EXPECT_GT(first_event_time(sink, "site_rejoined", 1), dead_at);
  {
    std::lock_guard<std::mutex> g(sink.mu);
    std::string dead_text;
    for (auto& e : sink.events)
      if (e.kind == "site_dead" && e.site == 1) dead_text = e.text;
    EXPECT_NE(dead_text.find("SIGKILL"), std::string::npos) << dead_text;
    double last_report = -1;
    for (auto& m : sink.metrics)
      if (m.site == 1 && m.name == metric::kTrainLoss) last_report = std::max(last_report, m.wall_time);
    EXPECT_GT(last_report, dead_at) << "the restarted site never reported again";
  }
  EXPECT_FALSE(agents_of_run_dir_left(fs::path(FOMOE_BINARY_DIR) / "test-runs" / "kill-restart"));
}

// A site that leaves on purpose (SIGTERM) says goodbye: it is out at once, not restarted.
TEST(FederationProcesses, AgentOnSigtermSaysGoodbyeAndIsNotRestarted) {
  auto c = tiny(Method::DiLoCo, 3);
  c.train.steps = 24;
  c.federation.round_timeout_s = 600;
  CapturingSink sink;
  std::thread killer;
  std::atomic<double> sent_at{-1};
  auto t0 = std::chrono::steady_clock::now();
  LocalFederationOptions o;
  o.on_started = [&](const std::vector<int>& pids, const std::string&, const std::string&) {
    t0 = std::chrono::steady_clock::now();
    killer = std::thread([&, pid = pids[2]] {
      sink.wait_for_event("round_finished", std::chrono::milliseconds(10));
      sent_at = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      kill(pid, SIGTERM);
    });
  };
  auto r = run(c, "sigterm-agent", &sink, o);
  killer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 6);
  const double dead_at = first_event_time(sink, "site_dead", 2);
  ASSERT_GE(dead_at, 0);
  EXPECT_LT(dead_at - sent_at, 2.0);
  EXPECT_LT(first_event_time(sink, "site_restarted", 2), 0) << "a site that left on purpose was started again";
  std::lock_guard<std::mutex> g(sink.mu);
  for (auto& e : sink.events)
    if (e.kind == "site_dead" && e.site == 2) EXPECT_NE(e.text.find("leaving on SIGTERM"), std::string::npos) << e.text;
}

struct PlacementSink : CapturingSink {
  std::vector<std::vector<PlacementEntry>> placements;
  void on_placement(const std::vector<PlacementEntry>& p) override {
    std::lock_guard<std::mutex> g(mu);
    placements.push_back(p);
  }
};

PlacementPlan plan_from_entries(const std::vector<PlacementEntry>& entries, int sites, int layers, int experts) {
  std::vector<std::vector<std::vector<int>>> holders(static_cast<size_t>(layers), std::vector<std::vector<int>>(static_cast<size_t>(experts)));
  for (auto& e : entries) holders[static_cast<size_t>(e.layer)][static_cast<size_t>(e.expert)].push_back(e.site);
  return *PlacementPlan::from_holders(sites, holders);
}

// Data-affinity placement: starts round-robin, re-plans from the load the sites report after the
// first round; sites that hold other experts now rebuild their model and train on; the next
// round's parameters are exactly the new plan's (bytes as predicted from its shapes).
TEST(FederationProcesses, AffinityPlacementReplansAfterTheFirstRound) {
  auto c = tiny(Method::FoMoE, 2);
  c.train.steps = 12;  // 3 rounds
  c.data.split = ShardSplit::NonIid;
  c.data.sources = {"fortunes-en", "fortunes-de"};
  c.federation.placement = PlacementPolicy::Affinity;
  PlacementSink sink;
  auto r = run(c, "affinity", &sink);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 3);
  EXPECT_TRUE(std::isfinite(r->final_eval_loss));
  EXPECT_TRUE(sink.has_event("placement"));
  ASSERT_EQ(sink.placements.size(), 2u) << "the initial plan, then one re-plan (replan_every = 0: once)";
  const auto before = plan_from_entries(sink.placements[0], 2, 2, 4);
  const auto after = plan_from_entries(sink.placements[1], 2, 2, 4);
  EXPECT_EQ(sink.placements[1].front().round, 1);
  EXPECT_NE(before.holders(), after.holders());
  GlobalModel g(c);
  for (int site = 0; site < 2; ++site) {
    EXPECT_EQ(after.n_held_by_site(site), 4) << "r = 1 of K = 2: half of 2 layers x 4 experts";
    std::vector<net::TensorSpec> f32;
    for (auto& name : g.names_for_site(after, site)) f32.push_back({name, net::DType::F32, g.shape_of(name)});
    nlohmann::json meta = {{"steps", 4}};
    if (before.experts_of_site(site) != after.experts_of_site(site)) meta["residency"] = after.experts_of_site(site);
    int64_t down_round1 = 0;
    for (auto& l : sink.links)
      if (l.site == site && l.round == 1 && l.direction == Direction::Sent && l.msg_type == "start_round") down_round1 += l.bytes;
    EXPECT_EQ(down_round1, static_cast<int64_t>(net::predicted_wire_bytes(net::MsgType::StartRound, meta, f32))) << "site " << site;
    // Round 2: same plan, so no residency travels again.
    int64_t down_round2 = 0;
    for (auto& l : sink.links)
      if (l.site == site && l.round == 2 && l.direction == Direction::Sent && l.msg_type == "start_round") down_round2 += l.bytes;
    EXPECT_EQ(down_round2, static_cast<int64_t>(net::predicted_wire_bytes(net::MsgType::StartRound, {{"steps", 4}}, f32))) << "site " << site;
  }
  // The checkpoint keeps the plan in force, so a resumed run goes on with it.
  std::string stored;
  auto round = g.load((fs::path(FOMOE_BINARY_DIR) / "test-runs" / "affinity" / "coordinator.pt").string(), &stored);
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(*round, 3);
  EXPECT_EQ(nlohmann::json::parse(stored), nlohmann::json(after.holders()));
}

// No orphaned expert: K = 4, r = 1, a site dies for good. Its experts get live holders, which
// receive their weights with the next StartRound (bytes as predicted from the new plan's shapes)
// and train them: their parameters still change in later rounds.
TEST(FederationProcesses, ExpertsOfADeadSiteMoveToSurvivorsAndKeepTraining) {
  auto c = tiny(Method::FoMoE, 4);
  c.federation.replication = 1;
  c.federation.restart_sites = 0;
  c.train.steps = 32;  // 8 rounds
  PlacementSink sink;
  std::thread killer;
  LocalFederationOptions o;
  o.on_started = [&](const std::vector<int>& pids, const std::string&, const std::string&) {
    killer = std::thread([&, pid = pids[2]] {
      sink.wait_for_event("round_finished", std::chrono::milliseconds(10));
      kill(pid, SIGKILL);
    });
  };
  const auto dir = fs::path(FOMOE_BINARY_DIR) / "test-runs" / "orphans";
  const auto snapshot = fs::path(FOMOE_BINARY_DIR) / "test-runs" / "orphans-snapshot.pt";
  fs::remove(snapshot);
  int snapshot_round = -1;
  auto progress = [&](const RoundProgress& p) {
    // The state saved after the first full round with the new plan.
    if (snapshot_round < 0 && sink.has_event("site_dead") && sink.placements.size() >= 2 && p.round >= 3) {
      fs::copy_file(dir / "coordinator.pt", snapshot, fs::copy_options::overwrite_existing);
      snapshot_round = p.round;
    }
    return true;
  };
  auto r = run(c, "orphans", &sink, o, progress);
  killer.join();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 8);
  ASSERT_GE(sink.placements.size(), 2u) << "no re-plan after the death";
  ASSERT_GT(snapshot_round, 0);
  const auto before = plan_from_entries(sink.placements.front(), 4, 2, 4);
  const auto after = plan_from_entries(sink.placements.back(), 4, 2, 4);
  const int moved_from_round = sink.placements.back().front().round;
  GlobalModel start(c), end(c);
  ASSERT_TRUE(start.load(snapshot.string()));
  ASSERT_TRUE(end.load((dir / "coordinator.pt").string()));
  int orphans = 0;
  for (int l = 0; l < 2; ++l)
    for (int e = 0; e < 4; ++e) {
      bool live = false;
      for (int h : after.holders(l, e)) live |= h != 2;
      EXPECT_TRUE(live) << "layer " << l << " expert " << e << " has no live holder";
      orphans += before.holders(l, e) == std::vector<int>{2};
    }
  ASSERT_GT(orphans, 0) << "site 2 held no expert alone";
  for (int site : {0, 1, 3}) {
    const auto old_names = start.names_for_site(before, site), new_names = start.names_for_site(after, site);
    if (old_names == new_names) continue;
    std::vector<net::TensorSpec> f32;
    for (auto& name : new_names) f32.push_back({name, net::DType::F32, start.shape_of(name)});
    nlohmann::json meta = {{"steps", 4}, {"residency", after.experts_of_site(site)}};
    int64_t down = 0;
    for (auto& l : sink.links)
      if (l.site == site && l.round == moved_from_round && l.direction == Direction::Sent && l.msg_type == "start_round") down += l.bytes;
    EXPECT_EQ(down, static_cast<int64_t>(net::predicted_wire_bytes(net::MsgType::StartRound, meta, f32))) << "site " << site;
    for (auto& name : new_names) {
      if (std::find(old_names.begin(), old_names.end(), name) != old_names.end()) continue;
      EXPECT_FALSE(torch::equal(start.parameter(name), end.parameter(name)))
          << name << " (moved to site " << site << ") did not change after round " << snapshot_round;
    }
  }
}

// federation.max_sites: a third site started while the run trains, as an operator would (with
// the key the run made for it), joins: it gets as many experts per layer as a live site holds
// (the least replicated first), receives them and the dense parameters whole in fp32, and
// reports every later round; the run neither waited for it nor stopped.
TEST(FederationProcesses, ASiteStartedMidRunJoinsWithItsShareOfTheExperts) {
  auto c = tiny(Method::FoMoE, 2);
  c.federation.max_sites = 3;
  c.federation.replication = 1;
  c.train.steps = 32;  // 8 rounds
  PlacementSink sink;
  std::thread starter;
  std::atomic<pid_t> joiner{-1};
  LocalFederationOptions o;
  o.on_started = [&](const std::vector<int>&, const std::string& endpoint, const std::string& key_dir) {
    starter = std::thread([&, endpoint, key_dir] {
      sink.wait_for_event("round_finished", std::chrono::milliseconds(10));
      joiner = spawn_cli({"agent", "--connect", endpoint, "--key-dir", key_dir, "--name", "site-2", "--threads", "1",
                          "--idle-timeout", "60"});
    });
  };
  // Rounds take well under a second: hold the run after round 2 until the new agent is up and
  // has said Hello (the coordinator reads it before the next round).
  auto progress = [&](const RoundProgress& p) {
    if (p.round == 2) {
      for (int i = 0; i < 600 && joiner <= 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::this_thread::sleep_for(std::chrono::seconds(4));
    }
    return true;
  };
  auto r = run(c, "join", &sink, o, progress);
  starter.join();
  if (joiner > 0) {
    int st;
    waitpid(joiner, &st, 0);  // it leaves on the coordinator's Shutdown
  }
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 8);
  ASSERT_EQ(r->sites.size(), 3u);
  const double joined_at = first_event_time(sink, "site_joined", 2);
  ASSERT_GE(joined_at, 0) << "site 2 never joined";
  bool said = false;
  for (auto& e : sink.events) said |= e.kind == "placement" && e.text.find("site 2 joined the running federation") != std::string::npos;
  EXPECT_TRUE(said);
  // Its share: 2 of 4 experts per layer, as each first site holds with r = 1; every expert still held.
  ASSERT_GE(sink.placements.size(), 2u);
  const auto before = plan_from_entries(sink.placements.front(), 3, 2, 4);
  const auto after = plan_from_entries(sink.placements.back(), 3, 2, 4);
  EXPECT_EQ(before.n_held_by_site(2), 0);
  for (auto layer : after.experts_of_site(2)) EXPECT_EQ(layer.size(), 2u);
  for (int site : {0, 1}) EXPECT_EQ(after.experts_of_site(site), before.experts_of_site(site)) << "a first site lost experts";
  // It trained the rounds after it joined: a report (train loss) in each of them.
  std::set<int> rounds_reported;
  int first_round = 1 << 30;
  for (auto& m : sink.metrics)
    if (m.site == 2 && m.name == metric::kTrainLoss) {
      rounds_reported.insert(m.round);
      first_round = std::min(first_round, m.round);
    }
  ASSERT_FALSE(rounds_reported.empty()) << "site 2 never reported";
  EXPECT_EQ(static_cast<int>(rounds_reported.size()), 8 - first_round);
  EXPECT_GE(first_round, 1);
  // Its first round's parameters: the dense ones and its experts, whole, in fp32 (bytes exact).
  GlobalModel shapes(c);
  std::vector<net::TensorSpec> f32;
  for (auto& name : shapes.names_for_site(after, 2)) f32.push_back({name, net::DType::F32, shapes.shape_of(name)});
  int64_t down = 0;
  for (auto& l : sink.links)
    if (l.site == 2 && l.round == first_round && l.direction == Direction::Sent && l.msg_type == "start_round") down += l.bytes;
  EXPECT_EQ(down, static_cast<int64_t>(net::predicted_wire_bytes(net::MsgType::StartRound, nlohmann::json{{"steps", 4}}, f32)));
  EXPECT_GT(r->sites[2].bytes_received, 0);
}

TEST(FederationProcesses, CoordinatorResumesFromLastCompletedRound) {
  auto c = tiny(Method::DiLoCo, 2);
  c.train.steps = 8;
  LocalFederationOptions o;
  o.self_exe = FOMOE_CLI_PATH;
  o.run_dir = fresh_dir("resume").string();
  auto first = run_federation(c, o);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(fs::exists(fs::path(o.run_dir) / "coordinator.pt"));
  c.train.steps = 16;  // two more rounds
  CapturingSink sink;
  o.resume = true;
  o.sink = &sink;
  auto second = run_federation(c, o);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_TRUE(sink.has_event("resumed"));
  EXPECT_EQ(second->rounds, 4);
  int rounds_run = 0;
  for (auto& e : sink.events) rounds_run += e.kind == "round_finished";
  EXPECT_EQ(rounds_run, 2);
}

}  // namespace

namespace {

// The coordinator process itself is SIGKILLed mid-run; `fomoe run --resume` continues from the
// last completed round (its agents die with it: they are started with --exit-with-parent).
// What is recorded is what was run: `fomoe run EXP --steps N --set ...` records the overridden
// values in the run's config, not the file's (Compare would show a false difference).
TEST(FederationProcesses, CliOverridesLandInTheRecordedConfig) {
  const auto dir = fresh_dir("cli-overrides");
  const std::string exp = (dir / "exp.toml").string(), db = (dir / "runs.db").string();
  {
    auto c = tiny(Method::FoMoE, 2);
    c.run.name = "overrides";
    c.run.out_dir = (dir / "runs").string();
    c.train.steps = 256;
    std::ofstream(exp) << to_toml(c);
  }
  const std::string cmd = std::string(FOMOE_CLI_PATH) + " run " + exp + " --db " + db +
                          " --steps 8 --set train.lr=0.002 > " + (dir / "out.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto store = RunStore::open(db);
  ASSERT_TRUE(store) << store.error().message;
  auto runs = (*store)->list_runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  auto run = (*store)->get_run(runs->front().run.id);
  ASSERT_TRUE(run);
  auto recorded = parse_experiment(run->config_text, "recorded");
  ASSERT_TRUE(recorded) << recorded.error().message << "\n" << run->config_text;
  EXPECT_EQ(recorded->train.steps, 8);
  EXPECT_DOUBLE_EQ(recorded->train.lr, 0.002);
  EXPECT_EQ(runs->front().last_step, 8);

  // fomoe eval on the recorded run: the global model in its checkpoint, on the run's held-out
  // batches, gives the held-out loss the run recorded at its end.
  const std::string json_out = (dir / "eval.json").string();
  const std::string eval = std::string(FOMOE_CLI_PATH) + " eval " + std::to_string(runs->front().run.id) + " --db " + db +
                           " --json > " + json_out;
  ASSERT_EQ(std::system(eval.c_str()), 0) << eval;
  std::ifstream in(json_out);
  auto j = nlohmann::json::parse(in);
  ASSERT_TRUE(runs->front().final_eval_loss.has_value());
  EXPECT_NEAR(j["loss"].get<double>(), *runs->front().final_eval_loss, 1e-6);
  EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(*runs->front().final_eval_loss), 1e-3);
  EXPECT_EQ(j["round"].get<int>(), 2);
  // An unknown run is a usage error; a damaged checkpoint names its file.
  EXPECT_EQ(WEXITSTATUS(std::system((std::string(FOMOE_CLI_PATH) + " eval 999 --db " + db + " 2> /dev/null").c_str())), 2);
  const std::string ckpt = j["checkpoint"].get<std::string>();
  std::ofstream(ckpt, std::ios::trunc) << "not a checkpoint";
  const std::string bad = std::string(FOMOE_CLI_PATH) + " eval " + std::to_string(runs->front().run.id) + " --db " + db +
                          " > " + (dir / "bad.txt").string() + " 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(bad.c_str())), 1);
  std::ifstream bad_in(dir / "bad.txt");
  std::string msg((std::istreambuf_iterator<char>(bad_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(msg.find(ckpt), std::string::npos) << msg;
}

// A trained run out to the Hugging Face stack through the CLI, as a user does it: fomoe export
// writes a folder transformers loads, whose greedy continuation is `fomoe generate --greedy`'s;
// seeded sampling repeats; bad arguments are usage errors that name the option.
TEST(FederationProcesses, ExportedRunLoadsInTransformersAndGeneratesAsTheEngine) {
  const auto dir = fresh_dir("export-generate");
  const std::string exp = (dir / "exp.toml").string(), db = (dir / "runs.db").string();
  {
    auto c = tiny(Method::FoMoE, 2);
    c.run.name = "export";
    c.run.out_dir = (dir / "runs").string();
    std::ofstream(exp) << to_toml(c);
  }
  const std::string cli = FOMOE_CLI_PATH;
  ASSERT_EQ(std::system((cli + " run " + exp + " --db " + db + " > " + (dir / "run.txt").string() + " 2>&1").c_str()), 0);
  auto read = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string out = (dir / "hf").string();
  ASSERT_EQ(std::system((cli + " export 1 --db " + db + " --out " + out + " --json > " + (dir / "export.json").string()).c_str()), 0);
  auto ej = nlohmann::json::parse(read(dir / "export.json"));
  EXPECT_TRUE(ej["tokenizer"].get<bool>());
  EXPECT_EQ(ej["round"].get<int>(), 2);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "fomoe_experiment.toml"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;

  auto generate = [&](const std::string& flags, const std::string& name) {
    const std::string path = (dir / name).string();
    const int rc = std::system((cli + " generate 1 --db " + db + " " + flags + " --json > " + path + " 2>&1").c_str());
    EXPECT_EQ(rc, 0) << read(path);
    return nlohmann::json::parse(read(path));
  };
  auto greedy = generate("--prompt-ids 5,17,200,33 --greedy --max-new-tokens 24", "greedy.json");
  ASSERT_EQ(greedy["ids"].size(), 24u);  // token ids never stop at end of document unless it is drawn
  auto a = generate("--prompt 'The quick' --seed 7 --max-new-tokens 16", "a.json");
  auto b = generate("--prompt 'The quick' --seed 7 --max-new-tokens 16", "b.json");
  EXPECT_EQ(a["ids"], b["ids"]);
  EXPECT_TRUE(a.contains("text"));
  // Usage errors: exit 2, the option named.
  const std::string err = (dir / "err.txt").string();
  EXPECT_EQ(WEXITSTATUS(std::system((cli + " generate 1 --db " + db + " --prompt x --temperature hot 2> " + err).c_str())), 2);
  EXPECT_NE(read(err).find("--temperature"), std::string::npos) << read(err);
  EXPECT_EQ(WEXITSTATUS(std::system((cli + " export 1 --db " + db + " 2> " + err).c_str())), 2);
  EXPECT_NE(read(err).find("--out"), std::string::npos) << read(err);

  // fomoe import: a new run that starts from the exported folder. With the outer learning rate at
  // 0 its global model stays the imported one, so it ends with the first run's held-out loss.
  const std::string imported = (dir / "imported.toml").string();
  ASSERT_EQ(std::system((cli + " import " + out + " --out " + imported +
                         " --set run.name=imported --set federation.outer_lr=0 --set train.steps=4 > " +
                         (dir / "import.txt").string() + " 2>&1").c_str()),
            0)
      << read(dir / "import.txt");
  EXPECT_NE(read(imported).find("init_from"), std::string::npos) << read(imported);
  ASSERT_EQ(std::system((cli + " run " + imported + " --db " + db + " > " + (dir / "run2.txt").string() + " 2>&1").c_str()), 0)
      << read(dir / "run2.txt");
  {
    auto store = RunStore::open(db);
    ASSERT_TRUE(store);
    auto runs = (*store)->list_runs();
    ASSERT_TRUE(runs);
    ASSERT_EQ(runs->size(), 2u);
    std::optional<double> first, second;
    for (const auto& r : *runs) (r.run.name == "imported" ? second : first) = r.final_eval_loss;
    ASSERT_TRUE(first && second);
    EXPECT_NEAR(*second, *first, 1e-5);
  }
  EXPECT_EQ(WEXITSTATUS(std::system((cli + " import " + (dir / "runs").string() + " --out x.toml 2> " + err).c_str())), 1);
  EXPECT_NE(read(err).find("config.json"), std::string::npos) << read(err);

  // transformers on the exported folder: every weight loaded, the engine's greedy continuation.
  const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
  if (std::system((python + " -c 'import transformers' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "transformers is not in the project venv; run scripts/install-deps";
  nlohmann::json jobs = nlohmann::json::array();
  std::vector<int64_t> prompt = greedy["prompt_ids"].get<std::vector<int64_t>>();
  jobs.push_back({{"dir", out}, {"out", (dir / "parity.json").string()}, {"ids", {prompt}}, {"prompt", prompt},
                  {"new_tokens", 24}, {"texts", {"The quick brown fox"}}});
  std::ofstream(dir / "jobs.json") << jobs.dump();
  const std::string py = python + " " + FOMOE_SOURCE_DIR + "/tests/interop/hf_parity.py " + (dir / "jobs.json").string() +
                         " > " + (dir / "python.log").string() + " 2>&1";
  ASSERT_EQ(std::system(py.c_str()), 0) << read(dir / "python.log");
  auto hf = nlohmann::json::parse(read(dir / "parity.json"));
  EXPECT_TRUE(hf["missing"].empty()) << hf["missing"].dump();
  EXPECT_TRUE(hf["unexpected"].empty()) << hf["unexpected"].dump();
  EXPECT_EQ(hf["greedy"], greedy["ids"]);
  EXPECT_EQ(hf["decoded"][0], "The quick brown fox");
}

void expect_one_run_each_step_once(const std::string& db, const std::string& status, long steps);

TEST(FederationProcesses, KilledCoordinatorProcessResumes) {
  const auto dir = fresh_dir("coordinator-kill");
  const std::string exp = (dir / "exp.toml").string();
  {
    auto c = tiny(Method::FoMoE, 2);
    c.run.name = "ckill";
    c.run.out_dir = (dir / "runs").string();
    c.train.steps = 400;  // long enough to be killed mid-run
    c.federation.inner_steps = 4;
    std::ofstream(exp) << to_toml(c);
  }
  const std::string db = (dir / "runs.db").string();
  auto spawn = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", exp, "--db", db};
    args.insert(args.end(), extra.begin(), extra.end());
    return spawn_cli(args);
  };
  const auto state = dir / "runs" / "ckill" / "coordinator.pt";
  pid_t pid = spawn({});
  ASSERT_GT(pid, 0);
  // Wait for a few completed rounds, then kill without warning.
  for (int i = 0; i < 600 && !fs::exists(state); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(state)) << "no round completed";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  // Its agents must not outlive it (they hold the key dir path on their command line).
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  // "[k]eys" so the pattern does not match the shell running pgrep itself.
  const std::string probe = "pgrep -f '" + (dir / "runs" / "ckill").string() + "/[k]eys' > /dev/null";
  EXPECT_NE(std::system(probe.c_str()), 0) << "agents outlived their killed coordinator";
  // Resume: finishes the remaining rounds only, in the same run record.
  pid = spawn({"--resume"});
  ASSERT_GT(pid, 0);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  expect_one_run_each_step_once(db, "finished", 400);
}

// Every completed round recorded exactly once: one run in the store with this status, its
// global train loss at every log_every step from the first to `steps` once, and a "resumed" event.
void expect_one_run_each_step_once(const std::string& db, const std::string& status, long steps) {
  auto store = RunStore::open(db);
  ASSERT_TRUE(store) << store.error().message;
  auto runs = (*store)->list_runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u) << "a resumed run must go on in its record, not start a second";
  const auto& run = runs->front();
  EXPECT_EQ(run.run.status, status);
  std::map<long, int> seen;
  (*store)->for_each_metric(run.run.id, [&](const MetricPoint& m) {
    if (m.name == metric::kTrainLoss && m.site == -1) ++seen[m.step];
  });
  for (long step = 10; step <= steps; step += 10) EXPECT_EQ(seen[step], 1) << "global train loss at step " << step;
  auto events = (*store)->events(run.run.id);
  ASSERT_TRUE(events);
  int resumed = 0;
  for (auto& e : *events) resumed += e.kind == "resumed";
  EXPECT_GE(resumed, 1);
}

// Ctrl-C: `fomoe run` stops at the next safe point, records the run "stopped", prints the
// resume command and exits 130; the resume goes on in the same record.
TEST(FederationProcesses, SigintStopsTheRunCleanlyAndResumeGoesOnInTheSameRecord) {
  const auto dir = fresh_dir("sigint-stop");
  const std::string exp = (dir / "exp.toml").string();
  {
    auto c = tiny(Method::FoMoE, 2);
    c.run.name = "stopme";
    c.run.out_dir = (dir / "runs").string();
    c.train.steps = 120;
    c.federation.inner_steps = 4;
    std::ofstream(exp) << to_toml(c);
  }
  const std::string db = (dir / "runs.db").string();
  const std::string err = (dir / "stderr.txt").string();
  auto spawn = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", exp, "--db", db};
    args.insert(args.end(), extra.begin(), extra.end());
    return spawn_cli(args, err);
  };
  const auto state = dir / "runs" / "stopme" / "coordinator.pt";
  pid_t pid = spawn({});
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 600 && !fs::exists(state); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(state)) << "no round completed";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto t_signal = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const double stop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_signal).count();
  ASSERT_TRUE(WIFEXITED(status)) << "killed instead of stopping";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_LT(stop_s, 10.0);
  std::stringstream text;
  text << std::ifstream(err).rdbuf();
  EXPECT_NE(text.str().find("resume with: fomoe run " + exp + " --resume --db " + db), std::string::npos) << text.str();
  EXPECT_FALSE(agents_of_run_dir_left(dir / "runs" / "stopme")) << "agents outlived a stopped run";
  {
    auto store = RunStore::open(db);
    ASSERT_TRUE(store);
    auto runs = (*store)->list_runs();
    ASSERT_TRUE(runs);
    ASSERT_EQ(runs->size(), 1u);
    EXPECT_EQ(runs->front().run.status, "stopped");
  }
  pid = spawn({"--resume"});
  ASSERT_GT(pid, 0);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  expect_one_run_each_step_once(db, "finished", 120);
}

}  // namespace

namespace {

// Ctrl-C in `fomoe train` (one site): it stops after the step in flight with a checkpoint,
// records the run "stopped", prints the resume command and exits 130; that command goes on in
// the same record from the checkpoint, and every logged step is recorded once.
TEST(FederationProcesses, SigintStopsTrainWithACheckpointAndResumeGoesOnInTheSameRecord) {
  const auto dir = fresh_dir("train-sigint");
  const std::string exp = (dir / "exp.toml").string();
  constexpr long kSteps = 600;  // several times what trains before the signal, and quick to finish after the resume
  {
    auto c = tiny(Method::Single, 1);
    c.run.name = "stoptrain";
    c.run.out_dir = (dir / "runs").string();
    c.train.steps = kSteps;
    c.train.checkpoint_every = 0;  // the only checkpoint is the one the stop writes
    std::ofstream(exp) << to_toml(c);
  }
  const std::string db = (dir / "runs.db").string();
  const std::string err = (dir / "stderr.txt").string();
  auto spawn = [&](std::vector<std::string> args) { return spawn_cli(std::move(args), err); };
  auto logged_steps = [&] {
    StoreOptions ro;
    ro.read_only = true;
    long n = 0;
    if (auto store = RunStore::open(db, ro))
      if (auto runs = (*store)->list_runs(); runs && !runs->empty())
        (*store)->for_each_metric(runs->front().run.id, [&](const MetricPoint& m) { n += m.name == metric::kTrainLoss; });
    return n;
  };
  pid_t pid = spawn({"train", exp, "--db", db});
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 600 && logged_steps() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GE(logged_steps(), 3) << "nothing trained";
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed instead of stopping";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  std::stringstream text;
  text << std::ifstream(err).rdbuf();
  const std::string ckpt = (dir / "runs" / "stoptrain.ckpt").string();
  const std::string again = "fomoe train " + exp + " --resume " + ckpt + " --db " + db;
  EXPECT_NE(text.str().find("resume with: " + again), std::string::npos) << text.str();
  ASSERT_TRUE(fs::exists(ckpt)) << "the stop wrote no checkpoint";
  {
    auto store = RunStore::open(db);
    ASSERT_TRUE(store);
    auto runs = (*store)->list_runs();
    ASSERT_TRUE(runs);
    ASSERT_EQ(runs->size(), 1u);
    EXPECT_EQ(runs->front().run.status, "stopped");
    EXPECT_LT(runs->front().last_step, kSteps) << "the run finished before the signal: nothing to resume";
  }
  pid = spawn({"train", exp, "--resume", ckpt, "--db", db});
  ASSERT_GT(pid, 0);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto store = RunStore::open(db);
  ASSERT_TRUE(store);
  auto runs = (*store)->list_runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u) << "a resumed run must go on in its record, not start a second";
  EXPECT_EQ(runs->front().run.status, "finished");
  std::map<long, int> seen;  // one site records its train loss as site 0
  (*store)->for_each_metric(runs->front().run.id, [&](const MetricPoint& m) { seen[m.step] += m.name == metric::kTrainLoss && m.site == 0; });
  for (long step = 10; step <= kSteps; step += 10) EXPECT_EQ(seen[step], 1) << "train loss at step " << step;
  auto events = (*store)->events(runs->front().run.id);
  ASSERT_TRUE(events);
  EXPECT_EQ(std::count_if(events->begin(), events->end(), [](const RunEvent& e) { return e.kind == "resumed"; }), 1);
}

// A run record names the code that produced it: the revision of the checkout the `fomoe` binary
// was built from, read at build time ("-dirty" with changed tracked files), not when CMake last
// configured (which left records naming a revision several commits old).
TEST(FederationProcesses, ARunRecordNamesTheRevisionItsBinaryWasBuiltFrom) {
  auto git = [](const std::string& args) {
    std::string out;
    if (FILE* p = popen(("git -C '" FOMOE_SOURCE_DIR "' " + args + " 2>/dev/null").c_str(), "r")) {
      char buf[256];
      while (std::fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  };
  const std::string rev = git("rev-parse --short HEAD");
  if (rev.empty()) GTEST_SKIP() << "the sources are not a git checkout";
  const std::string expected = rev + (git("status --porcelain --untracked-files=no").empty() ? "" : "-dirty");
  const auto dir = fresh_dir("git-revision");
  auto c = tiny(Method::Single, 1);
  c.run.name = "rev";
  c.run.out_dir = (dir / "runs").string();
  c.train.steps = 2;
  const std::string exp = (dir / "exp.toml").string(), db = (dir / "runs.db").string();
  std::ofstream(exp) << to_toml(c);
  const pid_t pid = spawn_cli({"train", exp, "--db", db}, (dir / "stderr.txt").string());
  ASSERT_GT(pid, 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "see " << (dir / "stderr.txt").string();
  auto store = RunStore::open(db);
  ASSERT_TRUE(store) << store.error().message;
  auto runs = (*store)->list_runs();
  ASSERT_TRUE(runs && runs->size() == 1u);
  EXPECT_EQ(runs->front().run.git_revision, expected) << "rebuild after committing: the binary says what it was built from";
}

}  // namespace
