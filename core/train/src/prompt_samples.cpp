#include "fomoe/train/prompt_samples.h"

#include "fomoe/model/generate.h"
#include "fomoe/train/data_feed.h"

namespace fomoe {

Expected<std::unique_ptr<PromptSampler>> PromptSampler::open(const ExperimentConfig& cfg, const DataFeed* feed) {
  if (cfg.train.sample_tokens <= 0 || cfg.train.sample_prompts.empty()) return std::unique_ptr<PromptSampler>();
  if (feed && feed->corpus()) return std::unique_ptr<PromptSampler>(new PromptSampler(feed->corpus()->tokenizer, cfg));
  if (reads_token_files(cfg.data.format) && cfg.data.tokenizer.empty()) return std::unique_ptr<PromptSampler>();
  auto tok = data::corpus_tokenizer(corpus_spec_from(cfg));
  if (!tok) return tok.error();
  return std::unique_ptr<PromptSampler>(new PromptSampler(std::move(*tok), cfg));
}

PromptSampler::PromptSampler(data::Tokenizer tokenizer, const ExperimentConfig& cfg)
    : tokenizer_(std::move(tokenizer)), max_new_tokens_(cfg.train.sample_tokens) {
  for (const auto& p : cfg.train.sample_prompts) {
    std::vector<int64_t> ids;
    for (int32_t t : tokenizer_.encode(p))
      if (t >= 0 && t < cfg.model.vocab_size) ids.push_back(t);
    if (ids.empty()) continue;  // a prompt the tokenizer maps to nothing the model knows
    prompts_.push_back(p);
    prompt_ids_.push_back(std::move(ids));
  }
}

std::vector<SampleEntry> PromptSampler::sample(Transformer& model, int round, long step) const {
  SamplingOptions o;
  o.greedy = true;
  o.max_new_tokens = max_new_tokens_;
  o.stop_token = tokenizer_.eod_id();
  std::vector<SampleEntry> out;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    std::vector<int32_t> ids;
    const auto next = generate(model, prompt_ids_[i], o);
    for (int64_t t : next)
      if (t < tokenizer_.vocab_size() && t != o.stop_token) ids.push_back(static_cast<int32_t>(t));
    const bool ended = !next.empty() && next.back() == o.stop_token;
    out.push_back({round, step, static_cast<int>(i), prompts_[i], tokenizer_.decode(ids), ended});
  }
  return out;
}

}  // namespace fomoe
