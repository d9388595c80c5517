// CUDA paths of a site: a training step with bf16 autocast learns and stays close to the CPU;
// pinned-memory transfers of pseudo-gradients equal the plain path; several ranks of one site
// (c10d: NCCL on distinct GPUs, Gloo when they share one) train as one device on the whole batch.
// Skips without a GPU.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "fomoe/federation/tensor_wire.h"
#include "fomoe/train/site_trainer.h"
#include "train_test_util.h"

using namespace fomoe;

namespace {

ExperimentConfig small_config() {
  auto c = test::tiny_train_config();  // wider, so the GPU kernels see real shapes
  c.model.vocab_size = 256;
  c.model.d_model = 128;
  c.model.n_heads = 4;
  c.model.seq_len = 64;
  c.model.n_experts = 8;
  c.model.d_expert = 128;
  c.model.aux_loss_coef = 0.0;  // not additive over batch halves (see test_site_trainer.cpp)
  c.train.steps = 50;
  c.train.lr = 3e-3;
  c.train.batch_size = 8;
  return c;
}

torch::Tensor batch(int seed, const ExperimentConfig& c) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(0, c.model.vocab_size, {c.train.batch_size, c.model.seq_len + 1}, gen, torch::kLong);
}

TEST(GpuSite, Bf16TrainingStepLearnsAndTracksCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto cfg = small_config();
  Trainer gpu(cfg, residency_from(cfg), torch::Device(torch::kCUDA));
  Trainer cpu(cfg, residency_from(cfg), torch::kCPU);
  auto b = batch(1, cfg);
  const double first_gpu = gpu.train_step(b).loss;
  const double first_cpu = cpu.train_step(b).loss;
  EXPECT_NEAR(first_gpu, first_cpu, 0.02) << "bf16 autocast vs fp32 on the first step";
  double last = first_gpu;
  for (int i = 0; i < 30; ++i) last = gpu.train_step(b).loss;
  EXPECT_LT(last, 0.5 * first_gpu);
}

TEST(GpuSite, PinnedTransfersEqualThePlainPath) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  NamedTensors on_gpu, on_cpu;
  for (int i = 0; i < 5; ++i) {
    auto t = torch::randn({37 + i, 64});
    on_cpu.emplace_back("t" + std::to_string(i), t);
    on_gpu.emplace_back("t" + std::to_string(i), t.to(torch::kCUDA));
  }
  for (auto precision : {WirePrecision::F32, WirePrecision::BF16}) {
    auto a = tensors_to_blobs(on_gpu, precision);
    auto b = tensors_to_blobs(on_cpu, precision);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].shape, b[i].shape);
      EXPECT_EQ(a[i].data, b[i].data) << a[i].name;
    }
    std::map<std::string, torch::Tensor> dst;
    for (auto& [name, t] : on_gpu) dst[name] = torch::zeros_like(t);
    copy_blobs_into(a, dst);
    for (auto& [name, t] : on_cpu) {
      auto expect = precision == WirePrecision::F32 ? t : t.to(torch::kBFloat16).to(torch::kFloat);
      EXPECT_TRUE(torch::equal(dst[name].cpu(), expect)) << name;
    }
  }
}

TEST(GpuSite, TwoRanksTrainAsOneDeviceOnTheWholeBatch) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto cfg = small_config();
  // SGD: parameter differences then follow gradient differences (bf16 rounding of the halves).
  // AdamW would turn near-zero gradient noise into full-size +-lr steps.
  cfg.train.inner_optimizer = "sgd";
  cfg.train.lr = 0.1;
  // Two distinct GPUs: NCCL. One GPU: both ranks on it, Gloo (which takes CUDA tensors).
  const bool two = torch::cuda::device_count() >= 2;
  SiteTrainer site(cfg, residency_from(cfg), resolve_devices(two ? "cuda:0,cuda:1" : "cuda:0,cuda:0"));
  EXPECT_EQ(site.backend(), two ? "nccl" : "gloo");
  SiteTrainer single(cfg, residency_from(cfg), resolve_devices("cuda:0"));
  for (int i = 0; i < 4; ++i) {
    auto b = batch(10 + i, cfg);
    auto s2 = site.train_step(b);
    auto s1 = single.train_step(b);
    EXPECT_NEAR(s2.loss, s1.loss, 0.02) << "step " << i;  // bf16: halves round differently
  }
  auto p1 = single.primary().model()->named_parameters();
  auto r1 = site.replica(1).model()->named_parameters();
  for (auto& p : site.primary().model()->named_parameters()) {
    EXPECT_LT((p.value() - p1[p.key()]).abs().max().item<double>(), 2e-3) << p.key();
    EXPECT_TRUE(torch::equal(p.value().cpu(), r1[p.key()].cpu())) << "replicas diverged at " << p.key();
  }
}

}  // namespace
