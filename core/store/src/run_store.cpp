#include "fomoe/store/run_store.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>

#include "fomoe/base/metric_names.h"
#include "schema.h"
#include "store_internal.h"

namespace fomoe {

double RunRecord::seconds_since_start() const {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return std::max(0.0, now - started_at);
}

using store_detail::Db;
using store_detail::run_stmt;
using store_detail::Stmt;

struct RunStore::Impl {
  store_detail::OpenedDb opened;
  Db& db() { return *opened.db; }
};

std::string default_db_path() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/fomoe/runs.db";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/fomoe/runs.db";
}

int downsample_shift(int64_t lo, int64_t hi, int n_buckets) {
  if (n_buckets < 1) n_buckets = 1;
  if (hi < lo) return 0;
  int s = 0;
  while (s < 62 && (hi >> s) - (lo >> s) + 1 > n_buckets) ++s;
  return s;
}

const char* direction_name(Direction d) { return d == Direction::Sent ? "sent" : "received"; }

namespace {

const int kTop = store_detail::kRollupMaxShift;

Error not_found(const Db& db, int64_t run_id) {
  return make_error(ErrorCode::NotFound, "no run with id " + std::to_string(run_id) + " in " + db.path() +
                                             "; `fomoe runs list` shows the ids");
}

// Columns of runs used by RunRecord, in this order.
const char* kRunColumns =
    "id, name, method, config_text, git_revision, n_sites, started_at, finished_at, status, tags, message, "
    "writer_pid, writer_host";

RunRecord read_run(const Stmt& st, int c0 = 0) {
  RunRecord r;
  r.id = st.col_int(c0 + 0);
  r.name = st.col_text(c0 + 1);
  r.method = st.col_text(c0 + 2);
  r.config_text = st.col_text(c0 + 3);
  r.git_revision = st.col_text(c0 + 4);
  r.n_sites = static_cast<int>(st.col_int(c0 + 5));
  r.started_at = st.col_double(c0 + 6);
  if (!st.col_null(c0 + 7)) r.finished_at = st.col_double(c0 + 7);
  r.status = st.col_text(c0 + 8);
  r.tags = st.col_text(c0 + 9);
  r.message = st.col_text(c0 + 10);
  r.writer_pid = st.col_int(c0 + 11);
  r.writer_host = st.col_text(c0 + 12);
  return r;
}

// Summary columns: cached for runs whose summary is valid, else computed live (CASE is lazy).
std::string summary_sql(const std::string& run) {
  std::vector<std::string> live = store_detail::summary_exprs(run);
  std::string sql;
  for (size_t i = 0; i < live.size(); ++i) {
    if (i) sql += ", ";
    sql += std::string("CASE WHEN summary_valid THEN ") + store_detail::kSummaryColumns[i] + " ELSE " + live[i] + " END";
  }
  return sql;
}

void read_summary(const Stmt& st, int c0, RunSummary& s) {
  if (!st.col_null(c0 + 0)) s.final_train_loss = st.col_double(c0 + 0);
  if (!st.col_null(c0 + 1)) s.final_eval_loss = st.col_double(c0 + 1);
  if (!st.col_null(c0 + 2)) s.best_eval_loss = st.col_double(c0 + 2);
  s.total_bytes = static_cast<int64_t>(st.col_double(c0 + 3));
  s.last_step = st.col_null(c0 + 4) ? -1 : st.col_int(c0 + 4);
}

// Clips [lo, hi] to the series' first and last step; false when the series is empty.
Expected<bool> clip_range(Db& db, int64_t run, const std::string& name, int site, int64_t& lo, int64_t& hi) {
  Stmt st(db,
          "SELECT min(step_first), max(step_last) FROM metric_rollup WHERE run_id = ?1 AND name = ?2 AND "
          "level = ?3 AND site = ?4");
  if (!st.ok()) return db.error(st.prepare_rc(), "reading a series range");
  st.bind(1, run).bind(2, name).bind(3, kTop).bind(4, site);
  int rc = st.step();
  if (rc != SQLITE_ROW) return db.error(rc, "reading a series range");
  if (st.col_null(0)) return false;
  lo = std::max(lo, st.col_int(0));
  hi = std::min(hi, st.col_int(1));
  return lo <= hi;
}

// Raw GROUP BY buckets of 2^shift steps over [lo, hi], appended to out.
Status exact_buckets(Db& db, int64_t run, const std::string& name, int site, int64_t lo, int64_t hi, int shift,
                     std::vector<SeriesBucket>& out) {
  Stmt st(db,
          "WITH b AS (SELECT step >> ?6 AS bucket, min(step) AS f, max(step) AS l, count(*) AS n, "
          "min(value) AS mn, max(value) AS mx FROM metrics WHERE run_id = ?1 AND name_id = "
          "(SELECT id FROM metric_names WHERE name = ?2) AND site = ?3 AND "
          "step BETWEEN ?4 AND ?5 GROUP BY bucket) "
          "SELECT f, l, n, mn, mx, (SELECT value FROM metrics m WHERE m.run_id = ?1 AND m.name_id = "
          "(SELECT id FROM metric_names WHERE name = ?2) AND "
          "m.site = ?3 AND m.step = b.l ORDER BY m.rowid DESC LIMIT 1) FROM b ORDER BY bucket");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the downsampling query");
  st.bind(1, run).bind(2, name).bind(3, site).bind(4, lo).bind(5, hi).bind(6, shift);
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({st.col_int(0), st.col_int(1), st.col_int(2), st.col_double(3), st.col_double(4),
                   st.col_double(5)});
  }
  if (rc != SQLITE_DONE) return db.error(rc, "downsampling " + name);
  return Status::ok();
}

}  // namespace

RunStore::RunStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RunStore::~RunStore() = default;

Expected<std::unique_ptr<RunStore>> RunStore::open(const std::string& path, const StoreOptions& options) {
  auto opened = store_detail::open_database(path, options);
  if (!opened) return opened.error();
  auto impl = std::make_unique<Impl>();
  impl->opened = std::move(*opened);
  return std::unique_ptr<RunStore>(new RunStore(std::move(impl)));
}

const std::string& RunStore::path() const { return impl_->opened.db->path(); }
int RunStore::schema_version() const { return impl_->opened.schema_version; }
const std::vector<int64_t>& RunStore::interrupted_on_open() const { return impl_->opened.interrupted; }

Expected<int64_t> RunStore::data_version() {
  return impl_->db().query_int("PRAGMA data_version", "reading the store's data version");
}

Expected<std::vector<RunSummary>> RunStore::list_runs(const RunFilter& filter) {
  Db& db = impl_->db();
  const std::string sql =
      "SELECT id, name, method, '', git_revision, n_sites, started_at, finished_at, status, tags, message, "
      "writer_pid, writer_host, " +
      summary_sql("runs.id") +
      " FROM runs WHERE (?1 = '' OR method = ?1) AND (?2 = '' OR status = ?2) AND (?3 = '' OR instr(name, ?3) "
      "> 0) ORDER BY id DESC LIMIT ?4";
  Stmt st(db, sql.c_str());
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the run list query");
  st.bind(1, filter.method).bind(2, filter.status).bind(3, filter.name_contains);
  st.bind(4, static_cast<int64_t>(filter.limit > 0 ? filter.limit : -1));
  std::vector<RunSummary> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    RunSummary s;
    s.run = read_run(st);
    read_summary(st, 13, s);
    out.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) return db.error(rc, "listing runs");
  return out;
}

Expected<RunRecord> RunStore::get_run(int64_t run_id) {
  auto s = get_summary(run_id);
  if (!s) return s.error();
  return std::move(s->run);
}

Expected<RunSummary> RunStore::get_summary(int64_t run_id) {
  Db& db = impl_->db();
  const std::string sql =
      std::string("SELECT ") + kRunColumns + ", " + summary_sql("runs.id") + " FROM runs WHERE id = ?1";
  Stmt st(db, sql.c_str());
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the run query");
  st.bind(1, run_id);
  int rc = st.step();
  if (rc == SQLITE_DONE) return not_found(db, run_id);
  if (rc != SQLITE_ROW) return db.error(rc, "reading run " + std::to_string(run_id));
  RunSummary s;
  s.run = read_run(st);
  read_summary(st, 13, s);
  return s;
}

Expected<std::vector<MetricSeries>> RunStore::metric_series(int64_t run_id) {
  Db& db = impl_->db();
  Stmt st(db,
          "SELECT name, site, sum(n), min(step_first), max(step_last), min(vmin), max(vmax), "
          "(SELECT last_value FROM metric_rollup r2 WHERE r2.run_id = r.run_id AND r2.name = r.name AND "
          "r2.level = r.level AND r2.site = r.site ORDER BY r2.block DESC LIMIT 1) "
          "FROM metric_rollup r WHERE run_id = ?1 AND level = ?2 GROUP BY name, site ORDER BY name, site");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the series query");
  st.bind(1, run_id).bind(2, kTop);
  std::vector<MetricSeries> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    MetricSeries m;
    m.name = st.col_text(0);
    m.site = static_cast<int>(st.col_int(1));
    m.n_points = st.col_int(2);
    m.step_first = st.col_int(3);
    m.step_last = st.col_int(4);
    m.min = st.col_double(5);
    m.max = st.col_double(6);
    m.last = st.col_double(7);
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading the metric series of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<std::string>> RunStore::metric_names(int64_t run_id) {
  auto series = metric_series(run_id);
  if (!series) return series.error();
  std::vector<std::string> names;
  for (const auto& s : *series) {
    if (names.empty() || names.back() != s.name) names.push_back(s.name);
  }
  return names;
}

Expected<std::vector<SeriesBucket>> RunStore::downsample_exact(int64_t run_id, const std::string& name, int site,
                                                               int64_t step_lo, int64_t step_hi, int n_buckets) {
  Db& db = impl_->db();
  std::vector<SeriesBucket> out;
  auto any = clip_range(db, run_id, name, site, step_lo, step_hi);
  if (!any) return any.error();
  if (!*any) return out;
  Status s = exact_buckets(db, run_id, name, site, step_lo, step_hi, downsample_shift(step_lo, step_hi, n_buckets),
                           out);
  if (!s) return s.error();
  return out;
}

Expected<std::vector<SeriesBucket>> RunStore::downsample(int64_t run_id, const std::string& name, int site,
                                                         int64_t step_lo, int64_t step_hi, int n_buckets) {
  Db& db = impl_->db();
  std::vector<SeriesBucket> out;
  auto any = clip_range(db, run_id, name, site, step_lo, step_hi);
  if (!any) return any.error();
  if (!*any) return out;
  const int64_t lo = step_lo, hi = step_hi;
  const int s = downsample_shift(lo, hi, n_buckets);
  if (s < store_detail::kRollupMinShift || s > kTop) {
    Status st = exact_buckets(db, run_id, name, site, lo, hi, s, out);
    if (!st) return st.error();
    return out;
  }
  const int64_t b_lo = lo >> s, b_hi = hi >> s;
  const int64_t first_full = (lo == (b_lo << s)) ? b_lo : b_lo + 1;
  const int64_t last_full = (hi + 1 == ((b_hi + 1) << s)) ? b_hi : b_hi - 1;
  int64_t head_end = lo - 1;
  if (lo < (first_full << s)) {  // partial first bucket from raw rows
    head_end = std::min(hi, (first_full << s) - 1);
    Status st = exact_buckets(db, run_id, name, site, lo, head_end, s, out);
    if (!st) return st.error();
  }
  if (first_full <= last_full) {
    Stmt st(db,
            "SELECT step_first, step_last, n, vmin, vmax, last_value FROM metric_rollup WHERE run_id = ?1 AND "
            "name = ?2 AND level = ?3 AND site = ?4 AND block BETWEEN ?5 AND ?6 ORDER BY block");
    if (!st.ok()) return db.error(st.prepare_rc(), "preparing the rollup query");
    st.bind(1, run_id).bind(2, name).bind(3, s).bind(4, site).bind(5, first_full).bind(6, last_full);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      out.push_back({st.col_int(0), st.col_int(1), st.col_int(2), st.col_double(3), st.col_double(4),
                     st.col_double(5)});
    }
    if (rc != SQLITE_DONE) return db.error(rc, "downsampling " + name);
  }
  const int64_t tail_start = std::max(lo, (last_full + 1) << s);
  if (tail_start <= hi && tail_start > head_end) {  // partial last bucket from raw rows
    Status st = exact_buckets(db, run_id, name, site, tail_start, hi, s, out);
    if (!st) return st.error();
  }
  return out;
}

Expected<std::vector<SeriesPoint>> RunStore::read_series(int64_t run_id, const std::string& name, int site,
                                                         int64_t step_lo, int64_t step_hi) {
  Db& db = impl_->db();
  Stmt st(db,
          "SELECT step, round, value, wall_time FROM metrics WHERE run_id = ?1 AND name_id = "
          "(SELECT id FROM metric_names WHERE name = ?2) AND site = ?3 AND "
          "step BETWEEN ?4 AND ?5 ORDER BY step, rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the series query");
  st.bind(1, run_id).bind(2, name).bind(3, site).bind(4, step_lo).bind(5, step_hi);
  std::vector<SeriesPoint> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({st.col_int(0), static_cast<int>(st.col_int(1)), st.col_double(2), st.col_double(3)});
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading series " + name);
  return out;
}

Status RunStore::for_each_metric(int64_t run_id, const std::function<void(const MetricPoint&)>& fn) {
  Db& db = impl_->db();
  Stmt st(db,
          "SELECT n.name, m.site, m.step, m.round, m.value, m.wall_time FROM metrics m "
          "JOIN metric_names n ON n.id = m.name_id WHERE m.run_id = ?1 ORDER BY m.name_id, m.site, m.step, m.rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the metrics export");
  st.bind(1, run_id);
  MetricPoint p;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    p.name = st.col_text(0);
    p.site = static_cast<int>(st.col_int(1));
    p.step = static_cast<long>(st.col_int(2));
    p.round = static_cast<int>(st.col_int(3));
    p.value = st.col_double(4);
    p.wall_time = st.col_double(5);
    fn(p);
  }
  if (rc != SQLITE_DONE) return db.error(rc, "exporting the metrics of run " + std::to_string(run_id));
  return Status::ok();
}

Expected<std::vector<LinkTotal>> RunStore::link_totals(int64_t run_id) {
  Db& db = impl_->db();
  Stmt st(db,
          "SELECT site, direction, msg_type, count(*), total(bytes), total(seconds) FROM links WHERE run_id = ?1 "
          "GROUP BY site, direction, msg_type ORDER BY site, direction DESC, msg_type");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the links query");
  st.bind(1, run_id);
  std::vector<LinkTotal> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    LinkTotal t;
    t.site = static_cast<int>(st.col_int(0));
    t.direction = st.col_text(1) == "sent" ? Direction::Sent : Direction::Received;
    t.msg_type = st.col_text(2);
    t.messages = st.col_int(3);
    t.bytes = static_cast<int64_t>(st.col_double(4));
    t.seconds = st.col_double(5);
    out.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading links of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<LinkBytes>> RunStore::links(int64_t run_id) {
  Db& db = impl_->db();
  Stmt st(db,
          "SELECT round, site, direction, msg_type, bytes, seconds FROM links WHERE run_id = ?1 ORDER BY rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the links query");
  st.bind(1, run_id);
  std::vector<LinkBytes> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    LinkBytes l;
    l.round = static_cast<int>(st.col_int(0));
    l.site = static_cast<int>(st.col_int(1));
    l.direction = st.col_text(2) == "sent" ? Direction::Sent : Direction::Received;
    l.msg_type = st.col_text(3);
    l.bytes = st.col_int(4);
    l.seconds = st.col_double(5);
    out.push_back(std::move(l));
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading links of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<RunEvent>> RunStore::events(int64_t run_id) {
  Db& db = impl_->db();
  Stmt st(db, "SELECT time, site, kind, text FROM events WHERE run_id = ?1 ORDER BY time, rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the events query");
  st.bind(1, run_id);
  std::vector<RunEvent> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({st.col_double(0), static_cast<int>(st.col_int(1)), st.col_text(2), st.col_text(3)});
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading events of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<int>> RunStore::placement_rounds(int64_t run_id) {
  Db& db = impl_->db();
  Stmt st(db, "SELECT DISTINCT round FROM placement WHERE run_id = ?1 ORDER BY round");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the placement query");
  st.bind(1, run_id);
  std::vector<int> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(static_cast<int>(st.col_int(0)));
  if (rc != SQLITE_DONE) return db.error(rc, "reading placement rounds of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<PlacementEntry>> RunStore::placement(int64_t run_id, int round) {
  Db& db = impl_->db();
  Stmt st(db,
          "SELECT round, layer, expert, site FROM placement WHERE run_id = ?1 AND (?2 < 0 OR round = ?2) "
          "ORDER BY round, layer, expert, site");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the placement query");
  st.bind(1, run_id).bind(2, round);
  std::vector<PlacementEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({static_cast<int>(st.col_int(0)), static_cast<int>(st.col_int(1)),
                   static_cast<int>(st.col_int(2)), static_cast<int>(st.col_int(3))});
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading placement of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<ExpertLoadEntry>> RunStore::expert_load(int64_t run_id, int round) {
  Db& db = impl_->db();
  Stmt st(db,
          "SELECT round, site, layer, expert, tokens FROM expert_load WHERE run_id = ?1 AND (?2 < 0 OR round = "
          "?2) ORDER BY round, site, layer, expert");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the expert load query");
  st.bind(1, run_id).bind(2, round);
  std::vector<ExpertLoadEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({static_cast<int>(st.col_int(0)), static_cast<int>(st.col_int(1)),
                   static_cast<int>(st.col_int(2)), static_cast<int>(st.col_int(3)), st.col_int(4)});
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading expert load of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<CheckpointEntry>> RunStore::checkpoints(int64_t run_id) {
  Db& db = impl_->db();
  Stmt st(db, "SELECT round, step, path FROM checkpoints WHERE run_id = ?1 ORDER BY step, rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the checkpoints query");
  st.bind(1, run_id);
  std::vector<CheckpointEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({static_cast<int>(st.col_int(0)), static_cast<long>(st.col_int(1)), st.col_text(2)});
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading checkpoints of run " + std::to_string(run_id));
  return out;
}

Expected<std::vector<SampleEntry>> RunStore::samples(int64_t run_id) {
  Db& db = impl_->db();
  Stmt st(db, "SELECT round, step, prompt_index, prompt, text, ended FROM samples WHERE run_id = ?1 ORDER BY step, prompt_index, rowid");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the samples query");
  st.bind(1, run_id);
  std::vector<SampleEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({static_cast<int>(st.col_int(0)), static_cast<long>(st.col_int(1)), static_cast<int>(st.col_int(2)),
                   st.col_text(3), st.col_text(4), st.col_int(5) != 0});
  }
  if (rc != SQLITE_DONE) return db.error(rc, "reading samples of run " + std::to_string(run_id));
  return out;
}

Status RunStore::delete_run(int64_t run_id) {
  Db& db = impl_->db();
  Status s = db.exec("BEGIN IMMEDIATE", "starting to delete run " + std::to_string(run_id));
  if (!s) return s;
  auto exists = db.query_int("SELECT count(*) FROM runs WHERE id = " + std::to_string(run_id), "finding the run");
  if (!exists || *exists == 0) {
    (void)db.exec("ROLLBACK", "rolling back");
    if (!exists) return exists.error();
    return not_found(db, run_id);
  }
  const std::string id = std::to_string(run_id);
  for (const char* table : {"metrics", "metric_rollup", "links", "placement", "expert_load", "events", "checkpoints", "samples"}) {
    s = db.exec(std::string("DELETE FROM ") + table + " WHERE run_id = " + id, "deleting run " + id);
    if (!s) break;
  }
  if (s) s = db.exec("DELETE FROM runs WHERE id = " + id, "deleting run " + id);
  if (s) s = db.exec("COMMIT", "committing the deletion of run " + id);
  if (!s) (void)db.exec("ROLLBACK", "rolling back");
  return s;
}

Status RunStore::set_tags(int64_t run_id, const std::string& tags) {
  Db& db = impl_->db();
  Stmt st(db, "UPDATE runs SET tags = ?2 WHERE id = ?1");
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the tags update");
  st.bind(1, run_id).bind(2, tags);
  Status s = run_stmt(db, st, "setting the tags of run " + std::to_string(run_id));
  if (!s) return s;
  if (sqlite3_changes(db.handle()) == 0) return not_found(db, run_id);
  return Status::ok();
}

}  // namespace fomoe
