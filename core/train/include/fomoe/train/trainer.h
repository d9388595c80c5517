// One site's inner loop: a model built from (config, residency), its inner optimizer (AdamW, or
// SGD for identity tests), the LR schedule, clipping, autocast on CUDA, evaluation and
// checkpoints. Knows nothing about data files or the federation: it is handed token batches.
#pragma once

#include <torch/optim/optimizer.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"
#include "fomoe/model/transformer.h"
#include "fomoe/train/routing_stats.h"

namespace fomoe {

struct StepStats {
  double loss = 0.0;       // cross-entropy (nats/token), without aux terms
  double aux_loss = 0.0;   // summed over MoE layers, before the coefficient
  double z_loss = 0.0;
  double grad_norm = 0.0;  // before clipping
  double lr = 0.0;
  int64_t tokens = 0;
  double seconds = 0.0;
  std::vector<LayerRouting> routing;  // one per MoE layer
};

ModelOptions model_options_from(const ExperimentConfig& cfg);
Residency residency_from(const ExperimentConfig& cfg);  // single-site: model.residency fraction
/// "auto" picks CUDA when a GPU is present.
torch::Device resolve_device(const std::string& name);

class Trainer {
 public:
  Trainer(const ExperimentConfig& cfg, const Residency& residency, torch::Device device);

  /// One inner step on tokens of shape [B, T+1] (int64 or int32; inputs [:, :T], targets [:, 1:]).
  StepStats train_step(const torch::Tensor& tokens_BT1);
  /// DDP's halves of a step: forward/backward leaving gradients in place (no update) ...
  StepStats forward_backward(const torch::Tensor& tokens_BT1);
  /// ... then clip and step (returns the pre-clip norm). Increments step().
  double clip_and_step();
  /// DDP: installs the given (averaged) gradients by parameter name and steps as train_step would.
  double apply_gradients(const std::map<std::string, torch::Tensor>& grads);
  /// Mean held-out loss over the given batches (no grad, same autocast as training).
  double evaluate(const std::vector<torch::Tensor>& batches);
  double lr_at(int64_t step) const;
  int64_t step() const { return step_; }
  void set_step(int64_t step) { step_ = step; }
  /// Drops the inner optimizer's state (Photon's stateless clients).
  void reset_optimizer();
  /// After the site's residency changed (a re-planned placement): takes over `old`'s step count and,
  /// for every parameter both models have (dense ones, experts kept), its value and inner optimizer
  /// state. Newly held experts start with fresh optimizer state. Each state object is cloned but
  /// its tensors are shared with `old` (a shallow copy): `old` is meant to be dropped, not trained.
  void adopt_state_from(Trainer& old);

  /// Model and optimizer state plus `extra` integers (e.g. the data sampler's position).
  Status save_checkpoint(const std::string& path, const std::map<std::string, int64_t>& extra = {});
  Expected<std::map<std::string, int64_t>> load_checkpoint(const std::string& path);

  Transformer& model() { return model_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const torch::Device& device() const { return device_; }
  const ExperimentConfig& config() const { return cfg_; }

 private:
  void build_optimizer();
  ExperimentConfig cfg_;
  torch::Device device_;
  Transformer model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  int64_t step_ = 0;
};

}  // namespace fomoe
