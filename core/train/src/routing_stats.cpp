#include "fomoe/train/routing_stats.h"

#include <cmath>

namespace fomoe {

void LayerRouting::accumulate(const LayerRouting& o) {
  if (load.size() < o.load.size()) load.resize(o.load.size(), 0);
  if (processed.size() < o.processed.size()) processed.resize(o.processed.size(), 0);
  for (size_t e = 0; e < o.load.size(); ++e) load[e] += o.load[e];
  for (size_t e = 0; e < o.processed.size(); ++e) processed[e] += o.processed[e];
  n_picks += o.n_picks;
  n_skipped += o.n_skipped;
  router_entropy_sum += o.router_entropy_sum;
  n_steps += o.n_steps;
}

double LayerRouting::load_entropy() const {
  double total = 0.0;
  for (auto v : load) total += static_cast<double>(v);
  if (total <= 0.0 || load.size() < 2) return 0.0;
  double h = 0.0;
  for (auto v : load) {
    if (v <= 0) continue;
    const double p = static_cast<double>(v) / total;
    h -= p * std::log(p);
  }
  return h / std::log(static_cast<double>(load.size()));
}

int LayerRouting::dead_experts() const {
  int n = 0;
  for (auto v : load) n += v == 0 ? 1 : 0;
  return n;
}

std::vector<MetricPoint> routing_metrics(const std::vector<LayerRouting>& layers, long step, int round, int site,
                                         double wall_time) {
  std::vector<MetricPoint> out;
  if (layers.empty()) return out;
  double skip = 0, rent = 0, lent = 0, dead = 0;
  auto add = [&](std::string name, double v) { out.push_back(MetricPoint{std::move(name), v, step, round, site, wall_time}); };
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& r = layers[l];
    const int li = static_cast<int>(l);
    add(metric::layer_metric(metric::kSkipRate, li), r.skip_rate());
    add(metric::layer_metric(metric::kRouterEntropy, li), r.router_entropy());
    add(metric::layer_metric(metric::kLoadEntropy, li), r.load_entropy());
    add(metric::layer_metric(metric::kDeadExperts, li), r.dead_experts());
    skip += r.skip_rate();
    rent += r.router_entropy();
    lent += r.load_entropy();
    dead += r.dead_experts();
  }
  const double n = static_cast<double>(layers.size());
  add(metric::kSkipRate, skip / n);
  add(metric::kRouterEntropy, rent / n);
  add(metric::kLoadEntropy, lent / n);
  add(metric::kDeadExperts, dead);
  return out;
}

std::vector<ExpertLoadEntry> expert_load_entries(const std::vector<LayerRouting>& layers, int round, int site) {
  std::vector<ExpertLoadEntry> out;
  for (size_t l = 0; l < layers.size(); ++l)
    for (size_t e = 0; e < layers[l].load.size(); ++e)
      out.push_back(ExpertLoadEntry{round, site, static_cast<int>(l), static_cast<int>(e), layers[l].load[e]});
  return out;
}

}  // namespace fomoe
