// fomoe eval RUN|CHECKPOINT: held-out loss and perplexity of a federation's global model (the
// coordinator checkpoint a run recorded, or a checkpoint file with --experiment) on the run's own
// held-out data or on any other data source (--set data.format=... --set data.path=...).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/federation/evaluate_checkpoint.h"
#include "fomoe/store/run_store.h"

namespace fomoe::cli {

namespace {
const char* kUsage =
    "usage: fomoe eval RUN_ID [--db PATH] [--set section.key=value ...] [--json]\n"
    "       fomoe eval CHECKPOINT.pt --experiment EXPERIMENT.toml [--set ...] [--json]\n"
    "Held-out loss (nats/token) and perplexity of the global model in a coordinator checkpoint.\n"
    "The data is the run's unless --set names another, e.g. --set data.format=megatron --set data.path=PREFIX.\n";

bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }
}  // namespace

int eval_command(const std::vector<std::string>& args) {
  std::string target, db, experiment;
  std::vector<std::string> sets;
  bool json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> const std::string* {
      if (i + 1 < args.size()) return &args[++i];
      std::cerr << "fomoe eval: " << flag << " needs a value\n" << kUsage;
      return nullptr;
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--db" || a == "--experiment" || a == "--set") {
      const std::string* v = value(a.c_str());
      if (!v) return 2;
      if (a == "--db") db = *v;
      else if (a == "--experiment") experiment = *v;
      else sets.push_back(*v);
    } else if (!a.empty() && a[0] != '-' && target.empty()) {
      target = a;
    } else {
      std::cerr << "fomoe eval: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (target.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  ExperimentConfig cfg;
  std::string checkpoint, what;
  int64_t expected_round = -1;
  if (all_digits(target) && experiment.empty()) {
    const std::string path = db.empty() ? default_db_path() : db;
    StoreOptions ro;
    ro.read_only = true;
    auto store = RunStore::open(path, ro);
    if (!store) {
      std::cerr << "fomoe eval: " << store.error().message << "\n";
      return 1;
    }
    const int64_t id = std::stoll(target);
    auto run = (*store)->get_run(id);
    if (!run) {
      std::cerr << "fomoe eval: " << run.error().message << "\n";
      return 2;
    }
    auto parsed = parse_experiment(run->config_text, "the config recorded with run " + target);
    if (!parsed) {
      std::cerr << "fomoe eval: " << parsed.error().message << "\n";
      return 1;
    }
    cfg = *parsed;
    auto cps = (*store)->checkpoints(id);
    if (!cps || cps->empty()) {
      std::cerr << "fomoe eval: run " << target << " (" << run->method << ") recorded no coordinator checkpoint"
                << (run->method == "ddp" ? " (DDP runs keep none)" : run->method == "single" ? " (single-site runs keep trainer checkpoints)" : "")
                << "\n";
      return 1;
    }
    checkpoint = cps->back().path;
    expected_round = cps->back().round + 1;  // the file holds the number of completed rounds
    what = "run " + target + " (" + run->name + ", " + run->method + ")";
  } else {
    if (experiment.empty()) {
      std::cerr << "fomoe eval: a checkpoint file needs --experiment EXPERIMENT.toml (its model shape)\n" << kUsage;
      return 2;
    }
    auto loaded = load_experiment(experiment);
    if (!loaded) {
      std::cerr << "fomoe eval: " << loaded.error().message << "\n";
      return 2;
    }
    cfg = *loaded;
    checkpoint = target;
    what = experiment;
  }
  if (auto st = apply_overrides(cfg, sets); !st) {
    std::cerr << "fomoe eval: " << st.error().message << "\n";
    return 2;
  }
  auto r = evaluate_checkpoint(cfg, checkpoint);
  if (!r) {
    std::cerr << "fomoe eval: " << r.error().message << "\n";
    return 1;
  }
  if (expected_round >= 0 && r->round != expected_round) {
    std::cerr << "fomoe eval: " << checkpoint << " holds round " << r->round << ", but " << what << " recorded round "
              << expected_round << " there: another run with the same run directory has overwritten it\n";
    return 1;
  }
  if (json) {
    nlohmann::json j = {{"loss", r->loss},         {"perplexity", r->perplexity}, {"tokens", r->tokens},
                        {"batches", r->batches},   {"round", r->round},           {"checkpoint", checkpoint},
                        {"data", r->data},         {"model", what}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s, checkpoint %s after round %lld\n", what.c_str(), checkpoint.c_str(), static_cast<long long>(r->round));
  std::printf("  held-out loss %.4f nats/token, perplexity %.2f, over %lld tokens (%d batches)\n", r->loss, r->perplexity,
              static_cast<long long>(r->tokens), r->batches);
  std::printf("  data: %s\n", r->data.c_str());
  return 0;
}

}  // namespace fomoe::cli
