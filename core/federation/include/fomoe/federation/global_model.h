// The coordinator's fp32 master copy of the whole model (every expert) and the outer optimizer
// (LibTorch SGD: Nesterov for DiLoCo/FoMoE, server lr/momentum for Photon), plus the aggregation
// rules of each method. A parameter that receives no update keeps an undefined gradient, so the
// outer optimizer neither moves it nor advances its momentum.
#pragma once

#include <torch/optim/sgd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/config/experiment.h"
#include "fomoe/federation/placement.h"
#include "fomoe/model/transformer.h"

namespace fomoe {

struct SiteUpdate {
  int site = 0;
  std::map<std::string, torch::Tensor> tensors;     // fp32 CPU: pseudo-gradients, or parameters (Photon)
  std::vector<std::vector<int64_t>> expert_tokens;  // [moe layer][expert] token-slots processed this round
  int64_t samples = 0;                              // tokens trained this round (Photon's weights)
};

struct OuterStepStats {
  int dense_updated = 0;
  int expert_tensors_updated = 0;
  int expert_tensors_skipped = 0;  // no holder reported, or no holder processed a token
  bool dense_quorum_met = true;
};

/// Mean next-token cross-entropy (nats/token) of m over held-out batches [B, T+1], in eval mode
/// and without routing statistics; NaN for no batches. The coordinator's held-out loss and
/// `fomoe eval` are this one function.
double mean_heldout_loss(Transformer& m, const std::vector<torch::Tensor>& batches);

class GlobalModel {
 public:
  explicit GlobalModel(const ExperimentConfig& cfg);

  Transformer& model() { return model_; }
  const ExperimentConfig& config() const { return cfg_; }
  /// Names a site holds (dense + its experts); all names for full-replica methods.
  std::vector<std::string> names_for_site(const PlacementPlan& plan, int site) const;
  torch::Tensor parameter(const std::string& name) const;
  std::vector<int64_t> shape_of(const std::string& name) const;
  int64_t numel_for_site(const PlacementPlan& plan, int site) const;

  /// Aggregates the round's updates and applies one outer step.
  OuterStepStats apply_round(const std::vector<SiteUpdate>& updates, const PlacementPlan& plan);
  /// Overwrites the master with parameters (DDP: the sites' identical model, for evaluation).
  void load_parameters(const std::map<std::string, torch::Tensor>& params);

  /// `placement_json`: the plan in force (it may change during a run); "" = none stored.
  Status save(const std::string& path, int64_t completed_round, const std::string& placement_json = "") const;
  /// Returns the completed round; `placement_json` gets the stored plan, or "" if none.
  Expected<int64_t> load(const std::string& path, std::string* placement_json = nullptr);

 private:
  ExperimentConfig cfg_;
  Transformer model_{nullptr};
  std::map<std::string, torch::Tensor> params_;
  std::unique_ptr<torch::optim::SGD> outer_;
};

}  // namespace fomoe
