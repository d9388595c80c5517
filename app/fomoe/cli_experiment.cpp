#include "cli_experiment.h"

#include <algorithm>
#include <iostream>

namespace fomoe::cli {

std::optional<ExperimentConfig> load_cli_experiment(const std::string& command, const std::string& path,
                                                    const std::vector<std::string>& overrides, long steps_override) {
  auto cfg = load_experiment(path);
  if (!cfg) {
    std::cerr << "fomoe " << command << ": " << cfg.error().message << "\n";
    return std::nullopt;
  }
  if (auto st = apply_overrides(*cfg, overrides); !st) {
    std::cerr << "fomoe " << command << ": " << st.error().message << "\n";
    return std::nullopt;
  }
  if (steps_override > 0) {
    cfg->train.steps = static_cast<int>(steps_override);
    cfg->train.warmup_steps = std::min(cfg->train.warmup_steps, cfg->train.steps);
    cfg->source_text = to_toml(*cfg);  // what is recorded is what runs
  }
  return std::move(cfg).value();
}

}  // namespace fomoe::cli
