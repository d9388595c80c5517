// `fomoe project`: per-site and coordinator predictions of parameters, memory, bytes per round
// and communication time for DDP, DiLoCo, Photon and FoMoE on one model and federation.
// Parameters and bytes are exact for the engine (same names, shapes, wire framing); memory is an
// estimate (formula in core/sysmodel/README.md).
#pragma once

#include <cstdint>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"
#include "fomoe/sysmodel/model_shape.h"
#include "fomoe/sysmodel/wire_bytes.h"

namespace fomoe::sysmodel {

struct FederationShape {
  int n_sites = 4;                    // K
  int replication = 2;                // r: holders per expert (FoMoE), clamped to [1, K]
  int inner_steps = 32;               // H
  Method method = Method::FoMoE;      // the method `project_method` picks; project() does all four
  WirePrecision precision = WirePrecision::F32;  // travel precision of gradients / pseudo-gradients
  Compression compression = Compression::None;       // up (DDP: both ways); None = precision
  Compression down_compression = Compression::None;  // DiLoCo / Photon / FoMoE parameters down after the first round
  bool error_feedback = true;                        // with compression: a residual per held parameter
  double topk = 0;                                   // up (DDP: both ways): fraction kept per chunk, 0 = off
  double down_topk = 0;                              // down, after the first round: fraction kept, 0 = off
  // Entropy coding (federation.entropy_coding): what zstd leaves of the tensor bytes that travel
  // each round, up and down after the first round (a run records it as comm/up_coded_fraction and
  // comm/down_coded_fraction). 1 = uncoded, which is also the bound for a coded run.
  double coded_fraction = 1.0;
  double bandwidth_bps = 1e9;         // each site's link, bits per second; <= 0 = unlimited
  double latency_s = 0.01;            // one-way latency per message
  double coordinator_bandwidth_bps = 0.0;  // the coordinator's own link; <= 0 = same as bandwidth_bps
  int64_t batch = 8;                  // sequences per inner step (activation memory)
  int64_t seq_len = 2048;
  uint64_t meta_bytes = 0;            // metadata JSON bytes per message (0 = pure tensor bytes)
  bool bf16_weights = false;          // weights, grads and activations in bf16 (AdamW moments stay fp32)
  double site_tflops = 0.0;           // achieved training TFLOP/s of each site; 0 = no compute or round time
  int overlap_steps = 0;              // tau: the next round's first steps trained under the exchange (overlap)
  // P streaming fragments (not DDP): H is split into P rounds of H / P steps, each exchanging one
  // layer-strided fragment (parameter_fragment). Per-round figures below then cover the P rounds
  // of H steps, so methods still compare at the same steps; largest_round_bytes is one round's.
  int fragments = 1;
  /// FoMoE's placement, [MoE layer][expert] -> holder sites (a PlacementPlan's holders()); empty =
  /// the engine's round-robin plan with `replication` holders. The placement editor passes its
  /// plan here, so it and the projection show one number for one setup.
  std::vector<std::vector<std::vector<int>>> holders;
};

Status validate_federation_shape(const FederationShape& f);

/// Bytes of memory, estimated (parameters exact, activations by formula).
struct MemoryEstimate {
  uint64_t weights = 0;
  uint64_t grads = 0;
  uint64_t optimizer = 0;     // AdamW: two fp32 moments per held parameter
  uint64_t snapshot = 0;      // fp32 copies: start of round (not DDP), error-feedback residual, down shadow
  uint64_t activations = 0;   // one inner step's saved activations for batch x seq_len tokens
  uint64_t total() const { return weights + grads + optimizer + snapshot + activations; }
};

struct SiteProjection {
  int site = 0;
  int64_t params = 0;        // parameters held
  int64_t experts_held = 0;  // routed experts held, summed over MoE layers
  MemoryEstimate memory;
  WireBytes up;              // per round (DDP: H StepGrad messages; fragments: P RoundReports)
  WireBytes down;            // per round (DDP: H StepUpdate messages; fragments: P StartRounds)
  uint64_t largest_round_bytes = 0;  // up + down of the heaviest single round (fragments: one fragment's)
  double comm_time_s = 0.0;  // per round over the site's own link, down and up legs
  // With site_tflops: one round's inner steps (estimate_step_flops / rate), and the round's wall
  // time: compute + communication, less what overlap_steps train under it (not DDP, whose
  // exchange is inside every step). 0 without site_tflops.
  double compute_time_s = 0.0;
  double round_time_s = 0.0;
};

struct MethodProjection {
  Method method = Method::FoMoE;
  std::vector<SiteProjection> sites;
  WireBytes coordinator_in;      // per round: sum over sites of their up traffic
  WireBytes coordinator_out;     // per round: sum over sites of their down traffic
  WireBytes one_time_down;       // per site, once per run: DDP's fp32 initial parameters; with down
                                 // compression, the first round's whole fp32 tensors (largest site)
  double coordinator_time_s = 0.0;  // per round: all sites' traffic serialised on its link
  MemoryEstimate coordinator_memory;
  int messages_each_way = 0;     // per site per round (DDP: H, fragments: P, others: 1)

  /// The site with the most bytes per round (ties: lowest id); the numbers a table shows.
  const SiteProjection& max_site() const;
  int64_t max_params() const;
  uint64_t max_memory() const;
  uint64_t coordinator_total() const { return coordinator_in.total() + coordinator_out.total(); }
};

struct Projection {
  ModelShape model;
  FederationShape federation;
  ParamCounts counts;
  MethodProjection ddp, diloco, photon, fomoe;

  const MethodProjection& of(Method m) const;  // Method::Single is refused (std::invalid_argument)
  /// Baseline bytes per round at the coordinator over FoMoE's: how many times less FoMoE sends.
  double bytes_ratio(Method baseline) const;
};

/// All four methods. Preconditions: validate_model_shape and validate_federation_shape pass
/// (otherwise throws std::invalid_argument with their message).
Projection project(const ModelShape& m, const FederationShape& f);
/// The method named by f.method only (Method::Single: one site, no traffic).
MethodProjection project_method(const ModelShape& m, const FederationShape& f);

/// Activation bytes of one inner step at a site holding held_per_moe_layer[l] experts of MoE
/// layer l (skip-token: a token keeps top_k * held / E expert picks on average).
uint64_t estimate_activation_bytes(const ModelShape& m, const FederationShape& f,
                                   const std::vector<int64_t>& held_per_moe_layer);

/// Training FLOPs of one inner step (forward and backward) at a site holding held_per_moe_layer[l]
/// experts of MoE layer l, PaLM's accounting: per token 6 x the parameters it multiplies (dense
/// without the token embedding, the output head, and top_k * held / E experts per MoE layer:
/// skip-token) plus 12 x n_layers x d_model x seq_len for attention.
double estimate_step_flops(const ModelShape& m, const FederationShape& f, const std::vector<int64_t>& held_per_moe_layer);

}  // namespace fomoe::sysmodel
