// `fomoe bench moe`: training-step throughput of the MoE block and the whole model at several
// residencies, beside the common eager baseline, measured side by side in one process.
#pragma once

#include <ostream>
#include <string>

namespace fomoe {

struct BenchMoeOptions {
  bool json = false;             // one JSON object instead of the table
  bool quick = false;            // 2 layers instead of 4
  int steps = 6;                 // timed steps per variant
  std::string device = "auto";   // cpu, cuda, cuda:N or auto (CUDA when present)
  int n_experts = 0, top_k = 0, d_expert = 0, d_model = 0, batch = 0;  // 0 = the bench shape
  double child_residency = -1;   // >= 0: be the child that measures a site's peak memory and exit
};

/// Measures and prints (the child mode prints its peak KiB). self_exe runs the child processes as
/// `self_exe bench moe --child-peak R [--quick] [--experts E] ...`. Returns the exit code: 0 ok,
/// 2 an unusable --device.
int bench_moe(const BenchMoeOptions& options, std::ostream& out, std::ostream& err, const std::string& self_exe);

}  // namespace fomoe
