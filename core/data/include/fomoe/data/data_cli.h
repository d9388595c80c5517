// The `fomoe data` subcommands as a library function (the app's main only forwards to it).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace fomoe::data {

/// args: {"prepare"|"stats", options...} (a leading "data" is skipped). Options: --vocab N,
/// --cache DIR, --sources a,b,c, --max-bytes N, --heldout F, --seed N, --source-root DIR.
/// Returns the process exit code: 0 ok, 1 failure, 2 usage error.
int data_cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace fomoe::data
