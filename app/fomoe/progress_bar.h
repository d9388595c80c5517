// A one-line terminal progress bar (\r-updated on a TTY, a line per 10% otherwise).
#pragma once

#include <cstdio>
#include <string>

namespace fomoe::cli {

class ProgressBar {
 public:
  explicit ProgressBar(long total, std::FILE* out = stderr);
  /// `status` is appended after the bar, e.g. "loss 3.21 eval 3.30".
  void update(long done, const std::string& status, double elapsed_s);
  void finish();

 private:
  long total_;
  std::FILE* out_;
  bool tty_;
  int last_decile_ = -1;
};

}  // namespace fomoe::cli
