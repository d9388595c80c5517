// A real writer process is SIGKILLed mid-run: every round it reported as flushed is in the store,
// and reopening the store marks the run interrupted.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>

#include "fomoe/store/run_store.h"
#include "store_test_util.h"

extern char** environ;

namespace fomoe {
namespace {

TEST(StoreCrash, KilledWriterKeepsFlushedRoundsAndIsMarkedInterrupted) {
  test::TempDir dir;
  const std::string db = dir.file("runs.db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::string exe = FOMOE_STORE_CRASH_WRITER;
  char* argv[] = {exe.data(), const_cast<char*>(db.c_str()), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ), 0) << exe;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);

  // Read lines until the child has reported round >= 3 (or 30 s pass: a hang, not a timing check).
  std::string buf;
  int64_t run_id = -1;
  int last_round = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (last_round < 3 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char chunk[256];
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.rfind("run ", 0) == 0) {
        run_id = std::stoll(line.substr(4));
      } else {
        last_round = std::stoi(line);
      }
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);  // reap it, or kill(pid, 0) would still see a zombie
  close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited on its own (status " << status << ")";
  ASSERT_GT(run_id, 0);
  ASSERT_GE(last_round, 3);

  auto store = RunStore::open(db);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_EQ((*store)->interrupted_on_open().size(), 1u);
  EXPECT_EQ((*store)->interrupted_on_open()[0], run_id);
  auto run = (*store)->get_run(run_id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, "interrupted");
  EXPECT_TRUE(run->finished_at.has_value());
  EXPECT_NE(run->message.find("pid"), std::string::npos) << run->message;
  EXPECT_NE(run->message.find(std::to_string(pid)), std::string::npos) << run->message;

  std::map<int, int> rows_per_round;
  ASSERT_TRUE((*store)->for_each_metric(run_id, [&](const MetricPoint& p) { ++rows_per_round[p.round]; }));
  for (int r = 0; r <= last_round; ++r) EXPECT_EQ(rows_per_round[r], 20) << "round " << r;
  auto links = (*store)->links(run_id);
  ASSERT_TRUE(links);
  EXPECT_GE(links->size(), static_cast<size_t>(2 * (last_round + 1)));
  auto events = (*store)->events(run_id);
  ASSERT_TRUE(events);
  EXPECT_GE(events->size(), static_cast<size_t>(last_round + 1));
  auto summary = (*store)->get_summary(run_id);
  ASSERT_TRUE(summary);
  EXPECT_TRUE(summary->final_train_loss.has_value());

  // A second open finds nothing more to mark.
  auto again = RunStore::open(db);
  ASSERT_TRUE(again);
  EXPECT_TRUE((*again)->interrupted_on_open().empty());
}

}  // namespace
}  // namespace fomoe
