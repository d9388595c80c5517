#include "fomoe/federation/local_federation.h"

#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>
#include <filesystem>
#include <thread>

#include "fomoe/base/log.h"
#include "fomoe/net/keys.h"

extern char** environ;

namespace fomoe {

namespace {

pid_t spawn_agent(const std::string& exe, const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<std::string> argv_s = {exe, "agent"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // Its own process group: a Ctrl-C at the terminal reaches the coordinator, which stops the
  // agents itself (they still die with it: --exit-with-parent).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Waits up to `grace` for the agents to leave on their own, then terminates the rest.
void reap(std::vector<int>& pids, std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (auto& pid : pids) {
    while (pid > 0) {
      int status = 0;
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid || r < 0) {
        pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGTERM);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (waitpid(pid, &status, WNOHANG) != pid) {
          kill(pid, SIGKILL);
          waitpid(pid, &status, 0);
        }
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : std::string());
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

// The local agent processes: the coordinator's children, so an exit is seen at once (no
// heartbeat or timeout needed) and a dead site is started again with the same arguments. A reaper
// thread collects each exit within 50 ms, whatever the coordinator's loop is busy with (an
// evaluation, a state save), so a killed agent never lingers as a zombie; exited() hands the
// collected exits to the loop. It waits for these pids only (never -1: the workbench that hosts
// the coordinator has children of its own).
class LocalAgents : public SiteSupervisor {
 public:
  explicit LocalAgents(std::string exe) : exe_(std::move(exe)) {}
  ~LocalAgents() override { stop_reaper(); }
  void add(std::vector<std::string> args, std::string log) {
    std::lock_guard<std::mutex> lock(mu_);
    args_.push_back(std::move(args));
    logs_.push_back(std::move(log));
    pids_.push_back(-1);
  }

  bool start_all() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t k = 0; k < args_.size(); ++k) {
        pids_[k] = spawn_agent(exe_, args_[k], logs_[k]);
        if (pids_[k] < 0) return false;
      }
    }
    reaper_ = std::thread([this] { reap_loop(); });
    return true;
  }
  std::vector<int> pids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pids_;
  }

  std::vector<std::pair<int, std::string>> exited() override {
    std::lock_guard<std::mutex> lock(mu_);
    collect_exits_locked();  // also here, so a caller never waits for the reaper's next turn
    return std::exchange(exits_, {});
  }

  bool restart(int site, std::string* why) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (site < 0 || site >= static_cast<int>(pids_.size())) return false;
    if (pids_[site] > 0) {  // still running (e.g. dead by timeout while stalled): replace it
      kill(pids_[site], SIGKILL);
      int status = 0;
      waitpid(pids_[site], &status, 0);
    }
    pids_[site] = spawn_agent(exe_, args_[site], logs_[site]);
    if (pids_[site] < 0 && why) *why = "cannot start " + exe_ + ": " + std::strerror(errno);
    return pids_[site] > 0;
  }

  void reap_all(std::chrono::milliseconds grace) {
    stop_reaper();
    std::lock_guard<std::mutex> lock(mu_);
    reap(pids_, grace);
  }

 private:
  void collect_exits_locked() {
    for (size_t k = 0; k < pids_.size(); ++k) {
      if (pids_[k] <= 0) continue;
      int status = 0;
      if (waitpid(pids_[k], &status, WNOHANG) != pids_[k]) continue;
      FOMOE_LOG_WARN("fed", "agent of site %zu (pid %d) %s", k, pids_[k], describe_exit(status).c_str());
      pids_[k] = -1;
      exits_.emplace_back(static_cast<int>(k), describe_exit(status));
    }
  }
  void reap_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      collect_exits_locked();
      cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stop_; });
    }
  }
  void stop_reaper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (reaper_.joinable()) reaper_.join();
  }

  std::string exe_;
  mutable std::mutex mu_;  // guards everything below (the reaper thread and the coordinator's)
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread reaper_;
  std::vector<std::vector<std::string>> args_;
  std::vector<std::string> logs_;
  std::vector<int> pids_;
  std::vector<std::pair<int, std::string>> exits_;  // collected, not yet handed to exited()
};

}  // namespace

std::string coordinator_key_dir(const ExperimentConfig& cfg, const std::string& run_dir) {
  return !cfg.federation.key_dir.empty() ? cfg.federation.key_dir : (std::filesystem::path(run_dir) / "keys").string();
}

Expected<net::CurveKeyPair> coordinator_server_keys(const ExperimentConfig& cfg, const std::string& run_dir) {
  namespace fs = std::filesystem;
  const std::string key_dir = coordinator_key_dir(cfg, run_dir);
  const std::string secret = (fs::path(key_dir) / (std::string(net::kServerKeyName) + ".key")).string();
  if (!cfg.federation.agents.empty()) {
    // Remote sites: the operator made the keys (`fomoe keygen`) and gave the agents server.pub.
    auto server = net::load_keypair(secret);
    if (!server) return make_error(server.error().code, server.error().message + " (federation.key_dir must hold server.key)");
    return server;
  }
  // Local sites: made on the first run in this directory, reused after (resume, restarted agents).
  auto server = net::write_keypair(key_dir, net::kServerKeyName, /*overwrite=*/false);
  if (!server) server = net::load_keypair(secret);
  return server;
}

Expected<FederationResult> run_federation(const ExperimentConfig& cfg, const LocalFederationOptions& options,
                                          const std::function<bool(const RoundProgress&)>& progress) {
  namespace fs = std::filesystem;
  const bool remote = !cfg.federation.agents.empty();
  const int K = cfg.federation.sites;
  std::error_code ec;
  fs::create_directories(options.run_dir, ec);
  if (ec) return make_error(ErrorCode::Io, "cannot create run directory " + options.run_dir + ": " + ec.message());

  CoordinatorSettings s;
  s.cfg = cfg;
  s.sink = options.sink;
  s.run_id = options.run_id;
  s.resume = options.resume;
  s.state_path = (fs::path(options.run_dir) / "coordinator.pt").string();
  const std::string key_dir = coordinator_key_dir(cfg, options.run_dir);
  auto server = coordinator_server_keys(cfg, options.run_dir);
  if (!server) return server.error();
  s.server_keys = *server;
  if (remote) {
    // Remote sites: the operator made the keys (`fomoe keygen`); the experiment lists the agents.
    // The agents listen (`fomoe agent --listen ADDR`); the coordinator connects to each.
    s.bind.clear();
    for (auto& a : cfg.federation.agents) {
      s.agent_public_keys.push_back(a.public_key);
      s.connect_addresses.push_back(a.address);
    }
  } else {
    // Local sites: fresh keys per run dir (reused when resuming, so restarted agents keep theirs);
    // with federation.max_sites also the keys of the sites that may join (`fomoe agent --name site-K`).
    for (int k = 0; k < std::max(K, cfg.federation.max_sites); ++k) {
      const std::string name = "site-" + std::to_string(k);
      auto kp = net::write_keypair(key_dir, name, false);
      if (!kp) kp = net::load_keypair((fs::path(key_dir) / (name + ".key")).string());
      if (!kp) return kp.error();
      s.agent_public_keys.push_back(kp->public_key);
    }
  }
  s.stop_now = options.stop_now;
  s.wall_offset_s = options.wall_offset_s;
  // Local agents are started after the coordinator is bound (they need its port); the
  // supervisor is handed over now and knows the processes once they run.
  std::unique_ptr<LocalAgents> agents;
  if (!remote) {
    agents = std::make_unique<LocalAgents>(options.self_exe);
    s.supervisor = agents.get();
  }
  auto coord = Coordinator::create(s);
  if (!coord) return coord.error();

  if (!remote) {
    for (int k = 0; k < K; ++k) {
      // Share the cores: K agents with LibTorch's default thread count would oversubscribe them.
      const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
      const int threads = std::max(1, static_cast<int>(hw) / K);
      std::vector<std::string> args = {"--connect", (*coord)->endpoint(), "--key-dir", key_dir, "--name", "site-" + std::to_string(k),
                                       "--threads", std::to_string(threads), "--exit-with-parent"};
      const double bw = site_bandwidth_mbps(cfg.federation, k), lat = site_latency_ms(cfg.federation, k);
      if (bw > 0) args.insert(args.end(), {"--bandwidth-mbps", std::to_string(bw)});
      if (lat > 0) args.insert(args.end(), {"--latency-ms", std::to_string(lat)});
      agents->add(args, (fs::path(options.run_dir) / ("site-" + std::to_string(k) + ".log")).string());
    }
    if (!agents->start_all()) {
      agents->reap_all(std::chrono::milliseconds(0));
      return make_error(ErrorCode::Io, "cannot start agent process " + options.self_exe);
    }
    FOMOE_LOG_INFO("fed", "started %d local agents (logs in %s), coordinator at %s", K, options.run_dir.c_str(),
                   (*coord)->endpoint().c_str());
  }
  if (options.on_started) options.on_started(agents ? agents->pids() : std::vector<int>{}, (*coord)->endpoint(), key_dir);
  auto result = (*coord)->run(progress);
  // A finished run's agents leave on its Shutdown; a stopped run's may be mid-round (SIGTERM soon).
  if (agents) agents->reap_all(std::chrono::milliseconds(!result ? 0 : result->stopped ? 2000 : 10000));
  return result;
}

}  // namespace fomoe
