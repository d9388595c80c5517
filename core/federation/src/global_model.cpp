#include "fomoe/federation/global_model.h"

#include <cmath>

#include <torch/serialize.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "fomoe/train/trainer.h"

namespace fomoe {

GlobalModel::GlobalModel(const ExperimentConfig& cfg) : cfg_(cfg) {
  auto opts = model_options_from(cfg_);
  model_ = Transformer(opts, Residency::full(static_cast<int>(opts.n_moe_layers()), cfg_.model.n_experts));
  model_->init_parameters(cfg_.run.seed);  // same values every agent draws for what it holds
  for (auto& p : model_->named_parameters()) params_[p.key()] = p.value();
  const bool photon = cfg_.run.method == Method::Photon;
  const double lr = photon ? cfg_.federation.photon_server_lr : cfg_.federation.outer_lr;
  const double momentum = photon ? cfg_.federation.photon_server_momentum : cfg_.federation.outer_momentum;
  const bool nesterov = !photon && cfg_.federation.nesterov && momentum > 0.0;
  auto options = torch::optim::SGDOptions(lr).momentum(momentum).nesterov(nesterov);
  // Two parameter groups so experts can take their own outer learning rate (FoMoE averages each
  // expert over r holders only; federation.expert_outer_lr, 0 = the same as outer_lr).
  std::vector<torch::Tensor> dense, experts;
  for (auto& p : model_->named_parameters())
    (classify_parameter(p.key(), model_->options()).is_expert ? experts : dense).push_back(p.value());
  auto expert_options = options;
  if (!photon && cfg_.federation.expert_outer_lr > 0.0) expert_options.lr(cfg_.federation.expert_outer_lr);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(dense, std::make_unique<torch::optim::SGDOptions>(options));
  if (!experts.empty()) groups.emplace_back(experts, std::make_unique<torch::optim::SGDOptions>(expert_options));
  outer_ = std::make_unique<torch::optim::SGD>(std::move(groups), options);
}

std::vector<std::string> GlobalModel::names_for_site(const PlacementPlan& plan, int site) const {
  std::vector<std::string> out;
  const bool partial = cfg_.run.method == Method::FoMoE;
  for (auto& [name, _] : params_) {
    auto ref = classify_parameter(name, model_->options());
    if (!ref.is_expert || !partial || plan.holds(site, ref.moe_layer, ref.expert)) out.push_back(name);
  }
  return out;
}

torch::Tensor GlobalModel::parameter(const std::string& name) const { return params_.at(name); }
std::vector<int64_t> GlobalModel::shape_of(const std::string& name) const { return params_.at(name).sizes().vec(); }

int64_t GlobalModel::numel_for_site(const PlacementPlan& plan, int site) const {
  int64_t n = 0;
  for (auto& name : names_for_site(plan, site)) n += params_.at(name).numel();
  return n;
}

OuterStepStats GlobalModel::apply_round(const std::vector<SiteUpdate>& updates_in, const PlacementPlan& plan) {
  torch::NoGradGuard no_grad;
  // Sum in site order, not arrival order, so a run's numbers do not depend on network timing.
  std::vector<const SiteUpdate*> updates;
  for (const auto& u : updates_in) updates.push_back(&u);
  std::sort(updates.begin(), updates.end(), [](const SiteUpdate* a, const SiteUpdate* b) { return a->site < b->site; });
  OuterStepStats stats;
  const Method method = cfg_.run.method;
  const bool photon = method == Method::Photon;
  const bool fomoe = method == Method::FoMoE;
  const bool token_weighted = fomoe && cfg_.federation.expert_weighting == ExpertWeighting::Tokens;
  stats.dense_quorum_met = static_cast<int>(updates.size()) >= cfg_.federation.quorum;

  for (auto& [name, master] : params_) {
    auto ref = classify_parameter(name, model_->options());
    torch::Tensor sum;
    double weight_sum = 0.0;
    int64_t tokens_sum = 0;
    for (const SiteUpdate* up : updates) {
      const SiteUpdate& u = *up;
      auto it = u.tensors.find(name);
      if (it == u.tensors.end()) continue;
      double w = 1.0;
      if (ref.is_expert) {
        const int64_t tok = u.expert_tokens.empty() ? 0 : u.expert_tokens[ref.moe_layer][ref.expert];
        tokens_sum += tok;
        if (token_weighted) w = static_cast<double>(tok);
      }
      if (photon) w = static_cast<double>(std::max<int64_t>(1, u.samples));
      if (w <= 0.0) continue;
      sum = sum.defined() ? sum.add(it->second, w) : it->second * w;
      weight_sum += w;
    }
    auto& grad = master.mutable_grad();
    const bool skip_expert = ref.is_expert && fomoe && tokens_sum == 0;  // nobody trained it: no outer step
    const bool skip_dense = !ref.is_expert && !stats.dense_quorum_met;
    if (!sum.defined() || weight_sum <= 0.0 || skip_expert || skip_dense) {
      grad = torch::Tensor();
      if (ref.is_expert) ++stats.expert_tensors_skipped;
      continue;
    }
    auto mean = sum / weight_sum;
    // Photon sends parameters: its pseudo-gradient is master - average.
    grad = photon ? (master.detach() - mean) : mean;
    if (ref.is_expert) ++stats.expert_tensors_updated; else ++stats.dense_updated;
  }
  outer_->step();
  for (auto& [_, master] : params_) master.mutable_grad() = torch::Tensor();
  return stats;
}

double mean_heldout_loss(Transformer& m, const std::vector<torch::Tensor>& batches) {
  torch::NoGradGuard no_grad;
  m->eval();
  for (auto& l : m->moe_layers()) l->collect_stats = false;
  double sum = 0;
  for (auto& b : batches) {
    const int64_t T = b.size(1) - 1;
    auto out = m->forward(b.narrow(1, 0, T));
    sum += lm_loss(out.logits_BTV, b.narrow(1, 1, T)).item<double>();
  }
  for (auto& l : m->moe_layers()) l->collect_stats = true;
  return batches.empty() ? std::nan("") : sum / static_cast<double>(batches.size());
}

void GlobalModel::load_parameters(const std::map<std::string, torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : params) {
    auto it = params_.find(name);
    if (it != params_.end()) it->second.copy_(t);
  }
}

Status GlobalModel::save(const std::string& path, int64_t completed_round, const std::string& placement_json) const {
  try {
    torch::serialize::OutputArchive archive, model_archive, optim_archive;
    model_->save(model_archive);
    outer_->save(optim_archive);
    archive.write("model", model_archive);
    archive.write("outer", optim_archive);
    archive.write("round", torch::tensor(completed_round, torch::kLong));
    if (!placement_json.empty()) archive.write("placement", c10::IValue(placement_json));
    const std::string tmp = path + ".tmp";
    archive.save_to(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return make_error(ErrorCode::Io, "cannot move " + tmp + " to " + path);
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Io, "cannot write coordinator state " + path + ": " + e.what_without_backtrace());
  }
  return Status::ok();
}

Expected<int64_t> GlobalModel::load(const std::string& path, std::string* placement_json) {
  try {
    torch::serialize::InputArchive archive, model_archive, optim_archive;
    archive.load_from(path);
    archive.read("model", model_archive);
    archive.read("outer", optim_archive);
    model_->load(model_archive);
    outer_->load(optim_archive);
    torch::Tensor round;
    archive.read("round", round);
    if (placement_json) {
      c10::IValue plan;
      *placement_json = archive.try_read("placement", plan) && plan.isString() ? plan.toStringRef() : std::string();
    }
    return round.item<int64_t>();
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Corrupt, "cannot read coordinator state " + path + ": " + e.what_without_backtrace());
  }
}

}  // namespace fomoe
