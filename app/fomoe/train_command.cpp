// fomoe train EXPERIMENT.toml [--resume CHECKPOINT] [--steps N]. Ctrl-C / SIGTERM stop after the
// step in flight with a checkpoint and a "stopped" record; --resume goes on in that record.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli_experiment.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/train/single_site.h"
#include "progress_bar.h"
#include "recording.h"
#include "stop_signals.h"

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

std::string resume_command(const TrainArgs& args, const std::string& checkpoint) {
  std::string again = "fomoe " + args.command + " " + args.path + " --resume";
  if (args.command == "train") again += " " + checkpoint;
  if (!args.db.empty()) again += " --db " + args.db;
  for (auto& kv : args.overrides) again += " --set " + kv;
  if (args.steps > 0) again += " --steps " + std::to_string(args.steps);
  return again;
}

int train(const TrainArgs& args) {
  const std::string& path = args.path;
  const std::string& resume = args.resume;
  const std::string& db = args.db;
  const std::string me = "fomoe " + args.command;
  auto cfg = load_cli_experiment(args.command, path, args.overrides, args.steps);
  if (!cfg) return 2;
  std::fprintf(stderr, "%s: %s — %d steps of batch %d x %d tokens, %d experts (top-%d), residency %.0f%%\n", me.c_str(),
               path.c_str(), cfg->train.steps, cfg->train.batch_size, cfg->model.seq_len, cfg->model.n_experts,
               cfg->model.top_k, cfg->model.residency * 100);
  if (!resume.empty() && !std::filesystem::exists(resume)) {
    std::fprintf(stderr, "%s: --resume: no checkpoint at %s%s\n", me.c_str(), resume.c_str(),
                 args.command == "run" ? " (a single-site run leaves it there when it is stopped)" : "");
    return 1;
  }
  // A checkpoint's record file names the run record it belongs to: a resume goes on in it.
  const int64_t resume_id = resume.empty() ? -1 : recorded_run_id(checkpoint_record_file(resume), resolved_db_path(*cfg, db));
  auto rec = start_recording(*cfg, db, 1, resume_id);
  if (!rec) {
    std::cerr << me << ": " << rec.error().message << "\n";
    return 1;
  }
  // Everything recorded also goes to args.also (a publisher), in the same order.
  RunSinkFanout sinks;
  sinks.add(rec->recorder.get());
  RunSink* sink = &sinks;
  if (args.also) {  // watchers learn which run this is first, as from `fomoe run`'s federations
    sinks.add(args.also);
    RunInfo info;
    info.name = cfg->run.name;
    info.method = method_name(cfg->run.method);
    info.n_sites = 1;
    args.also->on_run_started(rec->run_id, info);
  }
  const bool same_record = resume_id >= 0 && rec->run_id == resume_id;
  const double wall_offset_s = same_record ? seconds_since_record_start(rec->db_path, rec->run_id) : 0.0;
  if (same_record) {
    std::fprintf(stderr, "%s: resuming run %lld in %s from %s\n", me.c_str(), static_cast<long long>(resume_id),
                 rec->db_path.c_str(), resume.c_str());
    sink->on_event(RunEvent{wall_offset_s, -1, "resumed", "resumed from " + resume});
  }
  write_record_file(checkpoint_record_file(checkpoint_path(*cfg)), rec->db_path, rec->run_id);
  StopSignals signals(me.c_str());
  ProgressBar bar(cfg->train.steps);
  auto result = run_single_site(*cfg, sink, [&](const TrainProgress& p) {
    char status[160];
    if (p.eval_loss >= 0)
      std::snprintf(status, sizeof status, "loss %.3f eval %.3f (unigram %.2f) %.0f tok/s", p.train_loss, p.eval_loss,
                    p.unigram_entropy, p.tokens_per_s);
    else
      std::snprintf(status, sizeof status, "loss %.3f %.0f tok/s", p.train_loss, p.tokens_per_s);
    bar.update(p.step, status, p.elapsed_s);
    return !StopSignals::requested();
  }, resume, wall_offset_s);
  bar.finish();
  if (result && result->stopped) {
    const int sig = StopSignals::signal() != 0 ? StopSignals::signal() : SIGINT;
    const std::string why = std::string("stopped by ") + signal_name(sig) + " after step " + std::to_string(result->steps) +
                            " of " + std::to_string(cfg->train.steps);
    sink->on_run_finished(RunStatus::Stopped, why);
    std::fprintf(stderr, "%s: %s; checkpoint %s; recorded as run %lld (stopped) in %s\nresume with: %s\n", me.c_str(),
                 why.c_str(), result->checkpoint_path.c_str(), static_cast<long long>(rec->run_id), rec->db_path.c_str(),
                 resume_command(args, result->checkpoint_path).c_str());
    return 128 + sig;
  }
  sink->on_run_finished(result ? RunStatus::Finished : RunStatus::Failed, result ? "" : result.error().message);
  if (!result) {
    std::cerr << me << ": " << result.error().message << "\n";
    return StopSignals::signal() != 0 ? 128 + StopSignals::signal() : 1;
  }
  std::printf("done: %ld steps, train loss %.4f, held-out loss %.4f nats/token (unigram entropy of the data %.4f)\n",
              result->steps, result->final_train_loss, result->final_eval_loss, result->unigram_entropy);
  std::printf("recorded as run %lld in %s (see `fomoe runs show %lld`)\n", static_cast<long long>(rec->run_id),
              rec->db_path.c_str(), static_cast<long long>(rec->run_id));
  if (!result->checkpoint_path.empty()) std::printf("checkpoint: %s\n", result->checkpoint_path.c_str());
  return 0;
}

}  // namespace fomoe::cli
