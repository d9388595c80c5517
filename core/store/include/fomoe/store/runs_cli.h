// `fomoe runs ...` and `fomoe bench store` as library functions, testable with streams.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace fomoe {

/// args: what follows `fomoe runs`, e.g. {"list", "--method", "fomoe", "--format", "json"};
/// `--db PATH` is accepted anywhere. Returns 0 on success, 2 on bad usage or unknown run, 1 on
/// other errors (messages go to err).
int runs_cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// The store benchmark (insert rate, listing 10k runs, downsampling 10M points). args:
/// [--json] [--dir DIR] [--points N] [--runs N] [--rows N]. Returns 0 when it ran.
int store_bench_main(const std::vector<std::string>& args, std::ostream& out);

}  // namespace fomoe
