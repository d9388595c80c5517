// What `fomoe run` and `fomoe train` share: load the experiment, apply --set overrides and a
// --steps override, with errors printed as "fomoe CMD: file:line: ..."; `fomoe train`'s parsed
// command line (run hands a single-site experiment to it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fomoe/base/run_events.h"
#include "fomoe/config/experiment.h"

namespace fomoe::cli {

struct TrainArgs {
  std::string path;                    // EXPERIMENT.toml
  std::string resume;                  // a checkpoint to go on from (empty: start fresh)
  std::string db;                      // run store (empty: the experiment's or the default)
  std::vector<std::string> overrides;  // --set section.key=value
  long steps = 0;                      // 0 = the experiment's train.steps
  std::string command = "train";       // how the user called it ("run" for a single-site experiment)
  RunSink* also = nullptr;             // besides the run store (`fomoe run --publish`'s event stream)
};

/// `fomoe train` once its command line is parsed.
int train(const TrainArgs& args);

/// The command that goes on from where a stopped run left off, as the user typed it (`fomoe run
/// EXP --resume`; `fomoe train EXP --resume CHECKPOINT`), with its --db, --set and --steps.
std::string resume_command(const TrainArgs& args, const std::string& checkpoint = "");

std::optional<ExperimentConfig> load_cli_experiment(const std::string& command, const std::string& path,
                                                    const std::vector<std::string>& overrides, long steps_override);

}  // namespace fomoe::cli
