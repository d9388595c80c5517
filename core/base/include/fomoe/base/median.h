// The median of a handful of numbers (round times, detection times): one definition for the
// coordinator's derived round timeout and the benchmarks that report medians.
#pragma once

#include <algorithm>
#include <vector>

namespace fomoe {

/// The middle value, or the mean of the two middle ones; 0 for none.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace fomoe
