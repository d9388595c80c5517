// Throughput benchmark of skip-token and fast dispatch. Every number in one run, same process,
// same threads, alternating the variants so machine noise hits them alike.
#include "fomoe/train/bench_moe.h"

#include <nlohmann/json.hpp>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#ifdef FOMOE_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <chrono>
#include <cstring>
#include <iomanip>
#include <map>

#include "fomoe/train/autocast_scope.h"
#include "fomoe/train/trainer.h"

extern char** environ;

namespace fomoe {
namespace {

ExperimentConfig bench_config(bool quick) {
  // Fine-grained MoE in the style of OLMoE / DeepSeek (many small experts, top-k > 2), scaled to
  // a 2-core CPU. Experts dominate the FLOPs, as in the paper's models.
  ExperimentConfig c;
  c.model.vocab_size = 1024;
  c.model.d_model = 256;
  c.model.n_layers = quick ? 2 : 4;
  c.model.n_heads = 4;
  c.model.seq_len = 128;
  c.model.n_experts = 32;
  c.model.top_k = 4;
  c.model.d_expert = 256;
  c.train.batch_size = 8;
  c.train.steps = 1000;
  c.train.warmup_steps = 0;
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Variant {
  std::string name;
  double residency;
  DispatchMode mode;
  double best_s = 1e30;  // best-of per step time (least noisy estimate)
  double tokens_per_s = 0;
  int64_t n_params = 0;
};

const char* mode_name(DispatchMode m) {
  switch (m) {
    case DispatchMode::Fast: return "fast";
    case DispatchMode::FastLoop: return "fast-loop";
    case DispatchMode::Masked: return "masked-baseline";
    case DispatchMode::Reference: return "reference";
  }
  return "?";
}


void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// Peak device memory of a fresh training site (CUDA caching allocator), KiB; -1 without CUDA.
long cuda_site_peak_kb(const ExperimentConfig& cfg, double residency, const torch::Tensor& tokens) {
#ifdef FOMOE_TORCH_CUDA
  torch::cuda::synchronize();
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(0);
  const auto base = c10::cuda::CUDACachingAllocator::getDeviceStats(0).allocated_bytes[0].current;
  {
    auto c = cfg;
    c.model.residency = residency;
    Trainer t(c, residency_from(c), torch::Device(torch::kCUDA));
    for (int i = 0; i < 2; ++i) t.train_step(tokens);
    torch::cuda::synchronize();
  }
  const auto peak = c10::cuda::CUDACachingAllocator::getDeviceStats(0).allocated_bytes[0].peak;
  return static_cast<long>((peak - base) / 1024);
#else
  (void)cfg, (void)residency, (void)tokens;
  return -1;
#endif
}

long proc_status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
  return -1;
}

// Peak memory a training site adds (model, optimizer state, activations), measured in a fresh
// child process so the variants do not share an allocator. Returns KiB, -1 on failure.
long child_peak_kb(const std::string& self_exe, double residency, const std::vector<std::string>& shape_args) {
  char path[] = "/tmp/fomoe-bench-peak-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return -1;
  std::vector<std::string> argv_s = {self_exe, "bench", "moe", "--child-peak", std::to_string(residency)};
  argv_s.insert(argv_s.end(), shape_args.begin(), shape_args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, 1);
  pid_t pid;
  long kb = -1;
  if (posix_spawn(&pid, self_exe.c_str(), &actions, nullptr, argv.data(), environ) == 0) {
    int status = 0;
    if (waitpid(pid, &status, 0) >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      std::ifstream in(path);
      in >> kb;
    }
  }
  posix_spawn_file_actions_destroy(&actions);
  close(fd);
  unlink(path);
  return kb;
}

}  // namespace

int bench_moe(const BenchMoeOptions& options, std::ostream& out, std::ostream& err, const std::string& self_exe) {
  const bool json = options.json, quick = options.quick;
  const int steps = options.steps;
  const double child_residency = options.child_residency;
  const int n_experts = options.n_experts, top_k = options.top_k, d_expert = options.d_expert,
            d_model = options.d_model, batch = options.batch;
  const std::string& device_name = options.device;
  auto cfg = bench_config(quick);
  if (n_experts) cfg.model.n_experts = n_experts;
  if (top_k) cfg.model.top_k = top_k;
  if (d_expert) cfg.model.d_expert = d_expert;
  if (d_model) cfg.model.d_model = d_model;
  if (batch) cfg.train.batch_size = batch;
  torch::Device device(torch::kCPU);
  try {
    device = resolve_device(device_name);
  } catch (const std::exception& e) {
    err << "fomoe bench moe: --device " << device_name << ": " << e.what() << "\n";
    return 2;
  }
  const int64_t B = cfg.train.batch_size, T = cfg.model.seq_len;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto tokens = torch::randint(0, cfg.model.vocab_size, {B, T + 1}, gen, torch::kLong);

  if (child_residency >= 0) {  // child mode: a few steps, then exit; the parent reads our peak RSS
    auto c = cfg;
    c.model.residency = child_residency;
    const long base_kb = proc_status_kb("VmRSS:");
    {
      std::ofstream reset("/proc/self/clear_refs");
      reset << "5";  // resets VmHWM: the peak below is the training site's, not library loading's
    }
    {
      Trainer t(c, residency_from(c), torch::kCPU);
      for (int i = 0; i < 2; ++i) t.train_step(tokens);
    }
    out << (proc_status_kb("VmHWM:") - base_kb) << "\n";
    return 0;
  }

  // --- MoE block alone: forward + backward of one layer on N = B*T tokens.
  std::vector<Variant> block = {{"block fast 100%", 1.0, DispatchMode::Fast},
                                {"block fast 75%", 0.75, DispatchMode::Fast},
                                {"block fast 50%", 0.5, DispatchMode::Fast},
                                {"block fast 25%", 0.25, DispatchMode::Fast},
                                {"block eager baseline 100%", 1.0, DispatchMode::Masked},
                                {"block fast-loop 100%", 1.0, DispatchMode::FastLoop}};
  auto x = torch::randn({B, T, cfg.model.d_model}, gen).to(device);
  std::vector<MoeLayer> layers;
  for (auto& v : block) {
    torch::manual_seed(1);
    auto r = Residency::fraction(1, cfg.model.n_experts, v.residency);
    auto o = MoeOptions(cfg.model.d_model, cfg.model.n_experts).top_k(cfg.model.top_k).d_expert(cfg.model.d_expert).dispatch(v.mode);
    layers.emplace_back(o, r.experts_per_layer[0]);
    layers.back()->to(device);
    for (auto& p : layers.back()->parameters()) v.n_params += p.numel();
  }
  // --- Whole model training step (forward, backward, AdamW) at each residency.
  std::vector<Variant> model = {{"model fast 100%", 1.0, DispatchMode::Fast},
                                {"model fast 75%", 0.75, DispatchMode::Fast},
                                {"model fast 50%", 0.5, DispatchMode::Fast},
                                {"model fast 25%", 0.25, DispatchMode::Fast},
                                {"model eager baseline 100%", 1.0, DispatchMode::Masked},
                                {"model fast-loop 100%", 1.0, DispatchMode::FastLoop}};
  std::vector<std::unique_ptr<Trainer>> trainers;
  for (auto& v : model) {
    auto c = cfg;
    c.model.residency = v.residency;
    trainers.push_back(std::make_unique<Trainer>(c, residency_from(c), device));
    trainers.back()->model()->set_dispatch(v.mode);
    v.n_params = trainers.back()->model()->n_parameters();
  }
  if (!json) out << "fomoe bench moe: " << (device.is_cuda() ? "CUDA (bf16 autocast)" : "CPU") << ", "
                 << torch::get_num_threads() << " threads, N = " << B * T << " tokens/step, E = "
                 << cfg.model.n_experts << ", top-k = " << cfg.model.top_k << ", d_model = " << cfg.model.d_model
                 << ", d_expert = " << cfg.model.d_expert << ", layers = " << cfg.model.n_layers << "\n";
  // Warm-up, then interleave variants step by step (noise hits all alike); keep the best time.
  for (int rep = -1; rep < steps; ++rep) {
    for (size_t i = 0; i < block.size(); ++i) {
      sync(device);
      auto t0 = std::chrono::steady_clock::now();
      layers[i]->zero_grad();
      {
        AutocastScope autocast(device);  // as Trainer: bf16 on CUDA
        auto o = layers[i]->forward(x);
        (o.y.to(torch::kFloat).square().mean() + o.aux_loss).backward();
      }
      sync(device);
      const double s = seconds_since(t0);
      if (rep >= 0) block[i].best_s = std::min(block[i].best_s, s);
    }
    for (size_t i = 0; i < model.size(); ++i) {
      sync(device);
      auto t0 = std::chrono::steady_clock::now();
      trainers[i]->train_step(tokens);
      sync(device);
      const double s = seconds_since(t0);
      if (rep >= 0) model[i].best_s = std::min(model[i].best_s, s);
    }
  }
  for (auto* vs : {&block, &model})
    for (auto& v : *vs) v.tokens_per_s = static_cast<double>(B * T) / v.best_s;

  std::vector<std::string> shape_args;
  if (quick) shape_args.push_back("--quick");
  for (auto [flag, v] : {std::pair<const char*, int>{"--experts", n_experts}, {"--top-k", top_k}, {"--d-expert", d_expert}})
    if (v) shape_args.insert(shape_args.end(), {flag, std::to_string(v)});
  if (d_model) shape_args.insert(shape_args.end(), {"--d-model", std::to_string(d_model)});
  if (batch) shape_args.insert(shape_args.end(), {"--batch", std::to_string(batch)});
  // CPU: resident set of a fresh child process; CUDA: the caching allocator's peak for a fresh site.
  trainers.clear();
  layers.clear();
  const long peak_full = device.is_cuda() ? cuda_site_peak_kb(cfg, 1.0, tokens) : child_peak_kb(self_exe, 1.0, shape_args);
  const long peak_half = device.is_cuda() ? cuda_site_peak_kb(cfg, 0.5, tokens) : child_peak_kb(self_exe, 0.5, shape_args);

  const double fast_vs_baseline_block = block[0].tokens_per_s / block[4].tokens_per_s;
  const double fast_vs_baseline_model = model[0].tokens_per_s / model[4].tokens_per_s;
  const double skip50_block = block[2].tokens_per_s / block[0].tokens_per_s;
  const double skip50_model = model[2].tokens_per_s / model[0].tokens_per_s;
  const double grouped_vs_loop_block = block[0].tokens_per_s / block[5].tokens_per_s;
  const double grouped_vs_loop_model = model[0].tokens_per_s / model[5].tokens_per_s;
  if (json) {
    nlohmann::json j;
    j["threads"] = torch::get_num_threads();
    j["device"] = device.is_cuda() ? "cuda" : "cpu";
    j["tokens_per_step"] = B * T;
    for (auto* vs : {&block, &model})
      for (auto& v : *vs)
        j["variants"].push_back({{"name", v.name}, {"residency", v.residency}, {"dispatch", mode_name(v.mode)},
                                 {"tokens_per_s", v.tokens_per_s}, {"step_s", v.best_s}, {"parameters", v.n_params}});
    j["ratios"] = {{"block_fast_vs_eager_baseline", fast_vs_baseline_block},
                   {"model_fast_vs_eager_baseline", fast_vs_baseline_model},
                   {"block_50_vs_100", skip50_block},
                   {"model_50_vs_100", skip50_model},
                   {"block_grouped_vs_loop", grouped_vs_loop_block},
                   {"model_grouped_vs_loop", grouped_vs_loop_model}};
    j["peak_rss_kb"] = {{"residency_100", peak_full}, {"residency_50", peak_half}};
    out << j.dump(2) << "\n";
    return 0;
  }
  out << std::left << std::setw(30) << "variant" << std::right << std::setw(14) << "tokens/s" << std::setw(12)
      << "step ms" << std::setw(14) << "parameters" << std::setw(10) << "vs 100%" << "\n";
  for (auto* vs : {&block, &model})
    for (auto& v : *vs)
      out << std::left << std::setw(30) << v.name << std::right << std::setw(14) << std::fixed << std::setprecision(0)
          << v.tokens_per_s << std::setw(12) << std::setprecision(1) << v.best_s * 1e3 << std::setw(14) << v.n_params
          << std::setw(9) << std::setprecision(2) << v.tokens_per_s / (*vs)[0].tokens_per_s << "x\n";
  out << std::setprecision(2) << "ratios: fast vs eager baseline (100%): block " << fast_vs_baseline_block << "x, model "
      << fast_vs_baseline_model << "x\n"
      << "        skip-token 50% vs 100%:            block " << skip50_block << "x, model " << skip50_model << "x\n"
      << "        grouped GEMM vs per-expert loop:   block " << grouped_vs_loop_block << "x, model "
      << grouped_vs_loop_model << "x\n"
      << "peak " << (device.is_cuda() ? "GPU " : "") << "memory added by a training site: 100% residency " << peak_full / 1024 << " MiB, 50% residency " << peak_half / 1024
      << " MiB (parameters " << model[0].n_params << " vs " << model[2].n_params << ")\n";
  return 0;
}

}  // namespace fomoe
