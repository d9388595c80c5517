// Schema creation, forward migration v1 -> v2, and refusal of newer or foreign files.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "fomoe/store/run_store.h"
#include "store_test_util.h"

namespace fomoe {
namespace {

// Raw SQL helper on a separate connection (the store under test is not involved).
void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
  std::string err = msg ? msg : "";
  sqlite3_free(msg);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << err;
}

int64_t raw_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

TEST(StoreSchema, FreshStoreHasEveryTableAndCurrentVersion) {
  test::TempDir dir;
  const std::string path = dir.file("sub/dir/runs.db");  // parent dirs are created
  auto store = RunStore::open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->schema_version(), kStoreSchemaVersion);
  store->reset();
  EXPECT_EQ(raw_int(path, "PRAGMA user_version"), kStoreSchemaVersion);
  for (const char* table : {"runs", "metrics", "links", "placement", "expert_load", "events", "checkpoints",
                            "metric_rollup", "metric_names"}) {
    EXPECT_EQ(raw_int(path, std::string("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='") +
                                table + "'"),
              1)
        << table;
  }
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type='index' AND name='metrics_series'"), 1);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN ('tags','message')"), 2);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// The v1 schema exactly as an old build wrote it (a frozen fixture, deliberately not shared with
// the store's own copy).
const char* kV1Fixture = R"sql(
CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, method TEXT NOT NULL,
  config_text TEXT NOT NULL DEFAULT '', git_revision TEXT NOT NULL DEFAULT '', n_sites INTEGER NOT NULL DEFAULT 1,
  started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL);
CREATE TABLE metrics(run_id INTEGER NOT NULL, round INTEGER NOT NULL, step INTEGER NOT NULL, site INTEGER NOT NULL,
  name TEXT NOT NULL, value REAL, wall_time REAL NOT NULL);
CREATE INDEX metrics_run ON metrics(run_id);
CREATE TABLE links(run_id INTEGER NOT NULL, round INTEGER NOT NULL, site INTEGER NOT NULL, direction TEXT NOT NULL,
  msg_type TEXT NOT NULL, bytes INTEGER NOT NULL, seconds REAL NOT NULL);
CREATE INDEX links_run ON links(run_id);
CREATE TABLE placement(run_id INTEGER NOT NULL, round INTEGER NOT NULL, layer INTEGER NOT NULL,
  expert INTEGER NOT NULL, site INTEGER NOT NULL);
CREATE INDEX placement_run ON placement(run_id, round);
CREATE TABLE expert_load(run_id INTEGER NOT NULL, round INTEGER NOT NULL, site INTEGER NOT NULL,
  layer INTEGER NOT NULL, expert INTEGER NOT NULL, tokens INTEGER NOT NULL);
CREATE INDEX expert_load_run ON expert_load(run_id, round);
CREATE TABLE events(run_id INTEGER NOT NULL, time REAL NOT NULL, site INTEGER NOT NULL, kind TEXT NOT NULL,
  text TEXT NOT NULL DEFAULT '');
CREATE INDEX events_run ON events(run_id);
CREATE TABLE checkpoints(run_id INTEGER NOT NULL, round INTEGER NOT NULL, step INTEGER NOT NULL, path TEXT NOT NULL);
CREATE INDEX checkpoints_run ON checkpoints(run_id);
PRAGMA user_version = 1;
)sql";

TEST(StoreSchema, MigratesV1AndKeepsRows) {
  test::TempDir dir;
  const std::string path = dir.file("old.db");
  raw_exec(path, kV1Fixture);
  std::string rows =
      "BEGIN; INSERT INTO runs(name, method, config_text, n_sites, started_at, finished_at, status) VALUES"
      " ('old-run', 'diloco', '[a]\nb = 1\n', 2, 1000.0, 2000.0, 'finished');"
      "INSERT INTO links VALUES (1, 0, 0, 'sent', 'pseudo_grad', 500, 0.5), (1, 0, 1, 'received', 'update', 700, 0.2);"
      "INSERT INTO events VALUES (1, 1.5, -1, 'round_started', 'r0');"
      "INSERT INTO placement VALUES (1, 0, 0, 3, 1);"
      "INSERT INTO expert_load VALUES (1, 0, 1, 0, 3, 1234);"
      "INSERT INTO checkpoints VALUES (1, 0, 100, '/ck/100.pt');";
  for (int step = 0; step < 300; ++step) {
    rows += "INSERT INTO metrics VALUES (1, " + std::to_string(step / 100) + ", " + std::to_string(step) +
            ", 0, 'train/loss', " + std::to_string(5.0 - step * 0.01) + ", " + std::to_string(step) + ".0);";
  }
  rows += "INSERT INTO metrics VALUES (1, 2, 299, -1, 'eval/loss', 2.5, 299.0), (1, 1, 150, -1, 'eval/loss', 2.25, 150.0); COMMIT;";
  raw_exec(path, rows);

  auto store = RunStore::open(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->schema_version(), kStoreSchemaVersion);
  auto run = (*store)->get_run(1);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->name, "old-run");
  EXPECT_EQ(run->method, "diloco");
  EXPECT_EQ(run->status, "finished");
  EXPECT_EQ(run->tags, "");
  ASSERT_TRUE((*store)->set_tags(1, "migrated"));  // the v2 column works
  EXPECT_EQ((*store)->get_run(1)->tags, "migrated");

  auto series = (*store)->read_series(1, "train/loss", 0, 0, 1000);
  ASSERT_TRUE(series);
  ASSERT_EQ(series->size(), 300u);
  EXPECT_DOUBLE_EQ(series->back().value, 5.0 - 299 * 0.01);
  // Rollups were built by the migration, so the fast path matches the raw GROUP BY.
  auto fast = (*store)->downsample(1, "train/loss", 0, 0, 299, 4);
  auto exact = (*store)->downsample_exact(1, "train/loss", 0, 0, 299, 4);
  ASSERT_TRUE(fast && exact);
  ASSERT_EQ(fast->size(), exact->size());
  for (size_t i = 0; i < fast->size(); ++i) {
    EXPECT_EQ((*fast)[i].count, (*exact)[i].count);
    EXPECT_DOUBLE_EQ((*fast)[i].last, (*exact)[i].last);
  }
  auto summary = (*store)->get_summary(1);
  ASSERT_TRUE(summary);
  ASSERT_TRUE(summary->final_train_loss);
  EXPECT_NEAR(*summary->final_train_loss, 5.0 - 299 * 0.01, 1e-9);
  EXPECT_DOUBLE_EQ(*summary->final_eval_loss, 2.5);
  EXPECT_DOUBLE_EQ(*summary->best_eval_loss, 2.25);
  EXPECT_EQ(summary->total_bytes, 1200);
  EXPECT_EQ((*store)->events(1)->size(), 1u);
  EXPECT_EQ((*store)->placement(1)->size(), 1u);
  EXPECT_EQ((*store)->expert_load(1)->at(0).tokens, 1234);
  EXPECT_EQ((*store)->checkpoints(1)->at(0).path, "/ck/100.pt");
  store->reset();
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name='metrics_run'"), 0);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name='metrics_series'"), 1);
}

TEST(StoreSchema, NewerSchemaIsUnsupported) {
  test::TempDir dir;
  const std::string path = dir.file("future.db");
  raw_exec(path, "CREATE TABLE runs(id INTEGER); PRAGMA user_version = 99;");
  auto store = RunStore::open(path);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::Unsupported);
  EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
}

TEST(StoreSchema, GarbageFileIsCorrupt) {
  test::TempDir dir;
  const std::string path = dir.file("garbage.db");
  {
    std::ofstream f(path, std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>(rng() & 0xff));
  }
  auto store = RunStore::open(path);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::Corrupt);
  const std::string& m = store.error().message;
  EXPECT_NE(m.find(path + " is not a FoMoE run store or is corrupt"), std::string::npos) << m;
  EXPECT_NE(m.find("move it aside"), std::string::npos) << m;
}

TEST(StoreSchema, ForeignSqliteFileIsRefused) {
  test::TempDir dir;
  const std::string path = dir.file("other.db");
  raw_exec(path, "CREATE TABLE photos(id INTEGER, jpeg BLOB);");
  auto store = RunStore::open(path);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::Corrupt);
  EXPECT_NE(store.error().message.find("not a FoMoE run store"), std::string::npos);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name='runs'"), 0);  // untouched
}

TEST(StoreSchema, DefaultPathFollowsXdg) {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  std::string saved = old_xdg ? old_xdg : "";
  setenv("XDG_DATA_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(default_db_path(), "/tmp/xdg-test/fomoe/runs.db");
  unsetenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  EXPECT_EQ(default_db_path(), std::string(home ? home : ".") + "/.local/share/fomoe/runs.db");
  if (old_xdg) setenv("XDG_DATA_HOME", saved.c_str(), 1);
}

}  // namespace
}  // namespace fomoe
