// Every metric name the engine emits, in one place. Per-layer metrics append ".L<layer>"
// (see layer_metric). Producers (trainer, coordinator), the run store and the GUI all use these.
#pragma once

#include <string>

namespace fomoe::metric {

inline constexpr const char* kTrainLoss = "train/loss";           // cross-entropy, nats/token
inline constexpr const char* kEvalLoss = "eval/loss";             // held-out cross-entropy, nats/token
// A site's held-out loss on its own data (site = its id): the global model as the site holds it.
inline constexpr const char* kSiteEvalLoss = "eval/site_loss";
inline constexpr const char* kAuxLoss = "train/aux_loss";         // Switch/GShard load-balancing loss
inline constexpr const char* kZLoss = "train/z_loss";             // router z-loss
inline constexpr const char* kLearningRate = "train/lr";
inline constexpr const char* kGradNorm = "train/grad_norm";       // before clipping
inline constexpr const char* kTokensPerSecond = "perf/tokens_per_s";
inline constexpr const char* kTokensSeen = "train/tokens";        // cumulative tokens
inline constexpr const char* kRouterEntropy = "route/router_entropy";  // mean per-token H / log E
inline constexpr const char* kLoadEntropy = "route/load_entropy";      // H(expert load) / log E
inline constexpr const char* kSkipRate = "route/skip_rate";            // skipped picks / all picks
inline constexpr const char* kDeadExperts = "route/dead_experts";      // experts with zero load
inline constexpr const char* kTopkOverlap = "route/topk_overlap";      // probe-batch overlap between rounds
inline constexpr const char* kRoundCompute = "round/compute_s";
inline constexpr const char* kRoundComm = "round/comm_s";
inline constexpr const char* kRoundWait = "round/wait_s";
// federation.overlap: the part of round/comm_s spent under compute (compute + comm beyond the
// round's wall time), so the exposed communication is comm_s - overlap_s.
inline constexpr const char* kRoundOverlap = "round/overlap_s";
inline constexpr const char* kBytesSent = "net/bytes_sent";
inline constexpr const char* kBytesReceived = "net/bytes_received";
// Compression error, relative L2 (sqrt(sum err^2 / sum value^2)). Per site: what it sent in a round
// against the round's true pseudo-gradient, dense parameters / every expert it holds pooled / its
// worst expert. Global (site -1): the same for the averaged update (the sites' errors taken as
// independent) and, with down compression, how far the sites' copies are from the master.
inline constexpr const char* kUpError = "comm/up_error";
inline constexpr const char* kUpErrorExperts = "comm/up_error_experts";
inline constexpr const char* kUpErrorExpertMax = "comm/up_error_expert_max";
inline constexpr const char* kUpdateError = "comm/update_error";
inline constexpr const char* kUpdateErrorExperts = "comm/update_error_experts";
inline constexpr const char* kUpdateErrorExpertMax = "comm/update_error_expert_max";
inline constexpr const char* kDownDrift = "comm/down_drift";
inline constexpr const char* kDownDriftExperts = "comm/down_drift_experts";
// Entropy coding (federation.entropy_coding): tensor data bytes on the wire over their size
// before zstd, per site for its report (up) and, global, for the round's StartRounds (down).
inline constexpr const char* kUpCodedFraction = "comm/up_coded_fraction";
inline constexpr const char* kDownCodedFraction = "comm/down_coded_fraction";

/// "route/skip_rate" + layer 3 -> "route/skip_rate.L3"
inline std::string layer_metric(const char* base, int layer) {
  return std::string(base) + ".L" + std::to_string(layer);
}

}  // namespace fomoe::metric

namespace fomoe {

/// One metric sample: the unit of the metric stream (trainer -> coordinator -> store / GUI).
struct MetricPoint {
  std::string name;
  double value = 0.0;
  long step = 0;      // global inner step
  int round = -1;     // federation round; -1 for single-site training
  int site = -1;      // -1 = global (coordinator / global model)
  double wall_time = 0.0;  // seconds since run start
};

}  // namespace fomoe
