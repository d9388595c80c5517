// Helpers for the run store tests: a temporary directory and a run filled with known rows.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fomoe/base/metric_names.h"
#include "fomoe/base/run_events.h"

namespace fomoe::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fomoe_store_test_XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline RunInfo test_run_info(const std::string& name, const std::string& method = "fomoe",
                             const std::string& config = "[model]\nn_experts = 8\n") {
  RunInfo info;
  info.name = name;
  info.method = method;
  info.config_text = config;
  info.git_revision = "abc123";
  info.n_sites = 2;
  return info;
}

inline MetricPoint point(const char* name, long step, double value, int site = -1, int round = -1) {
  MetricPoint p;
  p.name = name;
  p.step = step;
  p.value = value;
  p.site = site;
  p.round = round;
  p.wall_time = step * 0.5;
  return p;
}

}  // namespace fomoe::test
