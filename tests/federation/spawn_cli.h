// Starting the `fomoe` binary (FOMOE_CLI_PATH) as a process of its own, as a user or an operator
// would: the process tests' one way to do it.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/types.h>

#include <string>
#include <vector>

extern char** environ;

namespace fomoe::test {

/// Starts `fomoe ARGS...` (FOMOE_CLI_PATH) as a process of its own; its stderr (and, with
/// both_to_log, stdout too) goes to log_path when given, appended to with append. Returns the pid, or -1.
inline pid_t spawn_cli(std::vector<std::string> args, const std::string& log_path = "", bool both_to_log = false,
                       bool append = false) {
  args.insert(args.begin(), FOMOE_CLI_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!log_path.empty()) {
    posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    if (both_to_log) posix_spawn_file_actions_adddup2(&fa, 2, 1);
  }
  pid_t pid = -1;
  if (posix_spawn(&pid, FOMOE_CLI_PATH, &fa, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

}  // namespace fomoe::test
