// The run store schema: every table, index and migration lives in schema.cpp.
#pragma once

#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "sqlite_util.h"

namespace fomoe::store_detail {

/// Brings the database to kStoreSchemaVersion: creates a fresh store (v1 + migrations, so the
/// migration path runs on every new store), migrates an older one in one transaction, refuses a
/// newer one (Unsupported) or a foreign SQLite file (Corrupt). Returns the version now in the file.
/// read_only: only checks (an older schema is Unsupported until opened writable once).
Expected<int> apply_schema(Db& db, bool read_only);

/// Per-run summary columns, as SQL expressions over the rollups and links of the run whose id is
/// `run_expr`: final train loss, final eval loss, best eval loss, total bytes, last train step.
/// Finished runs keep them cached in runs.summary_* (summary_valid = 1); running runs compute live.
std::vector<std::string> summary_exprs(const std::string& run_expr);
inline constexpr const char* kSummaryColumns[] = {"summary_train", "summary_eval", "summary_best_eval",
                                                  "summary_bytes", "summary_last_step"};
/// UPDATE that caches the summary of run ?1 in its row.
std::string summary_update_sql();

/// Replaces run `run`'s metric_rollup rows by ones built from its metric rows (what the writer
/// would have produced had it written only those rows). Inside the caller's transaction.
Status rebuild_rollups(Db& db, int64_t run);

/// The v1 schema as shipped (kept for the migration chain and for tests).
const char* schema_v1_sql();

}  // namespace fomoe::store_detail
