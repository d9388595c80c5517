// fomoe export RUN|CHECKPOINT --format hf --out DIR: the global model as a Hugging Face folder.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "checkpoint_target.h"
#include "cli_options.h"
#include "commands.h"
#include "fomoe/interop/hf_export.h"

namespace fomoe::cli {

int export_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe export", "Export a run's global model (its last coordinator checkpoint) as a Hugging Face transformers folder:\n"
               "config.json, model.safetensors and the tokenizer, loadable with AutoModelForCausalLM and AutoTokenizer.");
  std::string target, db, experiment, format = "hf", out, dtype = "float32", tokenizer;
  std::vector<std::string> sets;
  bool json = false;
  app->add_option("target", target, "run id in the store, or a coordinator checkpoint file (with --experiment)")->required();
  app->add_option("--format", format, "output format")->check(CLI::IsMember({"hf"}));
  app->add_option("--out", out, "output folder (created)")->required();
  app->add_option("--dtype", dtype, "weights' dtype")->check(CLI::IsMember({"float32", "bfloat16"}));
  app->add_option("--tokenizer", tokenizer, "a tokenizer.json to ship (runs on token files have no BPE of their own)")
      ->check(CLI::ExistingFile);
  app->add_option("--db", db, "run store (default: the configured one)");
  app->add_option("--experiment", experiment, "experiment file giving a checkpoint file's model shape");
  add_repeated(*app, "--set", sets, "section.key=value override");
  app->add_flag("--json", json, "print the result as JSON");
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  auto t = resolve_checkpoint_target(target, db, experiment, sets);
  if (!t) {
    std::cerr << "fomoe export: " << t.error().message << "\n";
    return exit_code_for(t.error());
  }
  interop::HfExportOptions options;
  options.dtype = dtype;
  options.tokenizer_json = tokenizer;
  options.provenance = "Exported by `fomoe export` from " + t->what + ", checkpoint " + t->checkpoint + ".";
  auto r = interop::export_hf(t->cfg, t->checkpoint, out, options);
  if (!r) {
    std::cerr << "fomoe export: " << r.error().message << "\n";
    return 1;
  }
  if (auto st = check_checkpoint_round(*t, r->round); !st) {
    std::cerr << "fomoe export: " << st.error().message << "\n";
    return 1;
  }
  if (json) {
    nlohmann::json j = {{"out", out},
                        {"format", format},
                        {"dtype", dtype},
                        {"parameters", r->parameters},
                        {"safetensors_bytes", r->safetensors_bytes},
                        {"round", r->round},
                        {"tokenizer", r->tokenizer_written},
                        {"tokenizer_note", r->tokenizer_note},
                        {"seconds", r->seconds},
                        {"files", r->files},
                        {"model", t->what}};
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::printf("exported %s after round %lld to %s (Qwen2-MoE, %s)\n", t->what.c_str(), static_cast<long long>(r->round),
              out.c_str(), dtype.c_str());
  std::printf("  %lld parameters, model.safetensors %.1f MiB, %.2f s\n", static_cast<long long>(r->parameters),
              static_cast<double>(r->safetensors_bytes) / (1024.0 * 1024.0), r->seconds);
  std::printf("  tokenizer: %s\n", r->tokenizer_note.c_str());
  std::printf("  load it: AutoModelForCausalLM.from_pretrained(\"%s\")%s\n", out.c_str(),
              r->tokenizer_written ? ", AutoTokenizer.from_pretrained(...)" : "");
  return 0;
}

}  // namespace fomoe::cli
