// Entry points of the CLI's subcommands (each a thin shell over a core library function).
// `args` are the words after the command's name; each returns the process exit code
// (0 ok, 1 runtime failure, 2 usage error: cli_options.h).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace fomoe::cli {

int train_command(const std::vector<std::string>& args);
int bench_command(const std::vector<std::string>& args, const std::string& self_exe);  // moe|store|comm
int bench_moe_command(const std::vector<std::string>& args, const std::string& self_exe);
int run_command(const std::vector<std::string>& args, const std::string& self_exe);
int agent_command(const std::vector<std::string>& args);
int watch_command(const std::vector<std::string>& args);
int eval_command(const std::vector<std::string>& args);
int export_command(const std::vector<std::string>& args);
int generate_command(const std::vector<std::string>& args);
int import_command(const std::vector<std::string>& args);
int bench_tokenizer_command(const std::vector<std::string>& args, const std::string& self_exe);
int bench_export_command(const std::vector<std::string>& args);
int bench_data_command(const std::vector<std::string>& args);
int bench_comm_command(const std::vector<std::string>& args, const std::string& self_exe);
int bench_faults_command(const std::vector<std::string>& args, const std::string& self_exe);

// Torch-free commands, in the fomoe_cli_commands library (the tests call them with string streams).
// A leading word naming the command ("runs", "project", ...) is skipped.

/// `fomoe runs list|show|compare|export|delete|tag` over the run store (`--db PATH`).
/// 2 also for an unknown run.
int runs_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `fomoe project`: the system model's memory and bytes per site, as a table or JSON.
int project_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `fomoe data prepare|stats`: build or inspect the tokenised corpus.
int data_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `fomoe keygen --out DIR --name NAME [--force]`.
int keygen_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `fomoe bench store` (also the `store_bench` executable).
int bench_store_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace fomoe::cli
