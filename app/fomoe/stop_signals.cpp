#include "stop_signals.h"

#include <unistd.h>

#include <cstdio>

namespace fomoe::cli {

namespace {

std::atomic<bool> g_stop_requested{false};
volatile sig_atomic_t g_stop_signal = 0;
char g_message[160] = "\nstopping at the next safe point (press Ctrl-C again to abort at once)\n";
size_t g_message_len = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) _exit(128 + sig);
  g_stop_signal = sig;
  g_stop_requested.store(true);
  ssize_t ignored = write(STDERR_FILENO, g_message, g_message_len);  // async-signal-safe, unlike stdio
  (void)ignored;
}

}  // namespace

StopSignals::StopSignals(const char* command) {
  const int n = std::snprintf(g_message, sizeof g_message,
                              "\n%s: stopping at the next safe point (press Ctrl-C again to abort at once)\n", command);
  g_message_len = n > 0 ? std::min(static_cast<size_t>(n), sizeof g_message - 1) : 0;
  g_stop_requested = false;
  g_stop_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

const std::atomic<bool>* StopSignals::flag() { return &g_stop_requested; }

int StopSignals::signal() { return g_stop_signal; }

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

}  // namespace fomoe::cli
