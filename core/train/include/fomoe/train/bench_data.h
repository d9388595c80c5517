// `fomoe bench data`: the data loader's time per training step as a share of the step, for the
// built-in corpus (token files prepared in memory) and a flat token file read through mmap,
// measured side by side in one process on the experiment's model and batch.
#pragma once

#include <ostream>

#include "fomoe/config/experiment.h"

namespace fomoe {

struct BenchDataOptions {
  int steps = 20;     // timed training steps (the loader draws many more batches: it is fast)
  bool json = false;  // one JSON object instead of the table
};

/// Returns the exit code: 0 ok, 1 the data could not be prepared (the message on err).
int bench_data(const ExperimentConfig& cfg, const BenchDataOptions& options, std::ostream& out, std::ostream& err);

}  // namespace fomoe
