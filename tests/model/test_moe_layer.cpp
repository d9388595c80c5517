// MoE block: dispatch paths agree, gradients match finite differences, skip-token semantics.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fomoe/model/moe_layer.h"

using namespace fomoe;

namespace {

MoeLayer make_layer(std::vector<int> resident, DispatchMode mode, bool renorm = false, bool shared = false) {
  torch::manual_seed(7);
  auto o = MoeOptions(/*d_model=*/8, /*n_experts=*/6).top_k(2).d_expert(5).dispatch(mode)
               .renormalize_gates(renorm).shared_expert(shared);
  MoeLayer layer(o, resident);
  layer->to(torch::kFloat64);
  return layer;
}

std::vector<int> all_experts() { return {0, 1, 2, 3, 4, 5}; }

// Copies every parameter of `src` into the same-named parameter of `dst`.
void copy_params(const MoeLayer& src, MoeLayer& dst) {
  torch::NoGradGuard g;
  auto d = dst->named_parameters();
  for (auto& p : src->named_parameters())
    if (auto* t = d.find(p.key())) t->copy_(p.value());
}

void expect_paths_agree(std::vector<int> resident, bool renorm) {
  auto fast = make_layer(resident, DispatchMode::Fast, renorm, /*shared=*/true);
  auto ref = make_layer(resident, DispatchMode::Reference, renorm, /*shared=*/true);
  auto masked = make_layer(resident, DispatchMode::Masked, renorm, /*shared=*/true);
  copy_params(fast, ref);
  copy_params(fast, masked);
  auto x = torch::randn({3, 7, 8}, torch::kFloat64);
  auto w = torch::randn({3, 7, 8}, torch::kFloat64);
  std::vector<MoeLayer> layers = {fast, ref, masked};
  std::vector<torch::Tensor> ys;
  std::vector<std::map<std::string, torch::Tensor>> grads;
  for (auto& l : layers) {
    l->zero_grad();
    auto out = l->forward(x);
    ((out.y * w).sum() + out.aux_loss + out.z_loss).backward();
    ys.push_back(out.y.detach());
    std::map<std::string, torch::Tensor> g;
    for (auto& p : l->named_parameters())
      g[p.key()] = p.value().grad().defined() ? p.value().grad().clone() : torch::zeros_like(p.value());
    grads.push_back(g);
  }
  for (size_t i = 1; i < ys.size(); ++i) {
    EXPECT_TRUE(torch::allclose(ys[0], ys[i], 1e-10, 1e-12)) << "forward differs for path " << i;
    for (auto& [name, g] : grads[0])
      EXPECT_TRUE(torch::allclose(g, grads[i].at(name), 1e-9, 1e-11)) << "grad of " << name << " differs for path " << i;
  }
}

TEST(MoeLayer, FastEqualsReferenceFullResidency) { expect_paths_agree(all_experts(), false); }
TEST(MoeLayer, FastEqualsReferencePartialResidency) { expect_paths_agree({1, 3, 4}, false); }
TEST(MoeLayer, FastEqualsReferenceRenormalisedGates) { expect_paths_agree({0, 2, 5}, true); }

TEST(MoeLayer, FullResidencyEqualsPlainMoe) {
  auto layer = make_layer(all_experts(), DispatchMode::Fast);
  auto x = torch::randn({2, 5, 8}, torch::kFloat64);
  auto out = layer->forward(x);
  // Plain top-k MoE written out by hand: y = sum_k p_k * expert_{i_k}(x).
  auto x_ND = x.reshape({-1, 8});
  auto probs = layer->router->forward(x_ND).softmax(-1);
  auto top = probs.topk(2, -1);
  auto y = torch::zeros_like(x_ND);
  for (int64_t n = 0; n < x_ND.size(0); ++n)
    for (int64_t k = 0; k < 2; ++k) {
      const auto e = std::get<1>(top)[n][k].item<int64_t>();
      y[n] += std::get<0>(top)[n][k] * layer->experts_[static_cast<size_t>(e)]->forward(x_ND.narrow(0, n, 1))[0];
    }
  EXPECT_TRUE(torch::equal(out.y.reshape({-1, 8}), y) || torch::allclose(out.y.reshape({-1, 8}), y, 1e-12, 1e-14));
  EXPECT_EQ(layer->last_stats().n_skipped, 0);
}

TEST(MoeLayer, ZeroResidencyLeavesResidualOnly) {
  auto layer = make_layer({}, DispatchMode::Fast);
  auto x = torch::randn({2, 4, 8}, torch::kFloat64);
  auto out = layer->forward(x);
  EXPECT_EQ(out.y.abs().max().item<double>(), 0.0);
  EXPECT_EQ(layer->last_stats().n_skipped, layer->last_stats().n_picks);
  // The router still learns from the aux losses on the full distribution.
  (out.aux_loss + out.z_loss).backward();
  EXPECT_TRUE(layer->router->weight.grad().defined());
}

TEST(MoeLayer, SkipRateIsShareOfDroppedPicks) {
  std::vector<int> resident = {0, 4};
  auto layer = make_layer(resident, DispatchMode::Fast);
  auto x = torch::randn({4, 9, 8}, torch::kFloat64);
  layer->forward(x);
  auto idx = std::get<1>(layer->router->forward(x.reshape({-1, 8})).softmax(-1).topk(2, -1));
  int64_t dropped = 0;
  for (int64_t i = 0; i < idx.numel(); ++i) {
    const auto e = idx.reshape(-1)[i].item<int64_t>();
    dropped += (e != 0 && e != 4) ? 1 : 0;
  }
  const auto& s = layer->last_stats();
  EXPECT_EQ(s.n_picks, idx.numel());
  EXPECT_EQ(s.n_skipped, dropped);
  EXPECT_EQ(s.load_E.sum().item<int64_t>(), idx.numel());
  EXPECT_EQ(s.processed_E.sum().item<int64_t>(), idx.numel() - dropped);
  EXPECT_EQ(s.processed_E[1].item<int64_t>(), 0);
}

TEST(MoeLayer, NonResidentExpertsHoldNoParameters) {
  auto full = make_layer(all_experts(), DispatchMode::Fast);
  auto half = make_layer({1, 2, 5}, DispatchMode::Fast);
  int64_t n_full = 0, n_half = 0;
  for (auto& p : full->parameters()) n_full += p.numel();
  for (auto& p : half->parameters()) n_half += p.numel();
  const int64_t per_expert = 2 * 5 * 8 + 8 * 5;
  const int64_t router = 8 * 6;
  EXPECT_EQ(n_full, router + 6 * per_expert);
  EXPECT_EQ(n_half, router + 3 * per_expert);
  auto names = half->named_parameters();
  EXPECT_NE(names.find("expert_5.w_in"), nullptr);
  EXPECT_EQ(names.find("expert_0.w_in"), nullptr);
}

TEST(MoeLayer, RenormalisedGatesSumToOneOverResidentPicks) {
  // With renormalisation a token whose picks are all resident gets gates summing to 1, so a layer
  // whose experts are the identity-like scale shows it; check via linearity: y(renorm) = y(keep) / sum(kept p).
  auto keep = make_layer({0, 1, 2}, DispatchMode::Fast, false);
  auto renorm = make_layer({0, 1, 2}, DispatchMode::Fast, true);
  copy_params(keep, renorm);
  auto x = torch::randn({1, 6, 8}, torch::kFloat64);
  auto yk = keep->forward(x).y.reshape({-1, 8});
  auto yr = renorm->forward(x).y.reshape({-1, 8});
  auto probs = keep->router->forward(x.reshape({-1, 8})).softmax(-1);
  auto top = probs.topk(2, -1);
  auto kept = (std::get<1>(top) < 3).to(torch::kFloat64);
  auto mass = (std::get<0>(top) * kept).sum(-1, true);
  auto has = (mass > 0).to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(yr * mass * has, yk * has, 1e-10, 1e-12));
}

MoeLayer make_reroute_layer(std::vector<int> resident, DispatchMode mode = DispatchMode::Fast) {
  torch::manual_seed(7);
  auto o = MoeOptions(8, 6).top_k(2).d_expert(5).dispatch(mode).route_resident_only(true);
  MoeLayer layer(o, resident);
  layer->to(torch::kFloat64);
  return layer;
}

TEST(MoeLayer, RerouteWithFullResidencyEqualsRenormalisedGates) {
  auto renorm = make_layer(all_experts(), DispatchMode::Fast, /*renorm=*/true);
  auto reroute = make_reroute_layer(all_experts());
  copy_params(renorm, reroute);
  auto x = torch::randn({2, 5, 8}, torch::kFloat64);
  auto a = renorm->forward(x);
  auto b = reroute->forward(x);
  EXPECT_TRUE(torch::allclose(a.y, b.y, 1e-12, 1e-14));
  EXPECT_NEAR(a.aux_loss.item<double>(), b.aux_loss.item<double>(), 1e-12);
}

TEST(MoeLayer, RerouteSendsEveryTokenToItsTopKResidentExperts) {
  const std::vector<int> resident = {1, 3, 4};
  auto layer = make_reroute_layer(resident);
  auto ref = make_reroute_layer(resident, DispatchMode::Reference);
  copy_params(layer, ref);
  auto x = torch::randn({3, 7, 8}, torch::kFloat64);
  auto out = layer->forward(x);
  // By hand: softmax over the resident logits, top-2, gates renormalised to sum to 1.
  auto x_ND = x.reshape({-1, 8});
  auto logits = layer->router->forward(x_ND);
  auto idx_res = torch::tensor({1, 3, 4}, torch::kLong);
  auto top = logits.index_select(1, idx_res).topk(2, -1);
  auto y = torch::zeros_like(x_ND);
  for (int64_t n = 0; n < x_ND.size(0); ++n) {
    auto g = std::get<0>(top)[n].softmax(0);
    for (int64_t k = 0; k < 2; ++k) {
      const int slot = static_cast<int>(std::get<1>(top)[n][k].item<int64_t>());  // index into resident
      y[n] += g[k] * layer->experts_[static_cast<size_t>(slot)]->forward(x_ND.narrow(0, n, 1))[0];
    }
  }
  EXPECT_TRUE(torch::allclose(out.y.reshape({-1, 8}), y, 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(ref->forward(x).y, out.y, 1e-10, 1e-12));
  const auto& s = layer->last_stats();
  // Every pick is computed, all of them on resident experts; the miss count is the full router's.
  EXPECT_EQ(s.processed_E.sum().item<int64_t>(), s.n_picks);
  EXPECT_EQ(s.processed_E[0].item<int64_t>() + s.processed_E[2].item<int64_t>() + s.processed_E[5].item<int64_t>(), 0);
  auto full_idx = std::get<1>(logits.softmax(-1).topk(2, -1));
  const auto misses = (full_idx != 1).logical_and(full_idx != 3).logical_and(full_idx != 4).sum().item<int64_t>();
  EXPECT_EQ(s.n_skipped, misses);
  EXPECT_GT(misses, 0);
  // Gradients reach the router and the resident experts.
  (out.y.sum() + out.aux_loss).backward();
  EXPECT_TRUE(layer->router->weight.grad().defined());
  EXPECT_GT(layer->experts_[0]->w_in.grad().abs().sum().item<double>(), 0.0);
}

TEST(MoeLayer, RerouteWithFewerResidentsThanTopKFallsBackToSkip) {
  auto layer = make_reroute_layer({2});
  auto x = torch::randn({2, 4, 8}, torch::kFloat64);
  auto out = layer->forward(x);
  EXPECT_TRUE(torch::isfinite(out.y).all().item<bool>());
  EXPECT_LT(layer->last_stats().processed_E.sum().item<int64_t>(), layer->last_stats().n_picks);
}

// Finite differences in float64: d/dθ of L = <y, w> + aux + z for router and expert entries.
TEST(MoeLayer, GradientsMatchFiniteDifferences) {
  auto layer = make_layer({0, 2, 3, 5}, DispatchMode::Fast, /*renorm=*/false, /*shared=*/true);
  auto x = torch::randn({2, 3, 8}, torch::kFloat64);
  auto w = torch::randn({2, 3, 8}, torch::kFloat64);
  auto loss_fn = [&]() {
    auto out = layer->forward(x);
    return (out.y * w).sum() + 0.3 * out.aux_loss + 0.7 * out.z_loss;
  };
  layer->zero_grad();
  loss_fn().backward();
  const double eps = 1e-6;
  for (auto& p : layer->named_parameters()) {
    auto& t = p.value();
    auto grad = t.grad();
    ASSERT_TRUE(grad.defined()) << p.key();
    auto flat = t.view(-1);
    for (int64_t i = 0; i < flat.numel(); i += std::max<int64_t>(1, flat.numel() / 7)) {
      double orig;
      {
        torch::NoGradGuard g;
        orig = flat[i].item<double>();
        flat[i] = orig + eps;
      }
      double up = loss_fn().item<double>();
      {
        torch::NoGradGuard g;
        flat[i] = orig - eps;
      }
      double down = loss_fn().item<double>();
      {
        torch::NoGradGuard g;
        flat[i] = orig;
      }
      const double numeric = (up - down) / (2 * eps);
      const double analytic = grad.view(-1)[i].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-4 * std::abs(numeric)) << p.key() << "[" << i << "]";
    }
  }
}

}  // namespace

namespace {

MoeLayer make_f32_layer(std::vector<int> resident, DispatchMode mode) {
  torch::manual_seed(11);
  // d_model and d_expert multiples of 4 floats (16 bytes): the grouped GEMM path is taken.
  auto o = MoeOptions(/*d_model=*/16, /*n_experts=*/6).top_k(2).d_expert(12).dispatch(mode);
  return MoeLayer(o, resident);
}

// Grouped GEMM (at::_grouped_mm, fp32 here) agrees with the per-expert loop and the reference.
TEST(MoeLayer, GroupedGemmEqualsLoopAndReferenceInFloat32) {
  for (auto resident : {std::vector<int>{0, 1, 2, 3, 4, 5}, std::vector<int>{1, 4, 5}}) {
    auto grouped = make_f32_layer(resident, DispatchMode::Fast);
    auto loop = make_f32_layer(resident, DispatchMode::FastLoop);
    auto ref = make_f32_layer(resident, DispatchMode::Reference);
    copy_params(grouped, loop);
    copy_params(grouped, ref);
    auto x = torch::randn({2, 9, 16});
    auto w = torch::randn({2, 9, 16});
    std::vector<std::pair<torch::Tensor, std::map<std::string, torch::Tensor>>> results;
    for (auto* l : {&grouped, &loop, &ref}) {
      (*l)->zero_grad();
      auto out = (*l)->forward(x);
      (out.y * w).sum().backward();
      std::map<std::string, torch::Tensor> g;
      for (auto& p : (*l)->named_parameters())
        if (p.value().grad().defined()) g[p.key()] = p.value().grad().clone();
      results.emplace_back(out.y.detach(), g);
    }
    for (size_t i = 1; i < results.size(); ++i) {
      EXPECT_TRUE(torch::allclose(results[0].first, results[i].first, 1e-5, 1e-6)) << "forward differs, path " << i;
      ASSERT_EQ(results[0].second.size(), results[i].second.size()) << "different set of parameters with gradients";
      for (auto& [name, g] : results[0].second)
        EXPECT_TRUE(torch::allclose(g, results[i].second.at(name), 1e-4, 1e-5)) << name << " differs, path " << i;
    }
  }
}

// An expert that got no token keeps an undefined gradient on the grouped path too, so AdamW with
// set-to-none gradients leaves it alone.
TEST(MoeLayer, GroupedGemmLeavesUnusedExpertWithoutGradient) {
  auto layer = make_f32_layer({0, 1, 2, 3, 4, 5}, DispatchMode::Fast);
  {
    // Bias the router hard towards experts 0 and 1: nothing reaches the others.
    torch::NoGradGuard g;
    layer->router->weight.zero_();
    layer->router->weight[0].fill_(5.0);
    layer->router->weight[1].fill_(4.0);
  }
  auto x = torch::rand({2, 5, 16}) + 0.1;  // positive: expert 0 and 1 logits dominate
  auto out = layer->forward(x);
  out.y.square().sum().backward();
  EXPECT_TRUE(layer->experts_[0]->w_in.grad().defined());
  EXPECT_TRUE(layer->experts_[1]->w_in.grad().defined());
  for (int e = 2; e < 6; ++e) EXPECT_FALSE(layer->experts_[static_cast<size_t>(e)]->w_in.grad().defined()) << "expert " << e;
}

}  // namespace
