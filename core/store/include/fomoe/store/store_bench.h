// The run store benchmark behind `fomoe bench store`: insert rate through the real writer vs one
// transaction per row, opening and listing a store of many runs, downsampling a long series.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace fomoe {

struct StoreBenchOptions {
  bool json = false;              // one JSON object instead of the table
  bool keep = false;              // keep the benchmark's files
  std::string dir;                // where the stores go; empty = a fresh temporary directory
  int64_t points = 10'000'000;    // length of the downsampled series
  int64_t runs = 10'000;          // runs in the listed store
  int64_t rows = 2'000'000;       // rows inserted through RunRecorder
  int64_t naive_rows = 20'000;    // rows inserted one transaction per row
  int buckets = 2000;             // downsampling buckets
};

/// Runs the benchmark and prints its table (or JSON) on out. Returns 0 when it ran, 1 on error.
int run_store_bench(const StoreBenchOptions& options, std::ostream& out);

}  // namespace fomoe
