// `fomoe runs list|show|compare|export|delete|tag`: the run store from the command line.
#include "fomoe/base/number_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/base/metric_names.h"
#include "fomoe/store/run_store.h"

namespace fomoe::cli {

namespace {

using Json = nlohmann::json;

struct Args {
  std::string db;
  int64_t id = 0;            // the RUN of show, export, delete, tag
  std::vector<int64_t> ids;  // the RUNs of compare
  std::string method, status, name;
  int64_t limit = 0;
  std::string list_format = "table", show_format = "text", compare_format = "text", export_format = "csv";
  std::string out_path;
  bool yes = false;
  bool all = false;          // show: every eval point and event
  std::string tags;
};

// A run id as typed: digits only (no sign, no spaces), at most 18 of them.
std::optional<int64_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::stoll(s);
}

CLI::Validator run_id() {
  return CLI::Validator(
      [](std::string& s) {
        return parse_id(s) ? std::string() : "run id must be a number, got '" + s + "' (see `fomoe runs list`)";
      },
      "", "run_id");
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
  c.err << "fomoe runs: error: " << e.message << "\n";
  return e.code == ErrorCode::NotFound ? kExitUsage : kExitFailure;
}

int cmd_list(Ctx& c) {
  RunFilter f;
  f.method = c.args.method;
  f.status = c.args.status;
  f.name_contains = c.args.name;
  f.limit = static_cast<int>(c.args.limit);
  const std::string format = c.args.list_format == "text" ? "table" : c.args.list_format;
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

Json series_json(const MetricSeries& m) {
  return {{"name", m.name},           {"site", m.site},         {"points", m.n_points},
          {"step_first", m.step_first}, {"step_last", m.step_last}, {"last", json_num(m.last)},
          {"min", json_num(m.min)},   {"max", json_num(m.max)}};
}

// Held-out loss at the eval points: the global model's (eval/loss, site -1) and each site's on its
// own held-out split (eval/site_loss, site >= 0).
struct HeldOut {
  std::vector<SeriesPoint> global;
  std::vector<std::pair<int, std::vector<SeriesPoint>>> sites;  // ascending site
  bool empty() const { return global.empty() && sites.empty(); }
};

Expected<HeldOut> read_held_out(RunStore& store, int64_t id, const std::vector<MetricSeries>& series) {
  constexpr int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  HeldOut h;
  for (const auto& m : series) {  // ordered by name, site
    const bool global = m.name == metric::kEvalLoss && m.site == -1;
    const bool site = m.name == metric::kSiteEvalLoss && m.site >= 0;
    if (!global && !site) continue;
    auto pts = store.read_series(id, m.name, m.site, lo, hi);
    if (!pts) return pts.error();
    if (global) h.global = std::move(*pts);
    else h.sites.emplace_back(m.site, std::move(*pts));
  }
  return h;
}

Json held_out_json(const HeldOut& h) {
  auto points = [](const std::vector<SeriesPoint>& pts) {
    Json a = Json::array();
    for (const auto& p : pts) a.push_back({{"step", p.step}, {"round", p.round}, {"value", json_num(p.value)}});
    return a;
  };
  Json sites = Json::array();
  for (const auto& [site, pts] : h.sites) sites.push_back({{"site", site}, {"points", points(pts)}});
  return {{"metric", metric::kEvalLoss}, {"site_metric", metric::kSiteEvalLoss}, {"global", points(h.global)},
          {"sites", sites}};
}

// Runs stopped and resumed: these events matter for reading the curves, so `show` lists all of
// them even when the event table below shows only the last ones.
bool is_stop_or_resume(const RunEvent& e) { return e.kind == "stopped" || e.kind == "resumed"; }

Json samples_json(const std::vector<SampleEntry>& samples) {
  Json out = Json::array();
  for (const auto& e : samples)
    out.push_back({{"step", e.step}, {"round", e.round}, {"prompt_index", e.prompt_index}, {"prompt", e.prompt}, {"text", e.text}, {"ended", e.ended}});
  return out;
}

// Everything `runs show` prints, as one JSON object: the run, its summary, every metric series,
// the held-out losses, bytes per link, all events, every sample and the config text.
Json show_json(const RunSummary& s, const std::vector<MetricSeries>& series, const HeldOut& held_out,
               const std::vector<LinkTotal>& links, const std::vector<RunEvent>& events,
               const std::vector<SampleEntry>& samples) {
  Json j = summary_json(s);
  j["writer"] = {{"pid", s.run.writer_pid}, {"host", s.run.writer_host}};
  j["config_text"] = s.run.config_text;
  Json js = Json::array(), jl = Json::array(), je = Json::array();
  for (const auto& m : series) js.push_back(series_json(m));
  for (const auto& l : links) {
    jl.push_back({{"site", l.site}, {"direction", direction_name(l.direction)}, {"msg_type", l.msg_type},
                  {"messages", l.messages}, {"bytes", l.bytes}, {"seconds", l.seconds}});
  }
  for (const auto& e : events) je.push_back({{"time", e.time}, {"site", e.site}, {"kind", e.kind}, {"text", e.text}});
  j["metrics"] = js;
  j["held_out_loss"] = held_out_json(held_out);
  j["links"] = jl;
  j["events"] = je;
  j["samples"] = samples_json(samples);
  return j;
}

int cmd_show(Ctx& c) {
  const int64_t id = c.args.id;
  auto s = c.store->get_summary(id);
  if (!s) return store_error(c, s.error());
  auto series = c.store->metric_series(id);
  if (!series) return store_error(c, series.error());
  auto links = c.store->link_totals(id);
  if (!links) return store_error(c, links.error());
  auto events = c.store->events(id);
  if (!events) return store_error(c, events.error());
  auto held_out = read_held_out(*c.store, id, *series);
  if (!held_out) return store_error(c, held_out.error());
  auto samples = c.store->samples(id);
  if (!samples) return store_error(c, samples.error());
  if (c.args.show_format == "json") {
    // A continuation can end inside a multi-byte character: invalid UTF-8 becomes U+FFFD.
    c.out << show_json(*s, *series, *held_out, *links, *events, *samples).dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    return 0;
  }
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

  if (!held_out->empty()) {
    // One row per eval step: the global model's loss beside each site's on its own split.
    std::map<int64_t, std::vector<std::optional<double>>> at;  // step -> global, site...
    const size_t n_cols = 1 + held_out->sites.size();
    auto put = [&](const std::vector<SeriesPoint>& pts, size_t col) {
      for (const auto& p : pts) {
        auto& row = at[p.step];
        row.resize(n_cols);
        row[col] = p.value;  // a repeated step: the latest written
      }
    };
    put(held_out->global, 0);
    for (size_t i = 0; i < held_out->sites.size(); ++i) put(held_out->sites[i].second, i + 1);
    const size_t kEvalsShown = 10;
    const size_t skip = !c.args.all && at.size() > kEvalsShown ? at.size() - kEvalsShown : 0;
    o << "\nHeld-out loss (" << at.size() << " eval points; global = " << metric::kEvalLoss << ", site N = "
      << metric::kSiteEvalLoss << " on the site's own split)\n";
    if (skip > 0) o << "  (" << skip << " earlier eval points not shown; --all shows every one)\n";
    std::vector<std::string> header = {"STEP", "GLOBAL"};
    for (const auto& site : held_out->sites) header.push_back("SITE " + std::to_string(site.first));
    std::vector<std::vector<std::string>> rows;
    std::set<size_t> right;
    for (size_t col = 0; col < header.size(); ++col) right.insert(col);
    size_t i = 0;
    for (const auto& [step, values] : at) {
      if (i++ < skip) continue;
      std::vector<std::string> row = {std::to_string(step)};
      for (const auto& v : values) row.push_back(v ? fmt_num(*v) : "-");
      rows.push_back(std::move(row));
    }
    print_table(o, header, rows, right, "  ");
  }

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

  auto event_row = [](const RunEvent& e) -> std::vector<std::string> {
    return {fmt_num(e.time, "%.1f"), e.site < 0 ? "coord" : std::to_string(e.site), e.kind, e.text};
  };
  std::vector<std::vector<std::string>> stops;
  for (const RunEvent& e : *events) {
    if (is_stop_or_resume(e)) stops.push_back(event_row(e));
  }
  if (!stops.empty()) {
    o << "\nStopped and resumed (" << stops.size() << ")\n";
    print_table(o, {"TIME S", "SITE", "KIND", "TEXT"}, stops, {0, 1}, "  ");
  }

  const size_t kShown = c.args.all ? events->size() : 20;
  o << "\nEvents (" << events->size() << ")\n";
  if (events->empty()) {
    o << "  none recorded\n";
  } else {
    if (events->size() > kShown) {
      o << "  (" << events->size() - kShown << " earlier events not shown; --all shows every one)\n";
    }
    std::vector<std::vector<std::string>> rows;
    for (size_t i = events->size() > kShown ? events->size() - kShown : 0; i < events->size(); ++i) {
      rows.push_back(event_row((*events)[i]));
    }
    print_table(o, {"TIME S", "SITE", "KIND", "TEXT"}, rows, {0, 1}, "  ");
  }

  if (!samples->empty()) {
    // The latest evaluation's continuations (--all: every evaluation's), one line each.
    const long last_step = samples->back().step;
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : *samples) {
      if (!c.args.all && e.step != last_step) continue;
      rows.push_back({std::to_string(e.step), e.prompt, cli::one_line(e.text) + (e.ended ? " [end of document]" : "")});
    }
    o << "\nSamples (" << (c.args.all ? "every evaluation" : "at step " + std::to_string(last_step)) << ", greedy; "
      << "prompt, then the model's continuation)\n";
    print_table(o, {"STEP", "PROMPT", "CONTINUATION"}, rows, {0}, "  ");
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
  std::vector<RunSummary> runs;
  for (int64_t id : c.args.ids) {
    auto s = c.store->get_summary(id);
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
  const double base = static_cast<double>(runs.front().total_bytes);
  if (c.args.compare_format == "json") {
    // The runs' summaries, each config key that differs (null where a run leaves it unset, the
    // values as written in TOML) and each run's bytes relative to the first run's.
    Json jr = Json::array(), jd = Json::object();
    for (const auto& s : runs) {
      Json j = summary_json(s);
      j["bytes_vs_first"] = base > 0 ? Json(static_cast<double>(s.total_bytes) / base) : Json(nullptr);
      jr.push_back(j);
    }
    for (const auto& row : diff) {
      Json values = Json::array();
      for (size_t i = 0; i < configs.size(); ++i) {
        auto it = configs[i].find(row[0]);
        values.push_back(it == configs[i].end() ? Json(nullptr) : Json(it->second));
      }
      jd[row[0]] = values;
    }
    o << Json{{"runs", jr}, {"config_differs", jd}}.dump(2) << "\n";
    return 0;
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
  const int64_t* id = &c.args.id;
  const std::string& format = c.args.export_format;
  auto s = c.store->get_summary(*id);
  if (!s) return store_error(c, s.error());
  const std::string& out_path = c.args.out_path;
  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path, std::ios::out | std::ios::trunc);
    if (!file) {
      c.err << "fomoe runs export: error: cannot write " << out_path << "; check the directory exists and is writable\n";
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
      auto links = c.store->links(*id);
      auto events = c.store->events(*id);
      auto placement = c.store->placement(*id);
      auto load = c.store->expert_load(*id);
      auto ckpts = c.store->checkpoints(*id);
      auto samples = c.store->samples(*id);
      for (const Error* e : {links ? nullptr : &links.error(), events ? nullptr : &events.error(),
                             placement ? nullptr : &placement.error(), load ? nullptr : &load.error(),
                             ckpts ? nullptr : &ckpts.error(), samples ? nullptr : &samples.error()}) {
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
        << ",\n\"expert_load\": " << jx.dump() << ",\n\"checkpoints\": " << jc.dump()
        << ",\n\"samples\": " << samples_json(*samples).dump(-1, ' ', false, Json::error_handler_t::replace) << "\n}\n";
    }
  }
  if (!st) return store_error(c, st.error());
  o.flush();
  if (!out_path.empty()) {
    if (!file) {
      c.err << "fomoe runs export: error: writing " << out_path << " failed (disk full?)\n";
      return 1;
    }
    c.out << "Wrote " << n << " metric points of run " << *id << " to " << out_path << "\n";
  }
  return 0;
}

int cmd_delete(Ctx& c) {
  const int64_t* id = &c.args.id;
  auto s = c.store->get_summary(*id);
  if (!s) return store_error(c, s.error());
  auto series = c.store->metric_series(*id);
  if (!series) return store_error(c, series.error());
  int64_t points = 0;
  for (const auto& m : *series) points += m.n_points;
  const std::string what = "run " + std::to_string(*id) + " '" + s->run.name + "' (" + s->run.status + ", " +
                           std::to_string(points) + " metric points)";
  if (!c.args.yes) {
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
  const int64_t id = c.args.id;
  Status st = c.store->set_tags(id, c.args.tags);
  if (!st) return store_error(c, st.error());
  c.out << "Run " << id << " tags: " << c.args.tags << "\n";
  return 0;
}

// The RUN positional of a command: a run id, validated as typed.
template <typename T>
CLI::Option* add_run(CLI::App* cmd, T& id, const std::string& help) {
  return cmd->add_option("RUN", id, help)->required()->check(run_id())->type_name("RUN");
}

}  // namespace

int runs_command(const std::vector<std::string>& args_in, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args[0] == "runs") args.erase(args.begin());
  Ctx c{{}, out, err, nullptr};
  Args& a = c.args;
  auto app = make_app("fomoe runs", "Browse the run store (SQLite): list, show, compare, export, delete and tag runs.");
  app->add_option("--db", a.db, "run store file (default: $XDG_DATA_HOME/fomoe/runs.db, else\n"
                                "~/.local/share/fomoe/runs.db), before or after the command")
      ->type_name("PATH");
  app->add_flag("--yes", a.yes)->group("");  // `runs --yes delete 3` reads as `runs delete 3 --yes`
  app->footer(
      "--db PATH, the run store, goes anywhere on the line.\n"
      "exit codes: 0 ok, 1 store error, 2 bad usage or unknown run");

  CLI::App* list = app->add_subcommand("list", "runs, newest first, with final/best losses and bytes sent");
  list->add_option("--method", a.method, "only runs of this method (fomoe, diloco, photon, ddp, single)");
  list->add_option("--status", a.status, "only runs in this state (running, finished, failed, interrupted,\n"
                                        "cancelled, stopped)");
  list->add_option("--name", a.name, "only runs whose name contains TEXT");
  list->add_option("--limit", a.limit, "at most N runs (0: all)")->check(integer_in(0, 1000000000))->type_name("N");
  add_format(*list, a.list_format, {"table", "text", "json", "csv"}, /*json_alias=*/true)->capture_default_str();

  CLI::App* show = app->add_subcommand(
      "show", "one run: config, summary metrics, held-out loss per site, bytes per link, events");
  add_run(show, a.id, "the run's id (see `fomoe runs list`)");
  show->add_flag("--all", a.all, "every eval point and every event (default: the last 10 and 20)");
  add_format(*show, a.show_format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();

  CLI::App* compare =
      app->add_subcommand("compare", "config keys that differ, final and best metrics, bytes vs the first run");
  add_run(compare, a.ids, "two or more run ids")->expected(2, CLI::detail::expected_max_vector_size);
  add_format(*compare, a.compare_format, {"text", "json"}, /*json_alias=*/true)->capture_default_str();

  CLI::App* export_cmd = app->add_subcommand("export", "every metric point (csv), or everything recorded (json)");
  add_run(export_cmd, a.id, "the run's id");
  export_cmd->add_option("--format", a.export_format, "csv: metric points; json: everything recorded")
      ->check(one_of({"csv", "json"}))
      ->capture_default_str();
  export_cmd->add_option("--out", a.out_path, "write to FILE instead of standard output")->type_name("FILE");

  CLI::App* del = app->add_subcommand("delete", "delete a run and all its rows (asks for --yes)");
  add_run(del, a.id, "the run's id");
  del->add_flag("--yes", a.yes, "really delete it");

  CLI::App* tag = app->add_subcommand("tag", "replace a run's tags");
  add_run(tag, a.id, "the run's id");
  tag->add_option("TAGS", a.tags, "comma separated, e.g. baseline,paper")->required();

  if (auto code = parse(*app, args, out, err)) return *code;

  using Fn = int (*)(Ctx&);
  const std::pair<CLI::App*, Fn> commands[] = {{list, cmd_list},     {show, cmd_show}, {compare, cmd_compare},
                                               {export_cmd, cmd_export},    {del, cmd_delete}, {tag, cmd_tag}};
  Fn fn = nullptr;
  for (const auto& [cmd, f] : commands)
    if (cmd->parsed()) fn = f;
  const std::string path = a.db.empty() ? default_db_path() : a.db;
  auto store = RunStore::open(path);
  if (!store) return store_error(c, store.error());
  c.store = std::move(*store);
  return fn(c);
}

}  // namespace fomoe::cli
