// Number validators for CLI11 options whose messages say what is wrong with the value ("'x' is
// not a number", "'0' is not above 0"); the rest of the command-line glue is cli_options.h.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace fomoe::cli {

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
