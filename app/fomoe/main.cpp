// fomoe: the headless CLI. Thin: every command is a function in app/fomoe/ (commands.h) over the
// engine in core/; command lines are parsed with CLI11 (cli_options.h).
#include <unistd.h>

#include <climits>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"

namespace {

std::string self_exe(const char* argv0) {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
  return argv0;
}

void usage(std::ostream& os) {
  os << "fomoe — federated Mixture-of-Experts pre-training (FoMoE, DiLoCo, Photon, DDP)\n\n"
        "usage: fomoe <command> [options]\n\n"
        "commands:\n"
        "  run EXPERIMENT.toml          run a federation (K local agents by default, or the listed remote ones)\n"
        "  train EXPERIMENT.toml        train on this machine, one site (progress bar)\n"
        "  agent --connect ADDR ...     be one site of a federation (see `fomoe agent`)\n"
        "  watch tcp://HOST:PORT        follow a run's live event stream (fomoe run --publish ADDR)\n"
        "  eval RUN|CHECKPOINT          held-out loss and perplexity of a run's global model, on any data source\n"
        "  export RUN|CHECKPOINT --out DIR   the global model as a Hugging Face transformers folder (Qwen2-MoE)\n"
        "  generate RUN|CHECKPOINT --prompt TEXT   continue a prompt with the global model\n"
        "  import HF_DIR --out EXP.toml  an experiment that starts from a transformers MoE checkpoint\n"
        "  keygen --out DIR --name N    make a CURVE key pair (N.key secret, N.pub public)\n"
        "  data prepare|stats           build / inspect the tokenised corpus\n"
        "  runs list|show|compare|export|delete   browse the run store (SQLite)\n"
        "  project [--preset NAME]      system model: memory and bytes per site up to 100B+ MoEs\n"
        "  bench moe|store|comm|tokenizer|export   benchmarks (docs/BENCHMARKS.md)\n"
        "  help                         this text\n\n"
        "`fomoe <command> --help` lists a command's options; read commands take --format json.\n"
        "exit codes: 0 ok, 1 the command failed, 2 bad command line\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  const std::string exe = self_exe(argv[0]);
  try {
    if (cmd == "train") return fomoe::cli::train_command(args);
    if (cmd == "run") return fomoe::cli::run_command(args, exe);
    if (cmd == "agent") return fomoe::cli::agent_command(args);
    if (cmd == "watch") return fomoe::cli::watch_command(args);
    if (cmd == "eval") return fomoe::cli::eval_command(args);
    if (cmd == "export") return fomoe::cli::export_command(args);
    if (cmd == "generate") return fomoe::cli::generate_command(args);
    if (cmd == "import") return fomoe::cli::import_command(args);
    if (cmd == "keygen") return fomoe::cli::keygen_command(args, std::cout, std::cerr);
    if (cmd == "data") return fomoe::cli::data_command(args, std::cout, std::cerr);
    if (cmd == "runs") return fomoe::cli::runs_command(args, std::cout, std::cerr);
    if (cmd == "project") return fomoe::cli::project_command(args, std::cout, std::cerr);
    if (cmd == "bench") return fomoe::cli::bench_command(args, exe);
  } catch (const std::exception& e) {
    std::cerr << "fomoe " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "fomoe: unknown command '" << cmd << "'\n\n";
  usage(std::cerr);
  return 2;
}
