// fomoe train EXPERIMENT.toml [--resume CHECKPOINT] [--steps N]
#include <cstdio>
#include <iostream>

#include "cli_experiment.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/train/single_site.h"
#include "progress_bar.h"
#include "recording.h"

namespace fomoe::cli {

int train_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe train", "Trains on this machine, one site, with a progress bar; records the run.");
  TrainArgs a;
  app->add_option("EXPERIMENT", a.path, "experiment TOML file (experiments/*.toml)")->required()->type_name("FILE.toml");
  app->add_option("--steps", a.steps, "train this many steps instead of the experiment's train.steps")
      ->check(positive_integer())
      ->type_name("N");
  app->add_option("--resume", a.resume, "go on from this checkpoint")->type_name("CHECKPOINT");
  app->add_option("--db", a.db, "run store (default: the experiment's run.db, else ~/.local/share/fomoe/runs.db)")
      ->type_name("PATH");
  add_repeated(*app, "--set", a.overrides, "override an experiment key, e.g. --set train.lr=1e-3 (repeatable)")
      ->type_name("section.key=value");
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  return train(a);
}

int train(const TrainArgs& args) {
  const std::string& path = args.path;
  const std::string& resume = args.resume;
  const std::string& db = args.db;
  auto cfg = load_cli_experiment("train", path, args.overrides, args.steps);
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
