// fomoe train EXPERIMENT.toml [--resume CHECKPOINT] [--steps N]
#include <cstdio>
#include <iostream>

#include "cli_experiment.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/train/single_site.h"
#include "progress_bar.h"
#include "recording.h"

namespace fomoe::cli {

int train_command(const std::vector<std::string>& args) {
  std::string path, resume, db;
  std::vector<std::string> overrides;
  long steps_override = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--resume" && i + 1 < args.size()) resume = args[++i];
    else if (args[i] == "--steps" && i + 1 < args.size()) steps_override = std::stol(args[++i]);
    else if (args[i] == "--db" && i + 1 < args.size()) db = args[++i];
    else if (args[i] == "--set" && i + 1 < args.size()) overrides.push_back(args[++i]);
    else if (!args[i].empty() && args[i][0] != '-' && path.empty()) path = args[i];
    else {
      std::cerr << "fomoe train: unexpected argument '" << args[i] << "'\n"
                << "usage: fomoe train EXPERIMENT.toml [--steps N] [--resume CHECKPOINT] [--db PATH] [--set section.key=value ...]\n";
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "usage: fomoe train EXPERIMENT.toml [--steps N] [--resume CHECKPOINT] [--db PATH] [--set section.key=value ...]\n";
    return 2;
  }
  auto cfg = load_cli_experiment("train", path, overrides, steps_override);
  if (!cfg) return 2;
  std::fprintf(stderr, "fomoe train: %s — %d steps of batch %d x %d tokens, %d experts (top-%d), residency %.0f%%\n",
               path.c_str(), cfg->train.steps, cfg->train.batch_size, cfg->model.seq_len, cfg->model.n_experts,
               cfg->model.top_k, cfg->model.residency * 100);
  auto rec = start_recording(*cfg, db, 1);
  if (!rec) {
    std::cerr << "fomoe train: " << rec.error().message << "\n";
    return 1;
  }
  ProgressBar bar(cfg->train.steps);
  auto result = run_single_site(*cfg, rec->recorder.get(), [&](const TrainProgress& p) {
    char status[160];
    if (p.eval_loss >= 0)
      std::snprintf(status, sizeof status, "loss %.3f eval %.3f (unigram %.2f) %.0f tok/s", p.train_loss, p.eval_loss,
                    p.unigram_entropy, p.tokens_per_s);
    else
      std::snprintf(status, sizeof status, "loss %.3f %.0f tok/s", p.train_loss, p.tokens_per_s);
    bar.update(p.step, status, p.elapsed_s);
    return true;
  }, resume);
  bar.finish();
  rec->recorder->on_run_finished(result ? RunStatus::Finished : RunStatus::Failed, result ? "" : result.error().message);
  if (!result) {
    std::cerr << "fomoe train: " << result.error().message << "\n";
    return 1;
  }
  std::printf("done: %ld steps, train loss %.4f, held-out loss %.4f nats/token (unigram entropy of the data %.4f)\n",
              result->steps, result->final_train_loss, result->final_eval_loss, result->unigram_entropy);
  std::printf("recorded as run %lld in %s (see `fomoe runs show %lld`)\n", static_cast<long long>(rec->run_id),
              rec->db_path.c_str(), static_cast<long long>(rec->run_id));
  if (!result->checkpoint_path.empty()) std::printf("checkpoint: %s\n", result->checkpoint_path.c_str());
  return 0;
}

}  // namespace fomoe::cli
