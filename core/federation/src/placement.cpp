#include "fomoe/federation/placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fomoe {

PlacementPlan::PlacementPlan(int n_sites, int n_moe_layers, int n_experts)
    : n_sites_(n_sites),
      holders_(static_cast<size_t>(n_moe_layers), std::vector<std::vector<int>>(static_cast<size_t>(n_experts))) {}

PlacementPlan PlacementPlan::round_robin(int n_sites, int n_moe_layers, int n_experts, int replication) {
  PlacementPlan plan(n_sites, n_moe_layers, n_experts);
  const int r = std::clamp(replication, 1, n_sites);
  for (int l = 0; l < n_moe_layers; ++l)
    for (int e = 0; e < n_experts; ++e) {
      std::vector<int> sites;
      // Start at (e + l) so consecutive layers do not put the same expert ids on the same site.
      for (int j = 0; j < r; ++j) sites.push_back((e + l + j) % n_sites);
      plan.set_holders(l, e, sites);
    }
  return plan;
}

PlacementPlan PlacementPlan::load_aware(int n_sites, const std::vector<std::vector<int64_t>>& load, int replication) {
  const int n_layers = static_cast<int>(load.size());
  const int n_experts = n_layers ? static_cast<int>(load[0].size()) : 0;
  PlacementPlan plan(n_sites, n_layers, n_experts);
  const int r = std::clamp(replication, 1, n_sites);
  for (int l = 0; l < n_layers; ++l) {
    std::vector<int> order(static_cast<size_t>(n_experts));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load[l][a] > load[l][b]; });
    std::vector<int64_t> site_load(static_cast<size_t>(n_sites), 0);
    std::vector<int> site_count(static_cast<size_t>(n_sites), 0);
    for (int e : order) {
      std::vector<int> sites(static_cast<size_t>(n_sites));
      std::iota(sites.begin(), sites.end(), 0);
      std::stable_sort(sites.begin(), sites.end(), [&](int a, int b) {
        if (site_load[a] != site_load[b]) return site_load[a] < site_load[b];
        return site_count[a] < site_count[b];
      });
      sites.resize(static_cast<size_t>(r));
      // Each holder sees about 1/r of the expert's tokens (tokens are spread over the federation).
      for (int s : sites) {
        site_load[s] += std::max<int64_t>(1, load[l][e] / r);
        site_count[s] += 1;
      }
      plan.set_holders(l, e, sites);
    }
  }
  return plan;
}

PlacementPlan PlacementPlan::affinity(const std::vector<std::vector<std::vector<int64_t>>>& site_load, int replication) {
  const int K = static_cast<int>(site_load.size());
  const int n_layers = K ? static_cast<int>(site_load[0].size()) : 0;
  const int E = n_layers ? static_cast<int>(site_load[0][0].size()) : 0;
  PlacementPlan plan(K, n_layers, E);
  const int r = std::clamp(replication, 1, std::max(1, K));
  const int capacity = (r * E + K - 1) / K;  // slots per site and layer; K * capacity >= r * E
  for (int l = 0; l < n_layers; ++l) {
    // Each site's share of its own tokens per expert, so a site with more data does not take all.
    std::vector<std::vector<double>> share(static_cast<size_t>(K), std::vector<double>(static_cast<size_t>(E), 0.0));
    for (int s = 0; s < K; ++s) {
      int64_t total = 0;
      for (int e = 0; e < E; ++e) total += site_load[s][l][e];
      for (int e = 0; e < E; ++e) share[s][e] = total > 0 ? static_cast<double>(site_load[s][l][e]) / static_cast<double>(total) : 0.0;
    }
    std::vector<std::vector<bool>> holds(static_cast<size_t>(K), std::vector<bool>(static_cast<size_t>(E), false));
    std::vector<int> n_site(static_cast<size_t>(K), 0), n_expert(static_cast<size_t>(E), 0);
    auto give = [&](int s, int e) {
      holds[s][e] = true;
      ++n_site[s];
      ++n_expert[e];
    };
    // Greedy on the strongest (site, expert) affinities first; ties: lower site, then lower expert.
    std::vector<std::pair<int, int>> pairs;
    for (int s = 0; s < K; ++s)
      for (int e = 0; e < E; ++e) pairs.emplace_back(s, e);
    std::stable_sort(pairs.begin(), pairs.end(), [&](auto a, auto b) { return share[a.first][a.second] > share[b.first][b.second]; });
    for (auto [s, e] : pairs)
      if (n_expert[e] < r && n_site[s] < capacity) give(s, e);
    // Experts still short of holders (capacity ran out at their favourite sites): any site with room
    // that does not hold them yet, the most affine first; if every site with room already holds
    // the expert, move one of a full site's experts to a site with room, then take its slot.
    for (int e = 0; e < E; ++e)
      while (n_expert[e] < r) {
        int best = -1;
        for (int s = 0; s < K; ++s)
          if (!holds[s][e] && n_site[s] < capacity && (best < 0 || share[s][e] > share[best][e])) best = s;
        if (best >= 0) {
          give(best, e);
          continue;
        }
        int roomy = -1, full = -1;
        for (int s = 0; s < K && roomy < 0; ++s)
          if (n_site[s] < capacity) roomy = s;  // it holds e (else it would have been picked)
        for (int s = 0; s < K && full < 0; ++s)
          if (!holds[s][e]) full = s;
        int moved = -1;
        for (int f = 0; f < E && moved < 0; ++f)
          if (holds[full][f] && !holds[roomy][f]) moved = f;
        if (roomy < 0 || full < 0 || moved < 0) break;  // cannot happen while r <= K (pigeonhole)
        holds[full][moved] = false;
        --n_site[full];
        --n_expert[moved];
        give(roomy, moved);
        give(full, e);
      }
    for (int e = 0; e < E; ++e) {
      std::vector<int> sites;
      for (int s = 0; s < K; ++s)
        if (holds[s][e]) sites.push_back(s);
      plan.set_holders(l, e, sites);
    }
  }
  return plan;
}

Expected<PlacementPlan> PlacementPlan::from_holders(int n_sites, const std::vector<std::vector<std::vector<int>>>& holders) {
  PlacementPlan plan;
  plan.n_sites_ = n_sites;
  plan.holders_ = holders;
  for (auto& layer : plan.holders_)
    for (auto& e : layer) std::sort(e.begin(), e.end());
  auto st = plan.validate();
  if (!st) return st.error();
  return plan;
}

bool PlacementPlan::holds(int site, int layer, int expert) const {
  const auto& h = holders_[layer][expert];
  return std::binary_search(h.begin(), h.end(), site);
}

void PlacementPlan::set_holders(int layer, int expert, std::vector<int> sites) {
  std::sort(sites.begin(), sites.end());
  holders_[layer][expert] = std::move(sites);
}

std::vector<std::vector<int>> PlacementPlan::experts_of_site(int site) const {
  std::vector<std::vector<int>> out(holders_.size());
  for (size_t l = 0; l < holders_.size(); ++l)
    for (size_t e = 0; e < holders_[l].size(); ++e)
      if (holds(site, static_cast<int>(l), static_cast<int>(e))) out[l].push_back(static_cast<int>(e));
  return out;
}

int PlacementPlan::n_held_by_site(int site) const {
  int n = 0;
  for (const auto& l : experts_of_site(site)) n += static_cast<int>(l.size());
  return n;
}

std::vector<PlacementPlan::Move> PlacementPlan::rehome_orphans(const std::vector<bool>& alive) {
  auto is_alive = [&](int k) { return k >= 0 && k < static_cast<int>(alive.size()) && alive[static_cast<size_t>(k)]; };
  std::vector<Move> moves;
  for (int l = 0; l < n_moe_layers(); ++l)
    for (int e = 0; e < n_experts(); ++e) {
      auto holders = holders_[l][e];
      if (std::any_of(holders.begin(), holders.end(), is_alive)) continue;
      int best = -1, best_held = 0;
      for (int k = 0; k < n_sites_; ++k) {
        if (!is_alive(k)) continue;
        int held = 0;
        for (int x = 0; x < n_experts(); ++x) held += holds(k, l, x) ? 1 : 0;
        if (best < 0 || held < best_held) best = k, best_held = held;
      }
      if (best < 0) return moves;  // nobody is alive: nothing to move to
      holders.push_back(best);
      std::sort(holders.begin(), holders.end());
      set_holders(l, e, holders);
      moves.push_back({l, e, best});
    }
  return moves;
}

std::vector<PlacementPlan::Move> PlacementPlan::add_joining_site(int site, const std::vector<bool>& alive,
                                                                 const std::vector<std::vector<int64_t>>& load, bool all_experts) {
  widen(site + 1);
  auto is_alive = [&](int k) { return k != site && k >= 0 && k < static_cast<int>(alive.size()) && alive[static_cast<size_t>(k)]; };
  const int E = n_experts();
  std::vector<Move> moves;
  for (int l = 0; l < n_moe_layers(); ++l) {
    int share = E;
    if (!all_experts) {
      int total = 0, n = 0;
      for (int k = 0; k < n_sites_; ++k) {
        if (!is_alive(k)) continue;
        for (int e = 0; e < E; ++e) total += holds(k, l, e) ? 1 : 0;
        ++n;
      }
      share = n > 0 ? std::clamp(static_cast<int>(std::lround(static_cast<double>(total) / n)), 1, E) : 1;
    }
    auto live_holders = [&](int e) {
      return static_cast<int>(std::count_if(holders_[l][e].begin(), holders_[l][e].end(), is_alive));
    };
    auto load_of = [&](int e) { return l < static_cast<int>(load.size()) && e < static_cast<int>(load[l].size()) ? load[l][e] : 0; };
    std::vector<int> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      if (live_holders(a) != live_holders(b)) return live_holders(a) < live_holders(b);
      return load_of(a) > load_of(b);
    });
    order.resize(static_cast<size_t>(share));
    std::sort(order.begin(), order.end());
    for (int e : order) {
      if (holds(site, l, e)) continue;
      auto holders = holders_[l][e];
      holders.push_back(site);
      std::sort(holders.begin(), holders.end());
      set_holders(l, e, holders);
      moves.push_back({l, e, site});
    }
  }
  return moves;
}

Status PlacementPlan::validate() const {
  auto bad = [](const std::string& m) { return Status(make_error(ErrorCode::InvalidArgument, m)); };
  if (n_sites_ < 1) return bad("placement: needs at least one site");
  for (size_t l = 0; l < holders_.size(); ++l) {
    if (!holders_.empty() && holders_[l].size() != holders_[0].size())
      return bad("placement: MoE layer " + std::to_string(l) + " lists " + std::to_string(holders_[l].size()) +
                 " experts, layer 0 lists " + std::to_string(holders_[0].size()));
    for (size_t e = 0; e < holders_[l].size(); ++e) {
      const auto& h = holders_[l][e];
      const std::string where = "placement: expert " + std::to_string(e) + " of MoE layer " + std::to_string(l);
      if (h.empty()) return bad(where + " has no holder: every expert needs at least one site");
      for (size_t i = 0; i < h.size(); ++i) {
        if (h[i] < 0 || h[i] >= n_sites_)
          return bad(where + " names site " + std::to_string(h[i]) + ", valid sites are 0.." + std::to_string(n_sites_ - 1));
        if (i > 0 && h[i] == h[i - 1]) return bad(where + " names site " + std::to_string(h[i]) + " twice");
      }
    }
  }
  return Status::ok();
}

std::vector<PlacementEntry> PlacementPlan::entries(int round) const {
  std::vector<PlacementEntry> out;
  for (size_t l = 0; l < holders_.size(); ++l)
    for (size_t e = 0; e < holders_[l].size(); ++e)
      for (int s : holders_[l][e]) out.push_back(PlacementEntry{round, static_cast<int>(l), static_cast<int>(e), s});
  return out;
}

}  // namespace fomoe
