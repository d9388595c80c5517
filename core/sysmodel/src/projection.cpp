#include "fomoe/sysmodel/projection.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace fomoe::sysmodel {

Status validate_federation_shape(const FederationShape& f) {
  auto bad = [](const std::string& field, const std::string& what) {
    return make_error(ErrorCode::InvalidArgument, "federation shape: " + field + " " + what);
  };
  if (f.n_sites < 1) return bad("sites", "is " + std::to_string(f.n_sites) + ", must be >= 1");
  if (f.n_sites > 100000) return bad("sites", "is " + std::to_string(f.n_sites) + ", more than 100000");
  if (f.replication < 1) return bad("replication", "is " + std::to_string(f.replication) + ", must be >= 1");
  if (f.inner_steps < 1) return bad("inner_steps", "is " + std::to_string(f.inner_steps) + ", must be >= 1");
  if (f.batch < 1) return bad("batch", "must be >= 1");
  if (f.seq_len < 1) return bad("seq_len", "must be >= 1");
  if (!std::isfinite(f.bandwidth_bps) || !std::isfinite(f.coordinator_bandwidth_bps))
    return bad("bandwidth", "must be a finite number (<= 0 means unlimited)");
  if (!std::isfinite(f.latency_s) || f.latency_s < 0) return bad("latency", "must be a finite number >= 0");
  if (!std::isfinite(f.site_tflops) || f.site_tflops < 0) return bad("site TFLOP/s", "must be a finite number >= 0 (0 = unknown)");
  if (f.overlap_steps < 0) return bad("overlap steps", "must be >= 0");
  if (f.fragments < 1) return bad("fragments", "is " + std::to_string(f.fragments) + ", must be >= 1");
  if (!(f.coded_fraction > 0 && f.coded_fraction <= 1))
    return bad("coded fraction", "is " + std::to_string(f.coded_fraction) + ", must be in (0, 1] (1 = no entropy coding)");
  if (f.inner_steps % f.fragments != 0)
    return bad("fragments", "= " + std::to_string(f.fragments) + " must divide inner_steps = " + std::to_string(f.inner_steps));
  return Status::ok();
}

const SiteProjection& MethodProjection::max_site() const {
  if (sites.empty()) throw std::logic_error("MethodProjection::max_site: no sites");
  size_t best = 0;
  for (size_t i = 1; i < sites.size(); ++i)
    if (sites[i].up.total() + sites[i].down.total() > sites[best].up.total() + sites[best].down.total()) best = i;
  return sites[best];
}

int64_t MethodProjection::max_params() const {
  int64_t n = 0;
  for (const auto& s : sites) n = std::max(n, s.params);
  return n;
}

uint64_t MethodProjection::max_memory() const {
  uint64_t n = 0;
  for (const auto& s : sites) n = std::max(n, s.memory.total());
  return n;
}

const MethodProjection& Projection::of(Method m) const {
  switch (m) {
    case Method::Ddp: return ddp;
    case Method::DiLoCo: return diloco;
    case Method::Photon: return photon;
    case Method::FoMoE: return fomoe;
    case Method::Single: break;
  }
  throw std::invalid_argument("Projection::of: method 'single' has no federation projection");
}

double Projection::bytes_ratio(Method baseline) const {
  const double f = static_cast<double>(fomoe.coordinator_total());
  return f > 0 ? static_cast<double>(of(baseline).coordinator_total()) / f : 0.0;
}

uint64_t estimate_activation_bytes(const ModelShape& m, const FederationShape& f,
                                   const std::vector<int64_t>& held_per_moe_layer) {
  const double a = f.bf16_weights ? 2.0 : 4.0;
  const double D = static_cast<double>(m.d_model);
  const double F = static_cast<double>(m.d_expert);
  double values = D;  // embedding output
  int moe_index = 0;
  for (int64_t l = 0; l < m.n_layers; ++l) {
    values += 10.0 * D;  // norm1 in/out, q k v (+ roped q k), attention out, residual, norm2 out
    if (m.is_moe_layer(l)) {
      const double held = moe_index < static_cast<int>(held_per_moe_layer.size())
                              ? static_cast<double>(held_per_moe_layer[static_cast<size_t>(moe_index)])
                              : static_cast<double>(m.n_experts);
      const double k_eff = static_cast<double>(m.top_k) * held / static_cast<double>(m.n_experts);
      values += 2.0 * static_cast<double>(m.n_experts);  // router logits + probabilities
      values += k_eff * (2.0 * D + 3.0 * F);              // gathered input, w_in out (2F), silu*gate (F), output
      if (m.shared_expert > 0) values += 3.0 * static_cast<double>(m.shared_expert) + D;
      ++moe_index;
    } else {
      values += 3.0 * static_cast<double>(m.dense_ffn_width()) + D;
    }
  }
  values += D;  // norm_f output
  const double per_token = values * a + static_cast<double>(m.vocab) * (a + 4.0);  // logits + fp32 loss copy
  return static_cast<uint64_t>(std::llround(per_token * static_cast<double>(f.batch) * static_cast<double>(f.seq_len)));
}

namespace {

double leg_seconds(uint64_t bytes, double bandwidth_bps, double latency_s) {
  return latency_s + (bandwidth_bps > 0 ? static_cast<double>(bytes) * 8.0 / bandwidth_bps : 0.0);
}

struct Ingredients {
  int K = 1;
  int r = 1;
  int M = 0;
  int E = 0;
  TravelFormat up, down;  // what travels up, and down after the first round
  WireBytes dense_fp32, dense_travel, dense_down;  // tensor frames only (no message framing)
  int64_t dense_params = 0;
  std::vector<WireBytes> expert_fp32, expert_travel, expert_down;  // [l * E + e]
  int64_t per_expert_params = 0;
  WireBytes all_fp32, all_travel, all_down;  // full-model messages, framing included
  int64_t total_params = 0;
  // Streaming fragments: the dense tensors' frames per fragment, and each expert's fragment.
  int P = 1;
  std::vector<WireBytes> dense_travel_of, dense_down_of;  // [fragment]
  std::vector<int> expert_fragment;                       // [l * E + e]
};

WireBytes as_message(WireBytes tensors, uint64_t meta_bytes) {
  tensors.framing += kHeaderFrameBytes + meta_bytes;
  tensors.messages += 1;
  return tensors;
}

Ingredients gather(const ModelShape& m, const FederationShape& f) {
  Ingredients in;
  in.K = f.n_sites;
  in.r = std::clamp(f.replication, 1, f.n_sites);
  in.M = static_cast<int>(m.n_moe_layers());
  in.E = static_cast<int>(m.n_experts);
  in.up = travel_format(f.precision, f.compression, f.topk);
  in.down = travel_format(WirePrecision::F32, f.down_compression, f.down_topk);
  in.up.coded = in.down.coded = f.coded_fraction;  // the first round's whole fp32 download stays uncoded: a bound
  in.expert_fp32.assign(static_cast<size_t>(in.M) * static_cast<size_t>(in.E), WireBytes{});
  in.expert_travel = in.expert_fp32;
  in.expert_down = in.expert_fp32;
  in.P = f.fragments;
  in.dense_travel_of.assign(static_cast<size_t>(in.P), WireBytes{});
  in.dense_down_of = in.dense_travel_of;
  in.expert_fragment.assign(in.expert_fp32.size(), 0);
  // Walk the engine's parameter list once, tracking the MoE layer index as we go.
  int moe_index = -1;
  int64_t last_block = -1;
  for (const ParamSpec& p : enumerate_parameters(m)) {
    const WireBytes w32 = tensor_wire_bytes(p, 4);
    const WireBytes wt = tensor_wire_bytes(p, in.up);
    const WireBytes wd = tensor_wire_bytes(p, in.down);
    in.total_params += p.numel();
    const auto pos = p.name.find(".moe.expert_");
    if (pos != std::string::npos) {
      const int64_t block = std::strtoll(p.name.c_str() + 7, nullptr, 10);
      if (block != last_block) {
        last_block = block;
        ++moe_index;
      }
      const int e = static_cast<int>(std::strtol(p.name.c_str() + pos + 12, nullptr, 10));
      const size_t i = static_cast<size_t>(moe_index) * static_cast<size_t>(in.E) + static_cast<size_t>(e);
      in.expert_fp32[i] += w32;
      in.expert_travel[i] += wt;
      in.expert_down[i] += wd;
      in.expert_fragment[i] = parameter_fragment(p.name, static_cast<int>(m.n_layers), in.P);
      if (moe_index == 0 && e == 0) in.per_expert_params += p.numel();
    } else {
      in.dense_fp32 += w32;
      in.dense_travel += wt;
      in.dense_down += wd;
      in.dense_params += p.numel();
      const auto frag = static_cast<size_t>(parameter_fragment(p.name, static_cast<int>(m.n_layers), in.P));
      in.dense_travel_of[frag] += wt;
      in.dense_down_of[frag] += wd;
    }
  }
  WireBytes all32 = in.dense_fp32, allt = in.dense_travel, alld = in.dense_down;
  for (size_t i = 0; i < in.expert_fp32.size(); ++i) {
    all32 += in.expert_fp32[i];
    allt += in.expert_travel[i];
    alld += in.expert_down[i];
  }
  in.all_fp32 = as_message(all32, f.meta_bytes);
  in.all_travel = as_message(allt, f.meta_bytes);
  in.all_down = as_message(alld, f.meta_bytes);
  return in;
}

MemoryEstimate site_memory(const ModelShape& m, const FederationShape& f, int64_t params, bool snapshot,
                           const std::vector<int64_t>& held_per_layer) {
  const uint64_t p = static_cast<uint64_t>(params);
  const uint64_t wb = f.bf16_weights ? 2 : 4;
  MemoryEstimate mem;
  mem.weights = p * wb;
  mem.grads = p * wb;
  mem.optimizer = p * 8;
  mem.snapshot = snapshot ? p * 4 : 0;
  if ((f.compression != Compression::None || f.topk > 0) && f.error_feedback) mem.snapshot += p * 4;  // error feedback residual
  mem.activations = estimate_activation_bytes(m, f, held_per_layer);
  return mem;
}

MemoryEstimate coordinator_memory(int64_t total_params, uint64_t bytes_per_param) {
  MemoryEstimate mem;
  mem.weights = static_cast<uint64_t>(total_params) * 4;  // fp32 global model
  mem.optimizer = static_cast<uint64_t>(total_params) * (bytes_per_param - 4);  // accumulator (+ outer momentum)
  return mem;
}

// DDP with f.site_tflops: H steps of compute and the exchange inside every one (nothing overlaps).
void add_ddp_round_times(SiteProjection& s, const ModelShape& m, const FederationShape& f, const std::vector<int64_t>& held) {
  if (f.site_tflops <= 0) return;
  s.compute_time_s = estimate_step_flops(m, f, held) / (f.site_tflops * 1e12) * f.inner_steps;
  s.round_time_s = s.compute_time_s + s.comm_time_s;
}

// One site's exchange as P rounds, fragment by fragment (P = 1: one round): the messages each way,
// the link time, the heaviest round and, with f.site_tflops, each round's wall time (H / P steps
// of compute + the part of its exchange its tau overlapped steps do not hide).
void set_exchange(SiteProjection& s, const ModelShape& m, const FederationShape& f, const std::vector<int64_t>& held,
                  const std::vector<WireBytes>& up_of, const std::vector<WireBytes>& down_of) {
  s.up = s.down = WireBytes{};
  s.comm_time_s = 0;
  s.largest_round_bytes = 0;
  std::vector<double> comm_of;
  for (size_t i = 0; i < up_of.size(); ++i) {
    const WireBytes up = as_message(up_of[i], f.meta_bytes), down = as_message(down_of[i], f.meta_bytes);
    s.up += up;
    s.down += down;
    comm_of.push_back(leg_seconds(down.total(), f.bandwidth_bps, f.latency_s) + leg_seconds(up.total(), f.bandwidth_bps, f.latency_s));
    s.comm_time_s += comm_of.back();
    s.largest_round_bytes = std::max(s.largest_round_bytes, up.total() + down.total());
  }
  if (f.site_tflops <= 0) return;
  const double step_s = estimate_step_flops(m, f, held) / (f.site_tflops * 1e12);
  const int steps = f.inner_steps / static_cast<int>(up_of.size());
  const double hidden = step_s * std::min(f.overlap_steps, steps);
  s.compute_time_s = step_s * f.inner_steps;
  s.round_time_s = 0;
  for (double c : comm_of) s.round_time_s += step_s * steps + c - std::min(c, hidden);
}

// Down compression: a site's first StartRound carries whole fp32 tensors, later ones the
// quantized change; the coordinator keeps one fp32 shadow of what the sites hold.
void add_down_compression(MethodProjection& mp, const FederationShape& f, const Ingredients& in, const WireBytes& first_round) {
  if (f.down_compression == Compression::None && f.down_topk <= 0) return;
  mp.one_time_down = first_round;
  mp.coordinator_memory.snapshot += static_cast<uint64_t>(in.total_params) * 4;
}

// DiLoCo and Photon: full replicas, one StartRound down (fp32) and one RoundReport up per round.
MethodProjection full_replica(Method method, const ModelShape& m, const FederationShape& f, const Ingredients& in) {
  MethodProjection mp;
  mp.method = method;
  mp.messages_each_way = 1;
  const std::vector<int64_t> all_held(static_cast<size_t>(in.M), m.n_experts);
  SiteProjection s;
  s.params = in.total_params;
  s.experts_held = static_cast<int64_t>(in.M) * in.E;
  s.memory = site_memory(m, f, s.params, /*snapshot=*/true, all_held);
  std::vector<WireBytes> up_of = in.dense_travel_of, down_of = in.dense_down_of;
  for (size_t i = 0; i < in.expert_fragment.size(); ++i) {
    up_of[static_cast<size_t>(in.expert_fragment[i])] += in.expert_travel[i];
    down_of[static_cast<size_t>(in.expert_fragment[i])] += in.expert_down[i];
  }
  set_exchange(s, m, f, all_held, up_of, down_of);
  mp.messages_each_way = in.P;
  for (int k = 0; k < in.K; ++k) {
    s.site = k;
    mp.sites.push_back(s);
    mp.coordinator_in += s.up;
    mp.coordinator_out += s.down;
  }
  const double cbw = f.coordinator_bandwidth_bps > 0 ? f.coordinator_bandwidth_bps : f.bandwidth_bps;
  mp.coordinator_time_s = leg_seconds(mp.coordinator_out.total(), cbw, f.latency_s) +
                          leg_seconds(mp.coordinator_in.total(), cbw, f.latency_s);
  // DiLoCo: global + Nesterov momentum + accumulator; Photon (server momentum 0): global + accumulator.
  mp.coordinator_memory = coordinator_memory(in.total_params, method == Method::Photon ? 8 : 12);
  add_down_compression(mp, f, in, in.all_fp32);
  return mp;
}

MethodProjection ddp(const ModelShape& m, const FederationShape& f, const Ingredients& in) {
  MethodProjection mp;
  mp.method = Method::Ddp;
  const uint64_t H = static_cast<uint64_t>(f.inner_steps);
  mp.messages_each_way = f.inner_steps;
  const std::vector<int64_t> all_held(static_cast<size_t>(in.M), m.n_experts);
  SiteProjection s;
  s.params = in.total_params;
  s.experts_held = static_cast<int64_t>(in.M) * in.E;
  s.memory = site_memory(m, f, s.params, /*snapshot=*/false, all_held);
  s.up = in.all_travel * H;    // StepGrad per inner step
  s.down = in.all_travel * H;  // StepUpdate per inner step
  s.comm_time_s = static_cast<double>(H) * (leg_seconds(in.all_travel.total(), f.bandwidth_bps, f.latency_s) * 2.0);
  s.largest_round_bytes = in.all_travel.total() * 2;  // one step's gradient up and update down
  add_ddp_round_times(s, m, f, all_held);
  for (int k = 0; k < in.K; ++k) {
    s.site = k;
    mp.sites.push_back(s);
    mp.coordinator_in += s.up;
    mp.coordinator_out += s.down;
  }
  mp.one_time_down = in.all_fp32;
  const double cbw = f.coordinator_bandwidth_bps > 0 ? f.coordinator_bandwidth_bps : f.bandwidth_bps;
  const uint64_t step_bytes = in.all_travel.total() * static_cast<uint64_t>(in.K);
  mp.coordinator_time_s = static_cast<double>(H) * 2.0 * leg_seconds(step_bytes, cbw, f.latency_s);
  mp.coordinator_memory = coordinator_memory(in.total_params, 8);  // global + gradient accumulator
  if ((f.compression != Compression::None || f.topk > 0) && f.error_feedback)  // the averaged gradient's residual
    mp.coordinator_memory.snapshot += static_cast<uint64_t>(in.total_params) * 4;
  return mp;
}

MethodProjection fomoe_method(const ModelShape& m, const FederationShape& f, const Ingredients& in) {
  MethodProjection mp;
  mp.method = Method::FoMoE;
  mp.messages_each_way = in.P;
  const size_t K = static_cast<size_t>(in.K);
  std::vector<std::vector<WireBytes>> down(K, in.dense_down_of), up(K, in.dense_travel_of);  // [site][fragment]
  std::vector<WireBytes> first_down(K, in.dense_fp32);
  std::vector<int64_t> params(K, in.dense_params);
  std::vector<std::vector<int64_t>> held(K, std::vector<int64_t>(static_cast<size_t>(in.M), 0));
  const bool planned = !f.holders.empty();
  if (planned && (static_cast<int>(f.holders.size()) != in.M ||
                  std::any_of(f.holders.begin(), f.holders.end(), [&](const auto& l) { return static_cast<int>(l.size()) != in.E; })))
    throw std::invalid_argument("federation shape: the placement has " + std::to_string(f.holders.size()) +
                                " MoE layers (of " + std::to_string(f.holders.empty() ? 0 : f.holders[0].size()) +
                                " experts); the model has " + std::to_string(in.M) + " of " + std::to_string(in.E));
  for (int l = 0; l < in.M; ++l)
    for (int e = 0; e < in.E; ++e) {
      const size_t i = static_cast<size_t>(l) * static_cast<size_t>(in.E) + static_cast<size_t>(e);
      const std::vector<int>* listed = planned ? &f.holders[static_cast<size_t>(l)][static_cast<size_t>(e)] : nullptr;
      const int n_holders = listed ? static_cast<int>(listed->size()) : in.r;
      for (int j = 0; j < n_holders; ++j) {
        const int site = listed ? (*listed)[static_cast<size_t>(j)] : (e + l + j) % in.K;
        if (site < 0 || site >= in.K)
          throw std::invalid_argument("federation shape: the placement names site " + std::to_string(site) + " of " +
                                      std::to_string(in.K));
        const size_t s = static_cast<size_t>(site);
        const auto frag = static_cast<size_t>(in.expert_fragment[i]);
        down[s][frag] += in.expert_down[i];
        first_down[s] += in.expert_fp32[i];
        up[s][frag] += in.expert_travel[i];
        params[s] += in.per_expert_params;
        ++held[s][static_cast<size_t>(l)];
      }
    }
  for (size_t k = 0; k < K; ++k) {
    SiteProjection s;
    s.site = static_cast<int>(k);
    s.params = params[k];
    for (int64_t h : held[k]) s.experts_held += h;
    s.memory = site_memory(m, f, s.params, /*snapshot=*/true, held[k]);
    set_exchange(s, m, f, held[k], up[k], down[k]);
    mp.coordinator_in += s.up;
    mp.coordinator_out += s.down;
    mp.sites.push_back(std::move(s));
  }
  const double cbw = f.coordinator_bandwidth_bps > 0 ? f.coordinator_bandwidth_bps : f.bandwidth_bps;
  mp.coordinator_time_s = leg_seconds(mp.coordinator_out.total(), cbw, f.latency_s) +
                          leg_seconds(mp.coordinator_in.total(), cbw, f.latency_s);
  mp.coordinator_memory = coordinator_memory(in.total_params, 12);
  WireBytes largest_first;
  for (const WireBytes& w : first_down)
    if (w.total() > largest_first.total()) largest_first = w;
  add_down_compression(mp, f, in, as_message(largest_first, f.meta_bytes));
  return mp;
}

void check(const ModelShape& m, const FederationShape& f) {
  if (Status s = validate_model_shape(m); !s) throw std::invalid_argument(s.error().message);
  if (Status s = validate_federation_shape(f); !s) throw std::invalid_argument(s.error().message);
  if (f.fragments > m.n_layers)
    throw std::invalid_argument("federation shape: fragments = " + std::to_string(f.fragments) + " is more than the model's " +
                                std::to_string(m.n_layers) + " layers (a fragment is a stride of layers)");
}

}  // namespace

double estimate_step_flops(const ModelShape& m, const FederationShape& f, const std::vector<int64_t>& held_per_moe_layer) {
  const ParamCounts c = count_parameters(m);
  // The embedding lookup multiplies nothing; the head always does (tied or not).
  double per_token = static_cast<double>(c.dense - c.embeddings + m.vocab * m.d_model);
  for (int64_t held : held_per_moe_layer)
    per_token += static_cast<double>(m.top_k) * static_cast<double>(held) / static_cast<double>(m.n_experts) *
                 static_cast<double>(c.per_expert);
  const double tokens = static_cast<double>(f.batch) * static_cast<double>(f.seq_len);
  return tokens * (6.0 * per_token + 12.0 * static_cast<double>(m.n_layers * m.d_model * f.seq_len));
}

Projection project(const ModelShape& m, const FederationShape& f) {
  check(m, f);
  const Ingredients in = gather(m, f);
  Projection p;
  p.model = m;
  p.federation = f;
  p.counts = count_parameters(m);
  p.ddp = ddp(m, f, in);
  p.diloco = full_replica(Method::DiLoCo, m, f, in);
  p.photon = full_replica(Method::Photon, m, f, in);
  p.fomoe = fomoe_method(m, f, in);
  return p;
}

MethodProjection project_method(const ModelShape& m, const FederationShape& f) {
  check(m, f);
  const Ingredients in = gather(m, f);
  switch (f.method) {
    case Method::Ddp: return ddp(m, f, in);
    case Method::DiLoCo: return full_replica(Method::DiLoCo, m, f, in);
    case Method::Photon: return full_replica(Method::Photon, m, f, in);
    case Method::FoMoE: return fomoe_method(m, f, in);
    case Method::Single: break;
  }
  MethodProjection mp;
  mp.method = Method::Single;
  SiteProjection s;
  s.params = in.total_params;
  s.experts_held = static_cast<int64_t>(in.M) * in.E;
  s.memory = site_memory(m, f, s.params, /*snapshot=*/false,
                         std::vector<int64_t>(static_cast<size_t>(in.M), m.n_experts));
  mp.sites.push_back(s);
  return mp;
}

}  // namespace fomoe::sysmodel
