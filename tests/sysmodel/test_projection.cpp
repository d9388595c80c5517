#include <gtest/gtest.h>

#include <cmath>

#include "fomoe/config/experiment.h"
#include "fomoe/sysmodel/presets.h"
#include "fomoe/sysmodel/projection.h"

namespace fomoe::sysmodel {
namespace {

ModelShape small_model() {
  ModelShape m;
  m.vocab = 64;
  m.d_model = 16;
  m.n_layers = 3;
  m.n_heads = 2;
  m.n_experts = 12;  // two-digit expert ids: descriptor sizes differ per site
  m.top_k = 2;
  m.d_expert = 8;
  return m;
}

FederationShape fed(int K, int r, int H, WirePrecision p = WirePrecision::F32) {
  FederationShape f;
  f.n_sites = K;
  f.replication = r;
  f.inner_steps = H;
  f.precision = p;
  f.meta_bytes = 40;
  f.batch = 2;
  f.seq_len = 16;
  return f;
}

bool same(const WireBytes& a, const WireBytes& b) {
  return a.tensor == b.tensor && a.framing == b.framing && a.messages == b.messages && a.tensors == b.tensors;
}

TEST(SysmodelProjection, FoMoESitesEqualExactEnumeration) {
  const ModelShape m = small_model();
  const FederationShape f = fed(5, 2, 8, WirePrecision::BF16);
  const Projection p = project(m, f);
  ASSERT_EQ(p.fomoe.sites.size(), 5u);
  WireBytes in, out;
  for (int s = 0; s < 5; ++s) {
    const auto held = round_robin_held(s, 5, 2, 3, 12);
    const auto params = enumerate_site_parameters(m, held);
    const SiteProjection& sp = p.fomoe.sites[static_cast<size_t>(s)];
    EXPECT_TRUE(same(sp.down, message_wire_bytes(params, 4, 40))) << "site " << s;
    EXPECT_TRUE(same(sp.up, message_wire_bytes(params, 2, 40))) << "site " << s;
    int64_t n = 0;
    for (const auto& t : params) n += t.numel();
    EXPECT_EQ(sp.params, n);
    int64_t experts = 0;
    for (const auto& l : held) experts += static_cast<int64_t>(l.size());
    EXPECT_EQ(sp.experts_held, experts);
    in += sp.up;
    out += sp.down;
  }
  EXPECT_TRUE(same(p.fomoe.coordinator_in, in));
  EXPECT_TRUE(same(p.fomoe.coordinator_out, out));
  // Every expert counted r times over the sites, dense parameters K times.
  int64_t total = 0;
  for (const auto& s : p.fomoe.sites) total += s.params;
  EXPECT_EQ(total, 5 * p.counts.dense + 2 * p.counts.experts);
}

// An explicit plan (the placement editor's) is projected exactly: every site's bytes equal the
// enumeration of what it holds; the round-robin plan given explicitly equals the default.
TEST(SysmodelProjection, FoMoEWithAnExplicitPlan) {
  const ModelShape m = small_model();
  FederationShape f = fed(3, 1, 8);
  const Projection round_robin = project(m, f);
  // Holders as a PlacementPlan gives them: [moe layer][expert] -> sites.
  f.holders.assign(3, std::vector<std::vector<int>>(12));
  for (int l = 0; l < 3; ++l)
    for (int e = 0; e < 12; ++e) f.holders[l][e] = {(e + l) % 3};
  const Projection same_plan = project(m, f);
  for (int s = 0; s < 3; ++s) {
    EXPECT_TRUE(same(same_plan.fomoe.sites[s].up, round_robin.fomoe.sites[s].up)) << "site " << s;
    EXPECT_EQ(same_plan.fomoe.sites[s].memory.total(), round_robin.fomoe.sites[s].memory.total());
  }
  // Lopsided: site 0 holds every expert, the others none (each expert on one site).
  for (auto& layer : f.holders)
    for (auto& e : layer) e = {0};
  const Projection lopsided = project(m, f);
  const std::vector<std::vector<int>> all(3, [] { std::vector<int> v(12); for (int i = 0; i < 12; ++i) v[i] = i; return v; }());
  const std::vector<std::vector<int>> none(3);
  EXPECT_TRUE(same(lopsided.fomoe.sites[0].down, message_wire_bytes(enumerate_site_parameters(m, all), 4, 40)));
  EXPECT_TRUE(same(lopsided.fomoe.sites[1].down, message_wire_bytes(enumerate_site_parameters(m, none), 4, 40)));
  EXPECT_GT(lopsided.fomoe.sites[0].memory.total(), lopsided.fomoe.sites[1].memory.total());
  // A plan of another shape, or naming a site that does not exist, is refused.
  f.holders.pop_back();
  EXPECT_THROW(project(m, f), std::invalid_argument);
  f.holders.assign(3, std::vector<std::vector<int>>(12, std::vector<int>{3}));
  EXPECT_THROW(project(m, f), std::invalid_argument);
}

TEST(SysmodelProjection, FullReplicaMethodsSendTheWholeModel) {
  const ModelShape m = small_model();
  const Projection p = project(m, fed(4, 2, 8, WirePrecision::F16));
  const auto all = enumerate_parameters(m);
  for (const MethodProjection* mp : {&p.diloco, &p.photon}) {
    ASSERT_EQ(mp->sites.size(), 4u);
    for (const auto& s : mp->sites) {
      EXPECT_TRUE(same(s.down, message_wire_bytes(all, 4, 40)));
      EXPECT_TRUE(same(s.up, message_wire_bytes(all, 2, 40)));
      EXPECT_EQ(s.params, p.counts.total);
    }
    EXPECT_EQ(mp->coordinator_in.total(), 4 * message_wire_bytes(all, 2, 40).total());
  }
}

TEST(SysmodelProjection, FoMoEWithFullReplicationEqualsDiLoCo) {
  for (int K : {1, 3, 4}) {
    const Projection p = project(small_model(), fed(K, K, 16, WirePrecision::BF16));
    ASSERT_EQ(p.fomoe.sites.size(), p.diloco.sites.size());
    for (size_t s = 0; s < p.fomoe.sites.size(); ++s) {
      EXPECT_TRUE(same(p.fomoe.sites[s].up, p.diloco.sites[s].up));
      EXPECT_TRUE(same(p.fomoe.sites[s].down, p.diloco.sites[s].down));
      EXPECT_EQ(p.fomoe.sites[s].params, p.diloco.sites[s].params);
      EXPECT_EQ(p.fomoe.sites[s].memory.total(), p.diloco.sites[s].memory.total());
      EXPECT_DOUBLE_EQ(p.fomoe.sites[s].comm_time_s, p.diloco.sites[s].comm_time_s);
    }
    EXPECT_DOUBLE_EQ(p.bytes_ratio(Method::DiLoCo), 1.0);
  }
  // r > K clamps to K.
  const Projection q = project(small_model(), fed(3, 9, 16));
  EXPECT_EQ(q.fomoe.coordinator_total(), q.diloco.coordinator_total());
}

TEST(SysmodelProjection, DdpIsHTimesGradientExchange) {
  const int H = 32;
  const ModelShape m = small_model();
  const FederationShape f = fed(4, 2, H);  // fp32 travel: DDP's messages equal DiLoCo's
  const Projection p = project(m, f);
  const WireBytes grad = message_wire_bytes(enumerate_parameters(m), 4, 40);
  for (const auto& s : p.ddp.sites) {
    EXPECT_EQ(s.up.total(), H * grad.total());
    EXPECT_EQ(s.down.total(), H * grad.total());
    EXPECT_EQ(s.up.messages, static_cast<uint64_t>(H));
    EXPECT_EQ(s.memory.snapshot, 0u);
  }
  EXPECT_EQ(p.ddp.one_time_down.total(), grad.total());
  EXPECT_EQ(p.ddp.messages_each_way, H);
  EXPECT_EQ(p.ddp.coordinator_total(), static_cast<uint64_t>(H) * p.diloco.coordinator_total());
  EXPECT_NEAR(p.bytes_ratio(Method::Ddp), H * p.bytes_ratio(Method::DiLoCo), 1e-9 * p.bytes_ratio(Method::Ddp));
  EXPECT_GT(p.bytes_ratio(Method::DiLoCo), 1.0);
  EXPECT_DOUBLE_EQ(p.bytes_ratio(Method::Photon), p.bytes_ratio(Method::DiLoCo));
}

TEST(SysmodelProjection, TravelPrecisionHalvesTensorBytesUpOnly) {
  const Projection p32 = project(small_model(), fed(4, 2, 8, WirePrecision::F32));
  const Projection p16 = project(small_model(), fed(4, 2, 8, WirePrecision::BF16));
  for (size_t s = 0; s < 4; ++s) {
    EXPECT_EQ(p16.fomoe.sites[s].up.tensor * 2, p32.fomoe.sites[s].up.tensor);
    EXPECT_EQ(p16.fomoe.sites[s].up.framing, p32.fomoe.sites[s].up.framing);
    EXPECT_TRUE(same(p16.fomoe.sites[s].down, p32.fomoe.sites[s].down));  // StartRound stays fp32
    EXPECT_EQ(p16.ddp.sites[s].down.tensor * 2, p32.ddp.sites[s].down.tensor);
  }
}

TEST(SysmodelProjection, CommTimeFollowsTheLinkFormula) {
  FederationShape f = fed(3, 1, 4);
  f.bandwidth_bps = 8e6;  // 1 MB/s
  f.latency_s = 0.02;
  f.coordinator_bandwidth_bps = 16e6;
  const Projection p = project(small_model(), f);
  for (const auto& s : p.fomoe.sites)
    EXPECT_NEAR(s.comm_time_s, 0.04 + static_cast<double>(s.up.total() + s.down.total()) / 1e6, 1e-12);
  EXPECT_NEAR(p.fomoe.coordinator_time_s, 0.04 + static_cast<double>(p.fomoe.coordinator_total()) / 2e6, 1e-12);
  const double step = static_cast<double>(p.ddp.sites[0].up.total()) / 4.0;  // one StepGrad
  EXPECT_NEAR(p.ddp.sites[0].comm_time_s, 4 * 2 * (0.02 + step / 1e6), 1e-9);
  EXPECT_NEAR(p.ddp.coordinator_time_s, 4 * 2 * (0.02 + 3 * step / 2e6), 1e-9);
  f.bandwidth_bps = 0;  // unlimited: latency only
  f.coordinator_bandwidth_bps = 0;
  EXPECT_NEAR(project(small_model(), f).diloco.sites[0].comm_time_s, 0.04, 1e-12);
}

// Compute per round from FLOPs by hand (PaLM's accounting), skip-token's share for FoMoE, and
// the round's wall time: compute + communication, less what the overlap steps train under it.
TEST(SysmodelProjection, RoundTimeIsComputePlusWhatOverlapDoesNotHide) {
  const ModelShape m = small_model();
  FederationShape f = fed(3, 1, 4);
  f.bandwidth_bps = 8e6;
  f.latency_s = 0.02;
  EXPECT_EQ(project(m, f).fomoe.sites[0].round_time_s, 0.0);  // no rate: no times
  f.site_tflops = 1e-6;  // 1 MFLOP/s: seconds of the order of the link's
  const ParamCounts c = count_parameters(m);
  const double tokens = 2.0 * 16;
  const double attention = 12.0 * 3 * 16 * 16;  // 12 x layers x d_model x seq_len
  const double dense = static_cast<double>(c.dense - c.embeddings + 64 * 16);  // head multiplies, lookup does not
  const double full = tokens * (6.0 * (dense + 3 * 2 * c.per_expert) + attention);
  const std::vector<int64_t> all(3, 12), a_third(3, 4);
  EXPECT_DOUBLE_EQ(estimate_step_flops(m, f, all), full);
  // r = 1 of K = 3: each site holds 4 of 12 experts, a token keeps a third of its picks.
  EXPECT_DOUBLE_EQ(estimate_step_flops(m, f, a_third), tokens * (6.0 * (dense + 3 * 2 * c.per_expert / 3.0) + attention));

  Projection p = project(m, f);
  const auto& d = p.diloco.sites[0];
  EXPECT_NEAR(d.compute_time_s, 4 * full / 1e6, 1e-9);
  EXPECT_NEAR(d.round_time_s, d.compute_time_s + d.comm_time_s, 1e-9);
  EXPECT_LT(p.fomoe.sites[0].compute_time_s, d.compute_time_s);  // skip-token
  const auto& ddp_site = p.ddp.sites[0];
  EXPECT_NEAR(ddp_site.round_time_s, ddp_site.compute_time_s + ddp_site.comm_time_s, 1e-9);

  // Overlap: tau steps hide up to tau x step time; never more than the communication itself.
  f.overlap_steps = 1;
  p = project(m, f);
  const double step_s = full / 1e6;
  EXPECT_NEAR(p.diloco.sites[0].round_time_s, d.compute_time_s + std::max(0.0, d.comm_time_s - step_s), 1e-9);
  EXPECT_NEAR(p.ddp.sites[0].round_time_s, ddp_site.round_time_s, 1e-9);  // DDP exchanges inside each step
  f.overlap_steps = 4;
  p = project(m, f);
  EXPECT_NEAR(p.diloco.sites[0].round_time_s, d.compute_time_s + std::max(0.0, d.comm_time_s - 4 * step_s), 1e-9);
  EXPECT_GE(p.diloco.sites[0].round_time_s, d.compute_time_s);

  f.site_tflops = -1;
  EXPECT_FALSE(validate_federation_shape(f));
}

// Streaming fragments: H steps are P rounds, each exchanging one layer-strided fragment of what
// the site holds; the per-round figures cover the P rounds (the same tensors, P messages).
// Entropy coding scales each round's tensor bytes, up and down, by the measured coded fraction;
// framing is not coded, and the first round's whole fp32 download stays at its bound.
TEST(SysmodelProjection, CodedFractionScalesTheTensorBytesOfEachRound) {
  const ModelShape m = small_model();
  FederationShape f = fed(4, 2, 8);
  f.compression = Compression::Int4;
  f.down_compression = Compression::Int4;
  const Projection raw = project(m, f);
  f.coded_fraction = 0.9;
  const Projection coded = project(m, f);
  for (size_t k = 0; k < 4; ++k) {
    const auto& a = raw.fomoe.sites[k];
    const auto& b = coded.fomoe.sites[k];
    EXPECT_NEAR(static_cast<double>(b.up.tensor), 0.9 * static_cast<double>(a.up.tensor), static_cast<double>(b.up.tensors));
    EXPECT_NEAR(static_cast<double>(b.down.tensor), 0.9 * static_cast<double>(a.down.tensor), static_cast<double>(b.down.tensors));
    EXPECT_EQ(b.up.framing, a.up.framing);
  }
  EXPECT_EQ(coded.fomoe.one_time_down.total(), raw.fomoe.one_time_down.total());
  for (double bad : {0.0, 1.5, -0.1}) {
    f.coded_fraction = bad;
    EXPECT_FALSE(validate_federation_shape(f)) << bad;
  }
}

TEST(SysmodelProjection, FragmentsSplitARoundsExchangeByLayer) {
  const ModelShape m = small_model();  // 3 layers, every one MoE
  FederationShape f = fed(3, 1, 6);
  const Projection whole = project(m, f);
  f.fragments = 3;
  const Projection p = project(m, f);
  const auto all = enumerate_parameters(m);
  std::vector<ParamSpec> fragment[3];
  for (const auto& spec : all) fragment[parameter_fragment(spec.name, 3, 3)].push_back(spec);
  for (const auto& frag : fragment) ASSERT_FALSE(frag.empty());
  // DiLoCo: one message per fragment each way, exactly the fragment's tensors.
  uint64_t largest = 0;
  WireBytes down;
  for (const auto& frag : fragment) {
    down += message_wire_bytes(frag, 4, 40);
    largest = std::max(largest, message_wire_bytes(frag, 4, 40).total() * 2);
  }
  EXPECT_EQ(p.diloco.messages_each_way, 3);
  EXPECT_TRUE(same(p.diloco.sites[0].down, down));
  EXPECT_TRUE(same(p.diloco.sites[0].up, down));
  EXPECT_EQ(p.diloco.sites[0].largest_round_bytes, largest);
  // The same tensors as one round, plus two more messages' framing each way.
  const auto& w = whole.diloco.sites[0];
  EXPECT_EQ(p.diloco.sites[0].down.tensor, w.down.tensor);
  EXPECT_EQ(p.diloco.sites[0].down.framing, w.down.framing + 2 * (kHeaderFrameBytes + 40));
  EXPECT_EQ(w.largest_round_bytes, w.up.total() + w.down.total());
  // FoMoE: each site's fragments hold its own experts of those layers only.
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(p.fomoe.sites[k].down.tensor, whole.fomoe.sites[k].down.tensor);
    EXPECT_EQ(p.fomoe.sites[k].down.messages, 3u);
    EXPECT_LT(p.fomoe.sites[k].largest_round_bytes, whole.fomoe.sites[k].largest_round_bytes / 2);
  }
  // DDP exchanges every step: fragments do not apply.
  EXPECT_TRUE(same(p.ddp.sites[0].up, whole.ddp.sites[0].up));

  // Round time: each of the P rounds is H / P steps plus what its tau steps do not hide, so a
  // fragment's exchange shorter than tau steps leaves compute alone where the whole one does not.
  f.site_tflops = 1e-6;
  f.bandwidth_bps = 8e6;
  f.latency_s = 0.0;
  f.overlap_steps = 1;
  const auto& frag_site = project(m, f).diloco.sites[0];
  f.fragments = 1;
  const auto& one_site = project(m, f).diloco.sites[0];
  const double step_s = one_site.compute_time_s / 6;
  EXPECT_NEAR(frag_site.compute_time_s, one_site.compute_time_s, 1e-9);
  EXPECT_NEAR(one_site.round_time_s, one_site.compute_time_s + std::max(0.0, one_site.comm_time_s - step_s), 1e-9);
  double expected = 0;
  for (const auto& frag : fragment) {
    const double c = 2 * static_cast<double>(message_wire_bytes(frag, 4, 40).total()) * 8 / 8e6;
    expected += 2 * step_s + c - std::min(c, step_s);
  }
  EXPECT_NEAR(frag_site.round_time_s, expected, 1e-9);

  // P must divide H and stay within the layers.
  f.fragments = 4;
  EXPECT_FALSE(validate_federation_shape(f));
  f.inner_steps = 8;
  EXPECT_TRUE(validate_federation_shape(f));
  EXPECT_THROW(project(m, f), std::invalid_argument);
}

TEST(SysmodelProjection, MemoryEstimate) {
  const ModelShape m = small_model();
  FederationShape f = fed(4, 1, 8);
  const Projection p = project(m, f);
  const auto& d = p.diloco.sites[0].memory;
  const uint64_t n = static_cast<uint64_t>(p.counts.total);
  EXPECT_EQ(d.weights, 4 * n);
  EXPECT_EQ(d.grads, 4 * n);
  EXPECT_EQ(d.optimizer, 8 * n);
  EXPECT_EQ(d.snapshot, 4 * n);
  for (const auto& s : p.fomoe.sites) {
    EXPECT_LT(s.memory.total(), d.total());
    EXPECT_LT(s.memory.activations, d.activations);  // skip-token: fewer expert picks kept
  }
  // Activations scale with batch x seq_len.
  f.batch *= 2;
  EXPECT_EQ(project(m, f).diloco.sites[0].memory.activations, 2 * d.activations);
  f.bf16_weights = true;
  const auto& b = project(m, f).diloco.sites[0].memory;
  EXPECT_EQ(b.weights, 2 * n);
  EXPECT_EQ(b.optimizer, 8 * n);
  // Hand formula for the full model: per token (D + L*10D + per MoE layer 2E + k(2D+3F) + D)*4 + V*8.
  const double per_token = (16 + 3 * (10 * 16 + 2 * 12 + 2 * (2 * 16 + 3 * 8)) + 16) * 4.0 + 64 * 8.0;
  EXPECT_EQ(d.activations, static_cast<uint64_t>(per_token * 2 * 16));
}

TEST(SysmodelProjection, ProjectMethodPicksOne) {
  FederationShape f = fed(4, 2, 8);
  f.method = Method::FoMoE;
  const Projection p = project(small_model(), f);
  EXPECT_EQ(project_method(small_model(), f).coordinator_total(), p.fomoe.coordinator_total());
  f.method = Method::Ddp;
  EXPECT_EQ(project_method(small_model(), f).coordinator_total(), p.ddp.coordinator_total());
  f.method = Method::Single;
  const MethodProjection single = project_method(small_model(), f);
  ASSERT_EQ(single.sites.size(), 1u);
  EXPECT_EQ(single.coordinator_total(), 0u);
  EXPECT_THROW(p.of(Method::Single), std::invalid_argument);
}

TEST(SysmodelProjection, InvalidShapesAreRefused) {
  FederationShape f = fed(0, 1, 8);
  EXPECT_FALSE(validate_federation_shape(f));
  EXPECT_THROW(project(small_model(), f), std::invalid_argument);
  f = fed(2, 1, 0);
  Status s = validate_federation_shape(f);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("inner_steps"), std::string::npos);
}

// ---- presets ----

double total_of(const std::string& name) {
  auto pr = find_preset(name);
  EXPECT_TRUE(pr.has_value()) << name;
  return static_cast<double>(count_parameters(pr->model).total);
}

TEST(SysmodelPresets, TotalsMatchPublishedFigures) {
  // Grouped-query attention counted exactly: Mixtral's published 46.70B and 140.6B (not 47.51B / 144.1B as MHA).
  EXPECT_NEAR(total_of("mixtral-8x7b") / 46.70e9, 1.0, 0.0005);
  EXPECT_NEAR(total_of("mixtral-8x22b") / 140.6e9, 1.0, 0.0005);
  EXPECT_NEAR(total_of("olmoe-1b-7b") / 6.9e9, 1.0, 0.03);
  EXPECT_NEAR(total_of("qwen1.5-moe-a2.7b") / 14.3e9, 1.0, 0.02);
  EXPECT_NEAR(total_of("mixtral-8x22b") / 141e9, 1.0, 0.03);
  const double ds = total_of("deepseek-v3");
  EXPECT_GT(ds, 600e9);
  EXPECT_LT(ds, 700e9);
  EXPECT_NEAR(ds / 671e9, 1.0, 0.01);
}

TEST(SysmodelPresets, ClosedFormEqualsEnumeration) {
  for (const Preset& pr : presets()) {
    ASSERT_TRUE(validate_model_shape(pr.model)) << pr.name;
    ASSERT_TRUE(validate_federation_shape(pr.federation)) << pr.name;
    int64_t n = 0;
    for (const auto& t : enumerate_parameters(pr.model)) n += t.numel();
    EXPECT_EQ(n, count_parameters(pr.model).total) << pr.name;
  }
}

TEST(SysmodelPresets, EngineSmallIsTheQuickstartModel) {
  auto cfg = load_experiment(std::string(FOMOE_SOURCE_DIR) + "/experiments/quickstart.toml");
  if (!cfg) GTEST_SKIP() << "no quickstart.toml: " << cfg.error().message;
  const ModelShape q = model_shape_from(cfg->model);
  const Preset pr = *find_preset("engine-small");
  EXPECT_EQ(pr.model.vocab, q.vocab);
  EXPECT_EQ(pr.model.d_model, q.d_model);
  EXPECT_EQ(pr.model.n_layers, q.n_layers);
  EXPECT_EQ(pr.model.n_heads, q.n_heads);
  EXPECT_EQ(pr.model.n_experts, q.n_experts);
  EXPECT_EQ(pr.model.top_k, q.top_k);
  EXPECT_EQ(pr.model.d_expert, q.d_expert);
  EXPECT_EQ(pr.model.shared_expert, q.shared_expert);
  EXPECT_EQ(pr.model.moe_every, q.moe_every);
  const FederationShape f = federation_shape_from(*cfg);
  EXPECT_EQ(pr.federation.n_sites, f.n_sites);
  EXPECT_EQ(pr.federation.replication, f.replication);
  EXPECT_EQ(pr.federation.inner_steps, f.inner_steps);
  EXPECT_EQ(pr.federation.batch, f.batch);
  EXPECT_EQ(pr.federation.seq_len, f.seq_len);
}

TEST(SysmodelPresets, ScalesToDeepSeekV3) {
  Preset pr = *find_preset("DeepSeek-V3");  // case-insensitive
  pr.federation.n_sites = 16;
  pr.federation.replication = 2;
  const Projection p = project(pr.model, pr.federation);
  int64_t total = 0;
  for (const auto& s : p.fomoe.sites) total += s.params;
  EXPECT_EQ(total, 16 * p.counts.dense + 2 * p.counts.experts);
  // 58 MoE layers x 256 experts x r 2 over 16 sites = 1856 experts per site exactly.
  for (const auto& s : p.fomoe.sites) EXPECT_EQ(s.experts_held, 1856);
  EXPECT_GT(p.bytes_ratio(Method::DiLoCo), 5.0);
  EXPECT_GT(p.diloco.sites[0].up.total(), uint64_t{2} << 40);  // > 2 TiB: no 32-bit overflow
}

TEST(SysmodelPresets, UnknownNameListsThePresets) {
  auto pr = find_preset("gpt-5");
  ASSERT_FALSE(pr.has_value());
  for (const Preset& p : presets()) EXPECT_NE(pr.error().message.find(p.name), std::string::npos);
  EXPECT_NE(pr.error().message.find("gpt-5"), std::string::npos);
}

}  // namespace
}  // namespace fomoe::sysmodel
