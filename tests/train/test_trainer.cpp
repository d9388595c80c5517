// Trainer: overfits a batch, leaves untouched experts untouched, resumes exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "fomoe/train/trainer.h"
#include "train_test_util.h"

using namespace fomoe;

namespace {

ExperimentConfig tiny_config() { return test::tiny_train_config(); }

torch::Tensor batch(int seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(0, 64, {4, 17}, g, torch::kLong);
}

TEST(Trainer, OverfitsOneBatch) {
  Trainer t(tiny_config(), residency_from(tiny_config()), torch::kCPU);
  auto b = batch(1);
  const double first = t.train_step(b).loss;
  double last = first;
  for (int i = 0; i < 30; ++i) last = t.train_step(b).loss;
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(Trainer, LrScheduleWarmsUpThenDecays) {
  Trainer t(tiny_config(), residency_from(tiny_config()), torch::kCPU);
  EXPECT_NEAR(t.lr_at(0), 0.5e-2, 1e-12);
  EXPECT_NEAR(t.lr_at(1), 1e-2, 1e-12);
  EXPECT_NEAR(t.lr_at(2), 1e-2, 1e-12);
  EXPECT_NEAR(t.lr_at(40), 1e-3, 1e-9);  // min_lr_ratio 0.1 at the end
  EXPECT_GT(t.lr_at(10), t.lr_at(30));
}

TEST(Trainer, ExpertThatSawNoTokenIsNotUpdated) {
  auto cfg = tiny_config();
  Trainer t(cfg, residency_from(cfg), torch::kCPU);
  // Force the router of layer 0 to never pick expert 3: a large negative bias via its weights
  // is not possible without bias, so zero the routes by making expert 3's row huge negative
  // against a constant input direction is fragile; instead check the invariant directly:
  // after a step, every expert without processed tokens has an undefined gradient and is unchanged.
  std::map<std::string, torch::Tensor> before;
  for (auto& p : t.model()->named_parameters()) before[p.key()] = p.value().detach().clone();
  auto s = t.train_step(batch(2).narrow(0, 0, 1).narrow(1, 0, 3));  // 2 tokens -> at most 4 picks per layer
  int untouched = 0;
  for (size_t l = 0; l < s.routing.size(); ++l)
    for (int e = 0; e < 4; ++e) {
      if (s.routing[l].processed[static_cast<size_t>(e)] != 0) continue;
      const int block = static_cast<int>(l);  // moe_every = 1: block index == MoE layer index
      for (const char* w : {"w_in", "w_out"}) {
        const std::string name = "layers." + std::to_string(block) + ".moe.expert_" + std::to_string(e) + "." + w;
        auto* p = t.model()->named_parameters().find(name);
        ASSERT_NE(p, nullptr) << name;
        EXPECT_FALSE(p->grad().defined()) << name;
        EXPECT_TRUE(torch::equal(*p, before[name])) << name << " moved without tokens (weight decay or momentum)";
        ++untouched;
      }
    }
  EXPECT_GT(untouched, 0);
}

TEST(Trainer, CheckpointResumeGivesIdenticalNextLoss) {
  auto cfg = tiny_config();
  auto dir = std::filesystem::temp_directory_path() / "fomoe_test_ckpt";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "ckpt.pt").string();
  Trainer a(cfg, residency_from(cfg), torch::kCPU);
  for (int i = 0; i < 5; ++i) a.train_step(batch(10 + i));
  ASSERT_TRUE(a.save_checkpoint(path, {{"sampler", 1234}}).is_ok());
  const double expected = a.train_step(batch(99)).loss;

  auto other = cfg;
  other.run.seed = 777;  // different init: everything must come from the checkpoint
  Trainer b(other, residency_from(other), torch::kCPU);
  auto extra = b.load_checkpoint(path);
  ASSERT_TRUE(extra) << extra.error().message;
  EXPECT_EQ(extra->at("sampler"), 1234);
  EXPECT_EQ(b.step(), 5);
  EXPECT_EQ(b.train_step(batch(99)).loss, expected);
  std::filesystem::remove_all(dir);
}

TEST(Trainer, CorruptCheckpointIsAClearError) {
  auto cfg = tiny_config();
  auto path = (std::filesystem::temp_directory_path() / "fomoe_bad_ckpt.pt").string();
  { std::ofstream(path) << "not a checkpoint"; }
  Trainer t(cfg, residency_from(cfg), torch::kCPU);
  auto r = t.load_checkpoint(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Corrupt);
  EXPECT_NE(r.error().message.find(path), std::string::npos);
  std::filesystem::remove(path);
}

TEST(Trainer, PartialResidencyReportsSkips) {
  auto cfg = tiny_config();
  cfg.model.residency = 0.5;
  Trainer t(cfg, residency_from(cfg), torch::kCPU);
  auto s = t.train_step(batch(5));
  ASSERT_EQ(s.routing.size(), 2u);
  EXPECT_GT(s.routing[0].skip_rate(), 0.0);
  EXPECT_LT(s.routing[0].skip_rate(), 1.0);
  EXPECT_EQ(s.routing[0].processed[2] + s.routing[0].processed[3], 0);
}

// A re-planned placement: the rebuilt site model keeps the step, the values and the AdamW state of
// what it kept; a newly held expert starts without optimizer state. Training on from there equals
// training on with the old model for the kept parameters' first update.
TEST(Trainer, AdoptStateKeepsStepAndOptimizerStateOfKeptParameters) {
  auto cfg = tiny_config();
  Residency first;
  first.experts_per_layer = {{0, 1}, {0, 1}};
  Residency second;
  second.experts_per_layer = {{0, 2}, {0, 1}};
  Trainer old(cfg, first, torch::kCPU);
  for (int i = 0; i < 3; ++i) old.train_step(batch(10 + i));
  Trainer next(cfg, second, torch::kCPU);
  next.adopt_state_from(old);
  EXPECT_EQ(next.step(), 3);
  auto& old_state = old.optimizer().state();
  auto& new_state = next.optimizer().state();
  auto old_params = old.model()->named_parameters();
  for (auto& p : next.model()->named_parameters()) {
    const auto* prev = old_params.find(p.key());
    auto it = new_state.find(p.value().unsafeGetTensorImpl());
    if (prev == nullptr) {  // layers.0.moe.expert_2: new here
      EXPECT_EQ(p.key().find("layers.0.moe.expert_2"), 0u) << p.key();
      EXPECT_EQ(it, new_state.end()) << p.key();
      continue;
    }
    EXPECT_TRUE(torch::equal(p.value(), *prev)) << p.key();
    auto old_it = old_state.find(prev->unsafeGetTensorImpl());
    ASSERT_EQ(it == new_state.end(), old_it == old_state.end()) << p.key();
    if (it == new_state.end()) continue;
    auto& a = static_cast<torch::optim::AdamWParamState&>(*it->second);
    auto& b = static_cast<torch::optim::AdamWParamState&>(*old_it->second);
    EXPECT_EQ(a.step(), b.step()) << p.key();
    EXPECT_TRUE(torch::equal(a.exp_avg(), b.exp_avg())) << p.key();
    EXPECT_TRUE(torch::equal(a.exp_avg_sq(), b.exp_avg_sq())) << p.key();
  }
  // And it trains on.
  EXPECT_TRUE(std::isfinite(next.train_step(batch(20)).loss));
}

}  // namespace
