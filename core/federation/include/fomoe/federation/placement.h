// The placement plan, in one place: which sites hold which expert of which MoE layer.
// Policies: round-robin with r holders, load-aware (from recorded expert load), explicit.
// Plain data, no torch: the CLI, the coordinator, the system model and the GUI editor share it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/base/run_events.h"

namespace fomoe {

class PlacementPlan {
 public:
  PlacementPlan() = default;
  PlacementPlan(int n_sites, int n_moe_layers, int n_experts);

  /// Every expert on r consecutive sites, rotating the starting site per expert and layer, so
  /// each site holds about r/K of each layer's experts.
  static PlacementPlan round_robin(int n_sites, int n_moe_layers, int n_experts, int replication);
  /// Balances expected load: experts sorted by recorded load (heaviest first) go to the r sites
  /// with the least load so far (ties: fewer experts held, then lower id). `load[l][e]` = tokens.
  static PlacementPlan load_aware(int n_sites, const std::vector<std::vector<int64_t>>& load, int replication);
  /// Data affinity: each site holds the experts its own tokens route to most, as far as capacity
  /// allows (every expert on r sites, every site about r E / K experts per layer). For non-IID
  /// sites this cuts the skip rate. `site_load[s][l][e]` = tokens site s routed to expert e.
  static PlacementPlan affinity(const std::vector<std::vector<std::vector<int64_t>>>& site_load, int replication);
  /// holders[l][e] = sites holding expert e of MoE layer l.
  static Expected<PlacementPlan> from_holders(int n_sites, const std::vector<std::vector<std::vector<int>>>& holders);

  int n_sites() const { return n_sites_; }
  int n_moe_layers() const { return static_cast<int>(holders_.size()); }
  int n_experts() const { return holders_.empty() ? 0 : static_cast<int>(holders_[0].size()); }
  const std::vector<int>& holders(int layer, int expert) const { return holders_[layer][expert]; }
  bool holds(int site, int layer, int expert) const;
  void set_holders(int layer, int expert, std::vector<int> sites);
  /// Room for more sites (ids n_sites()..n-1), holding nothing yet: sites that may join later.
  void widen(int n_sites) { n_sites_ = std::max(n_sites_, n_sites); }

  /// An expert copy given to a site by one of the two healing decisions below.
  struct Move {
    int layer, expert, site;
  };
  /// No orphaned expert: each expert whose every holder is not alive gets one more holder, the
  /// live site holding the fewest experts of that layer (ties: lower id). alive[site] per site.
  std::vector<Move> rehome_orphans(const std::vector<bool>& alive);
  /// A site that joins holds, per layer, as many experts as a live site holds on average (at
  /// least one), the least replicated among live sites first, then the most loaded (load[l][e]
  /// summed over sites; empty = no load known), then the lowest id; or every expert with
  /// all_experts. It adds copies and takes none away. The site itself counts as not alive.
  std::vector<Move> add_joining_site(int site, const std::vector<bool>& alive, const std::vector<std::vector<int64_t>>& load,
                                     bool all_experts);

  /// For one site: per MoE layer, the sorted experts it holds (a model Residency's content).
  std::vector<std::vector<int>> experts_of_site(int site) const;
  int n_held_by_site(int site) const;
  /// Refuses an expert with no holder, a site id out of range, a duplicate holder.
  Status validate() const;
  std::vector<PlacementEntry> entries(int round) const;
  /// [[[sites of e0], [sites of e1], ...] per layer] — the TOML/JSON form.
  const std::vector<std::vector<std::vector<int>>>& holders() const { return holders_; }

 private:
  int n_sites_ = 0;
  std::vector<std::vector<std::vector<int>>> holders_;  // [layer][expert] -> sites (sorted)
};

}  // namespace fomoe
