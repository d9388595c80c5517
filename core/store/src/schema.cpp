// The one file with the run store's SQL schema and its forward migrations.
//
// v1: runs without tags/message/writer columns; metrics indexed by run only.
// v2: runs.tags, runs.message, runs.writer_pid, runs.writer_host (crash detection), runs.summary_*
//     (cached summary of finished runs); metric names interned in metric_names (metrics.name_id: a
//     smaller row and integer index keys, ~15% faster inserts); metrics indexed by
//     (run_id, name_id, site, step) for range reads; metric_rollup (downsampling).
// v3: samples (the global model's continuations of the fixed prompts after each evaluation).
#include "schema.h"

#include <string>

#include "fomoe/base/metric_names.h"
#include "fomoe/store/run_store.h"
#include "rollup.h"

namespace fomoe::store_detail {

namespace {

const char* kSchemaV1 = R"sql(
CREATE TABLE runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  method TEXT NOT NULL,
  config_text TEXT NOT NULL DEFAULT '',
  git_revision TEXT NOT NULL DEFAULT '',
  n_sites INTEGER NOT NULL DEFAULT 1,
  started_at REAL NOT NULL,
  finished_at REAL,
  status TEXT NOT NULL);
CREATE TABLE metrics(
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, step INTEGER NOT NULL, site INTEGER NOT NULL,
  name TEXT NOT NULL, value REAL, wall_time REAL NOT NULL);
CREATE INDEX metrics_run ON metrics(run_id);
CREATE TABLE links(
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, site INTEGER NOT NULL, direction TEXT NOT NULL,
  msg_type TEXT NOT NULL, bytes INTEGER NOT NULL, seconds REAL NOT NULL);
CREATE INDEX links_run ON links(run_id);
CREATE TABLE placement(
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, layer INTEGER NOT NULL, expert INTEGER NOT NULL,
  site INTEGER NOT NULL);
CREATE INDEX placement_run ON placement(run_id, round);
CREATE TABLE expert_load(
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, site INTEGER NOT NULL, layer INTEGER NOT NULL,
  expert INTEGER NOT NULL, tokens INTEGER NOT NULL);
CREATE INDEX expert_load_run ON expert_load(run_id, round);
CREATE TABLE events(
  run_id INTEGER NOT NULL, time REAL NOT NULL, site INTEGER NOT NULL, kind TEXT NOT NULL,
  text TEXT NOT NULL DEFAULT '');
CREATE INDEX events_run ON events(run_id);
CREATE TABLE checkpoints(
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, step INTEGER NOT NULL, path TEXT NOT NULL);
CREATE INDEX checkpoints_run ON checkpoints(run_id);
PRAGMA user_version = 1;
)sql";

const char* kMigrateV1ToV2 = R"sql(
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN message TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN writer_pid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN writer_host TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN summary_valid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN summary_train REAL;
ALTER TABLE runs ADD COLUMN summary_eval REAL;
ALTER TABLE runs ADD COLUMN summary_best_eval REAL;
ALTER TABLE runs ADD COLUMN summary_bytes INTEGER;
ALTER TABLE runs ADD COLUMN summary_last_step INTEGER;
CREATE INDEX runs_status ON runs(status);
CREATE TABLE metric_names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO metric_names(name) SELECT DISTINCT name FROM metrics ORDER BY name;
CREATE TABLE metrics_v2(
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, step INTEGER NOT NULL, site INTEGER NOT NULL,
  name_id INTEGER NOT NULL, value REAL, wall_time REAL NOT NULL);
INSERT INTO metrics_v2(run_id, round, step, site, name_id, value, wall_time)
  SELECT m.run_id, m.round, m.step, m.site, n.id, m.value, m.wall_time
  FROM metrics m JOIN metric_names n ON n.name = m.name ORDER BY m.rowid;
DROP TABLE metrics;
ALTER TABLE metrics_v2 RENAME TO metrics;
CREATE INDEX metrics_series ON metrics(run_id, name_id, site, step);
CREATE TABLE metric_rollup(
  run_id INTEGER NOT NULL, name TEXT NOT NULL, level INTEGER NOT NULL, site INTEGER NOT NULL,
  block INTEGER NOT NULL, step_first INTEGER NOT NULL, step_last INTEGER NOT NULL, n INTEGER NOT NULL,
  vmin REAL, vmax REAL, last_value REAL,
  PRIMARY KEY(run_id, name, level, site, block)) WITHOUT ROWID;
)sql";

const char* kMigrateV2ToV3 = R"sql(
CREATE TABLE samples(
  run_id INTEGER NOT NULL, round INTEGER NOT NULL, step INTEGER NOT NULL, prompt_index INTEGER NOT NULL,
  prompt TEXT NOT NULL, text TEXT NOT NULL, ended INTEGER NOT NULL DEFAULT 0);
CREATE INDEX samples_run ON samples(run_id, step);
PRAGMA user_version = 3;
)sql";

// Feeds `st`'s rows (run_id, name, site, step, value; series in step order, ties in insertion
// order) to a RollupBuilder, upserting every million rows.
Status build_rollups_from(Db& db, Stmt& st, const std::string& doing) {
  RollupBuilder builder;
  int64_t rows = 0;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    builder.add(st.col_int(0), st.col_text(1), static_cast<int>(st.col_int(2)), st.col_int(3), st.col_double(4));
    if (++rows % 1000000 == 0) {
      Status s = builder.write(db);
      if (!s) return s;
      builder.clear();
    }
  }
  if (rc != SQLITE_DONE) return db.error(rc, doing);
  return builder.write(db);
}

// Rebuilds metric_rollup from the raw rows (migration from v1, whose rows predate rollups).
Status build_rollups(Db& db) {
  const std::string doing = "reading metrics to build rollups";
  Stmt st(db, "SELECT m.run_id, n.name, m.site, m.step, m.value FROM metrics m JOIN metric_names n ON n.id = m.name_id "
              "ORDER BY m.run_id, n.name, m.site, m.step, m.rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), doing);
  return build_rollups_from(db, st, doing);
}

std::string summary_update_sql_for(const std::string& where) {
  std::vector<std::string> e = summary_exprs("runs.id");
  std::string sql = "UPDATE runs SET summary_valid = 1";
  for (size_t i = 0; i < e.size(); ++i) sql += std::string(", ") + kSummaryColumns[i] + " = " + e[i];
  return sql + " WHERE " + where;
}

Status migrate(Db& db, int from) {
  if (from < 1) {
    Status s = db.exec(kSchemaV1, "creating the schema (v1)");
    if (!s) return s;
  }
  if (from < 2) {
    Status s = db.exec(kMigrateV1ToV2, "migrating the schema from v1 to v2");
    if (!s) return s;
    s = build_rollups(db);
    if (!s) return s;
    s = db.exec(summary_update_sql_for("status != 'running'"), "computing run summaries");
    if (!s) return s;
    s = db.exec("PRAGMA user_version = 2", "migrating the schema from v1 to v2");
    if (!s) return s;
  }
  if (from < 3) {
    Status s = db.exec(kMigrateV2ToV3, "migrating the schema from v2 to v3");
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace

const char* schema_v1_sql() { return kSchemaV1; }

std::vector<std::string> summary_exprs(const std::string& run) {
  const std::string top = std::to_string(kRollupMaxShift);
  auto final_of = [&](const char* name) {
    return "(SELECT avg(r.last_value) FROM metric_rollup r WHERE r.run_id = " + run + " AND r.name = '" + name +
           "' AND r.level = " + top + " AND r.step_last = (SELECT max(step_last) FROM metric_rollup WHERE run_id = " +
           run + " AND name = '" + name + "' AND level = " + top + "))";
  };
  return {final_of(metric::kTrainLoss), final_of(metric::kEvalLoss),
          "(SELECT min(vmin) FROM metric_rollup WHERE run_id = " + run + " AND name = '" + metric::kEvalLoss +
              "' AND level = " + top + ")",
          "(SELECT total(bytes) FROM links WHERE run_id = " + run + ")",
          "(SELECT max(step_last) FROM metric_rollup WHERE run_id = " + run + " AND name = '" + metric::kTrainLoss +
              "' AND level = " + top + ")"};
}

std::string summary_update_sql() { return summary_update_sql_for("id = ?1"); }

Status rebuild_rollups(Db& db, int64_t run) {
  const std::string doing = "rebuilding the metric rollups of run " + std::to_string(run);
  Stmt del(db, "DELETE FROM metric_rollup WHERE run_id = ?1");
  if (!del.ok()) return db.error(del.prepare_rc(), doing);
  del.bind(1, run);
  Status s = run_stmt(db, del, doing);
  if (!s) return s;
  // (run_id, name_id, site, step, rowid) is the order of the metrics_series index: no sort.
  Stmt st(db, "SELECT m.run_id, n.name, m.site, m.step, m.value FROM metrics m JOIN metric_names n ON n.id = m.name_id "
              "WHERE m.run_id = ?1 ORDER BY m.name_id, m.site, m.step, m.rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), doing);
  st.bind(1, run);
  return build_rollups_from(db, st, doing);
}

Expected<int> apply_schema(Db& db, bool read_only) {
  auto version = db.query_int("PRAGMA user_version", "reading the schema version");
  if (!version) return version.error();
  const int v = static_cast<int>(*version);
  if (v > kStoreSchemaVersion) {
    return make_error(ErrorCode::Unsupported,
                      "run store " + db.path() + " has schema version " + std::to_string(v) +
                          ", newer than this build supports (" + std::to_string(kStoreSchemaVersion) +
                          "); use a newer fomoe build, or pass --db to use another file");
  }
  if (v == kStoreSchemaVersion) return v;
  if (v == 0) {
    auto n_tables = db.query_int("SELECT count(*) FROM sqlite_master", "inspecting the database");
    if (!n_tables) return n_tables.error();
    if (*n_tables > 0) {
      return make_error(ErrorCode::Corrupt, db.path() +
                                                " is not a FoMoE run store or is corrupt (it holds other "
                                                "tables and no schema version); move it aside (mv " +
                                                db.path() + " " + db.path() + ".bad) or pass --db");
    }
  }
  if (read_only) {
    return make_error(ErrorCode::Unsupported, "run store " + db.path() + " has schema version " +
                                                  std::to_string(v) + " and needs a migration to " +
                                                  std::to_string(kStoreSchemaVersion) +
                                                  "; open it once writable (any fomoe runs command without "
                                                  "read-only access) to migrate it");
  }
  Status s = db.exec("BEGIN IMMEDIATE", "starting the schema migration");
  if (!s) return s.error();
  // Re-check under the write lock: another process may have migrated meanwhile.
  auto again = db.query_int("PRAGMA user_version", "reading the schema version");
  if (!again) {
    (void)db.exec("ROLLBACK", "rolling back");
    return again.error();
  }
  s = migrate(db, static_cast<int>(*again));
  if (!s) {
    (void)db.exec("ROLLBACK", "rolling back the migration");
    return s.error();
  }
  s = db.exec("COMMIT", "committing the schema migration");
  if (!s) {
    (void)db.exec("ROLLBACK", "rolling back the migration");
    return s.error();
  }
  return kStoreSchemaVersion;
}

}  // namespace fomoe::store_detail
