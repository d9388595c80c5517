// fomoe eval RUN|CHECKPOINT: held-out loss and perplexity of a federation's global model (the
// coordinator checkpoint a run recorded, or a checkpoint file with --experiment) on the run's own
// held-out data or on any other data source (--set data.format=... --set data.path=...).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "checkpoint_target.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/federation/evaluate_checkpoint.h"

namespace fomoe::cli {

int eval_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe eval", "Held-out loss (nats/token) and perplexity of the global model in a coordinator checkpoint.\n"
               "The data is the run's unless --set names another, e.g. --set data.format=megatron --set data.path=PREFIX.");
  std::string target, db, experiment, format = "text";
  std::vector<std::string> sets;
  bool json = false;
  app->add_option("target", target, "run id in the store, or a coordinator checkpoint file (with --experiment)")->required();
  app->add_option("--db", db, "run store (default: the configured one)");
  app->add_option("--experiment", experiment, "experiment file giving a checkpoint file's model shape");
  add_repeated(*app, "--set", sets, "section.key=value override (data.* picks the data to evaluate on)");
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true);
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  json = format == "json";
  auto t = resolve_checkpoint_target(target, db, experiment, sets);
  if (!t) {
    std::cerr << "fomoe eval: " << t.error().message << "\n";
    return exit_code_for(t.error());
  }
  auto r = evaluate_checkpoint(t->cfg, t->checkpoint);
  if (!r) {
    std::cerr << "fomoe eval: " << r.error().message << "\n";
    return 1;
  }
  if (auto st = check_checkpoint_round(*t, r->round); !st) {
    std::cerr << "fomoe eval: " << st.error().message << "\n";
    return 1;
  }
  if (json) {
    nlohmann::json j = {{"loss", r->loss},       {"perplexity", r->perplexity}, {"tokens", r->tokens},
                        {"batches", r->batches}, {"round", r->round},           {"checkpoint", t->checkpoint},
                        {"data", r->data},       {"model", t->what}};
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::printf("%s, checkpoint %s after round %lld\n", t->what.c_str(), t->checkpoint.c_str(), static_cast<long long>(r->round));
  std::printf("  held-out loss %.4f nats/token, perplexity %.2f, over %lld tokens (%d batches)\n", r->loss, r->perplexity,
              static_cast<long long>(r->tokens), r->batches);
  std::printf("  data: %s\n", r->data.c_str());
  return 0;
}

}  // namespace fomoe::cli
