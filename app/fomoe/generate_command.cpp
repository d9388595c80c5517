// fomoe generate RUN|CHECKPOINT --prompt TEXT: a continuation sampled from a run's global model.
#include <iostream>
#include <nlohmann/json.hpp>

#include "checkpoint_target.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/federation/evaluate_checkpoint.h"

namespace fomoe::cli {

int generate_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe generate", "Continue a prompt with a run's global model (its last coordinator checkpoint).");
  std::string target, db, experiment, prompt;
  std::vector<int64_t> prompt_ids;
  std::vector<std::string> sets;
  SamplingOptions o;
  bool json = false;
  app->add_option("target", target, "run id in the store, or a coordinator checkpoint file (with --experiment)")->required();
  auto* text_opt = app->add_option("--prompt", prompt, "the prompt text (tokenised with the run's BPE)");
  auto* ids_opt = app->add_option("--prompt-ids", prompt_ids, "the prompt as token ids (runs on token files)")->delimiter(',');
  text_opt->excludes(ids_opt);
  app->option_defaults()->always_capture_default();
  app->add_option("--max-new-tokens", o.max_new_tokens, "tokens to generate")->check(number_at_least(0, true));
  app->add_option("--temperature", o.temperature, "sampling temperature")->check(positive_number());
  app->add_option("--top-k", o.top_k, "sample among the k most likely tokens (0: all)")->check(number_at_least(0, true));
  app->add_flag("--greedy", o.greedy, "always take the most likely token");
  app->add_option("--seed", o.seed, "sampling seed");
  app->add_option("--db", db, "run store (default: the configured one)");
  app->add_option("--experiment", experiment, "experiment file giving a checkpoint file's model shape");
  add_repeated(*app, "--set", sets, "section.key=value override");
  std::string print_format = "text";
  add_format(*app, print_format, {"text", "json"}, /*json_alias=*/true);  // JSON: prompt ids, ids and text
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  json = print_format == "json";
  if (prompt.empty() && prompt_ids.empty()) return usage_error(*app, "give --prompt TEXT or --prompt-ids 1,2,3", std::cerr);
  auto t = resolve_checkpoint_target(target, db, experiment, sets);
  if (!t) {
    std::cerr << "fomoe generate: " << t.error().message << "\n";
    return exit_code_for(t.error());
  }
  auto s = sample_checkpoint(t->cfg, t->checkpoint, prompt, prompt_ids, o);
  if (!s) {
    std::cerr << "fomoe generate: " << s.error().message << "\n";
    return exit_code_for(s.error());
  }
  if (auto st = check_checkpoint_round(*t, s->round); !st) {
    std::cerr << "fomoe generate: " << st.error().message << "\n";
    return 1;
  }
  if (json) {
    nlohmann::json j = {{"prompt", prompt}, {"prompt_ids", s->prompt_ids}, {"ids", s->ids},
                        {"round", s->round},  {"model", t->what}};
    // A continuation can end inside a multi-byte character: invalid UTF-8 becomes U+FFFD here, as
    // transformers decodes it.
    if (s->has_tokenizer) j["text"] = s->text;
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (s->has_tokenizer) {
    std::cout << prompt << s->text << "\n";
  } else {
    for (size_t i = 0; i < s->ids.size(); ++i) std::cout << (i ? "," : "") << s->ids[i];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace fomoe::cli
