#include "fomoe/train/trainer.h"
#include "fomoe/train/autocast_scope.h"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>

namespace fomoe {

namespace {

std::vector<LayerRouting> collect_routing(Transformer& model) {
  std::vector<LayerRouting> out;
  for (auto& moe : model->moe_layers()) {
    const auto& s = moe->last_stats();
    LayerRouting r;
    if (s.load_E.defined()) {
      auto load = s.load_E.contiguous();
      auto proc = s.processed_E.contiguous();
      r.load.assign(load.data_ptr<int64_t>(), load.data_ptr<int64_t>() + load.numel());
      r.processed.assign(proc.data_ptr<int64_t>(), proc.data_ptr<int64_t>() + proc.numel());
    }
    r.n_picks = s.n_picks;
    r.n_skipped = s.n_skipped;
    r.router_entropy_sum = s.router_entropy;
    r.n_steps = 1;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

ModelOptions model_options_from(const ExperimentConfig& cfg) {
  const auto& m = cfg.model;
  return ModelOptions(m.vocab_size, m.d_model)
      .n_layers(m.n_layers)
      .n_heads(m.n_heads)
      .n_kv_heads(m.n_kv_heads)
      .tie_embeddings(m.tie_embeddings)
      .max_seq_len(m.seq_len)
      .n_experts(m.n_experts)
      .top_k(m.top_k)
      .d_expert(m.d_expert)
      .shared_expert(m.shared_expert)
      .moe_every(m.moe_every)
      .renormalize_gates(m.gate == GateMode::Renormalize)
      .route_resident_only(m.gate == GateMode::Reroute);
}

Residency residency_from(const ExperimentConfig& cfg) {
  auto o = model_options_from(cfg);
  return Residency::fraction(static_cast<int>(o.n_moe_layers()), cfg.model.n_experts, cfg.model.residency);
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    TORCH_CHECK(torch::cuda::is_available(), "device \"", name, "\" but no CUDA device is available (use \"auto\" or \"cpu\")");
    if (name == "cuda") return torch::kCUDA;
    torch::Device d(name);  // throws on a malformed index
    TORCH_CHECK(d.index() < static_cast<int>(torch::cuda::device_count()), "device \"", name, "\" but this machine has ",
                torch::cuda::device_count(), " CUDA device(s)");
    return d;
  }
  TORCH_CHECK(name == "auto", "unknown device \"", name, "\" (allowed: auto, cpu, cuda, cuda:N)");
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

Trainer::Trainer(const ExperimentConfig& cfg, const Residency& residency, torch::Device device)
    : cfg_(cfg), device_(device) {
  torch::manual_seed(cfg_.run.seed);
  model_ = Transformer(model_options_from(cfg_), residency);
  model_->init_parameters(cfg_.run.seed);
  model_->to(device_);
  build_optimizer();
}

void Trainer::build_optimizer() {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model_->named_parameters()) (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  const auto& t = cfg_.train;
  if (t.inner_optimizer == "sgd") {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(t.lr));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(t.lr));
    optimizer_ = std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(t.lr));
    return;
  }
  auto opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(t.lr).betas({t.beta1, t.beta2}).weight_decay(wd).eps(1e-8));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, opts(t.weight_decay));
  groups.emplace_back(no_decay, opts(0.0));
  optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(t.lr));
}

void Trainer::reset_optimizer() { build_optimizer(); }

void Trainer::adopt_state_from(Trainer& old) {
  torch::NoGradGuard no_grad;
  step_ = old.step_;
  auto old_params = old.model_->named_parameters();
  auto& old_state = old.optimizer_->state();
  auto& new_state = optimizer_->state();
  for (auto& p : model_->named_parameters()) {
    const auto* prev = old_params.find(p.key());
    if (prev == nullptr) continue;
    p.value().copy_(*prev);
    auto it = old_state.find(prev->unsafeGetTensorImpl());
    if (it != old_state.end()) new_state[p.value().unsafeGetTensorImpl()] = it->second->clone();
  }
}

double Trainer::lr_at(int64_t step) const {
  const auto& t = cfg_.train;
  if (t.warmup_steps > 0 && step < t.warmup_steps) return t.lr * static_cast<double>(step + 1) / t.warmup_steps;
  const double span = std::max<int64_t>(1, t.steps - t.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - t.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return t.lr * (t.min_lr_ratio + (1.0 - t.min_lr_ratio) * cosine);
}

StepStats Trainer::train_step(const torch::Tensor& tokens_BT1) {
  const auto t0 = std::chrono::steady_clock::now();
  StepStats s = forward_backward(tokens_BT1);
  s.grad_norm = clip_and_step();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

StepStats Trainer::forward_backward(const torch::Tensor& tokens_BT1) {
  const auto t0 = std::chrono::steady_clock::now();
  model_->train();
  auto tokens = tokens_BT1.to(device_, torch::kLong);
  const int64_t T = tokens.size(1) - 1;
  auto inputs = tokens.narrow(1, 0, T);
  auto targets = tokens.narrow(1, 1, T);

  StepStats s;
  s.lr = lr_at(step_);
  // Set-to-none: an expert that saw no token keeps an undefined gradient and AdamW skips it.
  optimizer_->zero_grad(/*set_to_none=*/true);
  torch::Tensor loss, total;
  ForwardOutput out;
  {
    AutocastScope autocast(device_);
    out = model_->forward(inputs);
    loss = lm_loss(out.logits_BTV, targets);
    total = loss + cfg_.model.aux_loss_coef * out.aux_loss + cfg_.model.z_loss_coef * out.z_loss;
  }
  total.backward();
  s.loss = loss.item<double>();
  s.aux_loss = out.aux_loss.item<double>();
  s.z_loss = out.z_loss.item<double>();
  s.tokens = inputs.numel();
  s.routing = collect_routing(model_);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

double Trainer::clip_and_step() {
  const double lr = lr_at(step_);
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
  std::vector<torch::Tensor> with_grad;
  for (auto& p : model_->parameters())
    if (p.grad().defined()) with_grad.push_back(p);
  const double max_norm = cfg_.train.grad_clip > 0 ? cfg_.train.grad_clip : std::numeric_limits<double>::infinity();
  const double norm = with_grad.empty() ? 0.0 : torch::nn::utils::clip_grad_norm_(with_grad, max_norm);
  optimizer_->step();
  ++step_;
  return norm;
}

double Trainer::apply_gradients(const std::map<std::string, torch::Tensor>& grads) {
  optimizer_->zero_grad(/*set_to_none=*/true);
  for (auto& p : model_->named_parameters()) {
    auto it = grads.find(p.key());
    if (it != grads.end()) p.value().mutable_grad() = it->second.to(p.value().device(), p.value().scalar_type()).clone();
  }
  return clip_and_step();
}

double Trainer::evaluate(const std::vector<torch::Tensor>& batches) {
  if (batches.empty()) return std::nan("");
  torch::NoGradGuard no_grad;
  model_->eval();
  for (auto& m : model_->moe_layers()) m->collect_stats = false;
  double sum = 0.0;
  for (const auto& b : batches) {
    auto tokens = b.to(device_, torch::kLong);
    const int64_t T = tokens.size(1) - 1;
    AutocastScope autocast(device_);
    auto out = model_->forward(tokens.narrow(1, 0, T));
    sum += lm_loss(out.logits_BTV, tokens.narrow(1, 1, T)).item<double>();
  }
  for (auto& m : model_->moe_layers()) m->collect_stats = true;
  return sum / static_cast<double>(batches.size());
}

Status Trainer::save_checkpoint(const std::string& path, const std::map<std::string, int64_t>& extra) {
  try {
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive model_archive, optim_archive;
    model_->save(model_archive);
    optimizer_->save(optim_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optim_archive);
    archive.write("step", torch::tensor(step_, torch::kLong));
    for (auto& [k, v] : extra) archive.write("extra." + k, torch::tensor(v, torch::kLong));
    // Write then rename, so a crash mid-write never leaves a truncated checkpoint under the name.
    const std::string tmp = path + ".tmp";
    archive.save_to(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      return make_error(ErrorCode::Io, "cannot move checkpoint into place at " + path);
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Io, "cannot write checkpoint " + path + ": " + e.what_without_backtrace());
  }
  return Status::ok();
}

Expected<std::map<std::string, int64_t>> Trainer::load_checkpoint(const std::string& path) {
  std::map<std::string, int64_t> extra;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, device_);
    torch::serialize::InputArchive model_archive, optim_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optim_archive);
    model_->load(model_archive);
    optimizer_->load(optim_archive);
    torch::Tensor step;
    archive.read("step", step);
    step_ = step.item<int64_t>();
    for (const auto& key : archive.keys()) {
      if (key.rfind("extra.", 0) != 0) continue;
      torch::Tensor v;
      archive.read(key, v);
      extra[key.substr(6)] = v.item<int64_t>();
    }
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Corrupt, "cannot read checkpoint " + path + " (missing, truncated or from another model): " +
                                              e.what_without_backtrace());
  }
  return extra;
}

}  // namespace fomoe
