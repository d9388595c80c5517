// `fomoe bench moe`: training-step throughput of the MoE block and the whole model at several
// residencies, beside the common eager baseline, measured side by side in one process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace fomoe {

/// args: [--json] [--steps N] [--quick] [--child-peak RESIDENCY]; returns the exit code.
int bench_moe_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                   const std::string& self_exe);

}  // namespace fomoe
