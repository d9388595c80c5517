#include "fomoe/model/generate.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <limits>

namespace fomoe {

std::vector<int64_t> generate(Transformer& model, const std::vector<int64_t>& prompt, const SamplingOptions& options) {
  TORCH_CHECK(!prompt.empty(), "generate: the prompt has no tokens");
  const int64_t V = model->options().vocab_size();
  for (int64_t t : prompt) TORCH_CHECK(t >= 0 && t < V, "generate: prompt token ", t, " is outside the vocabulary of ", V);
  TORCH_CHECK(options.greedy || options.temperature > 0.0, "generate: temperature must be > 0");
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  for (auto& l : model->moe_layers()) l->collect_stats = false;
  const auto device = model->tok_emb->weight.device();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  std::vector<int64_t> seq = prompt, out;
  const auto window = static_cast<size_t>(model->options().max_seq_len());
  for (int i = 0; i < options.max_new_tokens; ++i) {
    const size_t start = seq.size() > window ? seq.size() - window : 0;
    auto idx = at::tensor(std::vector<int64_t>(seq.begin() + static_cast<std::ptrdiff_t>(start), seq.end()), at::kLong)
                   .unsqueeze(0)
                   .to(device);
    auto logits = model->forward(idx).logits_BTV.select(1, -1).squeeze(0).to(at::kCPU, at::kFloat);  // [V]
    int64_t next;
    if (options.greedy) {
      next = logits.argmax().item<int64_t>();
    } else {
      auto scaled = logits / options.temperature;
      if (options.top_k > 0 && options.top_k < V) {
        auto kth = std::get<0>(scaled.topk(options.top_k)).select(0, options.top_k - 1);
        scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
      }
      next = at::multinomial(scaled.softmax(0), 1, /*replacement=*/false, gen).item<int64_t>();
    }
    out.push_back(next);
    seq.push_back(next);
    if (next == options.stop_token) break;
  }
  for (auto& l : model->moe_layers()) l->collect_stats = true;
  if (was_training) model->train();
  return out;
}

}  // namespace fomoe
