// `fomoe run --publish` and `fomoe watch` as real processes (#16, "nobody watches who should
// not"): a tiny two-site federation publishes with CURVE (the default); the watcher whose key is
// in KEYDIR/watchers prints the run's rounds and its end, an unlisted watcher and a plaintext one
// get nothing and say why after a few seconds, and the publisher logs the refused key once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "fomoe/config/experiment.h"
#include "../tiny_experiment.h"

extern char** environ;

namespace fomoe {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size())) ++n;
  return n;
}

// `fomoe ARGS...` with stdout and stderr into files.
struct Process {
  pid_t pid = -1;
  fs::path out, err;
  int code = -1;

  Process(const std::vector<std::string>& args, const fs::path& stem)
      : out(stem.string() + ".out"), err(stem.string() + ".err") {
    std::vector<std::string> argv_s = {FOMOE_CLI};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid, FOMOE_CLI, &fa, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Process() {
    if (pid > 0 && code < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  // Waits for the exit; false after `limit` (the process is left running).
  bool wait(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    for (;;) {
      int status = 0;
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      }
      if (r < 0 || Clock::now() > deadline) return false;
      std::this_thread::sleep_for(50ms);
    }
  }
  bool wait_for_err(const std::string& part, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!has(slurp(err), part) && Clock::now() < deadline) std::this_thread::sleep_for(100ms);
    return has(slurp(err), part);
  }
  std::string stdout_text() const { return slurp(out); }
  std::string stderr_text() const { return slurp(err); }
};

int free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

int keygen(const fs::path& dir, const std::string& name) {
  Process p({"keygen", "--out", dir.string(), "--name", name}, dir.parent_path() / ("keygen-" + name));
  return p.wait(60s) ? p.code : -1;
}

// A fresh directory test-runs/NAME and a tiny experiment in it, evaluated every 8 steps, ready
// to be written out with write_experiment.
ExperimentConfig watched_experiment(const std::string& name, Method method, int sites, int steps, fs::path& dir) {
  dir = fs::path(FOMOE_BINARY_DIR) / "test-runs" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  ExperimentConfig c = fomoe::test::tiny_experiment(method, sites);
  c.run.name = name;
  c.run.out_dir = (dir / "runs").string();
  c.train.steps = steps;
  c.train.batch_size = 4;
  c.train.warmup_steps = 2;
  c.train.eval_batches = 2;
  c.train.eval_every = 8;
  c.train.log_every = 4;
  return c;
}

std::string write_experiment(const ExperimentConfig& c, const fs::path& dir) {
  const std::string exp = (dir / (c.run.name + ".toml")).string();
  std::ofstream(exp) << to_toml(c);
  return exp;
}

TEST(WatchLive, WatchersWithAllowedKeysSeeTheRunOthersAreRefusedAndToldWhy) {
  fs::path dir;
  ExperimentConfig c = watched_experiment("watch-live", Method::FoMoE, 2, 48, dir);
  c.federation.inner_steps = 4;
  c.federation.replication = 1;
  c.federation.key_dir = (dir / "coordinator").string();
  const std::string exp = write_experiment(c, dir);

  // The documented steps: the coordinator's key pair, a watcher key for alice (allowed: her
  // alice.pub in the coordinator's watchers/) and one for mallory (not listed); both watchers
  // get a copy of server.pub.
  ASSERT_EQ(keygen(dir / "coordinator", "server"), 0);
  ASSERT_EQ(keygen(dir / "alice", "alice"), 0);
  ASSERT_EQ(keygen(dir / "mallory", "mallory"), 0);
  fs::create_directories(dir / "coordinator" / "watchers");
  fs::copy_file(dir / "alice" / "alice.pub", dir / "coordinator" / "watchers" / "alice.pub");
  for (const char* w : {"alice", "mallory"}) fs::copy_file(dir / "coordinator" / "server.pub", dir / w / "server.pub");
  std::string mallory_key;
  {
    std::ifstream in(dir / "mallory" / "mallory.pub");
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') mallory_key = line;
  }
  ASSERT_EQ(mallory_key.size(), 40u);

  const int port = free_tcp_port();
  ASSERT_GT(port, 0);
  const std::string address = "tcp://127.0.0.1:" + std::to_string(port);
  // The watchers first: they retry until the publisher binds, so none misses the rounds.
  Process alice({"watch", address, "--keys", (dir / "alice").string(), "--name", "alice"}, dir / "alice-watch");
  Process mallory({"watch", address, "--keys", (dir / "mallory").string(), "--name", "mallory"}, dir / "mallory-watch");
  Process plain({"watch", address}, dir / "plain-watch");
  ASSERT_TRUE(alice.wait_for_err("following", 30s)) << alice.stderr_text();
  ASSERT_TRUE(mallory.wait_for_err("following", 30s)) << mallory.stderr_text();
  ASSERT_TRUE(plain.wait_for_err("following", 30s)) << plain.stderr_text();
  EXPECT_TRUE(plain.wait_for_err("no publisher answers at " + address, 15s)) << plain.stderr_text();

  Process run({"run", exp, "--db", (dir / "runs.db").string(), "--publish", address}, dir / "run");
  ASSERT_TRUE(run.wait(240s)) << "fomoe run did not finish; see " << run.err;
  ASSERT_EQ(run.code, 0) << run.stderr_text();
  const std::string run_err = run.stderr_text();
  EXPECT_TRUE(has(run_err, "publishing run events on " + address + " (CURVE")) << run_err;
  EXPECT_TRUE(has(run_err, "1 now")) << run_err;  // alice's key
  // mallory knocked many times; the publisher said so once, with the key.
  EXPECT_EQ(count(run_err, "refused CURVE key " + mallory_key), 1u) << run_err;

  ASSERT_TRUE(alice.wait(30s)) << "the allowed watcher did not see the run end:\n" << alice.stdout_text() << alice.stderr_text();
  EXPECT_EQ(alice.code, 0) << alice.stderr_text();
  const std::string seen = alice.stdout_text();
  EXPECT_TRUE(has(seen, "train/loss")) << seen;
  EXPECT_TRUE(has(seen, "eval/loss")) << seen;
  EXPECT_TRUE(has(seen, "run finished")) << seen;
  EXPECT_TRUE(has(alice.stderr_text(), "connected to " + address)) << alice.stderr_text();

  // The others saw nothing at all, and were told why instead of waiting silently.
  EXPECT_TRUE(mallory.wait_for_err("refused this subscriber's key " + mallory_key, 15s)) << mallory.stderr_text();
  EXPECT_TRUE(plain.wait_for_err("probably uses CURVE", 15s)) << plain.stderr_text();
  for (Process* p : {&mallory, &plain}) {
    EXPECT_EQ(p->stdout_text(), "");
    EXPECT_FALSE(has(p->stderr_text(), "connected to")) << p->stderr_text();
    kill(p->pid, SIGINT);
    ASSERT_TRUE(p->wait(10s));
    EXPECT_EQ(p->code, 0);
  }
}

// A single-site experiment through `fomoe run` publishes too (it trains in the run's own
// process, no coordinator): a plaintext loopback stream here, its watcher sees losses and the end.
TEST(WatchLive, ASingleSiteRunPublishesItsStream) {
  fs::path dir;
  const std::string exp = write_experiment(watched_experiment("watch-single", Method::Single, 1, 24, dir), dir);
  const int port = free_tcp_port();
  ASSERT_GT(port, 0);
  const std::string address = "tcp://127.0.0.1:" + std::to_string(port);
  Process watcher({"watch", address}, dir / "watch");
  ASSERT_TRUE(watcher.wait_for_err("following", 30s)) << watcher.stderr_text();
  Process run({"run", exp, "--db", (dir / "runs.db").string(), "--publish", address, "--publish-plaintext"}, dir / "run");
  ASSERT_TRUE(run.wait(240s)) << "fomoe run did not finish; see " << run.err;
  ASSERT_EQ(run.code, 0) << run.stderr_text();
  EXPECT_TRUE(has(run.stderr_text(), "publishing run events on " + address + " in plaintext")) << run.stderr_text();
  ASSERT_TRUE(watcher.wait(30s)) << "the watcher did not see the run end:\n" << watcher.stdout_text() << watcher.stderr_text();
  EXPECT_EQ(watcher.code, 0) << watcher.stderr_text();
  const std::string seen = watcher.stdout_text();
  EXPECT_TRUE(has(seen, "train/loss")) << seen;
  EXPECT_TRUE(has(seen, "eval/loss")) << seen;
  EXPECT_TRUE(has(seen, "run finished")) << seen;
}

}  // namespace
}  // namespace fomoe
