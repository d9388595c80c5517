// CUDA parity: the MoE block and a training step agree with the CPU. Skips without a GPU.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "fomoe/model/transformer.h"

using namespace fomoe;

namespace {

TEST(Gpu, MoeLayerMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(3);
  auto o = MoeOptions(64, 8).top_k(2).d_expert(96);
  MoeLayer cpu(o, std::vector<int>{0, 1, 3, 4, 6});
  MoeLayer gpu(o, std::vector<int>{0, 1, 3, 4, 6});
  {
    torch::NoGradGuard g;
    auto dst = gpu->named_parameters();
    for (auto& p : cpu->named_parameters()) dst[p.key()].copy_(p.value());
  }
  gpu->to(torch::kCUDA);
  auto x = torch::randn({4, 16, 64});
  auto yc = cpu->forward(x).y;
  auto yg = gpu->forward(x.to(torch::kCUDA)).y.to(torch::kCPU);
  EXPECT_TRUE(torch::allclose(yc, yg, 1e-4, 1e-5));
  EXPECT_EQ(cpu->last_stats().n_skipped, gpu->last_stats().n_skipped);
}

TEST(Gpu, TransformerForwardMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto opts = ModelOptions(128, 64).n_layers(2).n_heads(4).max_seq_len(32).n_experts(4).top_k(2).d_expert(64);
  Transformer cpu(opts, Residency::full(2, 4));
  Transformer gpu(opts, Residency::full(2, 4));
  cpu->init_parameters(5);
  gpu->init_parameters(5);
  gpu->to(torch::kCUDA);
  auto idx = torch::randint(0, 128, {2, 32}, torch::kLong);
  auto lc = lm_loss(cpu->forward(idx).logits_BTV, idx).item<double>();
  auto lg = lm_loss(gpu->forward(idx.to(torch::kCUDA)).logits_BTV, idx.to(torch::kCUDA)).item<double>();
  EXPECT_NEAR(lc, lg, 1e-3);
}

}  // namespace
