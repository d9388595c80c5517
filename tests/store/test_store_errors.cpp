// Locked, read-only, full and unreachable stores give errors that name the file and what to do;
// nothing already recorded is lost.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#include "store_test_util.h"

namespace fomoe {
namespace {

using test::point;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Holds the write lock of a database from a second connection while alive.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    sqlite3_open(path.c_str(), &db_);
    rc_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  }
  ~WriteLock() { release(); }
  void release() {
    if (db_) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db_);
      db_ = nullptr;
    }
  }
  bool held() const { return rc_ == SQLITE_OK; }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

TEST(StoreErrors, LockedDatabaseIsBusyAndRecorderKeepsRows) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  StoreOptions fast_fail;
  fast_fail.busy_timeout_ms = 50;
  RecorderOptions ropt;
  ropt.store = fast_fail;
  ropt.retry_interval = std::chrono::milliseconds(20);
  auto rec = RunRecorder::open(path, ropt);
  ASSERT_TRUE(rec) << rec.error().message;
  const int64_t id = (*rec)->begin_run(test::test_run_info("locked"));
  ASSERT_GT(id, 0);
  (*rec)->on_metrics({point(metric::kTrainLoss, 0, 1.0)});
  ASSERT_TRUE((*rec)->flush());

  WriteLock lock(path);
  ASSERT_TRUE(lock.held());
  auto store = RunStore::open(path, fast_fail);
  ASSERT_TRUE(store) << store.error().message;  // reading works under WAL
  Status s = (*store)->set_tags(id, "x");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::Busy);
  EXPECT_TRUE(contains(s.error().message, path)) << s.error().message;
  EXPECT_TRUE(contains(s.error().message, "locked")) << s.error().message;
  EXPECT_EQ((*rec)->begin_run(test::test_run_info("second")), -1);
  EXPECT_EQ((*rec)->last_error().error().code, ErrorCode::Busy);

  (*rec)->on_metrics({point(metric::kTrainLoss, 1, 2.0), point(metric::kTrainLoss, 2, 3.0)});
  s = (*rec)->flush();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::Busy);
  EXPECT_EQ((*rec)->pending_rows(), 2u);  // kept in memory, not dropped

  lock.release();
  EXPECT_TRUE((*rec)->flush());  // retried and committed
  EXPECT_EQ((*rec)->pending_rows(), 0u);
  EXPECT_TRUE((*rec)->last_error());
  EXPECT_EQ((*store)->read_series(id, metric::kTrainLoss, -1, 0, 10)->size(), 3u);
}

TEST(StoreErrors, FullDiskKeepsEarlierRows) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  { ASSERT_TRUE(RunStore::open(path)); }  // create the schema without a limit
  RecorderOptions ropt;
  ropt.store.max_page_count = 40;  // ~160 kB: a tiny "disk"
  ropt.retry_interval = std::chrono::milliseconds(10);
  ropt.final_drain_attempts = 1;
  int64_t id;
  {
    auto rec = RunRecorder::open(path, ropt);
    ASSERT_TRUE(rec) << rec.error().message;
    id = (*rec)->begin_run(test::test_run_info("full"));
    ASSERT_GT(id, 0);
    std::vector<MetricPoint> pts;
    for (long i = 0; i < 50; ++i) pts.push_back(point(metric::kTrainLoss, i, 1.0 + i));
    (*rec)->on_metrics(pts);
    ASSERT_TRUE((*rec)->flush());
    pts.clear();
    for (long i = 50; i < 50000; ++i) pts.push_back(point(metric::kTrainLoss, i, 1.0 + i));
    (*rec)->on_metrics(pts);
    Status s = (*rec)->flush();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::Io);
    EXPECT_TRUE(contains(s.error().message, path)) << s.error().message;
    EXPECT_TRUE(contains(s.error().message, "full")) << s.error().message;
    EXPECT_TRUE(contains(s.error().message, "free disk space")) << s.error().message;
    EXPECT_FALSE((*rec)->last_error());
    EXPECT_EQ((*rec)->pending_rows(), 49950u);
  }
  auto store = RunStore::open(path);
  ASSERT_TRUE(store) << store.error().message;
  auto series = (*store)->read_series(id, metric::kTrainLoss, -1, 0, 100000);
  ASSERT_TRUE(series);
  ASSERT_EQ(series->size(), 50u);  // every row committed before the error is there
  EXPECT_DOUBLE_EQ(series->back().value, 50.0);
  EXPECT_EQ((*store)->get_run(id)->name, "full");
}

TEST(StoreErrors, ReadOnlyConnectionRefusesWrites) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  { ASSERT_TRUE(RunStore::open(path)); }
  StoreOptions ro;
  ro.read_only = true;
  auto store = RunStore::open(path, ro);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_TRUE((*store)->list_runs());
  Status s = (*store)->set_tags(1, "x");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::Io);
  EXPECT_TRUE(contains(s.error().message, "read-only")) << s.error().message;
  EXPECT_TRUE(contains(s.error().message, path)) << s.error().message;
}

TEST(StoreErrors, ReadOnlyFileAndDirectory) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  { ASSERT_TRUE(RunStore::open(path)); }
  chmod(path.c_str(), 0444);
  auto store = RunStore::open(path);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::Io);
  EXPECT_TRUE(contains(store.error().message, "read-only")) << store.error().message;
  EXPECT_TRUE(contains(store.error().message, "chmod u+w " + path)) << store.error().message;
  chmod(dir.path().c_str(), 0555);
  auto fresh = RunStore::open(dir.file("new.db"));
  chmod(dir.path().c_str(), 0755);
  ASSERT_FALSE(fresh);
  EXPECT_TRUE(contains(fresh.error().message, "read-only")) << fresh.error().message;
}

TEST(StoreErrors, UncreatableDirectoryNamesThePath) {
  test::TempDir dir;
  { std::ofstream(dir.file("a_file")) << "x"; }
  const std::string path = dir.file("a_file/sub/runs.db");
  auto store = RunStore::open(path);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::Io);
  EXPECT_TRUE(contains(store.error().message, "cannot create directory")) << store.error().message;
  EXPECT_TRUE(contains(store.error().message, path)) << store.error().message;
}

}  // namespace
}  // namespace fomoe
