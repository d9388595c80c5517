// SIGINT / SIGTERM for the commands that train (`fomoe run`, `fomoe train`): the first asks the
// run to stop at its next safe point (it is recorded "stopped" and can be resumed); a second one
// aborts at once with 128 + signal.
#pragma once

#include <signal.h>

#include <atomic>

namespace fomoe::cli {

class StopSignals {
 public:
  /// Installs the handlers for the life of the object (and clears an earlier request); `command`
  /// names the program in the message printed on the first signal ("fomoe run").
  explicit StopSignals(const char* command);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// Set by the first signal; the engine polls it (CoordinatorSettings::stop_now, ProgressFn).
  static const std::atomic<bool>* flag();
  static bool requested() { return flag()->load(); }
  /// The signal that asked to stop (SIGINT, SIGTERM), 0 if none.
  static int signal();

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

const char* signal_name(int sig);

}  // namespace fomoe::cli
