// Data parallel inside one site through c10d process groups (one rank per device, one thread per
// rank in this process). See site_trainer.h.
#include "fomoe/train/site_trainer.h"

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#ifdef FOMOE_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO  // the wheel's libtorch_cpu has Gloo; its header is guarded by this macro
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef FOMOE_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <exception>
#include <set>
#include <sstream>
#include <thread>

namespace fomoe {

std::vector<torch::Device> resolve_devices(const std::string& list) {
  std::vector<torch::Device> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    out.push_back(resolve_device(item));
  }
  if (out.empty()) out.push_back(resolve_device("auto"));
  return out;
}

namespace {

// Runs fn(rank) on one thread per rank and rethrows the first failure. Collectives need every
// rank inside the call at once, hence threads rather than a loop.
template <class Fn>
void on_every_rank(int n, Fn fn) {
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(r);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

constexpr auto kCollectiveTimeout = std::chrono::minutes(5);

}  // namespace

struct SiteTrainer::Group {
  std::vector<c10::intrusive_ptr<c10d::Backend>> ranks;
};

SiteTrainer::SiteTrainer(const ExperimentConfig& cfg, const Residency& residency, const std::vector<torch::Device>& devices) {
  TORCH_CHECK(!devices.empty(), "a site needs at least one device");
  for (const auto& d : devices) replicas_.push_back(std::make_unique<Trainer>(cfg, residency, d));
  const int n = world_size();
  if (n == 1) return;
  TORCH_CHECK(cfg.train.batch_size % n == 0, "train.batch_size = ", cfg.train.batch_size, " does not split evenly over the site's ",
              n, " devices");
  std::set<int> gpus;
  bool all_cuda = true;
  for (const auto& d : devices) {
    all_cuda = all_cuda && d.is_cuda();
    if (d.is_cuda()) gpus.insert(d.has_index() ? d.index() : 0);
  }
  const bool nccl = all_cuda && static_cast<int>(gpus.size()) == n;  // NCCL wants one GPU per rank
  group_ = std::make_unique<Group>();
  group_->ranks.resize(static_cast<size_t>(n));
  auto store = c10::make_intrusive<c10d::HashStore>();  // ranks share this process: an in-memory store
#ifdef FOMOE_WITH_NCCL
  if (nccl) {
    backend_ = "nccl";
    for (int r = 0; r < n; ++r) {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = kCollectiveTimeout;
      group_->ranks[static_cast<size_t>(r)] = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, r, n, opts);
    }
    broadcast_parameters();
    return;
  }
#else
  (void)nccl;
#endif
#ifndef FOMOE_WITH_GLOO
  TORCH_CHECK(false, "several devices in one site need c10d's Gloo backend, and this build has no Gloo headers "
                     "(scripts/install-deps puts them in .deps/gloo)");
#else
  backend_ = "gloo";
  // Gloo connects its full mesh in the constructor, so every rank must be constructed at once.
  on_every_rank(n, [&](int r) {
    auto opts = c10d::ProcessGroupGloo::Options::create(kCollectiveTimeout);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    group_->ranks[static_cast<size_t>(r)] = c10::make_intrusive<c10d::ProcessGroupGloo>(store, r, n, opts);
  });
  broadcast_parameters();
#endif
}

SiteTrainer::~SiteTrainer() = default;

StepStats SiteTrainer::train_step(const torch::Tensor& tokens_BT1) { return run_ranks(tokens_BT1, /*step=*/true); }
StepStats SiteTrainer::forward_backward(const torch::Tensor& tokens_BT1) { return run_ranks(tokens_BT1, /*step=*/false); }

StepStats SiteTrainer::run_ranks(const torch::Tensor& tokens_BT1, bool step) {
  const int n = world_size();
  if (n == 1) return step ? replicas_[0]->train_step(tokens_BT1) : replicas_[0]->forward_backward(tokens_BT1);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t B = tokens_BT1.size(0);
  TORCH_CHECK(B % n == 0, "a batch of ", B, " sequences does not split evenly over the site's ", n, " devices");
  auto slices = tokens_BT1.chunk(n, 0);
  std::vector<StepStats> stats(static_cast<size_t>(n));
  std::vector<double> norms(static_cast<size_t>(n), 0.0);
  on_every_rank(n, [&](int r) {
    auto& trainer = *replicas_[static_cast<size_t>(r)];
    stats[static_cast<size_t>(r)] = trainer.forward_backward(slices[static_cast<size_t>(r)]);
    // One bucket: every gradient (zeros where undefined) plus a has-gradient flag per parameter,
    // summed in one all-reduce. A parameter no rank touched keeps an undefined gradient, so AdamW
    // leaves it alone exactly as on a single device.
    auto params = trainer.model()->parameters();
    std::vector<torch::Tensor> parts;
    parts.reserve(params.size() + 1);
    std::vector<float> flags;
    for (auto& p : params) {
      const bool has = p.grad().defined();
      flags.push_back(has ? 1.0f : 0.0f);
      parts.push_back(has ? p.grad().reshape(-1).to(torch::kFloat) : torch::zeros({p.numel()}, p.options().dtype(torch::kFloat)));
    }
    parts.push_back(torch::tensor(flags).to(trainer.device()));
    std::vector<torch::Tensor> bucket = {torch::cat(parts)};
    group_->ranks[static_cast<size_t>(r)]->allreduce(bucket)->wait();
    auto flat = bucket[0];
    auto flag_sums = flat.narrow(0, flat.numel() - static_cast<int64_t>(params.size()), static_cast<int64_t>(params.size())).to(torch::kCPU);
    int64_t offset = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      auto& p = params[i];
      if (flag_sums[static_cast<int64_t>(i)].item<float>() > 0)
        // A copy, not a view of the bucket: the optimizer's zero_grad detaches gradients in place.
        p.mutable_grad() = (flat.narrow(0, offset, p.numel()) / static_cast<double>(n)).view_as(p).to(p.scalar_type(), false, /*copy=*/true);
      else
        p.mutable_grad() = torch::Tensor();
      offset += p.numel();
    }
    if (step) norms[static_cast<size_t>(r)] = trainer.clip_and_step();
  });
  StepStats s = stats[0];
  for (int r = 1; r < n; ++r) {
    const auto& o = stats[static_cast<size_t>(r)];
    s.loss += o.loss;
    s.aux_loss += o.aux_loss;
    s.z_loss += o.z_loss;
    s.tokens += o.tokens;
    for (size_t l = 0; l < s.routing.size() && l < o.routing.size(); ++l) s.routing[l].accumulate(o.routing[l]);
  }
  s.loss /= n;  // equal slices: the mean of the means is the batch mean
  s.aux_loss /= n;
  s.z_loss /= n;
  s.grad_norm = norms[0];
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

double SiteTrainer::apply_gradients(const std::map<std::string, torch::Tensor>& grads) {
  double norm = 0.0;
  for (size_t r = 0; r < replicas_.size(); ++r) {
    const double v = replicas_[r]->apply_gradients(grads);
    if (r == 0) norm = v;
  }
  return norm;
}

void SiteTrainer::broadcast_parameters() {
  const int n = world_size();
  if (n == 1) return;
  on_every_rank(n, [&](int r) {
    torch::NoGradGuard no_grad;
    auto params = replicas_[static_cast<size_t>(r)]->model()->parameters();
    std::vector<torch::Tensor> parts;
    for (auto& p : params) parts.push_back(p.detach().reshape(-1).to(torch::kFloat));
    std::vector<torch::Tensor> bucket = {torch::cat(parts)};
    c10d::BroadcastOptions opts;
    opts.rootRank = 0;
    group_->ranks[static_cast<size_t>(r)]->broadcast(bucket, opts)->wait();
    int64_t offset = 0;
    for (auto& p : params) {
      p.copy_(bucket[0].narrow(0, offset, p.numel()).view_as(p));
      offset += p.numel();
    }
  });
}

void SiteTrainer::reset_optimizer() {
  for (auto& r : replicas_) r->reset_optimizer();
}

void SiteTrainer::adopt_state_from(SiteTrainer& old) {
  TORCH_CHECK(old.world_size() == world_size(), "adopt_state_from: ", old.world_size(), " ranks vs ", world_size());
  for (size_t i = 0; i < replicas_.size(); ++i) replicas_[i]->adopt_state_from(*old.replicas_[i]);
}

}  // namespace fomoe
