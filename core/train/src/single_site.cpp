#include "fomoe/train/single_site.h"

#include "fomoe/interop/hf_import.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>

#include "fomoe/base/log.h"
#include "fomoe/train/data_feed.h"
#include "fomoe/train/prompt_samples.h"
#include "fomoe/train/site_trainer.h"
#include "fomoe/train/trainer.h"

namespace fomoe {

namespace {

double now_s(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::string checkpoint_path(const ExperimentConfig& cfg) {
  return (std::filesystem::path(cfg.run.out_dir) / (cfg.run.name + ".ckpt")).string();
}

Expected<SingleSiteResult> run_single_site(const ExperimentConfig& cfg, RunSink* sink, const ProgressFn& progress,
                                           const std::string& resume_checkpoint, double wall_offset_s) {
  // A resumed run's clock goes on from its record's (wall_offset_s), so recorded times never go back.
  const auto t0 = std::chrono::steady_clock::now() -
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(wall_offset_s));
  SingleSiteResult result;
  try {
    auto feed = DataFeed::open(cfg, /*n_sites=*/1, /*site=*/0);
    if (!feed) return feed.error();
    // The project's BPE has exactly model.vocab_size ids; a data.tokenizer may have fewer.
    if (const auto* corpus = (*feed)->corpus(); corpus && corpus->tokenizer.vocab_size() > cfg.model.vocab_size)
      return make_error(ErrorCode::InvalidArgument, "model.vocab_size (" + std::to_string(cfg.model.vocab_size) +
                                                        ") is smaller than the tokenizer's (" +
                                                        std::to_string(corpus->tokenizer.vocab_size()) + ")");
    result.unigram_entropy = (*feed)->unigram_entropy_of_heldout();
    const auto devices = resolve_devices(cfg.run.device);
    SiteTrainer site(cfg, residency_from(cfg), devices);  // several devices: data parallel via c10d
    Trainer& trainer = site.primary();
    std::string device_names;
    for (const auto& d : devices) device_names += (device_names.empty() ? "" : ",") + d.str();
    if (!resume_checkpoint.empty()) {
      auto extra = trainer.load_checkpoint(resume_checkpoint);
      if (!extra) return extra.error();
      for (int r = 1; r < site.world_size(); ++r) {  // every replica resumes the same model and optimizer
        auto other = site.replica(r).load_checkpoint(resume_checkpoint);
        if (!other) return other.error();
      }
      data::SamplerState st;
      st.rng = static_cast<uint64_t>(extra->count("sampler_rng") ? extra->at("sampler_rng") : 0);
      st.n_batches = static_cast<uint64_t>(extra->count("sampler_batches") ? extra->at("sampler_batches") : 0);
      (*feed)->set_sampler_state(st);
      FOMOE_LOG_INFO("train", "resumed from %s at step %ld", resume_checkpoint.c_str(), static_cast<long>(trainer.step()));
    } else if (!cfg.model.init_from.empty()) {
      if (auto st = interop::load_hf_weights(trainer.model(), cfg.model.init_from); !st) return st.error();
      site.broadcast_parameters();
      FOMOE_LOG_INFO("train", "starting from the Hugging Face checkpoint %s", cfg.model.init_from.c_str());
    }
    FOMOE_LOG_INFO("train", "model: %ld parameters on %s; data: %lu training tokens, held-out unigram entropy %.3f nats",
                   static_cast<long>(trainer.model()->n_parameters()), device_names.c_str(),
                   static_cast<unsigned long>((*feed)->shard_tokens()), result.unigram_entropy);
    auto eval_batches = (*feed)->eval_batches();
    auto sampler = PromptSampler::open(cfg, feed->get());
    if (!sampler) return sampler.error();

    TrainProgress prog;
    prog.total_steps = cfg.train.steps;
    prog.unigram_entropy = result.unigram_entropy;
    std::vector<LayerRouting> routing;
    double loss_sum = 0, aux_sum = 0, z_sum = 0, step_seconds = 0;
    int64_t tokens_interval = 0, tokens_total = 0;
    int n_interval = 0;
    auto save_checkpoint = [&](long step) -> Status {
      std::filesystem::create_directories(cfg.run.out_dir);
      const std::string path = checkpoint_path(cfg);
      auto st = (*feed)->sampler_state();
      auto saved = trainer.save_checkpoint(path, {{"sampler_rng", static_cast<int64_t>(st.rng)},
                                                  {"sampler_batches", static_cast<int64_t>(st.n_batches)}});
      if (!saved) return saved.error();
      result.checkpoint_path = path;
      result.checkpoint_path_step = step;
      if (sink) sink->on_checkpoint(CheckpointEntry{-1, step, path});
      return Status::ok();
    };
    auto emit = [&](std::vector<MetricPoint> points) {
      if (sink && !points.empty()) sink->on_metrics(points);
    };
    while (trainer.step() < cfg.train.steps) {
      auto s = site.train_step((*feed)->next_batch());
      const long step = static_cast<long>(trainer.step());
      loss_sum += s.loss;
      aux_sum += s.aux_loss;
      z_sum += s.z_loss;
      step_seconds += s.seconds;
      tokens_interval += s.tokens;
      tokens_total += s.tokens;
      ++n_interval;
      if (routing.empty()) routing.resize(s.routing.size());
      for (size_t l = 0; l < s.routing.size(); ++l) routing[l].accumulate(s.routing[l]);

      const bool last = step == cfg.train.steps;
      const double wall = now_s(t0);
      if (step % cfg.train.log_every == 0 || last) {
        prog.train_loss = loss_sum / n_interval;
        prog.tokens_per_s = tokens_interval / std::max(1e-9, step_seconds);
        std::vector<MetricPoint> pts = {
            {metric::kTrainLoss, prog.train_loss, step, -1, 0, wall},
            {metric::kAuxLoss, aux_sum / n_interval, step, -1, 0, wall},
            {metric::kZLoss, z_sum / n_interval, step, -1, 0, wall},
            {metric::kLearningRate, s.lr, step, -1, 0, wall},
            {metric::kGradNorm, s.grad_norm, step, -1, 0, wall},
            {metric::kTokensPerSecond, prog.tokens_per_s, step, -1, 0, wall},
            {metric::kTokensSeen, static_cast<double>(tokens_total), step, -1, 0, wall}};
        auto rm = routing_metrics(routing, step, -1, 0, wall);
        pts.insert(pts.end(), rm.begin(), rm.end());
        emit(pts);
        if (sink) sink->on_expert_load(expert_load_entries(routing, /*round=*/static_cast<int>(step), 0));
        result.final_train_loss = prog.train_loss;
        loss_sum = aux_sum = z_sum = step_seconds = 0;
        tokens_interval = 0;
        n_interval = 0;
        routing.clear();
      }
      if ((cfg.train.eval_every > 0 && step % cfg.train.eval_every == 0) || last) {
        prog.eval_loss = trainer.evaluate(eval_batches);
        result.final_eval_loss = prog.eval_loss;
        emit({{metric::kEvalLoss, prog.eval_loss, step, -1, -1, now_s(t0)}});
        if (*sampler && sink) sink->on_samples((*sampler)->sample(trainer.model(), -1, step));
      }
      if (cfg.train.checkpoint_every > 0 && (step % cfg.train.checkpoint_every == 0 || last)) {
        if (Status st = save_checkpoint(step); !st) return st.error();
      }
      prog.step = step;
      prog.elapsed_s = now_s(t0);
      if (progress && !progress(prog)) {
        // A stop request: the step just taken is kept in a checkpoint (the sampler's position
        // with it), so a resume goes on exactly here.
        if (!last && result.checkpoint_path_step != step) {
          if (Status st = save_checkpoint(step); !st) return st.error();
        }
        result.steps = step;
        result.stopped = !last;
        return result;
      }
    }
    result.steps = static_cast<long>(trainer.step());
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Internal, std::string("training failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return make_error(ErrorCode::Internal, std::string("training failed: ") + e.what());
  }
  return result;
}

}  // namespace fomoe
