#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "fomoe/base/log.h"
#include "schema.h"
#include "store_internal.h"

namespace fomoe::store_detail {

namespace fs = std::filesystem;

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

WriterLiveness writer_liveness(int64_t pid, const std::string& host) {
  if (pid <= 0) return WriterLiveness::Unrecorded;
  if (host != host_name()) return WriterLiveness::OtherHost;
  if (pid == static_cast<int64_t>(getpid())) return WriterLiveness::Self;
  // EPERM: alive but another user's. A zombie still counts as alive until reaped.
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return WriterLiveness::Dead;
  return WriterLiveness::Alive;
}

namespace {

Status check_paths(const std::string& path, const StoreOptions& options) {
  std::error_code ec;
  fs::path p(path);
  fs::path dir = p.parent_path();
  if (options.read_only) {
    if (!fs::exists(p, ec)) {
      return make_error(ErrorCode::NotFound, "run store " + path +
                                                 " does not exist; record a run first, or pass --db to "
                                                 "open another file");
    }
    return Status::ok();
  }
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return make_error(ErrorCode::Io, "cannot create directory " + dir.string() + " for run store " + path +
                                           ": " + ec.message() + "; create it or pass --db to use another location");
    }
  }
  if (fs::exists(p, ec)) {
    if (fs::is_directory(p, ec)) {
      return make_error(ErrorCode::Io, "run store path " + path +
                                           " is a directory; pass --db with a file path such as " + path +
                                           "/runs.db");
    }
    if (access(path.c_str(), W_OK) != 0) {
      return make_error(ErrorCode::Io, "run store " + path +
                                           " is read-only (no write permission); make it writable "
                                           "(chmod u+w " + path + ") or pass --db to use another file");
    }
  }
  const std::string d = dir.empty() ? std::string(".") : dir.string();
  if (access(d.c_str(), W_OK) != 0) {
    return make_error(ErrorCode::Io, "directory " + d + " of run store " + path +
                                         " is read-only (SQLite needs it for the -wal and -shm files); make "
                                         "it writable or pass --db to use another location");
  }
  return Status::ok();
}

Expected<std::vector<int64_t>> mark_interrupted(Db& db) {
  std::vector<int64_t> dead;
  {
    Stmt st(db, "SELECT id, writer_pid, writer_host FROM runs WHERE status = 'running'");
    if (!st.ok()) return db.error(st.prepare_rc(), "looking for interrupted runs");
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      // Only writers known to be gone; another machine's cannot be told apart.
      if (writer_liveness(st.col_int(1), st.col_text(2)) == WriterLiveness::Dead) dead.push_back(st.col_int(0));
    }
    if (rc != SQLITE_DONE) return db.error(rc, "looking for interrupted runs");
  }
  if (dead.empty()) return dead;
  Stmt up(db,
          "UPDATE runs SET status = 'interrupted', finished_at = coalesce("
          "(SELECT max(started_at + wall_time) FROM metrics WHERE run_id = ?1), ?2), "
          "message = 'writer process (pid ' || writer_pid || ' on ' || writer_host || ') ended without "
          "finishing the run (crash or kill); rows written before are kept' "
          "WHERE id = ?1 AND status = 'running'");
  if (!up.ok()) return db.error(up.prepare_rc(), "marking interrupted runs");
  const double now = unix_now();
  for (int64_t id : dead) {
    up.bind(1, id).bind(2, now);
    Status s = run_stmt(db, up, "marking run " + std::to_string(id) + " interrupted");
    if (s) s = cache_summary(db, id);
    if (!s) return s.error();
    FOMOE_LOG_WARN("store", "run %lld in %s was left running by a process that is gone; marked interrupted",
                   static_cast<long long>(id), db.path().c_str());
  }
  return dead;
}

}  // namespace

Expected<OpenedDb> open_database(const std::string& path, const StoreOptions& options) {
  Status s = check_paths(path, options);
  if (!s) return s.error();
  use_descriptor_owned_locks();  // before the first SQLite file of this process is opened
  OpenedDb out;
  out.db = std::make_unique<Db>();
  sqlite3* handle = nullptr;
  const int flags = options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  out.db->reset(handle, path);
  if (rc != SQLITE_OK) return out.db->error(rc, "opening");
  Db& db = *out.db;
  sqlite3_busy_timeout(handle, options.busy_timeout_ms);
  sqlite3_extended_result_codes(handle, 1);
  // The first read tells a foreign or garbage file apart (SQLITE_NOTADB).
  auto probe = db.query_int("SELECT count(*) FROM sqlite_master", "reading the database header");
  if (!probe) return probe.error();
  if (!options.read_only) {
    s = db.exec("PRAGMA journal_mode = WAL", "switching to WAL mode");
    if (!s) return s.error();
  }
  // The page cache fills with the pages a recorder writes (~7 KB a round) up to its cap
  // (StoreOptions::cache_kib), so the cap is what a long run's memory grows by.
  s = db.exec("PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -" +
                  std::to_string(std::max(options.cache_kib, 64)) + "; PRAGMA wal_autocheckpoint = 8192;",
              "setting connection options");
  if (!s) return s.error();
  if (options.max_page_count > 0) {
    s = db.exec("PRAGMA max_page_count = " + std::to_string(options.max_page_count), "limiting the size");
    if (!s) return s.error();
  }
  auto version = apply_schema(db, options.read_only);
  if (!version) return version.error();
  out.schema_version = *version;
  if (!options.read_only) {
    auto dead = mark_interrupted(db);
    if (!dead) return dead.error();
    out.interrupted = std::move(*dead);
  }
  return out;
}

}  // namespace fomoe::store_detail
