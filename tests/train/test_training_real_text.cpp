// Training on the real corpus: the held-out loss falls clearly below the data's unigram entropy;
// a golden per-step loss file pins the CPU numerics; bad data settings are clear errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <iomanip>

#include "fomoe/train/data_feed.h"
#include "fomoe/train/single_site.h"
#include "fomoe/train/trainer.h"

using namespace fomoe;

namespace {

ExperimentConfig small() {
  ExperimentConfig c;
  c.run.name = "real-text";
  c.model.vocab_size = 512;
  c.model.d_model = 64;
  c.model.n_layers = 2;
  c.model.n_heads = 2;
  c.model.seq_len = 64;
  c.model.n_experts = 4;
  c.model.top_k = 2;
  c.model.d_expert = 128;
  c.data.max_bytes = 400000;
  c.data.cache_dir = std::string(FOMOE_BINARY_DIR) + "/test-data-cache";
  c.train.steps = 200;
  c.train.batch_size = 8;
  c.train.lr = 1e-2;
  c.train.warmup_steps = 10;
  c.train.eval_every = 0;
  c.train.eval_batches = 4;
  return c;
}

TEST(TrainingRealText, HeldOutLossFallsClearlyBelowUnigramEntropy) {
  auto r = run_single_site(small(), nullptr, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(r->unigram_entropy, 4.0);
  EXPECT_LT(r->final_eval_loss, r->unigram_entropy - 0.25)
      << "held-out " << r->final_eval_loss << " vs unigram entropy " << r->unigram_entropy;
}

TEST(TrainingRealText, GoldenPerStepLossesOnCpu) {
  torch::set_num_threads(1);  // reduction order fixed: the golden file is exact to float noise
  auto c = small();
  c.train.steps = 20;
  c.model.residency = 0.5;  // skip-token in the loop too
  auto feed = DataFeed::open(c, 1, 0);
  ASSERT_TRUE(feed) << feed.error().message;
  Trainer t(c, residency_from(c), torch::kCPU);
  std::vector<double> losses;
  for (int i = 0; i < c.train.steps; ++i) losses.push_back(t.train_step((*feed)->next_batch()).loss);
  const std::string path = std::string(FOMOE_SOURCE_DIR) + "/tests/golden/losses_cpu.txt";
  if (std::getenv("FOMOE_UPDATE_GOLDEN")) {
    std::ofstream out(path);
    out << std::setprecision(9);
    for (double l : losses) out << l << "\n";
    GTEST_SKIP() << "wrote " << path;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing " << path << " (make it with FOMOE_UPDATE_GOLDEN=1)";
  std::vector<double> golden;
  for (double v; in >> v;) golden.push_back(v);
  ASSERT_EQ(golden.size(), losses.size());
  for (size_t i = 0; i < losses.size(); ++i) EXPECT_NEAR(losses[i], golden[i], 2e-4 * golden[i]) << "step " << i;
  EXPECT_LT(losses.back(), losses.front());
}

TEST(TrainingRealText, MissingSourceTextIsAClearError) {
  auto c = small();
  c.data.sources = {"fortunes-en", "no-such-source"};
  auto r = run_single_site(c, nullptr, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no-such-source"), std::string::npos) << r.error().message;
}

TEST(TrainingRealText, VocabularyMismatchIsNamed) {
  auto c = small();
  c.model.vocab_size = 100;  // below the 257 a byte-level tokenizer needs
  auto r = run_single_site(c, nullptr, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("vocab"), std::string::npos) << r.error().message;
}

}  // namespace
