// Thin RAII over the SQLite C API, and the one place that turns SQLite result codes into
// fomoe::Error messages that name the database file and say what to do.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "fomoe/base/expected.h"

namespace fomoe::store_detail {

/// Maps a SQLite result code to an Error naming `path` and the action (`doing`).
Error sqlite_error(sqlite3* db, int rc, const std::string& path, const std::string& doing);

/// One connection. Closes on destruction.
class Db {
 public:
  Db() = default;
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return handle_; }
  const std::string& path() const { return path_; }
  void reset(sqlite3* handle, std::string path);

  /// Runs one or more statements without results.
  Status exec(const std::string& sql, const std::string& doing);
  /// Runs a single-value query (first column of first row) as int64; missing row -> fallback.
  Expected<int64_t> query_int(const std::string& sql, const std::string& doing, int64_t fallback = 0);
  Error error(int rc, const std::string& doing) const { return sqlite_error(handle_, rc, path_, doing); }

 private:
  sqlite3* handle_ = nullptr;
  std::string path_;
};

/// A prepared statement. Bind indices are 1-based as in SQLite; NaN doubles bind as NULL
/// (SQLite's own rule), and column_double reads NULL back as NaN.
class Stmt {
 public:
  Stmt() = default;
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&& other) noexcept;

  bool ok() const { return prepare_rc_ == SQLITE_OK; }
  int prepare_rc() const { return prepare_rc_; }
  sqlite3_stmt* handle() const { return stmt_; }

  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, long long v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, const std::string& v);
  Stmt& bind(int i, const char* v);
  /// No copy: `v` must stay alive and unchanged until the next step()/reset().
  Stmt& bind_static(int i, const std::string& v);
  Stmt& bind_null(int i);

  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  void reset();

  int64_t col_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  double col_double(int i) const;
  bool col_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  std::string col_text(int i) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int prepare_rc_ = SQLITE_MISUSE;
};

/// Runs a statement to completion (no rows expected), then resets it.
Status run_stmt(Db& db, Stmt& stmt, const std::string& doing);

}  // namespace fomoe::store_detail
