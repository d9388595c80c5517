#include <unistd.h>

#include <set>

#include "schema.h"
#include "store_internal.h"

namespace fomoe::store_detail {

namespace {
const char* kInsertSql[] = {
    "INSERT INTO metrics(run_id, round, step, site, name_id, value, wall_time) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO links(run_id, round, site, direction, msg_type, bytes, seconds) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO placement(run_id, round, layer, expert, site) VALUES(?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO expert_load(run_id, round, site, layer, expert, tokens) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO events(run_id, time, site, kind, text) VALUES(?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO checkpoints(run_id, round, step, path) VALUES(?1, ?2, ?3, ?4)",
    "UPDATE runs SET status = ?2, message = ?3, finished_at = ?4 WHERE id = ?1",
    "INSERT OR IGNORE INTO metric_names(name) VALUES(?1)",
    "SELECT id FROM metric_names WHERE name = ?1",
    "DELETE FROM placement WHERE run_id = ?1 AND round = ?2",
    "INSERT INTO samples(run_id, round, step, prompt_index, prompt, text, ended) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};
}  // namespace

RowWriter::RowWriter(Db& db) : db_(db) {}

Stmt& RowWriter::prepared(int index, const char* sql) {
  if (!stmts_[index].ok()) stmts_[index] = Stmt(db_, sql);
  return stmts_[index];
}

#define FOMOE_PREPARE_(var, index, what)                                   \
  Stmt& var = prepared(index, kInsertSql[index]);                          \
  if (!var.ok()) return db_.error(var.prepare_rc(), "preparing " what)

Expected<int64_t> RowWriter::name_id(const std::string& name) {
  auto it = name_ids_.find(name);
  if (it != name_ids_.end()) return it->second;
  FOMOE_PREPARE_(ins, 7, "the metric name insert");
  FOMOE_PREPARE_(sel, 8, "the metric name lookup");
  ins.bind(1, name);
  Status s = run_stmt(db_, ins, "registering metric name " + name);
  if (!s) return s.error();
  sel.bind(1, name);
  int rc = sel.step();
  if (rc != SQLITE_ROW) {
    Error e = db_.error(rc == SQLITE_DONE ? SQLITE_INTERNAL : rc, "looking up metric name " + name);
    sel.reset();
    return e;
  }
  const int64_t id = sel.col_int(0);
  sel.reset();
  name_ids_.emplace(name, id);
  return id;
}

Status RowWriter::metrics(int64_t run, const std::vector<MetricPoint>& points) {
  FOMOE_PREPARE_(st, 0, "the metrics insert");
  const std::string* last_name = nullptr;
  int64_t last_id = 0;
  for (const MetricPoint& p : points) {
    if (!last_name || *last_name != p.name) {
      auto id = name_id(p.name);
      if (!id) return id.error();
      last_name = &p.name;
      last_id = *id;
    }
    st.bind(1, run).bind(2, p.round).bind(3, static_cast<int64_t>(p.step)).bind(4, p.site);
    st.bind(5, last_id).bind(6, p.value).bind(7, p.wall_time);
    Status s = run_stmt(db_, st, "writing metric rows");
    if (!s) return s;
    rollup_.add(run, p.name, p.site, p.step, p.value);
  }
  return Status::ok();
}

Status RowWriter::links(int64_t run, const std::vector<LinkBytes>& links) {
  FOMOE_PREPARE_(st, 1, "the links insert");
  for (const LinkBytes& l : links) {
    st.bind(1, run).bind(2, l.round).bind(3, l.site).bind(4, direction_name(l.direction));
    st.bind(5, l.msg_type).bind(6, l.bytes).bind(7, l.seconds);
    Status s = run_stmt(db_, st, "writing link rows");
    if (!s) return s;
  }
  return Status::ok();
}

Status RowWriter::placement(int64_t run, const std::vector<PlacementEntry>& entries) {
  FOMOE_PREPARE_(st, 2, "the placement insert");
  FOMOE_PREPARE_(del, 9, "the placement delete");
  // A plan replaces the one recorded for the same round (a resumed run publishes it again).
  std::set<int> rounds;
  for (const PlacementEntry& e : entries) rounds.insert(e.round);
  for (int round : rounds) {
    del.bind(1, run).bind(2, round);
    Status s = run_stmt(db_, del, "replacing placement rows");
    if (!s) return s;
  }
  for (const PlacementEntry& e : entries) {
    st.bind(1, run).bind(2, e.round).bind(3, e.layer).bind(4, e.expert).bind(5, e.site);
    Status s = run_stmt(db_, st, "writing placement rows");
    if (!s) return s;
  }
  return Status::ok();
}

Status RowWriter::expert_load(int64_t run, const std::vector<ExpertLoadEntry>& entries) {
  FOMOE_PREPARE_(st, 3, "the expert load insert");
  for (const ExpertLoadEntry& e : entries) {
    st.bind(1, run).bind(2, e.round).bind(3, e.site).bind(4, e.layer).bind(5, e.expert).bind(6, e.tokens);
    Status s = run_stmt(db_, st, "writing expert load rows");
    if (!s) return s;
  }
  return Status::ok();
}

Status RowWriter::event(int64_t run, const RunEvent& e) {
  FOMOE_PREPARE_(st, 4, "the events insert");
  st.bind(1, run).bind(2, e.time).bind(3, e.site).bind(4, e.kind).bind(5, e.text);
  return run_stmt(db_, st, "writing an event row");
}

Status RowWriter::checkpoint(int64_t run, const CheckpointEntry& c) {
  FOMOE_PREPARE_(st, 5, "the checkpoints insert");
  st.bind(1, run).bind(2, c.round).bind(3, static_cast<int64_t>(c.step)).bind(4, c.path);
  return run_stmt(db_, st, "writing a checkpoint row");
}

Status RowWriter::samples(int64_t run, const std::vector<SampleEntry>& samples) {
  FOMOE_PREPARE_(st, 10, "the samples insert");
  for (const SampleEntry& e : samples) {
    st.bind(1, run).bind(2, e.round).bind(3, static_cast<int64_t>(e.step)).bind(4, e.prompt_index);
    st.bind(5, e.prompt).bind(6, e.text).bind(7, static_cast<int64_t>(e.ended ? 1 : 0));
    Status s = run_stmt(db_, st, "writing sample rows");
    if (!s) return s;
  }
  return Status::ok();
}

Status RowWriter::finish_run(int64_t run, RunStatus status, const std::string& message, double finished_at) {
  FOMOE_PREPARE_(st, 6, "the run status update");
  st.bind(1, run).bind(2, run_status_name(status)).bind(3, message).bind(4, finished_at);
  Status s = run_stmt(db_, st, "marking run " + std::to_string(run) + " " + run_status_name(status));
  if (!s) return s;
  s = finish_batch();  // the summary reads this batch's rollups
  if (!s) return s;
  return cache_summary(db_, run);
}

Status RowWriter::resume(int64_t run, int from_round) {
  const std::string what = "dropping rounds >= " + std::to_string(from_round) + " of run " + std::to_string(run);
  Status s = finish_batch();  // earlier metric rows of this batch reach the rollups before the rebuild
  if (!s) return s;
  int64_t metrics_dropped = 0;
  for (const char* table : {"metrics", "links", "placement", "expert_load", "checkpoints", "samples"}) {
    Stmt del(db_, (std::string("DELETE FROM ") + table + " WHERE run_id = ?1 AND round >= ?2").c_str());
    if (!del.ok()) return db_.error(del.prepare_rc(), what);
    del.bind(1, run).bind(2, from_round);
    s = run_stmt(db_, del, what + " (" + table + ")");
    if (!s) return s;
    if (table == std::string("metrics")) metrics_dropped = sqlite3_changes(db_.handle());
  }
  if (metrics_dropped > 0) {
    s = rebuild_rollups(db_, run);
    if (!s) return s;
  }
  Stmt inv(db_, "UPDATE runs SET summary_valid = 0 WHERE id = ?1");
  if (!inv.ok()) return db_.error(inv.prepare_rc(), what);
  inv.bind(1, run);
  return run_stmt(db_, inv, "invalidating the summary of run " + std::to_string(run));
}

#undef FOMOE_PREPARE_

Status RowWriter::finish_batch() {
  Status s = rollup_.write(db_);
  rollup_.clear();
  return s;
}

void RowWriter::discard_batch() {
  rollup_.clear();
  name_ids_.clear();  // names inserted by the rolled-back transaction are gone
}

Status cache_summary(Db& db, int64_t run) {
  Stmt st(db, summary_update_sql().c_str());
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the summary update");
  st.bind(1, run);
  return run_stmt(db, st, "caching the summary of run " + std::to_string(run));
}

Expected<int64_t> insert_run(Db& db, const RunInfo& info) {
  Stmt st(db,
          "INSERT INTO runs(name, method, config_text, git_revision, n_sites, started_at, status, writer_pid, "
          "writer_host) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8)");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the run insert");
  st.bind(1, info.name).bind(2, info.method).bind(3, info.config_text).bind(4, info.git_revision);
  st.bind(5, info.n_sites).bind(6, unix_now()).bind(7, static_cast<int64_t>(getpid())).bind(8, host_name());
  Status s = run_stmt(db, st, "creating the run row for '" + info.name + "'");
  if (!s) return s.error();
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db.handle()));
}

Status reopen_run(Db& db, int64_t run) {
  const std::string id = std::to_string(run);
  Status s = db.exec("BEGIN IMMEDIATE", "starting to resume run " + id);
  if (!s) return s;
  auto fail = [&](Error e) {
    (void)db.exec("ROLLBACK", "rolling back");
    return Status(std::move(e));
  };
  {
    Stmt st(db, "SELECT status, writer_pid, writer_host FROM runs WHERE id = ?1");
    if (!st.ok()) return fail(db.error(st.prepare_rc(), "reading run " + id));
    st.bind(1, run);
    const int rc = st.step();
    if (rc == SQLITE_DONE) {
      return fail(make_error(ErrorCode::NotFound, "no run with id " + id + " in " + db.path() +
                                                      " to resume; `fomoe runs list --db " + db.path() +
                                                      "` shows the ids"));
    }
    if (rc != SQLITE_ROW) return fail(db.error(rc, "reading run " + id));
    const std::string status = st.col_text(0);
    const int64_t pid = st.col_int(1);
    const std::string host = st.col_text(2);
    // Only a run still marked running can have a writer: a finished run's pid may since belong
    // to anything (the workbench that recorded it, still open; a reused pid).
    if (status == "running") {
      const std::string who = "pid " + std::to_string(pid) + " on " + host;
      switch (writer_liveness(pid, host)) {
        case WriterLiveness::Alive:
          return fail(make_error(ErrorCode::Busy, "run " + id + " is still being written by " + who +
                                                      "; stop that process (kill -INT " + std::to_string(pid) +
                                                      ") or let it finish, then resume"));
        case WriterLiveness::OtherHost:
          return fail(make_error(ErrorCode::Busy, "run " + id + " is marked running by " + who +
                                                      ", another machine, and this one cannot tell whether "
                                                      "that writer is alive; resume it on " + host));
        case WriterLiveness::Unrecorded:
        case WriterLiveness::Self:
        case WriterLiveness::Dead: break;
      }
    }
  }
  Stmt up(db,
          "UPDATE runs SET status = 'running', finished_at = NULL, message = '', summary_valid = 0, "
          "writer_pid = ?2, writer_host = ?3 WHERE id = ?1");
  if (!up.ok()) return fail(db.error(up.prepare_rc(), "resuming run " + id));
  up.bind(1, run).bind(2, static_cast<int64_t>(getpid())).bind(3, host_name());
  s = run_stmt(db, up, "marking run " + id + " running again");
  if (!s) return fail(s.error());
  s = db.exec("COMMIT", "committing the resume of run " + id);
  if (!s) return fail(s.error());
  return Status::ok();
}

}  // namespace fomoe::store_detail
