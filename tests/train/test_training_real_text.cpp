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

struct SampleSink : RunSink {
  std::vector<SampleEntry> samples;
  std::vector<double> losses;  // every metric value, in order
  void on_samples(const std::vector<SampleEntry>& s) override { samples.insert(samples.end(), s.begin(), s.end()); }
  void on_metrics(const std::vector<MetricPoint>& p) override {
    for (const auto& m : p)
      if (m.name == metric::kTrainLoss || m.name == metric::kEvalLoss) losses.push_back(m.value);
  }
};

// After each evaluation the model continues the fixed prompts greedily: text a person reads,
// the same on a rerun, and training itself is the same with samples on or off.
TEST(TrainingRealText, SamplesAfterEachEvaluationLeaveTrainingUnchanged) {
  torch::set_num_threads(1);  // bit-identical reruns
  auto c = small();
  c.train.steps = 60;
  c.train.eval_every = 20;
  c.train.sample_prompts = {"The ", "A computer is"};
  c.train.sample_tokens = 12;
  SampleSink a, b, off;
  ASSERT_TRUE(run_single_site(c, &a, {}));
  ASSERT_TRUE(run_single_site(c, &b, {}));
  auto quiet = c;
  quiet.train.sample_tokens = 0;
  ASSERT_TRUE(run_single_site(quiet, &off, {}));
  EXPECT_TRUE(off.samples.empty());
  ASSERT_EQ(a.samples.size(), 6u);  // 3 evaluations x 2 prompts
  size_t written = 0;
  for (size_t i = 0; i < a.samples.size(); ++i) {
    const SampleEntry& e = a.samples[i];
    EXPECT_EQ(e.step, static_cast<long>(20 * (i / 2 + 1)));
    EXPECT_EQ(e.round, -1);
    EXPECT_EQ(e.prompt_index, static_cast<int>(i % 2));
    EXPECT_EQ(e.prompt, c.train.sample_prompts[i % 2]);
    EXPECT_EQ(e.text, b.samples[i].text) << "greedy continuations are the same on a rerun";
    written += e.text.size();
  }
  EXPECT_GT(written, 0u) << "the model continued no prompt at all";
  ASSERT_EQ(a.losses.size(), off.losses.size());
  for (size_t i = 0; i < a.losses.size(); ++i) EXPECT_EQ(a.losses[i], off.losses[i]) << "metric " << i;
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
