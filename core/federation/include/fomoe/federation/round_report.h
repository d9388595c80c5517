// What an agent reports at the end of a round besides tensors: metric names/values and the
// per-expert counts, as the JSON metadata of a RoundReport. One place for both ends.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fomoe::report {

inline constexpr const char* kSamples = "samples";          // tokens trained this round
inline constexpr const char* kExpertLoad = "expert_load";   // [layer][expert] picks routed (before skip)
inline constexpr const char* kLinkSeconds = "link_s";       // emulated link time this round
inline constexpr const char* kStepEnd = "step_end";         // the site's inner step count after the round
inline constexpr const char* kEvalLoss = "eval_loss";       // DDP: held-out loss of the (shared) model, site 0
// [[i, loss], ...]: mean train loss over each train.log_every interval of the round, ending at
// inner step i (1..steps; the round's last step always closes one), so federated runs record
// per-step curves, not one point per round.
inline constexpr const char* kTrainLossSteps = "train_loss_steps";
// Data that stays at its site. StartRound: kEvalHeldout (bool) asks a site with its own data to
// evaluate the global model as it received it (for FoMoE: the experts it holds, skip-token for
// the rest) on its own held-out split, for the eval point at step kEvalStep; kEvalOnly (bool):
// evaluate and report, no training (the run's last eval). RoundReport: kSiteHeldoutLoss and
// kSiteHeldoutStep; kDataManifest (JSON text) once, in a site's first report.
inline constexpr const char* kEvalHeldout = "eval_heldout";
inline constexpr const char* kEvalStep = "eval_step";
inline constexpr const char* kEvalOnly = "eval_only";
inline constexpr const char* kSiteHeldoutLoss = "site_heldout_loss";
inline constexpr const char* kSiteHeldoutStep = "site_heldout_step";
inline constexpr const char* kDataManifest = "data_manifest";
// StartRound with federation.overlap: the next round's inner steps (0 = this is the last round),
// so the site trains that round's first overlap_steps right after its report.
inline constexpr const char* kNextSteps = "next_steps";
// RoundReport, compressed: CompressionError::to_json() of what the site sent this round.
inline constexpr const char* kUpError = "up_error";
inline constexpr const char* kOwnData = "own_data";  // RoundReport: bool, the site trains on data of its own

}  // namespace fomoe::report
