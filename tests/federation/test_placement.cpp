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

}  // namespace
