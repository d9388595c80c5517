// What `fomoe run` and `fomoe train` share: load the experiment, apply --set overrides and a
// --steps override, with errors printed as "fomoe CMD: file:line: ...".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fomoe/config/experiment.h"

namespace fomoe::cli {

std::optional<ExperimentConfig> load_cli_experiment(const std::string& command, const std::string& path,
                                                    const std::vector<std::string>& overrides, long steps_override);

}  // namespace fomoe::cli
