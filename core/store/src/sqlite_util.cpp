#include "sqlite_util.h"

#include <cmath>
#include <limits>
#include <utility>

namespace fomoe::store_detail {

Error sqlite_error(sqlite3* db, int rc, const std::string& path, const std::string& doing) {
  const int primary = rc & 0xff;
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return make_error(ErrorCode::Busy,
                        "run store " + path + " is locked by another process while " + doing + " (" + detail +
                            "); wait for the other fomoe process to finish, or pass --db to use another file");
    case SQLITE_READONLY:
      return make_error(ErrorCode::Io, "run store " + path + " is read-only while " + doing + " (" + detail +
                                           "); make the file and its directory writable (chmod u+w), or pass "
                                           "--db to use a writable location");
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return make_error(ErrorCode::Io, "cannot open run store " + path + " while " + doing + " (" + detail +
                                           "); check that the directory exists and is writable, or pass --db "
                                           "to use another location");
    case SQLITE_FULL:
      return make_error(ErrorCode::Io, "run store " + path + " is full (disk full or size limit) while " + doing +
                                           " (" + detail +
                                           "); free disk space: rows already committed are kept, and pending "
                                           "rows stay in memory and are retried");
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return make_error(ErrorCode::Corrupt, path + " is not a FoMoE run store or is corrupt (" + detail +
                                                "); move it aside (mv " + path + " " + path +
                                                ".bad) and a fresh store will be created, or pass --db");
    case SQLITE_IOERR:
      return make_error(ErrorCode::Io, "i/o error on run store " + path + " while " + doing + " (" + detail +
                                           "); check the disk and free space");
    default:
      return make_error(ErrorCode::Internal, "SQLite error on run store " + path + " while " + doing + ": " +
                                                 detail + " (code " + std::to_string(rc) + ")");
  }
}

Db::~Db() {
  if (handle_) sqlite3_close_v2(handle_);
}

void Db::reset(sqlite3* handle, std::string path) {
  if (handle_) sqlite3_close_v2(handle_);
  handle_ = handle;
  path_ = std::move(path);
}

Status Db::exec(const std::string& sql, const std::string& doing) {
  char* msg = nullptr;
  int rc = sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, &msg);
  if (msg) sqlite3_free(msg);
  if (rc != SQLITE_OK) return error(rc, doing);
  return Status::ok();
}

Expected<int64_t> Db::query_int(const std::string& sql, const std::string& doing, int64_t fallback) {
  Stmt st(*this, sql.c_str());
  if (!st.ok()) return error(st.prepare_rc(), doing);
  int rc = st.step();
  if (rc == SQLITE_ROW) return st.col_null(0) ? fallback : st.col_int(0);
  if (rc == SQLITE_DONE) return fallback;
  return error(rc, doing);
}

Stmt::Stmt(Db& db, const char* sql) { prepare_rc_ = sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr); }

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt::Stmt(Stmt&& other) noexcept : stmt_(other.stmt_), prepare_rc_(other.prepare_rc_) {
  other.stmt_ = nullptr;
  other.prepare_rc_ = SQLITE_MISUSE;
}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    prepare_rc_ = other.prepare_rc_;
    other.stmt_ = nullptr;
    other.prepare_rc_ = SQLITE_MISUSE;
  }
  return *this;
}

Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  if (std::isnan(v)) {
    sqlite3_bind_null(stmt_, i);
  } else {
    sqlite3_bind_double(stmt_, i, v);
  }
  return *this;
}
Stmt& Stmt::bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind(int i, const char* v) {
  sqlite3_bind_text(stmt_, i, v, -1, SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_static(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

int Stmt::step() { return sqlite3_step(stmt_); }

void Stmt::reset() { sqlite3_reset(stmt_); }  // bindings stay; every caller rebinds all

double Stmt::col_double(int i) const {
  if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, i);
}

std::string Stmt::col_text(int i) const {
  const unsigned char* p = sqlite3_column_text(stmt_, i);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
}

Status run_stmt(Db& db, Stmt& stmt, const std::string& doing) {
  int rc = stmt.step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    Error e = db.error(rc, doing);
    stmt.reset();
    return e;
  }
  stmt.reset();
  return Status::ok();
}

}  // namespace fomoe::store_detail
