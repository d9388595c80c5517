// Metric rollups: per series (run, name, site) and level s in [kRollupMinShift, kRollupMaxShift],
// one row per aligned block of 2^s steps with first/last step, count, min, max and last value.
// The writer maintains them per batch so downsampling reads a few thousand rows for any length.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "fomoe/base/expected.h"
#include "sqlite_util.h"

namespace fomoe::store_detail {

inline constexpr int kRollupMinShift = 6;
inline constexpr int kRollupMaxShift = 26;

struct RollupAgg {
  int64_t step_first = 0;
  int64_t step_last = 0;
  int64_t n = 0;
  double min = 0.0;  // NaN = no finite value yet (NaNs are ignored like SQL NULLs)
  double max = 0.0;
  double last = 0.0;
  void add(int64_t step, double value);     // points in insertion order
  void merge(const RollupAgg& later);       // `later` was written after *this
};

class RollupBuilder {
 public:
  void add(int64_t run, const std::string& name, int site, int64_t step, double value);
  /// Upserts every level for the accumulated points (inside the caller's transaction).
  Status write(Db& db);
  void clear();
  bool empty() const { return base_.empty(); }

 private:
  using Key = std::tuple<int64_t, std::string, int>;
  std::map<Key, std::map<int64_t, RollupAgg>> base_;  // level kRollupMinShift blocks
  std::map<int64_t, RollupAgg>* last_series_ = nullptr;
  Key last_key_;
};

}  // namespace fomoe::store_detail
