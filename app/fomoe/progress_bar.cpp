#include "progress_bar.h"

#include <unistd.h>

#include <algorithm>

namespace fomoe::cli {

namespace {
std::string clock_text(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}
}  // namespace

ProgressBar::ProgressBar(long total, std::FILE* out) : total_(std::max(1L, total)), out_(out), tty_(isatty(fileno(out))) {}

void ProgressBar::update(long done, const std::string& status, double elapsed_s) {
  const double frac = std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
  const double eta = done > 0 ? elapsed_s * (total_ - done) / done : -1;
  if (!tty_) {
    const int decile = static_cast<int>(frac * 10);
    if (decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(out_, "%3d%% %ld/%ld %s elapsed %s\n", static_cast<int>(frac * 100), done, total_, status.c_str(),
                 clock_text(elapsed_s).c_str());
    std::fflush(out_);
    return;
  }
  constexpr int kWidth = 28;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  std::fprintf(out_, "\r[%s] %3d%% %ld/%ld %s ETA %s\033[K", bar.c_str(), static_cast<int>(frac * 100), done, total_,
               status.c_str(), clock_text(eta).c_str());
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (tty_) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace fomoe::cli
