// The store shared by a long-lived process (the workbench) and short-lived ones (the CLI, the
// sqlite3 shell). POSIX record locks belong to a process and vanish when *any* descriptor of the
// file closes in it — a file dialog sniffing MIME types does that. If the long-lived process then
// holds no lock, the next short-lived client believes it is the last connection on close: it
// checkpoints and deletes the -wal and -shm files under the writer, whose later commits are lost.
// These tests do exactly that with real processes and check that nothing recorded is lost.
#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#include "store_test_util.h"

extern char** environ;

namespace fomoe {
namespace {

namespace fs = std::filesystem;

/// Record locks anyone holds on `path`'s inode, read from /proc/locks (POSIX and OFD alike).
int locks_on(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  std::ifstream in("/proc/locks");
  std::string line;
  int n = 0;
  char want[64];
  std::snprintf(want, sizeof want, ":%lu ", static_cast<unsigned long>(st.st_ino));
  while (std::getline(in, line)) {
    // "1: POSIX  ADVISORY  READ 1234 fd:01:5678 128 128" (inode field is MAJ:MIN:INODE)
    if (line.find(want) != std::string::npos && line.find("->") == std::string::npos) ++n;
  }
  return n;
}

/// What a file dialog's icon provider or MIME sniffer does: open, read the header, close.
void sniff(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char head[64];
  [[maybe_unused]] ssize_t n = ::read(fd, head, sizeof head);
  ::close(fd);
}

/// Runs a program to completion; returns its exit status (-1 when it could not start).
int run_process(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// The other clients a person runs on the same store while the window records.
std::vector<std::vector<std::string>> other_clients(const std::string& db) {
  std::vector<std::vector<std::string>> clients = {{"sqlite3", db, "SELECT count(*) FROM runs;"}};
#ifdef FOMOE_CLI
  clients.push_back({FOMOE_CLI, "runs", "list", "--db", db});
#endif
  return clients;
}

/// PRAGMA integrity_check, asked by another process (the sqlite3 shell).
std::string integrity(const std::string& db) {
  std::string out;
  FILE* p = popen(("sqlite3 '" + db + "' 'PRAGMA integrity_check;'").c_str(), "r");
  if (!p) return "popen failed";
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

TEST(StoreShared, ClosingAnotherDescriptorKeepsTheStoreLocks) {
  test::TempDir dir;
  const std::string db = dir.file("runs.db");
  auto store = RunStore::open(db);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE((*store)->list_runs());  // a read: the connection now holds its shared locks
  const int db_locks = locks_on(db), shm_locks = locks_on(db + "-shm");
  ASSERT_GT(db_locks + shm_locks, 0) << "an open WAL connection holds record locks";
  sniff(db);
  sniff(db + "-wal");
  sniff(db + "-shm");
  EXPECT_EQ(locks_on(db), db_locks) << "closing an unrelated descriptor of the store dropped its locks";
  EXPECT_EQ(locks_on(db + "-shm"), shm_locks) << "closing an unrelated descriptor of the -shm dropped its locks";
}

// The workbench's situation: a recorder writing a run, a reader (run browser) open, a dialog
// sniffing the folder, then the CLI and the sqlite3 shell open and close the same store.
TEST(StoreShared, RecordingSurvivesOtherClientsAfterADialogSniffedTheFolder) {
  test::TempDir dir;
  const std::string db = dir.file("runs.db");
  auto browser = RunStore::open(db);
  ASSERT_TRUE(browser) << browser.error().message;
  auto rec = RunRecorder::open(db);
  ASSERT_TRUE(rec) << rec.error().message;
  const int64_t run = (*rec)->begin_run(test::test_run_info("shared"));
  ASSERT_GT(run, 0);

  long step = 0;
  auto record_rounds = [&](int rounds) {
    for (int r = 0; r < rounds; ++r) {
      std::vector<MetricPoint> pts;
      for (int i = 0; i < 50; ++i, ++step) pts.push_back(test::point(metric::kTrainLoss, step, 5.0 - step * 1e-3, 0));
      (*rec)->on_metrics(pts);
      ASSERT_TRUE((*rec)->flush());
    }
  };
  record_rounds(4);
  ASSERT_TRUE((*browser)->list_runs());
  ASSERT_TRUE(fs::exists(db + "-wal"));

  for (const auto& entry : fs::directory_iterator(dir.path())) sniff(entry.path().string());
  for (auto& client : other_clients(db)) {
    ASSERT_EQ(run_process(client), 0) << client[0];
    EXPECT_TRUE(fs::exists(db + "-wal")) << client[0] << " deleted the -wal file under a process that has it open";
    EXPECT_TRUE(fs::exists(db + "-shm")) << client[0] << " deleted the -shm file under a process that has it open";
    record_rounds(2);
    // The reader follows what the writer commits after the other client came and went.
    auto summary = (*browser)->get_summary(run);
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->last_step, step - 1);
  }
  record_rounds(2);
  (*rec)->on_run_finished(RunStatus::Finished, "");
  rec->reset();
  browser->reset();

  auto reopened = RunStore::open(db);
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto summary = (*reopened)->get_summary(run);
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->run.status, "finished");
  EXPECT_EQ(summary->last_step, step - 1) << "rows recorded after the other clients ran were lost";
  auto series = (*reopened)->read_series(run, metric::kTrainLoss, 0, 0, step);
  ASSERT_TRUE(series);
  EXPECT_EQ(static_cast<long>(series->size()), step);
  reopened->reset();
  EXPECT_EQ(integrity(db), "ok\n");
}

#if defined(FOMOE_CLI) && defined(FOMOE_STORE_CRASH_WRITER)
// Everything the CLI does on the same store while this process records: list, show, export,
// delete another run, and another process recording its own run until it is SIGKILLed (a
// crashed window). Nothing of this process's run is lost, the killed writer's flushed rounds are
// kept and its run is marked interrupted, the deleted run is gone, the file is intact.
TEST(StoreShared, EveryClientAtOnceLosesNothing) {
  test::TempDir dir;
  const std::string db = dir.file("runs.db");
  int64_t doomed = -1;
  {
    auto rec = RunRecorder::open(db);
    ASSERT_TRUE(rec);
    doomed = (*rec)->begin_run(test::test_run_info("to-delete"));
    (*rec)->on_metrics({test::point(metric::kTrainLoss, 1, 5.0, 0)});
    (*rec)->on_run_finished(RunStatus::Finished, "");
  }
  auto rec = RunRecorder::open(db);
  ASSERT_TRUE(rec);
  const int64_t run = (*rec)->begin_run(test::test_run_info("kept"));
  long step = 0;
  auto record = [&](int n) {
    std::vector<MetricPoint> pts;
    for (int i = 0; i < n; ++i, ++step) pts.push_back(test::point(metric::kTrainLoss, step, 4.0, 0));
    (*rec)->on_metrics(pts);
    ASSERT_TRUE((*rec)->flush());
  };
  record(100);

  // Another recording process, left running while the CLI works, then killed.
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::string writer = FOMOE_STORE_CRASH_WRITER;
  char* wargv[] = {writer.data(), const_cast<char*>(db.c_str()), nullptr};
  pid_t wpid = 0;
  ASSERT_EQ(posix_spawn(&wpid, writer.c_str(), &actions, nullptr, wargv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  FILE* lines = fdopen(out[0], "r");
  ASSERT_NE(lines, nullptr);
  char line[128];
  int64_t other = -1;
  int other_round = -1;
  while (other_round < 3 && fgets(line, sizeof line, lines)) {
    if (std::string(line).rfind("run ", 0) == 0) other = std::stoll(line + 4);
    else other_round = std::atoi(line);
  }
  ASSERT_GT(other, 0);

  const std::string csv = dir.file("kept.csv");
  for (auto args : std::vector<std::vector<std::string>>{
           {FOMOE_CLI, "runs", "list", "--db", db},
           {FOMOE_CLI, "runs", "show", std::to_string(run), "--db", db},
           {"sh", "-c", std::string(FOMOE_CLI) + " runs export " + std::to_string(run) + " --format csv --db " + db + " > " + csv},
           {FOMOE_CLI, "runs", "delete", std::to_string(doomed), "--yes", "--db", db},
           {"sqlite3", db, "PRAGMA wal_checkpoint(PASSIVE);"}}) {
    ASSERT_EQ(run_process(args), 0) << args[0] << " " << args[1];
    record(50);
  }
  kill(wpid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(wpid, &status, 0), wpid);
  fclose(lines);
  record(50);
  (*rec)->on_run_finished(RunStatus::Finished, "");
  rec->reset();

  auto store = RunStore::open(db);  // marks the killed writer's run interrupted
  ASSERT_TRUE(store) << store.error().message;
  auto kept = (*store)->read_series(run, metric::kTrainLoss, 0, 0, step);
  ASSERT_TRUE(kept);
  EXPECT_EQ(static_cast<long>(kept->size()), step) << "rows of the recording process were lost";
  auto killed = (*store)->get_summary(other);
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->run.status, "interrupted");
  EXPECT_GE(killed->last_step, 3 * 10) << "the killed writer's flushed rounds were lost";
  EXPECT_FALSE((*store)->get_run(doomed)) << "the deleted run is still there";
  std::ifstream exported(csv);
  std::string text((std::istreambuf_iterator<char>(exported)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("train/loss"), std::string::npos) << text.substr(0, 300);
  store->reset();
  EXPECT_EQ(integrity(db), "ok\n");
}
#endif

}  // namespace
}  // namespace fomoe
