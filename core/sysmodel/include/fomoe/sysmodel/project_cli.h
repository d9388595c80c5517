// `fomoe project [--preset NAME | --experiment FILE.toml] [--sites K] [--replication r]
//   [--inner-steps H] [--precision fp32|bf16|fp16] [--bandwidth-gbps X] [--latency-ms Y]
//   [--batch B] [--seq-len T] [--meta-bytes N] [--bf16-weights] [--format table|json]
//   [--list-presets] [--help]`
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "fomoe/sysmodel/projection.h"

namespace fomoe::sysmodel {

/// `args` are the words after "project" (a leading "project" is skipped). Returns the exit
/// status: 0 ok, 2 usage error (message on err).
int project_cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// The human-readable table (what `--format table` prints).
std::string format_projection_table(const Projection& p, const std::string& title);
/// Machine-readable JSON text (what `--format json` prints); exact integers for every byte count.
std::string format_projection_json(const Projection& p);

}  // namespace fomoe::sysmodel
