#include <gtest/gtest.h>

#include "fomoe/federation/placement.h"

#include <random>

using fomoe::PlacementPlan;

namespace {

TEST(Placement, RoundRobinGivesEveryExpertRHoldersAndBalancesSites) {
  auto plan = PlacementPlan::round_robin(/*n_sites=*/4, /*n_moe_layers=*/3, /*n_experts=*/8, /*replication=*/2);
  ASSERT_TRUE(plan.validate().is_ok());
  for (int l = 0; l < 3; ++l)
    for (int e = 0; e < 8; ++e) EXPECT_EQ(plan.holders(l, e).size(), 2u);
  for (int s = 0; s < 4; ++s) EXPECT_EQ(plan.n_held_by_site(s), 3 * 8 * 2 / 4);
}

TEST(Placement, FullReplicationHoldsEverything) {
  auto plan = PlacementPlan::round_robin(3, 2, 5, 3);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(plan.n_held_by_site(s), 10);
}

TEST(Placement, ExpertWithoutHolderIsRefused) {
  auto plan = PlacementPlan::from_holders(2, {{{0}, {}, {1}}});
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().message, "placement: expert 1 of MoE layer 0 has no holder: every expert needs at least one site");
  auto bad_site = PlacementPlan::from_holders(2, {{{0}, {5}}});
  ASSERT_FALSE(bad_site);
  EXPECT_NE(bad_site.error().message.find("names site 5, valid sites are 0..1"), std::string::npos);
}

TEST(Placement, LoadAwareSpreadsHeavyExperts) {
  // Two heavy experts and six light ones over 2 sites, r = 1: the heavy ones must not share a site.
  std::vector<std::vector<int64_t>> load = {{1000, 10, 10, 900, 10, 10, 10, 10}};
  auto plan = PlacementPlan::load_aware(2, load, 1);
  ASSERT_TRUE(plan.validate().is_ok());
  EXPECT_NE(plan.holders(0, 0)[0], plan.holders(0, 3)[0]);
}

TEST(Placement, ExpertsOfSiteMatchHolds) {
  auto plan = PlacementPlan::round_robin(4, 2, 6, 1);
  for (int s = 0; s < 4; ++s) {
    auto mine = plan.experts_of_site(s);
    for (int l = 0; l < 2; ++l)
      for (int e : mine[l]) EXPECT_TRUE(plan.holds(s, l, e));
  }
  EXPECT_EQ(plan.entries(3).size(), 2u * 6u);
}

using SiteLoad = std::vector<std::vector<std::vector<int64_t>>>;  // [site][layer][expert]

TEST(Placement, AffinityGivesEachSiteTheExpertsItsDataUses) {
  // Four sites, eight experts, r = 1: site s routes almost only to experts 2s and 2s+1.
  SiteLoad load(4, std::vector<std::vector<int64_t>>(1, std::vector<int64_t>(8, 1)));
  for (int s = 0; s < 4; ++s) load[s][0][2 * s] = load[s][0][2 * s + 1] = 500;
  auto plan = PlacementPlan::affinity(load, 1);
  ASSERT_TRUE(plan.validate().is_ok());
  for (int s = 0; s < 4; ++s) EXPECT_EQ(plan.experts_of_site(s)[0], (std::vector<int>{2 * s, 2 * s + 1})) << "site " << s;
}

TEST(Placement, AffinityKeepsRHoldersAndSiteCapacityForAnyLoad) {
  // Adversarial and random loads: every expert exactly r holders, no site above ceil(r E / K).
  std::mt19937 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    const int K = 1 + static_cast<int>(rng() % 7), E = 1 + static_cast<int>(rng() % 12), L = 1 + static_cast<int>(rng() % 3);
    const int r = 1 + static_cast<int>(rng() % K);
    SiteLoad load(static_cast<size_t>(K), std::vector<std::vector<int64_t>>(static_cast<size_t>(L), std::vector<int64_t>(static_cast<size_t>(E))));
    for (auto& site : load)
      for (auto& layer : site)
        for (auto& v : layer) v = trial % 3 == 0 ? (&v == &layer[0] ? 1000 : 0) : static_cast<int64_t>(rng() % 1000);
    auto plan = PlacementPlan::affinity(load, r);
    ASSERT_TRUE(plan.validate().is_ok()) << "K=" << K << " E=" << E << " r=" << r;
    const int capacity = (r * E + K - 1) / K;
    for (int l = 0; l < L; ++l) {
      for (int e = 0; e < E; ++e) EXPECT_EQ(static_cast<int>(plan.holders(l, e).size()), r) << "K=" << K << " E=" << E << " r=" << r;
      for (int s = 0; s < K; ++s) EXPECT_LE(static_cast<int>(plan.experts_of_site(s)[l].size()), capacity);
    }
  }
}

TEST(Placement, OrphansGoToTheLiveSiteHoldingFewestOfThatLayer) {
  auto plan = PlacementPlan::round_robin(4, 2, 4, 1);  // every expert on one site
  plan.set_holders(0, 1, {0, 1});                       // site 0 holds two of layer 0
  std::vector<bool> alive = {true, true, false, true};
  const auto moves = plan.rehome_orphans(alive);
  ASSERT_FALSE(moves.empty());
  for (int l = 0; l < 2; ++l)
    for (int e = 0; e < 4; ++e) {
      bool live = false;
      for (int h : plan.holders(l, e)) live |= alive[static_cast<size_t>(h)];
      EXPECT_TRUE(live) << "layer " << l << " expert " << e;
    }
  for (const auto& m : moves) {
    EXPECT_TRUE(alive[static_cast<size_t>(m.site)]);
    EXPECT_TRUE(plan.holds(2, m.layer, m.expert)) << "the dead holder stays in the plan for when it rejoins";
  }
  EXPECT_TRUE(plan.validate());
  EXPECT_TRUE(plan.rehome_orphans(alive).empty()) << "healed: nothing left to move";
  EXPECT_TRUE(plan.rehome_orphans({false, false, false, false}).empty()) << "nobody alive: nowhere to move";
}

TEST(Placement, AJoiningSiteGetsAMeanShareLeastReplicatedFirst) {
  auto plan = PlacementPlan::round_robin(3, 2, 6, 1);  // each of 3 sites holds 2 of 6 per layer
  plan.set_holders(0, 0, {0, 1});                       // layer 0: expert 0 has two copies
  plan.widen(5);
  std::vector<bool> alive = {true, true, true, false, false};
  std::vector<std::vector<int64_t>> load = {{9, 1, 1, 1, 1, 8}, {0, 0, 0, 0, 0, 0}};
  const auto moves = plan.add_joining_site(4, alive, load, /*all_experts=*/false);
  const auto mine = plan.experts_of_site(4);
  ASSERT_EQ(mine.size(), 2u);
  // Layer 0: 7 copies over 3 live sites -> 2 experts; expert 0 has two copies, the rest one:
  // among those, the most loaded (5, then 1 by the lower id) go first.
  EXPECT_EQ(mine[0], (std::vector<int>{1, 5}));
  EXPECT_EQ(mine[1], (std::vector<int>{0, 1}));  // no load known: the lowest ids
  EXPECT_EQ(moves.size(), 4u);
  for (int site = 0; site < 3; ++site) EXPECT_EQ(plan.n_held_by_site(site), site == 1 ? 5 : 4) << "nobody lost an expert";
  EXPECT_TRUE(plan.validate());
  // The other methods' sites hold everything.
  auto full = PlacementPlan::round_robin(2, 2, 4, 2);
  full.add_joining_site(2, {true, true, false}, {}, /*all_experts=*/true);
  EXPECT_EQ(full.n_held_by_site(2), 8);
  EXPECT_EQ(full.n_sites(), 3);
}

}  // namespace
