// Chaos soak: `fomoe run` (real coordinator and agent processes) trains while a random agent is
// SIGKILLed every couple of seconds and, once, the coordinator itself; `--resume` finishes the run.
// At the end: one run record, every completed round recorded exactly once, the held-out curve
// without a gap across the resume, experts re-homed when their holder died, no agent or zombie
// left, and the coordinator's memory flat. FOMOE_SOAK_SECONDS lengthens the chaos phase.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fomoe/base/metric_names.h"
#include "fomoe/config/experiment.h"
#include "../tiny_experiment.h"
#include "spawn_cli.h"
#include "fomoe/store/run_store.h"

extern char** environ;

using namespace fomoe;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::vector<pid_t> agent_pids(const fs::path& run_dir) {
  std::vector<pid_t> out;
  const std::string cmd = "pgrep -f '" + (run_dir / "[k]eys").string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  int pid = 0;
  while (std::fscanf(p, "%d", &pid) == 1) out.push_back(pid);
  pclose(p);
  return out;
}

// Children of `parent` that are zombies (exited, not yet reaped).
int zombie_children(pid_t parent) {
  const std::string cmd = "ps -o stat= --ppid " + std::to_string(parent) + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return 0;
  int zombies = 0;
  char stat[32];
  while (std::fscanf(p, "%31s", stat) == 1) zombies += stat[0] == 'Z';
  pclose(p);
  return zombies;
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = -1;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 12, '\n');
  }
  return -1;
}

pid_t spawn_run(const std::vector<std::string>& extra, const std::string& log) {
  std::vector<std::string> args = {"run"};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::spawn_cli(args, log, /*both_to_log=*/true, /*append=*/true);
}

TEST(ChaosSoak, RandomKillsAndACoordinatorCrashLoseNoRound) {
  const double chaos_s = std::getenv("FOMOE_SOAK_SECONDS") ? std::atof(std::getenv("FOMOE_SOAK_SECONDS")) : 24.0;
  const auto dir = fs::path(FOMOE_BINARY_DIR) / "test-runs" / "chaos-soak";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ExperimentConfig c = fomoe::test::tiny_experiment(Method::FoMoE, 2);
  c.run.name = "soak";
  c.run.out_dir = (dir / "runs").string();
  c.train.steps = 100000;  // the chaos phase decides the length; the resume ends it (--steps)
  c.train.batch_size = 4;
  c.train.warmup_steps = 2;
  c.train.eval_batches = 2;
  c.train.eval_every = 8;
  c.train.log_every = 4;
  c.federation.sites = 4;
  c.federation.inner_steps = 4;
  c.federation.replication = 1;  // every death orphans experts
  c.federation.restart_sites = 1000;
  const std::string exp = (dir / "soak.toml").string();
  std::ofstream(exp) << to_toml(c);
  const std::string db = (dir / "runs.db").string();
  const std::string log = (dir / "run.log").string();
  const fs::path run_dir = dir / "runs" / "soak";

  pid_t coord = spawn_run({exp, "--db", db}, log);
  ASSERT_GT(coord, 0);
  for (int i = 0; i < 600 && !fs::exists(run_dir / "coordinator.pt"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(run_dir / "coordinator.pt")) << "no round completed; see " << log;

  std::mt19937 rng(7);
  int agent_kills = 0, lingering_zombies = 0, previous_zombies = 0;
  std::vector<long> rss;
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < chaos_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    const int z = zombie_children(coord);
    lingering_zombies += (z > 0 && previous_zombies > 0);  // a zombie that outlives a whole period
    previous_zombies = z;
    const long r = rss_kib(coord);
    if (r < 0) {  // it must heal, not give up: every death here is restarted
      ADD_FAILURE() << "the coordinator ended during the chaos phase; see " << log;
      break;
    }
    rss.push_back(r);
    auto pids = agent_pids(run_dir);
    if (pids.empty()) continue;
    kill(pids[std::uniform_int_distribution<size_t>(0, pids.size() - 1)(rng)], SIGKILL);
    ++agent_kills;
  }
  // The coordinator, once, without warning; its agents die with it.
  kill(coord, SIGKILL);
  int status = 0;
  waitpid(coord, &status, 0);
  for (int i = 0; i < 50 && !agent_pids(run_dir).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(agent_pids(run_dir).empty()) << "agents outlived their killed coordinator";

  // Resume and finish a few rounds past where it stood.
  long rounds_done = 0;
  {
    StoreOptions read_only;
    read_only.read_only = true;
    auto store = RunStore::open(db, read_only);
    ASSERT_TRUE(store);
    auto runs = (*store)->list_runs();
    ASSERT_TRUE(runs && runs->size() == 1u);
    rounds_done = runs->front().last_step / 4;
  }
  const long end_steps = (rounds_done + 6) * 4;
  coord = spawn_run({exp, "--db", db, "--resume", "--steps", std::to_string(end_steps)}, log);
  ASSERT_GT(coord, 0);
  waitpid(coord, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "see " << log;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "see " << log;
  EXPECT_TRUE(agent_pids(run_dir).empty());

  auto store = RunStore::open(db);
  ASSERT_TRUE(store) << store.error().message;
  auto runs = (*store)->list_runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u) << "the resume started a second run record";
  const auto& run = runs->front().run;
  EXPECT_EQ(run.status, "finished");
  std::map<long, int> train_at, eval_at;
  const Status read = (*store)->for_each_metric(run.id, [&](const MetricPoint& m) {
    if (m.site != -1) return;
    if (m.name == metric::kTrainLoss) ++train_at[m.step];
    if (m.name == metric::kEvalLoss) ++eval_at[m.step];
  });
  ASSERT_TRUE(read) << read.error().message;
  for (long step = 4; step <= end_steps; step += 4) EXPECT_EQ(train_at[step], 1) << "global train loss at step " << step;
  for (long step = 8; step <= end_steps; step += 8) EXPECT_EQ(eval_at[step], 1) << "held-out loss at step " << step;
  auto events = (*store)->events(run.id);
  ASSERT_TRUE(events);
  int dead = 0, restarted = 0, rejoined = 0, rehomed = 0, resumed = 0;
  for (auto& e : *events) {
    dead += e.kind == "site_dead";
    restarted += e.kind == "site_restarted";
    rejoined += e.kind == "site_rejoined";
    rehomed += e.kind == "placement" && e.text.find("no live holder") != std::string::npos;
    resumed += e.kind == "resumed";
  }
  EXPECT_GE(dead, agent_kills / 2) << agent_kills << " agents killed";
  EXPECT_GE(restarted, 1);
  EXPECT_GE(rejoined, 1);
  EXPECT_GE(rehomed, 1) << "r = 1: a death must re-home the dead site's experts";
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(lingering_zombies, 0) << "a killed agent stayed a zombie";
  ASSERT_GE(rss.size(), 4u);
  const long early = rss[1], late = rss.back();
  EXPECT_LT(late, early + early / 4 + 32 * 1024) << "coordinator RSS grew from " << early << " to " << late << " KiB";
  if (chaos_s >= 200) {
    // Long enough for the store's bounded page cache (8 MiB, ~1,200 rounds here) to fill: from
    // then on RSS must stay flat, not grow with the rounds recorded.
    const long half = rss[rss.size() / 2];
    EXPECT_LT(late - half, 4 * 1024) << "coordinator RSS still grows in the second half of the chaos: " << half << " -> " << late << " KiB";
  }
  std::printf("soak: %.0f s of chaos, %d agents killed, %d deaths, %d restarts, %d rejoins, %d re-homings, %ld rounds; coordinator RSS %ld -> %ld KiB\n",
              chaos_s, agent_kills, dead, restarted, rejoined, rehomed, end_steps / 4, early, late);
  // Its course, every tenth of the chaos phase (flat, or still growing at the end?).
  std::printf("soak: coordinator RSS (KiB) at each tenth of the chaos phase:");
  for (size_t i = 0; i <= 10; ++i) std::printf(" %ld", rss[std::min(rss.size() - 1, i * (rss.size() - 1) / 10)]);
  std::printf("\n");
}

}  // namespace
