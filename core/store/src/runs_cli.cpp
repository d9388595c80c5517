// `fomoe runs list|show|compare|export|delete|tag`: the run store from the command line.
#include "fomoe/store/runs_cli.h"
#include "fomoe/base/number_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "fomoe/store/run_store.h"

namespace fomoe {

namespace {

using Json = nlohmann::json;

const char* kUsage =
    "usage: fomoe runs <command> [options] [--db PATH]\n"
    "\n"
    "commands:\n"
    "  list [--method M] [--status S] [--name TEXT] [--limit N] [--format table|json|csv]\n"
    "                              runs, newest first, with final/best losses and bytes sent\n"
    "  show RUN                    one run: config, summary metrics, bytes per link, events\n"
    "  compare RUN RUN...          config keys that differ, final and best metrics, bytes vs the first run\n"
    "  export RUN --format csv|json [--out FILE]\n"
    "                              every metric point (csv), or everything recorded (json)\n"
    "  delete RUN [--yes]          delete a run and all its rows (asks for --yes)\n"
    "  tag RUN TAGS                replace a run's tags (comma separated)\n"
    "\n"
    "options:\n"
    "  --db PATH                   run store file (default: $XDG_DATA_HOME/fomoe/runs.db or\n"
    "                              ~/.local/share/fomoe/runs.db)\n"
    "exit codes: 0 ok, 1 store error, 2 bad usage or unknown run\n";

struct Args {
  std::string db;
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --key value
  std::set<std::string> flags;                 // --yes, --help
};

const std::set<std::string> kValueOptions = {"--method", "--status", "--name", "--limit", "--format", "--out"};
const std::set<std::string> kFlagOptions = {"--yes", "--help", "-h"};

struct UsageError {
  std::string message;
};

std::optional<UsageError> parse_args(const std::vector<std::string>& raw, Args& a) {
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string& s = raw[i];
    std::string key = s, value;
    bool has_inline = false;
    if (s.rfind("--", 0) == 0 && s.find('=') != std::string::npos) {
      key = s.substr(0, s.find('='));
      value = s.substr(s.find('=') + 1);
      has_inline = true;
    }
    if (key == "--db" || kValueOptions.count(key)) {
      if (!has_inline) {
        if (i + 1 >= raw.size()) return UsageError{"option " + key + " needs a value"};
        value = raw[++i];
      }
      if (key == "--db") {
        a.db = value;
      } else {
        a.options[key] = value;
      }
    } else if (kFlagOptions.count(key)) {
      a.flags.insert(key == "-h" ? "--help" : key);
    } else if (s.size() > 1 && s[0] == '-' && !std::isdigit(static_cast<unsigned char>(s[1]))) {
      return UsageError{"unknown option '" + s + "'"};
    } else {
      a.positional.push_back(s);
    }
  }
  return std::nullopt;
}

std::optional<int64_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::stoll(s);
}

// ---- formatting ----

std::string fmt_time(double unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string fmt_duration(double s) {
  if (!(s >= 0)) return "-";
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh %02ldm", t / 3600, (t % 3600) / 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm %02lds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", t);
  }
  return buf;
}

std::string fmt_bytes(int64_t b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (std::fabs(v) >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  }
  return buf;
}

std::string fmt_num(double v, const char* f = "%.4f") {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string fmt_opt(const std::optional<double>& v) { return v ? fmt_num(*v) : "-"; }

std::string fmt_full(double v) { return shortest_number(v); }  // reads back to the same double

Json json_num(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }
Json json_opt(const std::optional<double>& v) { return v ? json_num(*v) : Json(nullptr); }

/// Aligned table: columns separated by two spaces; columns in `right` are right-aligned.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const std::set<size_t>& right = {},
                 const std::string& indent = "") {
  std::vector<size_t> w(header.size(), 0);
  for (size_t c = 0; c < header.size(); ++c) w[c] = header[c].size();
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string s = indent;
    for (size_t c = 0; c < w.size(); ++c) {
      const std::string cell = c < r.size() ? r[c] : "";
      const std::string pad(w[c] - std::min(w[c], cell.size()), ' ');
      s += right.count(c) ? pad + cell : cell + (c + 1 < w.size() ? pad : "");
      if (c + 1 < w.size()) s += "  ";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

Json run_json(const RunRecord& r) {
  Json j = {{"id", r.id},         {"name", r.name},       {"method", r.method},
            {"status", r.status}, {"n_sites", r.n_sites}, {"started_at", r.started_at},
            {"tags", r.tags},     {"message", r.message}, {"git_revision", r.git_revision}};
  j["finished_at"] = r.finished_at ? Json(*r.finished_at) : Json(nullptr);
  return j;
}

Json summary_json(const RunSummary& s) {
  Json j = run_json(s.run);
  j["final_train_loss"] = json_opt(s.final_train_loss);
  j["final_eval_loss"] = json_opt(s.final_eval_loss);
  j["best_eval_loss"] = json_opt(s.best_eval_loss);
  j["total_bytes"] = s.total_bytes;
  j["last_step"] = s.last_step;
  return j;
}

std::string duration_of(const RunRecord& r) {
  return r.finished_at ? fmt_duration(*r.finished_at - r.started_at) : "-";
}

// ---- TOML, line-wise: [section] / [[array]] headers and key = value lines ----

std::string strip(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::string strip_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == '\\' && quote == '"') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      return line.substr(0, i);
    }
  }
  return line;
}

int bracket_balance(const std::string& s) {
  int n = 0;
  char quote = 0;
  for (char c : s) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++n;
    } else if (c == ']' || c == '}') {
      --n;
    }
  }
  return n;
}

std::map<std::string, std::string> flatten_toml(const std::string& text) {
  std::map<std::string, std::string> out;
  std::map<std::string, int> array_counts;
  std::string section;
  std::string pending_key, pending_value;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = strip(strip_comment(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos)));
    pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
    if (!pending_key.empty()) {  // continuation of a multi-line array or inline table
      pending_value += " " + line;
      if (bracket_balance(pending_value) <= 0) {
        out[pending_key] = pending_value;
        pending_key.clear();
      }
      continue;
    }
    if (line.empty()) continue;
    if (line.rfind("[[", 0) == 0) {
      std::string name = strip(line.substr(2, line.find("]]") - 2));
      section = name + "[" + std::to_string(array_counts[name]++) + "]";
      continue;
    }
    if (line[0] == '[') {
      section = strip(line.substr(1, line.find(']') - 1));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = strip(line.substr(0, eq));
    std::string value = strip(line.substr(eq + 1));
    const std::string full = section.empty() ? key : section + "." + key;
    if (bracket_balance(value) > 0) {
      pending_key = full;
      pending_value = value;
    } else {
      out[full] = value;
    }
  }
  if (!pending_key.empty()) out[pending_key] = pending_value;
  return out;
}

// ---- commands ----

struct Ctx {
  Args args;
  std::ostream& out;
  std::ostream& err;
  std::unique_ptr<RunStore> store;
};

int store_error(Ctx& c, const Error& e) {
  c.err << "error: " << e.message << "\n";
  return e.code == ErrorCode::NotFound ? 2 : 1;
}

int usage_error(Ctx& c, const std::string& message) {
  c.err << "error: " << message << "\n\n" << kUsage;
  return 2;
}

std::string opt(const Ctx& c, const std::string& key, const std::string& fallback = "") {
  auto it = c.args.options.find(key);
  return it == c.args.options.end() ? fallback : it->second;
}

int cmd_list(Ctx& c) {
  if (c.args.positional.size() > 1) return usage_error(c, "list takes no positional arguments");
  RunFilter f;
  f.method = opt(c, "--method");
  f.status = opt(c, "--status");
  f.name_contains = opt(c, "--name");
  const std::string limit = opt(c, "--limit", "0");
  auto lim = parse_id(limit);
  if (!lim) return usage_error(c, "--limit needs a number, got '" + limit + "'");
  f.limit = static_cast<int>(*lim);
  const std::string format = opt(c, "--format", "table");
  if (format != "table" && format != "json" && format != "csv") {
    return usage_error(c, "--format must be table, json or csv, got '" + format + "'");
  }
  auto runs = c.store->list_runs(f);
  if (!runs) return store_error(c, runs.error());
  if (format == "json") {
    Json arr = Json::array();
    for (const auto& s : *runs) arr.push_back(summary_json(s));
    c.out << arr.dump(2) << "\n";
    return 0;
  }
  if (format == "csv") {
    c.out << "id,name,method,status,n_sites,started_at,finished_at,final_train_loss,final_eval_loss,"
             "best_eval_loss,total_bytes,tags\n";
    auto o = [](const std::optional<double>& v) { return v ? fmt_full(*v) : std::string(); };
    for (const auto& s : *runs) {
      const RunRecord& r = s.run;
      c.out << r.id << "," << csv_field(r.name) << "," << csv_field(r.method) << "," << r.status << ","
            << r.n_sites << "," << fmt_full(r.started_at) << "," << o(r.finished_at) << ","
            << o(s.final_train_loss) << "," << o(s.final_eval_loss) << "," << o(s.best_eval_loss) << ","
            << s.total_bytes << "," << csv_field(r.tags) << "\n";
    }
    return 0;
  }
  if (runs->empty()) {
    c.out << "No runs in " << c.store->path()
          << (f.method.empty() && f.status.empty() && f.name_contains.empty() ? "" : " match the filter") << ".\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : *runs) {
    const RunRecord& r = s.run;
    rows.push_back({std::to_string(r.id), r.name, r.method, r.status, std::to_string(r.n_sites),
                    fmt_time(r.started_at), duration_of(r), s.last_step >= 0 ? std::to_string(s.last_step) : "-",
                    fmt_opt(s.final_train_loss), fmt_opt(s.final_eval_loss), fmt_opt(s.best_eval_loss),
                    fmt_bytes(s.total_bytes), r.tags});
  }
  print_table(c.out,
              {"ID", "NAME", "METHOD", "STATUS", "SITES", "STARTED", "DURATION", "STEPS", "TRAIN LOSS",
               "EVAL LOSS", "BEST EVAL", "BYTES", "TAGS"},
              rows, {0, 4, 7, 8, 9, 10, 11});
  c.out << runs->size() << " run(s) in " << c.store->path() << "\n";
  return 0;
}

Expected<int64_t> run_arg(Ctx& c, size_t index, const char* command) {
  if (c.args.positional.size() <= index) {
    return make_error(ErrorCode::InvalidArgument, std::string(command) + " needs a run id (see `fomoe runs list`)");
  }
  auto id = parse_id(c.args.positional[index]);
  if (!id) {
    return make_error(ErrorCode::InvalidArgument,
                      "run id must be a number, got '" + c.args.positional[index] + "' (see `fomoe runs list`)");
  }
  return *id;
}

int cmd_show(Ctx& c) {
  auto id = run_arg(c, 1, "show");
  if (!id) return usage_error(c, id.error().message);
  auto s = c.store->get_summary(*id);
  if (!s) return store_error(c, s.error());
  const RunRecord& r = s->run;
  std::ostream& o = c.out;
  o << "Run " << r.id << ": " << r.name << "\n";
  std::vector<std::vector<std::string>> info = {
      {"method", r.method},
      {"status", r.status + (r.message.empty() ? "" : " (" + r.message + ")")},
      {"started", fmt_time(r.started_at)},
      {"finished", r.finished_at ? fmt_time(*r.finished_at) + " (took " + duration_of(r) + ")" : "-"},
      {"sites", std::to_string(r.n_sites)},
      {"git", r.git_revision.empty() ? "-" : r.git_revision},
      {"tags", r.tags.empty() ? "-" : r.tags},
      {"writer", r.writer_host.empty() ? "-" : "pid " + std::to_string(r.writer_pid) + " on " + r.writer_host}};
  for (const auto& row : info) {
    o << "  " << row[0] << std::string(10 - row[0].size(), ' ') << row[1] << "\n";
  }

  o << "\nSummary\n";
  print_table(o, {"", "VALUE"},
              {{"final train loss", fmt_opt(s->final_train_loss)},
               {"final eval loss", fmt_opt(s->final_eval_loss)},
               {"best eval loss", fmt_opt(s->best_eval_loss)},
               {"last step", s->last_step >= 0 ? std::to_string(s->last_step) : "-"},
               {"total bytes", fmt_bytes(s->total_bytes) + " (" + std::to_string(s->total_bytes) + ")"}},
              {1}, "  ");

  auto series = c.store->metric_series(*id);
  if (!series) return store_error(c, series.error());
  o << "\nMetrics (" << series->size() << " series; site -1 = global)\n";
  if (series->empty()) {
    o << "  none recorded\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : *series) {
      rows.push_back({m.name, std::to_string(m.site), std::to_string(m.n_points),
                      std::to_string(m.step_first) + ".." + std::to_string(m.step_last), fmt_num(m.last, "%.6g"),
                      fmt_num(m.min, "%.6g"), fmt_num(m.max, "%.6g")});
    }
    print_table(o, {"NAME", "SITE", "POINTS", "STEPS", "LAST", "MIN", "MAX"}, rows, {1, 2, 4, 5, 6}, "  ");
  }

  auto links = c.store->link_totals(*id);
  if (!links) return store_error(c, links.error());
  o << "\nBytes per link (seen from the coordinator: sent = to the site)\n";
  if (links->empty()) {
    o << "  none recorded\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    int64_t total = 0;
    double secs = 0;
    for (const auto& l : *links) {
      total += l.bytes;
      secs += l.seconds;
      rows.push_back({std::to_string(l.site), direction_name(l.direction), l.msg_type, std::to_string(l.messages),
                      fmt_bytes(l.bytes), fmt_num(l.seconds, "%.2f")});
    }
    rows.push_back({"all", "", "", "", fmt_bytes(total), fmt_num(secs, "%.2f")});
    print_table(o, {"SITE", "DIRECTION", "MESSAGE", "COUNT", "BYTES", "SECONDS"}, rows, {0, 3, 4, 5}, "  ");
  }

  auto events = c.store->events(*id);
  if (!events) return store_error(c, events.error());
  const size_t kShown = 20;
  o << "\nEvents (" << events->size() << ")\n";
  if (events->empty()) {
    o << "  none recorded\n";
  } else {
    if (events->size() > kShown) {
      o << "  (" << events->size() - kShown << " earlier events not shown; `fomoe runs export " << r.id
        << " --format json` has all)\n";
    }
    std::vector<std::vector<std::string>> rows;
    for (size_t i = events->size() > kShown ? events->size() - kShown : 0; i < events->size(); ++i) {
      const RunEvent& e = (*events)[i];
      rows.push_back({fmt_num(e.time, "%.1f"), e.site < 0 ? "coord" : std::to_string(e.site), e.kind, e.text});
    }
    print_table(o, {"TIME S", "SITE", "KIND", "TEXT"}, rows, {0, 1}, "  ");
  }

  o << "\nConfig\n";
  if (r.config_text.empty()) {
    o << "  (none recorded)\n";
  } else {
    size_t pos = 0;
    while (pos < r.config_text.size()) {
      size_t nl = r.config_text.find('\n', pos);
      o << "  " << r.config_text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos) << "\n";
      pos = nl == std::string::npos ? r.config_text.size() : nl + 1;
    }
  }
  return 0;
}

int cmd_compare(Ctx& c) {
  if (c.args.positional.size() < 3) return usage_error(c, "compare needs at least two run ids");
  std::vector<RunSummary> runs;
  for (size_t i = 1; i < c.args.positional.size(); ++i) {
    auto id = run_arg(c, i, "compare");
    if (!id) return usage_error(c, id.error().message);
    auto s = c.store->get_summary(*id);
    if (!s) return store_error(c, s.error());
    runs.push_back(std::move(*s));
  }
  std::ostream& o = c.out;
  std::vector<std::string> header = {""};
  for (const auto& s : runs) header.push_back("RUN " + std::to_string(s.run.id));

  std::vector<std::map<std::string, std::string>> configs;
  std::set<std::string> keys;
  for (const auto& s : runs) {
    configs.push_back(flatten_toml(s.run.config_text));
    for (const auto& kv : configs.back()) keys.insert(kv.first);
  }
  std::vector<std::vector<std::string>> diff;
  for (const auto& k : keys) {
    std::vector<std::string> row = {k};
    bool differs = false;
    for (const auto& cfg : configs) {
      auto it = cfg.find(k);
      row.push_back(it == cfg.end() ? "(unset)" : it->second);
      if (row.back() != row[1]) differs = true;
    }
    if (differs) diff.push_back(std::move(row));
  }
  o << "Runs\n";
  std::vector<std::vector<std::string>> rows = {{"name"}, {"method"}, {"status"}, {"sites"}, {"duration"}};
  for (const auto& s : runs) {
    rows[0].push_back(s.run.name);
    rows[1].push_back(s.run.method);
    rows[2].push_back(s.run.status);
    rows[3].push_back(std::to_string(s.run.n_sites));
    rows[4].push_back(duration_of(s.run));
  }
  print_table(o, header, rows, {}, "  ");

  o << "\nConfig (" << diff.size() << " keys differ";
  o << (diff.empty() ? ")\n  identical\n" : ")\n");
  if (!diff.empty()) print_table(o, header, diff, {}, "  ");

  o << "\nMetrics\n";
  rows = {{"final train loss"}, {"final eval loss"}, {"best eval loss"}, {"last step"}, {"total bytes"},
          {"bytes vs first"}};
  const double base = static_cast<double>(runs.front().total_bytes);
  for (const auto& s : runs) {
    rows[0].push_back(fmt_opt(s.final_train_loss));
    rows[1].push_back(fmt_opt(s.final_eval_loss));
    rows[2].push_back(fmt_opt(s.best_eval_loss));
    rows[3].push_back(s.last_step >= 0 ? std::to_string(s.last_step) : "-");
    rows[4].push_back(fmt_bytes(s.total_bytes));
    rows[5].push_back(base > 0 ? fmt_num(static_cast<double>(s.total_bytes) / base, "%.3fx") : "-");
  }
  std::set<size_t> right;
  for (size_t i = 1; i <= runs.size(); ++i) right.insert(i);
  print_table(o, header, rows, right, "  ");
  return 0;
}

int cmd_export(Ctx& c) {
  auto id = run_arg(c, 1, "export");
  if (!id) return usage_error(c, id.error().message);
  const std::string format = opt(c, "--format", "csv");
  if (format != "csv" && format != "json") return usage_error(c, "--format must be csv or json, got '" + format + "'");
  auto s = c.store->get_summary(*id);
  if (!s) return store_error(c, s.error());
  const std::string out_path = opt(c, "--out");
  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path, std::ios::out | std::ios::trunc);
    if (!file) {
      c.err << "error: cannot write " << out_path << "; check the directory exists and is writable\n";
      return 1;
    }
  }
  std::ostream& o = out_path.empty() ? c.out : file;
  int64_t n = 0;
  Status st;
  if (format == "csv") {
    o << "run_id,name,site,step,round,value,wall_time\n";
    const std::string rid = std::to_string(*id);
    st = c.store->for_each_metric(*id, [&](const MetricPoint& p) {
      o << rid << ',' << csv_field(p.name) << ',' << p.site << ',' << p.step << ',' << p.round << ','
        << fmt_full(p.value) << ',' << fmt_full(p.wall_time) << '\n';
      ++n;
    });
  } else {
    Json head = summary_json(*s);
    head["config_text"] = s->run.config_text;
    o << "{\n\"run\": " << head.dump() << ",\n\"metrics\": [";
    st = c.store->for_each_metric(*id, [&](const MetricPoint& p) {
      Json j = {{"name", p.name}, {"site", p.site}, {"step", p.step}, {"round", p.round}};
      j["value"] = json_num(p.value);
      j["wall_time"] = p.wall_time;
      o << (n++ ? ",\n" : "\n") << j.dump();
    });
    if (st) {
      Json rest;
      auto links = c.store->links(*id);
      auto events = c.store->events(*id);
      auto placement = c.store->placement(*id);
      auto load = c.store->expert_load(*id);
      auto ckpts = c.store->checkpoints(*id);
      for (const Error* e : {links ? nullptr : &links.error(), events ? nullptr : &events.error(),
                             placement ? nullptr : &placement.error(), load ? nullptr : &load.error(),
                             ckpts ? nullptr : &ckpts.error()}) {
        if (e) return store_error(c, *e);
      }
      Json jl = Json::array(), je = Json::array(), jp = Json::array(), jx = Json::array(), jc = Json::array();
      for (const auto& l : *links) {
        jl.push_back({{"round", l.round}, {"site", l.site}, {"direction", direction_name(l.direction)},
                      {"msg_type", l.msg_type}, {"bytes", l.bytes}, {"seconds", l.seconds}});
      }
      for (const auto& e : *events) je.push_back({{"time", e.time}, {"site", e.site}, {"kind", e.kind}, {"text", e.text}});
      for (const auto& p : *placement) {
        jp.push_back({{"round", p.round}, {"layer", p.layer}, {"expert", p.expert}, {"site", p.site}});
      }
      for (const auto& x : *load) {
        jx.push_back({{"round", x.round}, {"site", x.site}, {"layer", x.layer}, {"expert", x.expert},
                      {"tokens", x.tokens}});
      }
      for (const auto& k : *ckpts) jc.push_back({{"round", k.round}, {"step", k.step}, {"path", k.path}});
      o << "\n],\n\"links\": " << jl.dump() << ",\n\"events\": " << je.dump() << ",\n\"placement\": " << jp.dump()
        << ",\n\"expert_load\": " << jx.dump() << ",\n\"checkpoints\": " << jc.dump() << "\n}\n";
    }
  }
  if (!st) return store_error(c, st.error());
  o.flush();
  if (!out_path.empty()) {
    if (!file) {
      c.err << "error: writing " << out_path << " failed (disk full?)\n";
      return 1;
    }
    c.out << "Wrote " << n << " metric points of run " << *id << " to " << out_path << "\n";
  }
  return 0;
}

int cmd_delete(Ctx& c) {
  auto id = run_arg(c, 1, "delete");
  if (!id) return usage_error(c, id.error().message);
  auto s = c.store->get_summary(*id);
  if (!s) return store_error(c, s.error());
  auto series = c.store->metric_series(*id);
  if (!series) return store_error(c, series.error());
  int64_t points = 0;
  for (const auto& m : *series) points += m.n_points;
  const std::string what = "run " + std::to_string(*id) + " '" + s->run.name + "' (" + s->run.status + ", " +
                           std::to_string(points) + " metric points)";
  if (!c.args.flags.count("--yes")) {
    c.err << "This would delete " << what << " and every row recorded for it.\n"
          << "Re-run with --yes to delete it: fomoe runs delete " << *id << " --yes\n";
    return 1;
  }
  Status st = c.store->delete_run(*id);
  if (!st) return store_error(c, st.error());
  c.out << "Deleted " << what << ".\n";
  return 0;
}

int cmd_tag(Ctx& c) {
  auto id = run_arg(c, 1, "tag");
  if (!id) return usage_error(c, id.error().message);
  if (c.args.positional.size() != 3) return usage_error(c, "tag needs a run id and the tags, e.g. tag 3 baseline,paper");
  Status st = c.store->set_tags(*id, c.args.positional[2]);
  if (!st) return store_error(c, st.error());
  c.out << "Run " << *id << " tags: " << c.args.positional[2] << "\n";
  return 0;
}

}  // namespace

int runs_cli_main(const std::vector<std::string>& raw, std::ostream& out, std::ostream& err) {
  Ctx c{{}, out, err, nullptr};
  if (auto bad = parse_args(raw, c.args)) return usage_error(c, bad->message);
  if (c.args.flags.count("--help")) {
    out << kUsage;
    return 0;
  }
  if (c.args.positional.empty()) return usage_error(c, "missing command");
  const std::string cmd = c.args.positional[0];
  using Fn = int (*)(Ctx&);
  const std::map<std::string, Fn> commands = {{"list", cmd_list},       {"show", cmd_show},
                                              {"compare", cmd_compare}, {"export", cmd_export},
                                              {"delete", cmd_delete},   {"tag", cmd_tag}};
  auto it = commands.find(cmd);
  if (it == commands.end()) return usage_error(c, "unknown command '" + cmd + "'");
  const std::string path = c.args.db.empty() ? default_db_path() : c.args.db;
  auto store = RunStore::open(path);
  if (!store) return store_error(c, store.error());
  c.store = std::move(*store);
  return it->second(c);
}

}  // namespace fomoe
