// Compressed rounds on real agent processes: at every compression setting, for every method, the
// bytes on the wire are the ones the system model predicts from the config alone, and the
// federation trains (held-out loss falls).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "federation_test_support.h"
#include "fomoe/base/metric_names.h"
#include "fomoe/federation/global_model.h"
#include "fomoe/net/protocol.h"
#include "fomoe/sysmodel/presets.h"
#include "fomoe/sysmodel/projection.h"

using namespace fomoe;
using namespace fomoe::test;

namespace {

struct Setting {
  Method method;
  Compression up;
  Compression down;
  bool error_feedback = true;
  double topk = 0, down_topk = 0;  // top-k sparsification, 0 = off
};

std::string label(const Setting& s) {
  return std::string(method_name(s.method)) + "-" + compression_name(s.up) + "-down-" + compression_name(s.down) +
         (s.error_feedback ? "" : "-no-ef") + (s.topk > 0 ? "-topk" + std::to_string(s.topk) : "") +
         (s.down_topk > 0 ? "-down-topk" + std::to_string(s.down_topk) : "");
}

// Bytes the coordinator measured, per site, round and message type.
struct Measured {
  std::map<std::tuple<int, int, std::string>, int64_t> sent, received;
};
// The global model's held-out loss at each eval point, in order.
std::vector<double> global_heldout(const CapturingSink& sink) {
  std::vector<double> heldout;
  for (auto& m : sink.metrics)
    if (m.name == metric::kEvalLoss && m.site == -1) heldout.push_back(m.value);
  return heldout;
}

Measured measure(const CapturingSink& sink) {
  Measured m;
  for (auto& l : sink.links)
    (l.direction == Direction::Sent ? m.sent : m.received)[{l.site, l.round, l.msg_type}] += l.bytes;
  return m;
}

// Two sites, three rounds of H = 4, a held-out evaluation every round, and the setting's compression.
ExperimentConfig three_rounds(const Setting& st) {
  auto c = tiny(st.method, 2);
  c.train.steps = 12;
  c.train.eval_every = 4;
  c.federation.compression = st.up;
  c.federation.down_compression = st.down;
  c.federation.error_feedback = st.error_feedback;
  c.federation.topk = st.topk;
  c.federation.down_topk = st.down_topk;
  return c;
}

TEST(CompressedRounds, EverySettingTrainsAndSendsExactlyThePredictedBytes) {
  const std::vector<Setting> settings = {
      {Method::FoMoE, Compression::Int8, Compression::None},
      {Method::FoMoE, Compression::Fp8, Compression::Int8},
      {Method::FoMoE, Compression::Int4, Compression::Int4},
      {Method::FoMoE, Compression::Int2, Compression::Int4, /*error_feedback=*/false},
      {Method::DiLoCo, Compression::Int4, Compression::Int8},
      {Method::Photon, Compression::Int4, Compression::Int4},
      {Method::Ddp, Compression::Int8, Compression::None},
      // Top-k sparsified (values + uint16 indices per chunk of 4096), with error feedback.
      {Method::FoMoE, Compression::Int2, Compression::Int4, true, 0.05, 0.1},
      {Method::DiLoCo, Compression::None, Compression::None, true, 0.05, 0.05},
  };
  for (const Setting& st : settings) {
    SCOPED_TRACE(label(st));
    auto c = three_rounds(st);
    CapturingSink sink;
    auto r = run(c, "compressed-" + label(st), &sink);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->rounds, 3);

    // It trains: the global held-out loss falls from the first eval point to the last.
    const std::vector<double> heldout = global_heldout(sink);
    ASSERT_GE(heldout.size(), 2u);
    for (double v : heldout) EXPECT_TRUE(std::isfinite(v));
    EXPECT_LT(heldout.back(), heldout.front());

    // Compression error, measured: each site's report against its true pseudo-gradient, the
    // averaged update, and (down compression) how far the sites' copies are from the master.
    if (st.method != Method::Ddp) {
      std::map<std::string, std::vector<double>> error;
      for (auto& m : sink.metrics)
        if (m.name.rfind("comm/", 0) == 0) error[m.name + (m.site < 0 ? "@global" : "")].push_back(m.value);
      const auto& up = error[std::string(metric::kUpError)];
      const auto& update = error[std::string(metric::kUpdateError) + "@global"];
      const auto& experts = error[std::string(metric::kUpErrorExperts)];
      ASSERT_EQ(up.size(), 6u);  // 2 sites x 3 rounds
      EXPECT_EQ(update.size(), 3u);
      EXPECT_EQ(experts.size(), 6u);
      // Bounds: half a code step of a block's absmax per value, and error feedback's residual
      // released on top; top-k and 2 bits leave out much of a round, so only > 0 and finite.
      const double bound = st.topk > 0 || st.up == Compression::Int2 ? 10.0
                           : st.up == Compression::Int8          ? 0.03
                           : st.up == Compression::Fp8           ? 0.2
                                                                 : 0.35;
      for (auto* v : {&up, &update, &experts})
        for (double x : *v) {
          EXPECT_GT(x, 0.0);
          EXPECT_LT(x, bound);
        }
      const auto& drift = error[std::string(metric::kDownDrift) + "@global"];
      if (st.down == Compression::None && st.down_topk == 0) {
        EXPECT_TRUE(drift.empty());
      } else {
        ASSERT_EQ(drift.size(), 2u);  // rounds 1 and 2 start from a compressed change
        for (double x : drift) {
          EXPECT_GT(x, 0.0);
          EXPECT_LT(x, st.down_topk > 0 ? 0.1 : 0.01);  // a fraction of one round's change, not of the weights
        }
      }
    }

    // Bytes: the system model's per-round numbers, from the config alone.
    auto shape = sysmodel::model_shape_from(c.model);
    auto fed = sysmodel::federation_shape_from(c);
    auto projected = sysmodel::project_method(shape, fed);
    auto full = fed;  // the first round's whole fp32 parameters down
    full.down_compression = Compression::None;
    full.down_topk = 0;
    auto first = sysmodel::project_method(shape, full);
    const auto m = measure(sink);
    const int64_t steps_meta = static_cast<int64_t>(nlohmann::json({{"steps", 4}}).dump().size());
    for (int site = 0; site < 2; ++site) {
      SCOPED_TRACE("site " + std::to_string(site));
      const auto& sp = projected.sites[static_cast<size_t>(site)];
      if (st.method == Method::Ddp) {
        // H StepGrads up and H StepUpdates down per round, each the whole model's gradients.
        for (int round = 0; round < 3; ++round) {
          const int64_t up = m.received.at({site, round, "step_grad"});
          const int64_t down = m.sent.at({site, round, "step_update"});
          const int64_t up_pred = static_cast<int64_t>(sp.up.total()), down_pred = static_cast<int64_t>(sp.down.total());
          // Metadata {"step": N} is all the model leaves out: at most 16 bytes a message.
          EXPECT_GE(up, up_pred);
          EXPECT_LT(up, up_pred + 4 * 16);
          EXPECT_GE(down, down_pred);
          EXPECT_LT(down, down_pred + 4 * 16);
        }
        continue;
      }
      // Down: round 0 whole fp32 tensors, later rounds the quantized change (exact: the
      // StartRound's metadata is {"steps": 4} here).
      const auto& first_site = first.sites[static_cast<size_t>(site)];
      EXPECT_EQ(m.sent.at({site, 0, "start_round"}), static_cast<int64_t>(first_site.down.total()) + steps_meta);
      for (int round = 1; round < 3; ++round)
        EXPECT_EQ(m.sent.at({site, round, "start_round"}), static_cast<int64_t>(sp.down.total()) + steps_meta) << "round " << round;
      // Up: exact tensor frames, plus the report's metadata (metrics, expert counts: < 4 KiB;
      // the first report also names the data the site reads: < 16 KiB).
      for (int round = 0; round < 3; ++round) {
        const int64_t up = m.received.at({site, round, "round_report"});
        EXPECT_GE(up, static_cast<int64_t>(sp.up.total())) << "round " << round;
        EXPECT_LT(up, static_cast<int64_t>(sp.up.total()) + (round == 0 ? 16384 : 4096)) << "round " << round;
      }
    }
  }
}

// Compressed reports carry fewer bytes than fp32 ones by the layouts' ratios: int8 about 4x,
// int4 about 7.5x, int2 about 14x (tensor frames; a tiny model's descriptors weigh in).
TEST(CompressedRounds, TheSystemModelsRatiosFollowTheLayouts) {
  auto c = tiny(Method::FoMoE, 2);
  auto shape = sysmodel::model_shape_from(c.model);
  auto fed = sysmodel::federation_shape_from(c);
  const double fp32 = static_cast<double>(sysmodel::project_method(shape, fed).sites[0].up.tensor);
  auto ratio = [&](Compression k) {
    auto f = fed;
    f.compression = k;
    return fp32 / static_cast<double>(sysmodel::project_method(shape, f).sites[0].up.tensor);
  };
  EXPECT_NEAR(ratio(Compression::Int8), 32.0 / (8 + 16.0 / 128), 0.05);
  EXPECT_NEAR(ratio(Compression::Int4), 32.0 / (4 + 16.0 / 64), 0.1);
  EXPECT_NEAR(ratio(Compression::Int2), 32.0 / (2 + 16.0 / 64), 0.3);
}

}  // namespace

namespace {

double final_loss(const ExperimentConfig& c, const std::string& name, CapturingSink* sink = nullptr) {
  auto r = run(c, name, sink);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? r->final_eval_loss : std::nan("");
}

// Overlap with tau = 0 and alpha = 0 takes the overlapped path (the emulated link crossing in the
// background, the merge) and equals today's rounds; with tau > 0 the federation trains on, with
// the same tokens and the same bytes per round.
TEST(OverlappedRounds, TauZeroAlphaZeroEqualsTodaysRoundsAndOverlapTrains) {
  auto base = tiny(Method::FoMoE, 2);
  base.train.steps = 12;
  base.train.eval_every = 4;
  base.federation.bandwidth_mbps = 200;  // emulated: the overlapped path crosses it in the background
  base.federation.latency_ms = 5;
  auto zero = base;
  zero.federation.overlap = true;
  zero.federation.overlap_steps = 0;
  zero.federation.overlap_mix = 0.0;
  const double today = final_loss(base, "overlap-off");
  const double tau0 = final_loss(zero, "overlap-tau0");
  EXPECT_NEAR(tau0, today, 1e-6);

  auto on = base;
  on.federation.overlap = true;
  on.federation.overlap_steps = 2;
  on.federation.overlap_mix = 0.5;
  CapturingSink sink;
  auto r = run(on, "overlap-on", &sink);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 3);
  const std::vector<double> heldout = global_heldout(sink);
  std::map<long, int> train_loss_steps;  // every inner step trained once: the global curve has each logged step once
  for (auto& m : sink.metrics)
    if (m.name == metric::kTrainLoss && m.site == -1) ++train_loss_steps[m.step];
  ASSERT_GE(heldout.size(), 2u);
  EXPECT_LT(heldout.back(), heldout.front());
  EXPECT_GT(std::abs(r->final_eval_loss - today), 1e-6) << "overlap with tau = 2, alpha = 0.5 changed nothing";
  for (auto& [step, n] : train_loss_steps) EXPECT_EQ(n, 1) << "step " << step;
  // The round timeline's "communication under compute": one value per site and round, within
  // that round's link time.
  std::map<std::pair<int, int>, double> link_s, overlap_s;
  for (auto& m : sink.metrics) {
    if (m.name == metric::kRoundComm) link_s[{m.round, m.site}] = m.value;
    if (m.name == metric::kRoundOverlap) overlap_s[{m.round, m.site}] = m.value;
  }
  EXPECT_EQ(overlap_s.size(), 6u);  // 2 sites x 3 rounds
  for (auto& [key, v] : overlap_s) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, link_s.at(key));
  }
  EXPECT_EQ(train_loss_steps.rbegin()->first, 12);
  // The same tokens as without overlap: the early steps belong to their round.
  CapturingSink off_sink;
  auto off = run(base, "overlap-off-tokens", &off_sink);
  ASSERT_TRUE(off) << off.error().message;
  for (auto& m : off_sink.metrics) EXPECT_NE(m.name, metric::kRoundOverlap) << "no overlap, no overlap metric";
  EXPECT_DOUBLE_EQ(r->tokens, off->tokens);
}

}  // namespace

namespace {

// Streaming fragments (Streaming DiLoCo): with P = 2 a round is H / 2 inner steps and carries one
// fragment of the parameters, strided by layer: round r reports fragment r mod 2, the next
// StartRound brings that fragment back. Bytes are exactly those of the fragment's tensors (fp32,
// and int4 both ways), every round of the run happens once, and the federation trains.
TEST(StreamingFragments, EachRoundCarriesOneFragmentStaggeredAndTrains) {
  for (const Compression comp : {Compression::None, Compression::Int4}) {
    SCOPED_TRACE(compression_name(comp));
    auto c = tiny(Method::DiLoCo, 2);
    c.train.steps = 16;  // 8 rounds of 2 steps
    c.train.eval_every = 4;
    c.federation.fragments = 2;
    c.federation.compression = comp;
    c.federation.down_compression = comp;
    ASSERT_TRUE(validate_experiment(c));
    CapturingSink sink;
    auto r = run(c, std::string("fragments-") + compression_name(comp), &sink);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->rounds, 8);
    const std::vector<double> heldout = global_heldout(sink);
    ASSERT_EQ(heldout.size(), 4u);
    EXPECT_LT(heldout.back(), heldout.front());

    // The fragments: layer 0 with the embedding, layer 1 with the final norm and head.
    const auto specs = sysmodel::enumerate_parameters(sysmodel::model_shape_from(c.model));
    std::vector<sysmodel::ParamSpec> fragment[2];
    for (auto& p : specs) fragment[parameter_fragment(p.name, c.model.n_layers, 2)].push_back(p);
    ASSERT_FALSE(fragment[0].empty());
    ASSERT_FALSE(fragment[1].empty());
    const auto whole = sysmodel::travel_format(WirePrecision::F32, Compression::None);
    const auto up = sysmodel::travel_format(WirePrecision::F32, comp);
    const auto down = sysmodel::travel_format(WirePrecision::F32, comp);
    const int64_t steps_meta = static_cast<int64_t>(nlohmann::json({{"steps", 2}}).dump().size());
    const auto m = measure(sink);
    for (int site = 0; site < 2; ++site) {
      SCOPED_TRACE("site " + std::to_string(site));
      EXPECT_EQ(m.sent.at({site, 0, "start_round"}), static_cast<int64_t>(sysmodel::message_wire_bytes(specs, whole).total()) + steps_meta);
      for (int round = 1; round < 8; ++round)
        EXPECT_EQ(m.sent.at({site, round, "start_round"}),
                  static_cast<int64_t>(sysmodel::message_wire_bytes(fragment[(round - 1) % 2], down).total()) + steps_meta)
            << "round " << round;
      for (int round = 0; round < 8; ++round) {
        const int64_t got = m.received.at({site, round, "round_report"});
        const int64_t frames = static_cast<int64_t>(sysmodel::message_wire_bytes(fragment[round % 2], up).total());
        EXPECT_GE(got, frames) << "round " << round;
        EXPECT_LT(got, frames + (round == 0 ? 16384 : 4096)) << "round " << round;
      }
    }
    // `fomoe project --fragments` predicts those StartRounds: two per H steps, one per fragment.
    auto shape = sysmodel::federation_shape_from(c);
    shape.meta_bytes = static_cast<uint64_t>(steps_meta);
    const auto proj = sysmodel::project_method(sysmodel::model_shape_from(c.model), shape);
    EXPECT_EQ(proj.messages_each_way, 2);
    for (int site = 0; site < 2; ++site)
      EXPECT_EQ(static_cast<int64_t>(proj.sites[site].down.total()),
                m.sent.at({site, 1, "start_round"}) + m.sent.at({site, 2, "start_round"}));
  }
}

TEST(StreamingFragments, FomoeWithFragmentsAndOverlapTrains) {
  auto c = tiny(Method::FoMoE, 2);
  c.train.steps = 16;
  c.train.eval_every = 4;
  c.federation.fragments = 2;
  c.federation.overlap = true;
  c.federation.overlap_steps = 1;
  c.federation.compression = Compression::Int4;
  c.federation.down_compression = Compression::Int4;
  CapturingSink sink;
  auto r = run(c, "fragments-fomoe-overlap", &sink);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rounds, 8);
  const std::vector<double> heldout = global_heldout(sink);
  std::map<long, int> train_loss_steps;
  for (auto& m : sink.metrics)
    if (m.name == metric::kTrainLoss && m.site == -1) ++train_loss_steps[m.step];
  ASSERT_EQ(heldout.size(), 4u);
  EXPECT_LT(heldout.back(), heldout.front());
  for (auto& [step, n] : train_loss_steps) EXPECT_EQ(n, 1) << "step " << step;
  EXPECT_EQ(train_loss_steps.rbegin()->first, 16);
}

}  // namespace

namespace {

// Entropy coding (federation.entropy_coding: zstd on every tensor frame, both ways) is lossless:
// the federation trains exactly as without it, for every method, while every message is at most
// its uncoded size (the system model's figure is the bound) and 4-bit rounds are smaller.
TEST(EntropyCodedRounds, TrainExactlyAsUncodedWithFewerBytes) {
  const std::vector<Setting> settings = {
      {Method::FoMoE, Compression::Int4, Compression::Int4},
      {Method::DiLoCo, Compression::None, Compression::None},
      {Method::Ddp, Compression::Int8, Compression::None},
  };
  for (const Setting& st : settings) {
    SCOPED_TRACE(label(st));
    auto c = three_rounds(st);
    auto coded = c;
    coded.federation.entropy_coding = true;
    CapturingSink raw_sink, coded_sink;
    auto raw_run = run(c, "uncoded-" + label(st), &raw_sink);
    auto coded_run = run(coded, "coded-" + label(st), &coded_sink);
    ASSERT_TRUE(raw_run) << raw_run.error().message;
    ASSERT_TRUE(coded_run) << coded_run.error().message;
    const auto raw_curve = global_heldout(raw_sink), coded_curve = global_heldout(coded_sink);
    ASSERT_EQ(coded_curve.size(), raw_curve.size());
    for (size_t i = 0; i < raw_curve.size(); ++i) EXPECT_NEAR(coded_curve[i], raw_curve[i], 1e-6) << "eval point " << i;
    EXPECT_LT(coded_curve.back(), coded_curve.front());

    const auto raw_bytes = measure(raw_sink), coded_bytes = measure(coded_sink);
    int64_t raw_total = 0, coded_total = 0;
    using Rows = std::map<std::tuple<int, int, std::string>, int64_t>;
    for (Rows Measured::*side : {&Measured::sent, &Measured::received})
      for (auto& [key, bytes] : raw_bytes.*side) {
        const auto& [site, round, type] = key;
        if (type != "start_round" && type != "round_report" && type != "step_grad" && type != "step_update") continue;
        SCOPED_TRACE(type + " site " + std::to_string(site) + " round " + std::to_string(round));
        const int64_t b = (coded_bytes.*side).at(key);
        // The report's metadata can differ by a digit or two (its timings), never by a frame.
        EXPECT_LE(b, bytes + 64);
        raw_total += bytes;
        coded_total += b;
      }
    EXPECT_LT(coded_total, raw_total);
    if (st.up == Compression::Int4) EXPECT_LT(static_cast<double>(coded_total), 0.97 * static_cast<double>(raw_total));
    // The coded fraction is recorded: each site's report, and the round's StartRounds.
    if (st.method != Method::Ddp) {
      int up = 0, down = 0;
      for (auto& m : coded_sink.metrics) {
        if (m.name == metric::kUpCodedFraction && m.site >= 0) ++up;
        if (m.name == metric::kDownCodedFraction && m.site == -1) ++down;
        if (m.name == metric::kUpCodedFraction || m.name == metric::kDownCodedFraction) {
          EXPECT_GT(m.value, 0.0);
          EXPECT_LE(m.value, 1.0);
        }
      }
      EXPECT_EQ(up, 6);  // 2 sites x 3 rounds
      EXPECT_EQ(down, 3);
      for (auto& m : raw_sink.metrics) EXPECT_NE(m.name, metric::kUpCodedFraction) << "not coded, not recorded";
    }
  }
}

}  // namespace
