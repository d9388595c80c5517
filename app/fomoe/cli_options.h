// The command-line conventions of every `fomoe` command, on top of CLI11 (Debian libcli11-dev):
//   `--help` (or -h) prints the command's help on `out`, exit 0;
//   a usage error (unknown option or command, missing or bad value, missing positional) prints
//   "fomoe CMD: what is wrong", the usage line and a pointer to --help on `err`, exit 2;
//   a runtime failure exits 1 (kExitFailure).
// How a command uses it (keygen_command.cpp is the smallest example):
//   auto app = make_app("fomoe keygen", "Makes a CURVE key pair.");
//   app->add_option("--out", dir, "...");
//   app->add_option("--steps", steps, "...")->check(positive_integer());
//   if (auto code = parse(*app, args, out, err)) return *code;   // --help or a usage error
//   ... run; rules CLI11 cannot express: return usage_error(*app, "give --a or --b", err);
// parse() writes to given streams (the tests call commands in-process), prints the usage line of
// the (sub)command, and names unknown words ("unknown option '--x'", "unknown command 'x'")
// instead of CLI11's extras message.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace fomoe::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed (store error, training failed, ...)
inline constexpr int kExitUsage = 2;    // bad command line: nothing was done

/// The parser of `fomoe ...` (name as typed, e.g. "fomoe runs"), with a lower-case "usage:".
/// Unknown arguments are reported by parse(), not thrown by CLI11; subcommands added to it take
/// these settings and accept the parent's options after their own (`runs show 3 --db F`).
/// Defaults show in --help where an option asks for it (->capture_default_str()).
std::unique_ptr<CLI::App> make_app(const std::string& name, const std::string& description);

/// Parses `args` (the words after the command name). Returns std::nullopt when the command
/// should go on, otherwise the exit code to return at once: 0 after --help (help on out), 2 after
/// a usage error (message on err). An app with subcommands needs one of them.
std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// A usage error found after parsing (a rule CLI11 does not express): prints it the way parse()
/// does, for the (sub)command the user picked, and returns 2.
int usage_error(const CLI::App& app, const std::string& message, std::ostream& err);

/// A repeatable option taking one value per occurrence (`--set a=1 --set b=2 FILE` keeps FILE a
/// positional; CLI11's vector options are greedy otherwise).
CLI::Option* add_repeated(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                          const std::string& help);

/// `--format` with these choices (the variable's value is the default) and, with json_alias,
/// `--json` as the older way to say `--format json` (it wins over --format).
CLI::Option* add_format(CLI::App& app, std::string& format, const std::vector<std::string>& choices,
                        bool json_alias = false);

// Value checks whose messages give the reason, e.g. "--bandwidth-mbps: 'abc' is not a number".
// They run on the text before CLI11 converts it, so attach one to every numeric option (with
// number_at_least(min, false) and positive_number() for bounded reals).
CLI::Validator number();                               // a finite number
CLI::Validator integer();                              // a whole number (64-bit)
CLI::Validator integer_in(int64_t min, int64_t max);   // ... in [min, max]
CLI::Validator positive_integer();                     // ... >= 1
CLI::Validator one_of(const std::vector<std::string>& choices);  // name them in ->type_name("a|b")
CLI::Validator number_at_least(double min, bool integer);        // a number >= min (whole, with integer)
CLI::Validator positive_number();                                // a number > 0

/// Strict text -> number (the whole text, finite), as the validators read it.
std::optional<double> to_number(const std::string& text);
std::optional<int64_t> to_integer(const std::string& text);

/// Text on one terminal line: newlines and tabs (a model's sample continuation) as spaces.
inline std::string one_line(std::string text) {
  for (char& ch : text)
    if (ch == '\n' || ch == '\t') ch = ' ';
  return text;
}

}  // namespace fomoe::cli
