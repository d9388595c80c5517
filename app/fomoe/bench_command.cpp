// fomoe bench moe|store|comm: which benchmark, and `fomoe bench moe`'s command line (the
// benchmark itself: core/train bench_moe.h).
#include <iostream>

#include "cli_options.h"
#include "commands.h"
#include "cli_experiment.h"
#include "fomoe/train/bench_data.h"
#include "fomoe/train/bench_moe.h"

namespace fomoe::cli {

int bench_command(const std::vector<std::string>& args, const std::string& self_exe) {
  const std::vector<std::string> rest(args.empty() ? args.end() : args.begin() + 1, args.end());
  if (!args.empty() && args[0] == "moe") return bench_moe_command(rest, self_exe);
  if (!args.empty() && args[0] == "store") return bench_store_command(rest, std::cout, std::cerr);
  if (!args.empty() && args[0] == "comm") return bench_comm_command(rest, self_exe);
  if (!args.empty() && args[0] == "faults") return bench_faults_command(rest, self_exe);
  if (!args.empty() && args[0] == "tokenizer") return bench_tokenizer_command(rest, self_exe);
  if (!args.empty() && args[0] == "export") return bench_export_command(rest);
  if (!args.empty() && args[0] == "data") return bench_data_command(rest);
  // No benchmark named: --help, or a usage error that lists them.
  auto app = make_app("fomoe bench", "Benchmarks (numbers in docs/BENCHMARKS.md).");
  app->add_subcommand("moe", "skip-token and dispatch throughput of the MoE block and a training step");
  app->add_subcommand("store", "run store: insert rate, listing many runs, downsampling a long series");
  app->add_subcommand("comm", "DDP, DiLoCo, Photon and FoMoE side by side: bytes on the wire, loss, throughput");
  app->add_subcommand("faults", "a federation while random agents are SIGKILLed: detection, restart, rounds lost");
  app->add_subcommand("tokenizer", "the engine's BPE beside PyPI tokenizers on the same text and vocabulary");
  app->add_subcommand("export", "export time of a 100M+ parameter model as a transformers folder");
  app->add_subcommand("data", "the data loader's time per step as a share of a training step");
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  return usage_error(*app, "which benchmark?", std::cerr);  // not reached: parse() wants a subcommand
}

int bench_moe_command(const std::vector<std::string>& args, const std::string& self_exe) {
  auto app = make_app("fomoe bench moe",
                      "Training-step throughput of the MoE block and the whole model at several residencies, beside "
                      "the common eager baseline, measured side by side in one process.");
  BenchMoeOptions o;
  std::string format = "text";
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();
  app->add_option("--steps", o.steps, "timed steps per variant")->check(positive_integer())->type_name("N")->capture_default_str();
  app->add_flag("--quick", o.quick, "2 layers instead of 4");
  app->add_option("--device", o.device, "where to train (auto: CUDA when present)")
      ->type_name("cpu|cuda|cuda:N|auto")
      ->capture_default_str();
  const auto shape = [](int64_t min) { return integer_in(min, 1 << 20); };
  app->add_option("--batch", o.batch, "sequences per step (default: the bench shape's)")->check(shape(1))->type_name("B");
  app->add_option("--experts", o.n_experts, "experts per MoE layer")->check(shape(1))->type_name("E");
  app->add_option("--top-k", o.top_k, "experts per token")->check(shape(1))->type_name("K");
  app->add_option("--d-model", o.d_model, "model width")->check(shape(1))->type_name("D");
  app->add_option("--d-expert", o.d_expert, "expert hidden width")->check(shape(1))->type_name("F");
  // The child process that measures a site's peak memory (the benchmark starts it).
  app->add_option("--child-peak", o.child_residency)
      ->check(number_at_least(0, /*integer=*/false))
      ->group("");
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  o.json = format == "json";
  return bench_moe(o, std::cout, std::cerr, self_exe);
}

int bench_data_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe bench data",
                      "The data loader's time per batch as a share of a training step on the experiment's model and "
                      "batch: its corpus in memory, and the same tokens as a flat token file read through mmap.");
  std::string experiment;
  std::vector<std::string> sets;
  BenchDataOptions o;
  app->add_option("EXPERIMENT", experiment, "experiment TOML file (experiments/*.toml): its model, batch and data")
      ->required()
      ->type_name("FILE.toml");
  add_repeated(*app, "--set", sets, "section.key=value override");
  app->add_option("--steps", o.steps, "timed training steps")->check(positive_integer())->capture_default_str();
  std::string format = "text";
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true);
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  o.json = format == "json";
  auto cfg = load_cli_experiment("bench data", experiment, sets, 0);
  if (!cfg) return 1;
  return bench_data(*cfg, o, std::cout, std::cerr);
}

}  // namespace fomoe::cli
