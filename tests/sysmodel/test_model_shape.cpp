#include <gtest/gtest.h>

#include <set>

#include "fomoe/federation/placement.h"
#include "fomoe/net/protocol.h"
#include "fomoe/sysmodel/model_shape.h"
#include "fomoe/sysmodel/presets.h"
#include "fomoe/sysmodel/wire_bytes.h"

namespace fomoe::sysmodel {
namespace {

// V 10, D 4, 2 layers, layer 1 MoE (moe_every 2), 3 experts top-2, F 2, shared expert width 2.
ModelShape tiny() {
  ModelShape m;
  m.vocab = 10;
  m.d_model = 4;
  m.n_layers = 2;
  m.n_heads = 2;
  m.n_experts = 3;
  m.top_k = 2;
  m.d_expert = 2;
  m.shared_expert = 2;
  m.moe_every = 2;
  return m;
}

int64_t sum_numel(const std::vector<ParamSpec>& ps) {
  int64_t n = 0;
  for (const auto& p : ps) n += p.numel();
  return n;
}

TEST(SysmodelShape, TinyCountsEqualHandCount) {
  // tok_emb 40 + head 40 + norm_f 4 = 84; per layer norms 8 + qkv 48 + proj 16 = 72, x2 = 144;
  // layer 0 dense ffn width F*top_k = 4: w_in 8x4 + w_out 4x4 = 48;
  // layer 1: router 3x4 = 12, 3 experts x (4x4 + 4x2 = 24) = 72, shared 24.
  const ParamCounts c = count_parameters(tiny());
  EXPECT_EQ(c.total, 84 + 144 + 48 + 12 + 72 + 24);
  EXPECT_EQ(c.total, 384);
  EXPECT_EQ(c.experts, 72);
  EXPECT_EQ(c.dense, 312);
  EXPECT_EQ(c.per_expert, 24);
  EXPECT_EQ(c.active, 312 + 2 * 24);
  EXPECT_EQ(sum_numel(enumerate_parameters(tiny())), 384);
}

TEST(SysmodelShape, GroupedQueryAttentionAndTiedEmbeddingsCountExactly) {
  auto m = tiny();
  m.n_heads = 2;
  m.n_kv_heads = 1;  // k, v: D x (1 head of D/2 = 2): qkv is (4 + 2 + 2) x 4 = 32 instead of 48
  m.tie_embeddings = true;  // no head.weight (40)
  EXPECT_EQ(count_parameters(m).total, 384 - 2 * 16 - 40);
  for (const auto& p : enumerate_parameters(m)) EXPECT_NE(p.name, "head.weight");
  m.n_kv_heads = 3;  // does not divide 2
  EXPECT_FALSE(validate_model_shape(m));
}

TEST(SysmodelShape, EnumeratesEngineNamesInOrder) {
  const auto ps = enumerate_parameters(tiny());
  std::vector<std::string> names;
  for (const auto& p : ps) names.push_back(p.name);
  const std::vector<std::string> want = {
      "tok_emb.weight",
      "layers.0.norm1.weight", "layers.0.attn.qkv.weight", "layers.0.attn.proj.weight", "layers.0.norm2.weight",
      "layers.0.ffn.w_in", "layers.0.ffn.w_out",
      "layers.1.norm1.weight", "layers.1.attn.qkv.weight", "layers.1.attn.proj.weight", "layers.1.norm2.weight",
      "layers.1.moe.router.weight",
      "layers.1.moe.expert_0.w_in", "layers.1.moe.expert_0.w_out",
      "layers.1.moe.expert_1.w_in", "layers.1.moe.expert_1.w_out",
      "layers.1.moe.expert_2.w_in", "layers.1.moe.expert_2.w_out",
      "layers.1.moe.shared.w_in", "layers.1.moe.shared.w_out",
      "norm_f.weight", "head.weight"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(ps[2].shape, (std::vector<int64_t>{12, 4}));   // qkv 3D x D
  EXPECT_EQ(ps[5].shape, (std::vector<int64_t>{8, 4}));    // ffn w_in 2(F*k) x D
  EXPECT_EQ(ps[6].shape, (std::vector<int64_t>{4, 4}));    // ffn w_out D x F*k
  EXPECT_EQ(ps[11].shape, (std::vector<int64_t>{3, 4}));   // router E x D
  EXPECT_EQ(ps[12].shape, (std::vector<int64_t>{4, 4}));   // expert w_in 2F x D
  EXPECT_EQ(ps[13].shape, (std::vector<int64_t>{4, 2}));   // expert w_out D x F
  EXPECT_EQ(ps[1].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(ps.back().shape, (std::vector<int64_t>{10, 4}));
}

TEST(SysmodelShape, ClassifiesExpertNames) {
  ModelShape m = tiny();
  m.n_layers = 6;  // MoE layers 1, 3, 5 -> indices 0, 1, 2
  auto k = classify_parameter_name("layers.5.moe.expert_2.w_out", m);
  EXPECT_TRUE(k.is_expert);
  EXPECT_EQ(k.moe_layer, 2);
  EXPECT_EQ(k.expert, 2);
  EXPECT_FALSE(classify_parameter_name("layers.5.moe.shared.w_in", m).is_expert);
  EXPECT_FALSE(classify_parameter_name("layers.5.moe.router.weight", m).is_expert);
  EXPECT_FALSE(classify_parameter_name("head.weight", m).is_expert);
}

TEST(SysmodelShape, FirstDenseLayersAndDenseWidth) {
  ModelShape m = tiny();
  m.moe_every = 1;
  m.n_layers = 4;
  m.first_dense_layers = 3;
  m.d_ff_dense = 5;
  EXPECT_FALSE(m.is_moe_layer(2));
  EXPECT_TRUE(m.is_moe_layer(3));
  EXPECT_EQ(m.n_moe_layers(), 1);
  const ParamCounts c = count_parameters(m);
  EXPECT_EQ(c.total, sum_numel(enumerate_parameters(m)));
  EXPECT_EQ(enumerate_parameters(m)[5].shape, (std::vector<int64_t>{10, 4}));  // layers.0.ffn.w_in: 2 x 5
}

TEST(SysmodelShape, ValidationNamesTheField) {
  ModelShape m = tiny();
  m.top_k = 4;
  Status s = validate_model_shape(m);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("top_k"), std::string::npos);
  m = tiny();
  m.d_model = 0;
  s = validate_model_shape(m);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("d_model"), std::string::npos);
}

TEST(SysmodelPlacement, RoundRobinHandExample) {
  // K 3, r 1, 2 MoE layers, 4 experts: layer 0: e0->0 e1->1 e2->2 e3->0; layer 1: e0->1 e1->2 e2->0 e3->1.
  EXPECT_EQ(round_robin_held(0, 3, 1, 2, 4), (std::vector<std::vector<int>>{{0, 3}, {2}}));
  EXPECT_EQ(round_robin_held(1, 3, 1, 2, 4), (std::vector<std::vector<int>>{{1}, {0, 3}}));
  EXPECT_EQ(round_robin_held(2, 3, 1, 2, 4), (std::vector<std::vector<int>>{{2}, {1}}));
  EXPECT_EQ(round_robin_held_counts(3, 1, 2, 4), (std::vector<int64_t>{3, 3, 2}));
  // K 4, r 2, E 8: every site holds exactly r/K of each layer.
  for (int s = 0; s < 4; ++s)
    for (const auto& layer : round_robin_held(s, 4, 2, 3, 8)) EXPECT_EQ(layer.size(), 4u);
  // r >= K: everyone holds everything.
  EXPECT_EQ(round_robin_held_counts(3, 7, 2, 4), (std::vector<int64_t>{8, 8, 8}));
}

TEST(SysmodelPlacement, MatchesThePlacementPlan) {
  for (int K : {1, 2, 3, 5, 8})
    for (int r : {1, 2, 3})
      for (int E : {1, 4, 7, 16}) {
        const int M = 3;
        const PlacementPlan plan = PlacementPlan::round_robin(K, M, E, r);
        const auto counts = round_robin_held_counts(K, r, M, E);
        for (int s = 0; s < K; ++s) {
          EXPECT_EQ(round_robin_held(s, K, r, M, E), plan.experts_of_site(s)) << K << " " << r << " " << E;
          EXPECT_EQ(counts[static_cast<size_t>(s)], plan.n_held_by_site(s));
        }
      }
}

TEST(SysmodelWire, MessageBytesEqualHandCount) {
  const std::vector<ParamSpec> ts = {{"a.w", {2, 3}}, {"bias", {5}}};
  // header 32 + meta 10 + [descriptor 1+1+2+3+16+8 = 31, data 6*2 = 12] + [4+4+8+8 = 24, 5*2 = 10]
  const WireBytes w = message_wire_bytes(ts, 2, 10);
  EXPECT_EQ(w.total(), 32u + 10u + 31u + 12u + 24u + 10u);
  EXPECT_EQ(w.tensor, 22u);
  EXPECT_EQ(w.framing, 32u + 10u + 31u + 24u);
  EXPECT_EQ(w.messages, 1u);
  EXPECT_EQ(w.tensors, 2u);
  EXPECT_EQ(tensor_descriptor_bytes(3, 2), 31u);
}

TEST(SysmodelWire, EqualsTheCodecPrediction) {
  // The wire codec's own predicted size (sum of frames) for a full engine-small StartRound and a
  // bf16 RoundReport of site 1's holdings.
  const ModelShape m = find_preset("engine-small")->model;
  const nlohmann::json meta = {{"steps", 32}};
  const uint64_t meta_bytes = meta.dump().size();
  auto specs = [](const std::vector<ParamSpec>& ps, net::DType dt) {
    std::vector<net::TensorSpec> out;
    for (const auto& p : ps) out.push_back({p.name, dt, p.shape});
    return out;
  };
  const auto all = enumerate_parameters(m);
  EXPECT_EQ(message_wire_bytes(all, 4, meta_bytes).total(),
            net::predicted_wire_bytes(net::MsgType::StartRound, meta, specs(all, net::DType::F32)));
  const auto held = enumerate_site_parameters(m, round_robin_held(1, 4, 2, 4, 8));
  EXPECT_EQ(message_wire_bytes(held, 2, meta_bytes).total(),
            net::predicted_wire_bytes(net::MsgType::RoundReport, meta, specs(held, net::DType::BF16)));
  EXPECT_EQ(tensor_descriptor_bytes(17, 3), net::descriptor_bytes(17, 3));
}

}  // namespace
}  // namespace fomoe::sysmodel
