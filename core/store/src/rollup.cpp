#include "rollup.h"

#include <cmath>

namespace fomoe::store_detail {

namespace {
double nan_min(double a, double b) { return std::fmin(a, b); }  // fmin ignores one NaN
double nan_max(double a, double b) { return std::fmax(a, b); }
}  // namespace

void RollupAgg::add(int64_t step, double value) {
  if (n == 0) {
    step_first = step_last = step;
    min = max = last = value;
    n = 1;
    return;
  }
  if (step < step_first) step_first = step;
  if (step >= step_last) {
    step_last = step;
    last = value;
  }
  min = nan_min(min, value);
  max = nan_max(max, value);
  ++n;
}

void RollupAgg::merge(const RollupAgg& later) {
  if (later.n == 0) return;
  if (n == 0) {
    *this = later;
    return;
  }
  if (later.step_first < step_first) step_first = later.step_first;
  if (later.step_last >= step_last) {
    step_last = later.step_last;
    last = later.last;
  }
  min = nan_min(min, later.min);
  max = nan_max(max, later.max);
  n += later.n;
}

void RollupBuilder::add(int64_t run, const std::string& name, int site, int64_t step, double value) {
  if (!last_series_ || std::get<0>(last_key_) != run || std::get<2>(last_key_) != site ||
      std::get<1>(last_key_) != name) {
    last_key_ = Key(run, name, site);
    last_series_ = &base_[last_key_];
  }
  (*last_series_)[step >> kRollupMinShift].add(step, value);
}

void RollupBuilder::clear() {
  base_.clear();
  last_series_ = nullptr;
}

Status RollupBuilder::write(Db& db) {
  static const char* kUpsert =
      "INSERT INTO metric_rollup(run_id, name, level, site, block, step_first, step_last, n, vmin, vmax, "
      "last_value) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
      "ON CONFLICT(run_id, name, level, site, block) DO UPDATE SET "
      "step_first = min(step_first, excluded.step_first), n = n + excluded.n, "
      "vmin = coalesce(min(vmin, excluded.vmin), vmin, excluded.vmin), "
      "vmax = coalesce(max(vmax, excluded.vmax), vmax, excluded.vmax), "
      "last_value = CASE WHEN excluded.step_last >= step_last THEN excluded.last_value ELSE last_value END, "
      "step_last = max(step_last, excluded.step_last)";
  Stmt st(db, kUpsert);
  if (!st.ok()) return db.error(st.prepare_rc(), "preparing the rollup upsert");
  for (auto& [key, blocks] : base_) {
    std::map<int64_t, RollupAgg> level = blocks;
    for (int shift = kRollupMinShift; shift <= kRollupMaxShift; ++shift) {
      for (const auto& [block, agg] : level) {
        st.bind(1, std::get<0>(key)).bind(2, std::get<1>(key)).bind(3, shift).bind(4, std::get<2>(key));
        st.bind(5, block).bind(6, agg.step_first).bind(7, agg.step_last).bind(8, agg.n);
        st.bind(9, agg.min).bind(10, agg.max).bind(11, agg.last);
        Status s = run_stmt(db, st, "updating metric rollups");
        if (!s) return s;
      }
      if (shift == kRollupMaxShift) break;
      std::map<int64_t, RollupAgg> up;
      for (const auto& [block, agg] : level) up[block >> 1].merge(agg);  // blocks ascend: order kept
      level.swap(up);
    }
  }
  return Status::ok();
}

}  // namespace fomoe::store_detail
