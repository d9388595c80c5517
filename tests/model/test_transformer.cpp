// The transformer: residency shrinks parameters, names are stable, init is residency-independent.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fomoe/model/transformer.h"

using namespace fomoe;

namespace {

ModelOptions tiny() {
  return ModelOptions(/*vocab_size=*/50, /*d_model=*/16).n_layers(2).n_heads(2).max_seq_len(16).n_experts(4).top_k(2).d_expert(8);
}

TEST(Transformer, ForwardShapesAndFiniteLoss) {
  Transformer m(tiny(), Residency::full(2, 4));
  m->init_parameters(1);
  auto idx = torch::randint(0, 50, {3, 10}, torch::kLong);
  auto out = m->forward(idx);
  EXPECT_EQ(out.logits_BTV.sizes(), (std::vector<int64_t>{3, 10, 50}));
  auto loss = lm_loss(out.logits_BTV, idx);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_NEAR(loss.item<double>(), std::log(50.0), 0.5);  // near uniform at init
}

TEST(Transformer, PartialResidencyShrinksParametersAndSharesInit) {
  Transformer full(tiny(), Residency::full(2, 4));
  Residency half;
  half.experts_per_layer = {{1, 3}, {0, 2}};
  Transformer part(tiny(), half);
  full->init_parameters(42);
  part->init_parameters(42);
  const int64_t per_expert = 2 * 8 * 16 + 16 * 8;
  EXPECT_EQ(full->n_parameters() - part->n_parameters(), 4 * per_expert);
  auto fp = full->named_parameters();
  for (auto& p : part->named_parameters()) {
    auto* t = fp.find(p.key());
    ASSERT_NE(t, nullptr) << p.key();
    EXPECT_TRUE(torch::equal(*t, p.value())) << p.key();
  }
}

TEST(Transformer, ClassifiesParameters) {
  auto o = tiny().moe_every(2).n_layers(4);
  auto r = classify_parameter("layers.3.moe.expert_2.w_in", o);
  EXPECT_TRUE(r.is_expert);
  EXPECT_EQ(r.moe_layer, 1);
  EXPECT_EQ(r.expert, 2);
  EXPECT_FALSE(classify_parameter("layers.3.moe.router.weight", o).is_expert);
  EXPECT_FALSE(classify_parameter("tok_emb.weight", o).is_expert);
}

TEST(Transformer, EveryOtherLayerMoe) {
  auto o = tiny().moe_every(2).n_layers(4);
  Transformer m(o, Residency::full(2, 4));
  EXPECT_EQ(m->moe_layers().size(), 2u);
  auto names = m->named_parameters();
  EXPECT_NE(names.find("layers.0.ffn.w_in"), nullptr);
  EXPECT_NE(names.find("layers.1.moe.expert_3.w_out"), nullptr);
}

TEST(Transformer, ResidencyNamingAMissingExpertIsAClearError) {
  Residency bad;
  bad.experts_per_layer = {{0, 1}, {2, 9}};
  auto st = validate_residency(bad, tiny());
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.error().message, "residency for MoE layer 1 names expert 9, but the model has 4 experts (valid: 0..3)");
  EXPECT_THROW(Transformer(tiny(), bad), c10::Error);
}

TEST(Transformer, InvalidOptionsAreClearErrors) {
  auto st = validate_options(tiny().n_heads(3));
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.error().message.find("divisible by n_heads"), std::string::npos);
  EXPECT_FALSE(validate_options(tiny().top_k(5)).is_ok());
}

}  // namespace
