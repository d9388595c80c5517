// CUDA parity: the MoE block and a training step agree with the CPU. Skips without a GPU.
#include <gtest/gtest.h>
#include <ATen/autocast_mode.h>
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

// The grouped GEMM (at::_grouped_mm, CUTLASS on Hopper) under bf16 autocast agrees with the
// per-expert loop in fp32, forward and backward, within bf16 tolerance; untouched experts get no
// gradient on either path.
TEST(Gpu, GroupedGemmBf16MatchesLoopFp32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(5);
  auto make = [](DispatchMode m) {
    auto o = MoeOptions(128, 16).top_k(4).d_expert(256).dispatch(m);
    return MoeLayer(o, std::vector<int>{0, 2, 3, 5, 8, 9, 12, 15});
  };
  auto grouped = make(DispatchMode::Fast);
  auto loop = make(DispatchMode::FastLoop);
  {
    torch::NoGradGuard g;
    auto dst = loop->named_parameters();
    for (auto& p : grouped->named_parameters()) dst[p.key()].copy_(p.value());
  }
  grouped->to(torch::kCUDA);
  loop->to(torch::kCUDA);
  auto x = torch::randn({8, 64, 128}, torch::kCUDA);
  auto w = torch::randn({8, 64, 128}, torch::kCUDA);
  torch::Tensor yg;
  {
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    yg = grouped->forward(x).y;
    (yg.to(torch::kFloat) * w).sum().backward();
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }
  auto yl = loop->forward(x).y;
  (yl * w).sum().backward();
  const double scale = yl.abs().max().item<double>();
  EXPECT_LT((yg.to(torch::kFloat) - yl).abs().max().item<double>(), 0.03 * scale + 1e-3);
  auto lp = loop->named_parameters();
  for (auto& p : grouped->named_parameters()) {
    auto& q = lp[p.key()];
    ASSERT_EQ(p.value().grad().defined(), q.grad().defined()) << p.key();
    if (!q.grad().defined()) continue;
    const double gs = q.grad().abs().max().item<double>();
    EXPECT_LT((p.value().grad() - q.grad()).abs().max().item<double>(), 0.05 * gs + 1e-3) << p.key();
  }
}

}  // namespace
