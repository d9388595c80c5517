// Aggregation and the outer step: token weighting, skipped experts, Photon averaging, quorum.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "fomoe/federation/global_model.h"

using namespace fomoe;

namespace {

ExperimentConfig cfg(Method m) {
  ExperimentConfig c;
  c.run.method = m;
  c.model.vocab_size = 32;
  c.model.d_model = 16;
  c.model.n_layers = 1;
  c.model.n_heads = 2;
  c.model.seq_len = 8;
  c.model.n_experts = 4;
  c.model.top_k = 2;
  c.model.d_expert = 8;
  c.federation.sites = 2;
  c.federation.replication = 1;
  c.federation.outer_lr = 1.0;
  c.federation.outer_momentum = 0.0;
  c.federation.nesterov = false;
  return c;
}

SiteUpdate update_for(GlobalModel& g, const PlacementPlan& plan, int site, float value, std::vector<int64_t> tokens) {
  SiteUpdate u;
  u.site = site;
  for (auto& name : g.names_for_site(plan, site)) u.tensors[name] = torch::full(g.shape_of(name), value);
  u.expert_tokens = {tokens};
  u.samples = 100;
  return u;
}

TEST(GlobalModel, FomoeSendsOnlyHeldExperts) {
  GlobalModel g(cfg(Method::FoMoE));
  auto plan = PlacementPlan::round_robin(2, 1, 4, 1);
  auto all = GlobalModel(cfg(Method::DiLoCo)).names_for_site(plan, 0);
  auto mine = g.names_for_site(plan, 0);
  EXPECT_EQ(all.size() - mine.size(), 2u * 2u);  // 2 experts not held x (w_in, w_out)
}

TEST(GlobalModel, ExpertsAveragedOverHoldersByTokensAndUntrainedExpertsSkipped) {
  auto c = cfg(Method::FoMoE);
  c.federation.replication = 2;  // both sites hold everything
  GlobalModel g(c);
  auto plan = PlacementPlan::round_robin(2, 1, 4, 2);
  auto before0 = g.parameter("layers.0.moe.expert_0.w_in").clone();
  auto before3 = g.parameter("layers.0.moe.expert_3.w_in").clone();
  auto dense_before = g.parameter("tok_emb.weight").clone();
  // expert 0: site 0 processed 3 tokens (delta 1), site 1 processed 1 token (delta 5): weighted mean 2.
  // expert 3: no tokens anywhere: no outer step.
  std::vector<SiteUpdate> ups = {update_for(g, plan, 0, 1.0f, {3, 1, 1, 0}), update_for(g, plan, 1, 5.0f, {1, 1, 1, 0})};
  auto stats = g.apply_round(ups, plan);
  EXPECT_TRUE(torch::allclose(g.parameter("layers.0.moe.expert_0.w_in"), before0 - 2.0));
  EXPECT_TRUE(torch::equal(g.parameter("layers.0.moe.expert_3.w_in"), before3));
  EXPECT_TRUE(torch::allclose(g.parameter("tok_emb.weight"), dense_before - 3.0));  // dense: uniform mean
  EXPECT_EQ(stats.expert_tensors_skipped, 2);  // expert 3's w_in and w_out
}

TEST(GlobalModel, UniformWeightingIgnoresTokenCounts) {
  auto c = cfg(Method::FoMoE);
  c.federation.replication = 2;
  c.federation.expert_weighting = ExpertWeighting::Uniform;
  GlobalModel g(c);
  auto plan = PlacementPlan::round_robin(2, 1, 4, 2);
  auto before = g.parameter("layers.0.moe.expert_1.w_out").clone();
  g.apply_round({update_for(g, plan, 0, 1.0f, {1, 9, 1, 1}), update_for(g, plan, 1, 5.0f, {1, 1, 1, 1})}, plan);
  EXPECT_TRUE(torch::allclose(g.parameter("layers.0.moe.expert_1.w_out"), before - 3.0));
}

TEST(GlobalModel, DeadSiteExpertsSkipTheirOuterStepEvenWithMomentum) {
  auto c = cfg(Method::FoMoE);
  c.federation.outer_momentum = 0.9;
  c.federation.nesterov = true;
  GlobalModel g(c);
  auto plan = PlacementPlan::round_robin(2, 1, 4, 1);  // experts 0,2 on site 0; 1,3 on site 1
  g.apply_round({update_for(g, plan, 0, 1.0f, {5, 5, 5, 5}), update_for(g, plan, 1, 1.0f, {5, 5, 5, 5})}, plan);
  auto held_by_1 = g.parameter("layers.0.moe.expert_1.w_in").clone();
  // Round 2: site 1 is dead; its experts must not move although they have momentum.
  g.apply_round({update_for(g, plan, 0, 1.0f, {5, 5, 5, 5})}, plan);
  EXPECT_TRUE(torch::equal(g.parameter("layers.0.moe.expert_1.w_in"), held_by_1));
}

TEST(GlobalModel, PhotonFedAvgSetsMasterToSampleWeightedMean) {
  auto c = cfg(Method::Photon);  // server lr 1, momentum 0: FedAvg
  GlobalModel g(c);
  auto plan = PlacementPlan::round_robin(2, 1, 4, 2);
  auto a = update_for(g, plan, 0, 1.0f, {1, 1, 1, 1});
  auto b = update_for(g, plan, 1, 4.0f, {1, 1, 1, 1});
  a.samples = 300;
  b.samples = 100;
  g.apply_round({a, b}, plan);
  EXPECT_TRUE(torch::allclose(g.parameter("head.weight"), torch::full(g.shape_of("head.weight"), 1.75f)));
}

TEST(GlobalModel, DenseQuorumNotMetLeavesDenseUntouched) {
  auto c = cfg(Method::DiLoCo);
  c.federation.quorum = 2;
  GlobalModel g(c);
  auto plan = PlacementPlan::round_robin(2, 1, 4, 2);
  auto before = g.parameter("head.weight").clone();
  auto stats = g.apply_round({update_for(g, plan, 0, 1.0f, {1, 1, 1, 1})}, plan);
  EXPECT_FALSE(stats.dense_quorum_met);
  EXPECT_TRUE(torch::equal(g.parameter("head.weight"), before));
}

TEST(GlobalModel, SaveLoadRoundTrip) {
  auto c = cfg(Method::DiLoCo);
  c.federation.outer_momentum = 0.9;
  GlobalModel g(c);
  auto plan = PlacementPlan::round_robin(2, 1, 4, 2);
  g.apply_round({update_for(g, plan, 0, 0.5f, {1, 1, 1, 1})}, plan);
  auto path = (std::filesystem::temp_directory_path() / "fomoe_global_test.pt").string();
  ASSERT_TRUE(g.save(path, 7).is_ok());
  GlobalModel h(c);
  auto round = h.load(path);
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(*round, 7);
  // Same momentum state: the same next update gives the same parameters.
  g.apply_round({update_for(g, plan, 0, 0.5f, {1, 1, 1, 1})}, plan);
  h.apply_round({update_for(h, plan, 0, 0.5f, {1, 1, 1, 1})}, plan);
  EXPECT_TRUE(torch::equal(g.parameter("head.weight"), h.parameter("head.weight")));
  std::filesystem::remove(path);
}

}  // namespace
