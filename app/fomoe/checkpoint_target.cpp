#include "checkpoint_target.h"

#include "fomoe/store/run_store.h"

namespace fomoe::cli {

namespace {
bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }
}  // namespace

Expected<CheckpointTarget> resolve_checkpoint_target(const std::string& target, const std::string& db,
                                                     const std::string& experiment, const std::vector<std::string>& sets) {
  CheckpointTarget t;
  if (all_digits(target) && experiment.empty()) {
    const std::string path = db.empty() ? default_db_path() : db;
    StoreOptions ro;
    ro.read_only = true;
    auto store = RunStore::open(path, ro);
    if (!store) return store.error();
    t.run_id = std::stoll(target);
    auto run = (*store)->get_run(t.run_id);
    if (!run) return make_error(ErrorCode::InvalidArgument, run.error().message);
    auto parsed = parse_experiment(run->config_text, "the config recorded with run " + target);
    if (!parsed) return parsed.error();
    t.cfg = *parsed;
    auto cps = (*store)->checkpoints(t.run_id);
    if (!cps || cps->empty())
      return make_error(ErrorCode::NotFound,
                        "run " + target + " (" + run->method + ") recorded no coordinator checkpoint" +
                            (run->method == "ddp"      ? " (DDP runs keep none)"
                             : run->method == "single" ? " (single-site runs keep trainer checkpoints)"
                                                       : ""));
    t.checkpoint = cps->back().path;
    t.expected_round = cps->back().round + 1;  // the file holds the number of completed rounds
    t.what = "run " + target + " (" + run->name + ", " + run->method + ")";
  } else {
    if (experiment.empty())
      return make_error(ErrorCode::InvalidArgument,
                        "a checkpoint file needs --experiment EXPERIMENT.toml (its model shape); a run is named by its id");
    auto loaded = load_experiment(experiment);
    if (!loaded) return make_error(ErrorCode::InvalidArgument, loaded.error().message);
    t.cfg = *loaded;
    t.checkpoint = target;
    t.what = experiment;
  }
  if (auto st = apply_overrides(t.cfg, sets); !st) return make_error(ErrorCode::InvalidArgument, st.error().message);
  return t;
}

Status check_checkpoint_round(const CheckpointTarget& t, int64_t round_in_file) {
  if (t.expected_round >= 0 && round_in_file != t.expected_round)
    return make_error(ErrorCode::Corrupt, t.checkpoint + " holds round " + std::to_string(round_in_file) + ", but " + t.what +
                                              " recorded round " + std::to_string(t.expected_round) +
                                              " there: another run with the same run directory has overwritten it");
  return {};
}

int exit_code_for(const Error& e) { return e.code == ErrorCode::InvalidArgument ? 2 : 1; }

}  // namespace fomoe::cli
