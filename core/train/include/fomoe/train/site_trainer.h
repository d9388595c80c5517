// One site training on several devices: data parallel inside the site through LibTorch's own c10d
// process groups (NCCL when every device is a distinct GPU, Gloo otherwise). Between sites only
// ZeroMQ: rank 0's model is the site's model, the one the federation reads and writes; the other
// replicas follow it through c10d broadcasts and identical optimizer steps on averaged gradients.
// With one device it is a thin pass-through to a single Trainer.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/train/trainer.h"

namespace fomoe {

/// "cpu", "cuda", "cuda:1", "auto", or a comma list of those ("cuda:0,cuda:1", "cpu,cpu").
std::vector<torch::Device> resolve_devices(const std::string& list);

class SiteTrainer {
 public:
  SiteTrainer(const ExperimentConfig& cfg, const Residency& residency, const std::vector<torch::Device>& devices);
  ~SiteTrainer();
  SiteTrainer(const SiteTrainer&) = delete;
  SiteTrainer& operator=(const SiteTrainer&) = delete;

  Trainer& primary() { return *replicas_.front(); }
  Trainer& replica(int rank) { return *replicas_.at(static_cast<size_t>(rank)); }
  int world_size() const { return static_cast<int>(replicas_.size()); }
  /// "none" (one device), "gloo" or "nccl".
  const std::string& backend() const { return backend_; }

  /// The batch [B, T+1] is split along B over the devices (B must divide evenly); gradients are
  /// averaged with one c10d all-reduce per step; every replica steps identically.
  StepStats train_step(const torch::Tensor& tokens_BT1);
  /// As train_step without the optimizer step: averaged gradients left on every replica (DDP).
  StepStats forward_backward(const torch::Tensor& tokens_BT1);
  double apply_gradients(const std::map<std::string, torch::Tensor>& grads);
  /// After the federation wrote rank 0's parameters: c10d broadcast to every other replica.
  void broadcast_parameters();
  void reset_optimizer();
  /// Every rank takes over the same rank of `old` (same devices): see Trainer::adopt_state_from.
  void adopt_state_from(SiteTrainer& old);

 private:
  struct Group;
  StepStats run_ranks(const torch::Tensor& tokens_BT1, bool step);
  std::vector<std::unique_ptr<Trainer>> replicas_;
  std::unique_ptr<Group> group_;
  std::string backend_ = "none";
};

}  // namespace fomoe
