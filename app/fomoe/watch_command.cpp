// fomoe watch tcp://HOST:PORT [--keys DIR --name NAME] — follow a running federation's event stream
// (fomoe run --publish), CURVE with this watcher's keys unless the publisher is plaintext.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <filesystem>
#include <map>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/net/event_stream.h"
#include "fomoe/net/keys.h"

namespace fomoe::cli {

namespace {

volatile std::sig_atomic_t g_stop = 0;

// Prints what a person watching a run wants: round summaries, faults, bytes per link.
class WatchPrinter : public RunSink {
 public:
  void on_run_started(int64_t id, const RunInfo& info) override {
    std::printf("run %lld: %s (%s, %d sites)\n", static_cast<long long>(id), info.name.c_str(), info.method.c_str(), info.n_sites);
  }
  void on_metrics(const std::vector<MetricPoint>& points) override {
    for (const auto& p : points) {
      const bool global = p.site < 0;
      if (p.name == metric::kEvalLoss || (global && p.name == metric::kTrainLoss) || (global && p.name == metric::kTopkOverlap))
        std::printf("round %3d step %6ld  %-22s %.4f\n", p.round, p.step, p.name.c_str(), p.value);
      else if (!global && (p.name == metric::kTrainLoss || p.name == metric::kSkipRate || p.name == metric::kTokensPerSecond))
        std::printf("round %3d step %6ld  site %d %-15s %.4f\n", p.round, p.step, p.site, p.name.c_str(), p.value);
    }
    std::fflush(stdout);
  }
  void on_link_bytes(const std::vector<LinkBytes>& links) override {
    std::map<int, int64_t> per_site;
    int round = -1;
    for (const auto& l : links) {
      if (l.site < 0) continue;  // before a Welcome: not yet a site
      per_site[l.site] += l.bytes;
      round = std::max(round, l.round);
    }
    for (auto& [site, bytes] : per_site) std::printf("round %3d        site %d bytes %lld\n", round, site, static_cast<long long>(bytes));
  }
  void on_event(const RunEvent& e) override {
    if (e.kind == "round_started") return;
    std::printf("[%8.2f s] %s%s: %s\n", e.time, e.site >= 0 ? ("site " + std::to_string(e.site) + " ").c_str() : "", e.kind.c_str(),
                e.text.c_str());
    std::fflush(stdout);
  }
  void on_samples(const std::vector<SampleEntry>& samples) override {
    for (const auto& e : samples) {
      std::printf("round %3d step %6ld  sample \"%s\" -> %s\n", e.round, e.step, e.prompt.c_str(), cli::one_line(e.text).c_str());
    }
    std::fflush(stdout);
  }
  void on_run_finished(RunStatus status, const std::string& message) override {
    std::printf("run %s%s%s\n", run_status_name(status), message.empty() ? "" : ": ", message.c_str());
    finished = true;
  }
  bool finished = false;
};

}  // namespace

int watch_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe watch",
                      "Follows a running federation's live event stream (`fomoe run --publish ADDR`).\n"
                      "The stream is CURVE-encrypted unless published with --publish-plaintext: give this watcher's "
                      "keys,\n--keys DIR --name NAME (DIR holds NAME.key from `fomoe keygen --out DIR --name NAME` and "
                      "a copy of the\ncoordinator's server.pub; NAME.pub goes into the publisher's watchers/ "
                      "directory) or --key FILE --server-key FILE.");
  std::string address, key_dir, name, key_file, server_key_file;
  app->add_option("ADDRESS", address, "the address `fomoe run --publish` printed")
      ->required()
      ->type_name("tcp://HOST:PORT")
      ->check(CLI::Validator(
          [](std::string& a) {
            return a.rfind("tcp://", 0) == 0 || a.rfind("ipc://", 0) == 0
                       ? std::string()
                       : "'" + a + "' is not a tcp://HOST:PORT (or ipc://PATH) address";
          },
          "", "tcp_address"));
  CLI::Option* keys_opt =
      app->add_option("--keys", key_dir, "this watcher's key directory: NAME.key and the coordinator's server.pub")
          ->type_name("DIR");
  CLI::Option* name_opt = app->add_option("--name", name, "this watcher's name (the key file stem)")->type_name("NAME");
  CLI::Option* key_opt =
      app->add_option("--key", key_file, "this watcher's secret key file (instead of --keys/--name)")->type_name("FILE");
  CLI::Option* server_opt =
      app->add_option("--server-key", server_key_file, "the publisher's public key file (default with --keys: DIR/server.pub)")
          ->type_name("FILE");
  keys_opt->needs(name_opt)->excludes(key_opt);
  name_opt->needs(keys_opt);
  key_opt->needs(server_opt);
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  if (!server_key_file.empty() && key_file.empty() && key_dir.empty())
    return usage_error(*app, "--server-key needs --keys DIR --name NAME or --key FILE", std::cerr);
  net::EventSubscriberOptions o;
  o.connect_address = address;
  if (!key_dir.empty() || !key_file.empty()) {
    auto keys = !key_file.empty() ? net::load_client_key_files(key_file, server_key_file)
                : !server_key_file.empty()
                    ? net::load_client_key_files((std::filesystem::path(key_dir) / (name + ".key")).string(), server_key_file)
                    : net::load_client_keys(key_dir, name);
    if (!keys) {
      std::cerr << "fomoe watch: " << keys.error().message << "\n";
      return 1;
    }
    o.curve = true;
    o.client_keys = keys->keys;
    o.server_public_key = keys->server_public_key;
  }
  auto sub = net::EventSubscriber::create(o);
  if (!sub) {
    std::cerr << "fomoe watch: " << sub.error().message << "\n";
    return 1;
  }
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::fprintf(stderr, "fomoe watch: following %s%s (Ctrl-C to stop)\n", address.c_str(),
               o.curve ? (" as " + o.client_keys.public_key + " (CURVE)").c_str() : " (no keys: plaintext)");
  WatchPrinter printer;
  // ZeroMQ says nothing when a handshake fails: after a few quiet seconds say what the socket
  // monitor saw (no publisher, CURVE on one side only, a refused key), once per new reason.
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  bool any = false, said_connected = false;
  std::string said;
  while (!g_stop && !printer.finished) {
    any = (*sub)->pump(printer, std::chrono::milliseconds(500)) > 0 || any;
    const net::SubscriberConnection c = (*sub)->connection();
    if (c.connected && !said_connected) {
      said_connected = true;
      std::fprintf(stderr, "fomoe watch: connected to %s\n", address.c_str());
    }
    if (any || Clock::now() - start < std::chrono::seconds(3)) continue;
    const std::string problem = (*sub)->connection_problem();
    if (!problem.empty() && problem != said) {
      std::fprintf(stderr, "fomoe watch: nothing arrived from %s yet: %s\n", address.c_str(), problem.c_str());
      said = problem;
    }
  }
  return 0;
}

}  // namespace fomoe::cli
