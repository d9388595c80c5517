#include "fomoe/federation/evaluate_checkpoint.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "fomoe/federation/global_model.h"
#include "fomoe/model/generate.h"
#include "fomoe/train/data_feed.h"

namespace fomoe {

Expected<CheckpointEval> evaluate_checkpoint(const ExperimentConfig& cfg, const std::string& checkpoint_path) {
  if (!std::filesystem::exists(checkpoint_path))
    return make_error(ErrorCode::NotFound, "checkpoint " + checkpoint_path + " does not exist");
  try {
    GlobalModel global(cfg);
    auto round = global.load(checkpoint_path);
    if (!round) return round.error();
    auto feed = DataFeed::open(cfg, /*n_sites=*/1, /*site=*/0);
    if (!feed) return feed.error();
    const auto batches = (*feed)->eval_batches();
    if (batches.empty())
      return make_error(ErrorCode::InvalidArgument, (*feed)->description() + " has no held-out split to evaluate on "
                                                    "(raise data.heldout_fraction)");
    CheckpointEval r;
    r.round = *round;
    r.batches = static_cast<int>(batches.size());
    for (const auto& b : batches) r.tokens += b.size(0) * (b.size(1) - 1);
    r.loss = mean_heldout_loss(global.model(), batches);
    r.perplexity = std::exp(r.loss);
    r.data = (*feed)->description();
    return r;
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Corrupt, "cannot evaluate " + checkpoint_path + ": " + e.what_without_backtrace());
  }
}

}  // namespace fomoe

namespace fomoe {

Expected<CheckpointSample> sample_checkpoint(const ExperimentConfig& cfg, const std::string& checkpoint_path,
                                             const std::string& prompt_text, const std::vector<int64_t>& prompt_ids,
                                             SamplingOptions options) {
  if (!std::filesystem::exists(checkpoint_path))
    return make_error(ErrorCode::NotFound, "checkpoint " + checkpoint_path + " does not exist");
  if (options.max_new_tokens < 0) return make_error(ErrorCode::InvalidArgument, "max-new-tokens must be >= 0");
  if (!options.greedy && !(options.temperature > 0.0))
    return make_error(ErrorCode::InvalidArgument, "temperature must be > 0 (or sample greedily)");
  CheckpointSample s;
  std::optional<data::Tokenizer> tokenizer;  // the run's BPE, or its data.tokenizer (token files too)
  if (!reads_token_files(cfg.data.format) || !cfg.data.tokenizer.empty()) {
    auto t = data::corpus_tokenizer(corpus_spec_from(cfg));
    if (!t) return t.error();
    tokenizer = std::move(*t);
    s.has_tokenizer = true;
  }
  const data::Tokenizer* corpus_tok = tokenizer ? &*tokenizer : nullptr;
  if (!prompt_ids.empty()) {
    s.prompt_ids = prompt_ids;
  } else if (corpus_tok) {
    for (int32_t t : corpus_tok->encode(prompt_text)) s.prompt_ids.push_back(t);
  } else {
    return make_error(ErrorCode::InvalidArgument, "this run trained on token files (data.format = " +
                                                      std::string(data_format_name(cfg.data.format)) +
                                                      ") without a tokenizer the engine runs: give the prompt as token ids");
  }
  if (s.prompt_ids.empty()) return make_error(ErrorCode::InvalidArgument, "the prompt is empty");
  for (int64_t t : s.prompt_ids)
    if (t < 0 || t >= cfg.model.vocab_size)
      return make_error(ErrorCode::InvalidArgument, "prompt token " + std::to_string(t) + " is outside the vocabulary of " +
                                                        std::to_string(cfg.model.vocab_size));
  if (corpus_tok && options.stop_token < 0) options.stop_token = corpus_tok->eod_id();
  try {
    GlobalModel global(cfg);
    auto round = global.load(checkpoint_path);
    if (!round) return round.error();
    s.round = *round;
    s.ids = generate(global.model(), s.prompt_ids, options);
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Corrupt, "cannot sample from " + checkpoint_path + ": " + e.what_without_backtrace());
  }
  if (corpus_tok) {
    std::vector<int32_t> ids32;
    for (int64_t t : s.ids)
      if (t < corpus_tok->vocab_size()) ids32.push_back(static_cast<int32_t>(t));
    s.text = corpus_tok->decode(ids32);
  }
  return s;
}

}  // namespace fomoe

namespace fomoe {

Status save_initial_checkpoint(const ExperimentConfig& cfg, const std::string& path) {
  try {
    GlobalModel global(cfg);
    return global.save(path, 0);
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::InvalidArgument, std::string("cannot build the model: ") + e.what_without_backtrace());
  }
}

}  // namespace fomoe
