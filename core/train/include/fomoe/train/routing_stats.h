// Routing statistics per MoE layer as plain data (no torch), and their conversion to metrics.
// Shared by the single-site trainer and the federation.
#pragma once

#include <cstdint>
#include <vector>

#include "fomoe/base/metric_names.h"
#include "fomoe/base/run_events.h"

namespace fomoe {

struct LayerRouting {
  std::vector<int64_t> load;       // picks routed to each expert (before skip), size E
  std::vector<int64_t> processed;  // picks computed by a resident expert, size E
  int64_t n_picks = 0;
  int64_t n_skipped = 0;
  double router_entropy_sum = 0.0;  // sum over steps of mean per-token entropy / log E
  int n_steps = 0;

  void accumulate(const LayerRouting& other);
  double skip_rate() const { return n_picks ? static_cast<double>(n_skipped) / static_cast<double>(n_picks) : 0.0; }
  double router_entropy() const { return n_steps ? router_entropy_sum / n_steps : 0.0; }
  double load_entropy() const;  // entropy of the load distribution / log E
  int dead_experts() const;     // experts with zero load
};

/// Routing metrics for every layer (and their means over layers, without the layer suffix).
std::vector<MetricPoint> routing_metrics(const std::vector<LayerRouting>& layers, long step, int round, int site,
                                         double wall_time);
/// Expert load rows for the run store.
std::vector<ExpertLoadEntry> expert_load_entries(const std::vector<LayerRouting>& layers, int round, int site);

}  // namespace fomoe
