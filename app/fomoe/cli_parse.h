// CLI11 glue shared by the commands: parse a vector of arguments (CLI11 wants them reversed),
// map --help to exit 0 and every usage error to exit 2 with "fomoe CMD: reason", and number
// validators whose messages say what is wrong with the value ("'x' is not a number").
#pragma once

#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace fomoe::cli {

/// nullopt when parsing succeeded and the command should go on; else the exit code to return.
inline std::optional<int> parse_command_line(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << "\n(see " << app.get_name() << " --help)\n";
    return 2;
  }
  return std::nullopt;
}

/// A number no smaller than `min` (and, for integers, with no fraction): names the bad value.
inline CLI::Validator number_at_least(double min, bool integer) {
  return CLI::Validator(
      [min, integer](std::string& s) -> std::string {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(s, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != s.size()) return "'" + s + "' is not a number";
        if (integer && v != static_cast<double>(static_cast<long long>(v))) return "'" + s + "' is not a whole number";
        if (v < min) return "'" + s + "' is below " + CLI::detail::to_string(min);
        return {};
      },
      integer ? "INT>=" + std::to_string(static_cast<long long>(min)) : "NUMBER", "number_at_least");
}

/// A number strictly greater than zero.
inline CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(s, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != s.size()) return "'" + s + "' is not a number";
        if (!(v > 0)) return "'" + s + "' is not above 0";
        return {};
      },
      "NUMBER>0", "positive_number");
}

}  // namespace fomoe::cli
