// Data parallel inside a site (c10d, Gloo on CPU): two ranks on halves of a batch train exactly
// as one device on the whole batch, and the replicas stay identical.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fomoe/train/site_trainer.h"
#include "train_test_util.h"

using namespace fomoe;

namespace {

ExperimentConfig tiny_config() {
  auto c = test::tiny_train_config();
  // The Switch aux loss is not linear in the batch (a product of two batch means), so halves
  // would not add up to the whole; everything else is a per-token mean.
  c.model.aux_loss_coef = 0.0;
  c.train.steps = 20;
  return c;
}

torch::Tensor batch(int seed, const ExperimentConfig& c) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(0, c.model.vocab_size, {c.train.batch_size, c.model.seq_len + 1}, gen, torch::kLong);
}

double max_param_diff(Trainer& a, Trainer& b) {
  double worst = 0;
  auto pb = b.model()->named_parameters();
  for (auto& p : a.model()->named_parameters())
    worst = std::max(worst, (p.value() - pb[p.key()].to(p.value().device())).abs().max().item<double>());
  return worst;
}

TEST(SiteTrainer, TwoCpuRanksTrainAsOneDeviceOnTheWholeBatch) {
  auto cfg = tiny_config();
  const auto res = residency_from(cfg);
  SiteTrainer site(cfg, res, resolve_devices("cpu,cpu"));
  ASSERT_EQ(site.world_size(), 2);
  EXPECT_EQ(site.backend(), "gloo");
  SiteTrainer single(cfg, res, resolve_devices("cpu"));
  EXPECT_EQ(single.backend(), "none");
  for (int i = 0; i < 5; ++i) {
    auto b = batch(i, cfg);
    auto s2 = site.train_step(b);
    auto s1 = single.train_step(b);
    EXPECT_NEAR(s2.loss, s1.loss, 1e-5) << "step " << i;
    EXPECT_EQ(s2.tokens, s1.tokens);
    ASSERT_EQ(s2.routing.size(), s1.routing.size());
    EXPECT_EQ(s2.routing[0].load, s1.routing[0].load) << "routing counts add up over the ranks";
  }
  EXPECT_LT(max_param_diff(site.primary(), single.primary()), 1e-5);
  EXPECT_EQ(max_param_diff(site.replica(0), site.replica(1)), 0.0) << "replicas must stay identical";
}

TEST(SiteTrainer, BroadcastMakesReplicasEqualAfterTheFederationWritesRankZero) {
  auto cfg = tiny_config();
  SiteTrainer site(cfg, residency_from(cfg), resolve_devices("cpu,cpu"));
  {
    torch::NoGradGuard g;
    for (auto& p : site.primary().model()->parameters()) p.add_(0.5);
  }
  EXPECT_GT(max_param_diff(site.replica(0), site.replica(1)), 0.1);
  site.broadcast_parameters();
  EXPECT_EQ(max_param_diff(site.replica(0), site.replica(1)), 0.0);
}

TEST(SiteTrainer, UnevenBatchIsAClearError) {
  auto cfg = tiny_config();
  cfg.train.batch_size = 3;
  try {
    SiteTrainer site(cfg, residency_from(cfg), resolve_devices("cpu,cpu"));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("does not split evenly over the site's 2 devices"), std::string::npos)
        << e.what_without_backtrace();
  }
}

}  // namespace
