#include "smoothing.h"

#include <algorithm>
#include <cmath>

namespace fomoe::gui {

int smoothingHalfWidth(double strength) {
  const double a = std::clamp(strength, 0.0, 0.99);
  return static_cast<int>(std::lround((1 + a) / (1 - a) / 2 - 0.5));
}

std::vector<double> centredSmooth(const std::vector<double>& y, double strength) {
  const int n = static_cast<int>(y.size());
  const int h = smoothingHalfWidth(strength);
  if (h <= 0 || n < 3) return y;
  // Prefix sums over finite values (a NaN loss stays a gap, and does not poison its neighbours).
  std::vector<double> sum(static_cast<size_t>(n) + 1, 0.0);
  std::vector<int> count(static_cast<size_t>(n) + 1, 0);
  for (int i = 0; i < n; ++i) {
    const bool ok = std::isfinite(y[i]);
    sum[i + 1] = sum[i] + (ok ? y[i] : 0.0);
    count[i + 1] = count[i] + (ok ? 1 : 0);
  }
  std::vector<double> out(y.size());
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(y[i])) {
      out[i] = y[i];
      continue;
    }
    const int w = std::min({h, i, n - 1 - i});
    const int lo = i - w, hi = i + w + 1;
    const int c = count[hi] - count[lo];
    out[i] = c > 0 ? (sum[hi] - sum[lo]) / c : y[i];
  }
  return out;
}

}  // namespace fomoe::gui
