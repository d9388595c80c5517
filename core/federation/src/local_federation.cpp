#include "fomoe/federation/local_federation.h"

#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
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
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
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

}  // namespace

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
  const std::string key_dir = !cfg.federation.key_dir.empty() ? cfg.federation.key_dir : (fs::path(options.run_dir) / "keys").string();
  if (remote) {
    // Remote sites: the operator made the keys (`fomoe keygen`); the experiment lists the agents.
    auto server = net::load_keypair((fs::path(key_dir) / "server.key").string());
    if (!server) return make_error(server.error().code, server.error().message + " (federation.key_dir must hold server.key)");
    s.server_keys = *server;
    // The agents listen (`fomoe agent --listen ADDR`); the coordinator connects to each.
    s.bind.clear();
    for (auto& a : cfg.federation.agents) {
      s.agent_public_keys.push_back(a.public_key);
      s.connect_addresses.push_back(a.address);
    }
  } else {
    // Local sites: fresh keys per run dir (reused when resuming, so restarted agents keep theirs).
    auto server = net::write_keypair(key_dir, "server", /*overwrite=*/false);
    if (!server) server = net::load_keypair((fs::path(key_dir) / "server.key").string());
    if (!server) return server.error();
    s.server_keys = *server;
    for (int k = 0; k < K; ++k) {
      const std::string name = "site-" + std::to_string(k);
      auto kp = net::write_keypair(key_dir, name, false);
      if (!kp) kp = net::load_keypair((fs::path(key_dir) / (name + ".key")).string());
      if (!kp) return kp.error();
      s.agent_public_keys.push_back(kp->public_key);
    }
  }
  auto coord = Coordinator::create(s);
  if (!coord) return coord.error();

  std::vector<int> pids;
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
      const std::string log = (fs::path(options.run_dir) / ("site-" + std::to_string(k) + ".log")).string();
      const pid_t pid = spawn_agent(options.self_exe, args, log);
      if (pid < 0) {
        reap(pids, std::chrono::milliseconds(0));
        return make_error(ErrorCode::Io, "cannot start agent process " + options.self_exe);
      }
      pids.push_back(pid);
    }
    FOMOE_LOG_INFO("fed", "started %d local agents (logs in %s), coordinator at %s", K, options.run_dir.c_str(),
                   (*coord)->endpoint().c_str());
  }
  if (options.on_started) options.on_started(pids, (*coord)->endpoint(), key_dir);
  auto result = (*coord)->run(progress);
  reap(pids, std::chrono::milliseconds(result ? 10000 : 0));
  return result;
}

}  // namespace fomoe
