// Entry points of the CLI's subcommands (each a thin shell over a core library function).
#pragma once

#include <string>
#include <vector>

namespace fomoe::cli {

int train_command(const std::vector<std::string>& args);
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
int bench_comm_command(const std::vector<std::string>& args, const std::string& self_exe);

}  // namespace fomoe::cli
