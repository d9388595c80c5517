// fomoe watch tcp://HOST:PORT — follow a running federation's event stream (fomoe run --publish).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/net/event_stream.h"

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
  void on_run_finished(RunStatus status, const std::string& message) override {
    std::printf("run %s%s%s\n", run_status_name(status), message.empty() ? "" : ": ", message.c_str());
    finished = true;
  }
  bool finished = false;
};

}  // namespace

int watch_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe watch", "Follows a running federation's live event stream (`fomoe run --publish ADDR`).");
  std::string address;
  app->add_option("ADDRESS", address, "the address `fomoe run --publish` printed")
      ->required()
      ->type_name("tcp://HOST:PORT")
      ->check(CLI::Validator(
          [](std::string& a) {
            return a.rfind("tcp://", 0) == 0 ? std::string() : "'" + a + "' is not a tcp://HOST:PORT address";
          },
          "", "tcp_address"));
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  net::EventSubscriberOptions o;
  o.connect_address = address;
  auto sub = net::EventSubscriber::create(o);
  if (!sub) {
    std::cerr << "fomoe watch: " << sub.error().message << "\n";
    return 1;
  }
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::fprintf(stderr, "fomoe watch: following %s (Ctrl-C to stop)\n", address.c_str());
  WatchPrinter printer;
  while (!g_stop && !printer.finished) (*sub)->pump(printer, std::chrono::milliseconds(500));
  return 0;
}

}  // namespace fomoe::cli
