#include "cli_options.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace fomoe::cli {

namespace {

// CLI11's formatter, with each subcommand listed with its positionals ("compare RUN RUN...",
// "tag RUN TAGS") as the usage texts before CLI11 did.
class Formatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* sub) const override {
    std::string name = sub->get_display_name(true);
    for (const CLI::Option* opt : sub->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
      const std::string pname = opt->get_name(/*positional=*/true, /*all_options=*/false);
      for (int i = 0; i < std::max(1, opt->get_expected_min()); ++i) name += " " + pname;
      if (opt->get_expected_max() > std::max(1, opt->get_expected_min())) name += "...";
    }
    std::stringstream out;
    CLI::detail::format_help(out, name, sub->get_description(), column_width_);
    return out.str();
  }
};

// The (sub)command the user picked: the last selected subcommand, and "fomoe runs show".
const CLI::App* picked(const CLI::App& app, std::string* name) {
  const CLI::App* cur = &app;
  if (name) *name = app.get_name();
  while (!cur->get_subcommands().empty()) {
    cur = cur->get_subcommands().front();
    if (name) *name += " " + cur->get_name();
  }
  return cur;
}

std::string usage_line(const CLI::App& app, const std::string& name) {
  auto f = std::dynamic_pointer_cast<CLI::Formatter>(app.get_formatter());
  return f ? f->make_usage(&app, name) : "usage: " + name + "\n";
}

std::string quoted_list(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

}  // namespace

std::optional<double> to_number(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> to_integer(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(v);
}

std::unique_ptr<CLI::App> make_app(const std::string& name, const std::string& description) {
  auto app = std::make_unique<CLI::App>(description, name);
  app->formatter(std::make_shared<Formatter>());
  app->get_formatter()->label("Usage", "usage");
  // Unknown words are collected and reported by parse() in our words; subcommands created
  // after this inherit it, and let the parent's options (e.g. --db) follow their own.
  app->allow_extras();
  app->fallthrough();
  app->require_subcommand(0, 1);  // `runs show 3 list` is one command and an extra word
  return app;
}

int usage_error(const CLI::App& app, const std::string& message, std::ostream& err) {
  std::string name;
  const CLI::App* cmd = picked(app, &name);
  err << name << ": " << message << "\n"
      << usage_line(*cmd, name) << "Run `" << name << " --help` for every option.\n";
  return kExitUsage;
}

std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::Success&) {
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e.what(), err);
  }
  const std::vector<std::string> extra = app.remaining(/*recurse=*/true);
  const CLI::App* cmd = picked(app, nullptr);
  const auto subs = cmd->get_subcommands({});
  if (!subs.empty()) {  // a command with subcommands (runs, data, bench) needs one of them
    std::vector<std::string> names;
    for (const CLI::App* s : subs) names.push_back(s->get_name());
    if (!extra.empty() && extra.front()[0] != '-')
      return usage_error(app, "unknown command '" + extra.front() + "' (one of: " + quoted_list(names) + ")", err);
    return usage_error(app, "missing command (one of: " + quoted_list(names) + ")", err);
  }
  if (!extra.empty()) {
    const std::string& a = extra.front();
    return usage_error(app, (a.size() > 1 && a[0] == '-' ? "unknown option '" : "unexpected argument '") + a + "'", err);
  }
  return std::nullopt;
}

CLI::Option* add_repeated(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                          const std::string& help) {
  return app.add_option(name, values, help)->allow_extra_args(false)->type_name("TEXT");
}

CLI::Option* add_format(CLI::App& app, std::string& format, const std::vector<std::string>& choices, bool json_alias) {
  std::string names;
  for (size_t i = 0; i < choices.size(); ++i) names += (i ? "|" : "") + choices[i];
  CLI::Option* opt = app.add_option("--format", format, "output format")->check(one_of(choices))->type_name(names);
  if (json_alias) app.add_flag_callback("--json", [&format] { format = "json"; }, "same as --format json");
  return opt;
}

CLI::Validator number() {
  return CLI::Validator(
      [](std::string& s) { return to_number(s) ? std::string() : "'" + s + "' is not a number"; }, "", "number");
}

CLI::Validator number_at_least(double min, bool integer) {
  return CLI::Validator(
      [min, integer](std::string& s) {
        auto v = to_number(s);
        if (!v) return "'" + s + "' is not a number";
        if (integer && *v != static_cast<double>(static_cast<long long>(*v))) return "'" + s + "' is not a whole number";
        if (*v < min) return "'" + s + "' is below " + CLI::detail::to_string(min);
        return std::string();
      },
      integer ? "INT>=" + std::to_string(static_cast<long long>(min)) : "NUMBER", "number_at_least");
}

CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& s) {
        auto v = to_number(s);
        if (!v) return "'" + s + "' is not a number";
        return *v > 0 ? std::string() : "'" + s + "' is not above 0";
      },
      "NUMBER>0", "positive_number");
}

CLI::Validator integer() {
  return CLI::Validator(
      [](std::string& s) { return to_integer(s) ? std::string() : "'" + s + "' is not an integer"; }, "", "integer");
}

CLI::Validator integer_in(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& s) {
        auto v = to_integer(s);
        if (!v) return "'" + s + "' is not an integer";
        if (*v < min || *v > max)
          return "'" + s + "' is not in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
        return std::string();
      },
      "", "integer_in");
}

CLI::Validator positive_integer() {
  return CLI::Validator(
      [](std::string& s) {
        auto v = to_integer(s);
        if (!v) return "'" + s + "' is not an integer";
        return *v >= 1 ? std::string() : "'" + s + "' is not a positive integer";
      },
      "", "positive_integer");
}

CLI::Validator one_of(const std::vector<std::string>& choices) {
  return CLI::Validator(
      [choices](std::string& s) {
        for (const auto& c : choices)
          if (s == c) return std::string();
        return "'" + s + "' is not one of " + quoted_list(choices);
      },
      "", "one_of");
}

}  // namespace fomoe::cli
