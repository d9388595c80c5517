// `fomoe bench store`: insert rate through the real writer vs one transaction per row, opening
// and listing a store of many runs, and downsampling a 10M point series vs reading it in full.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "fomoe/base/log.h"
#include "fomoe/base/metric_names.h"
#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#include "fomoe/store/store_bench.h"
#include "store_internal.h"

namespace fomoe {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

using BenchArgs = StoreBenchOptions;

std::string with_commas(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string s = buf, out;
  int n = 0;
  for (size_t i = s.size(); i-- > 0;) {
    out.insert(out.begin(), s[i]);
    if (++n % 3 == 0 && i > 0 && std::isdigit(static_cast<unsigned char>(s[i - 1]))) out.insert(out.begin(), ',');
  }
  return out;
}

std::string fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

Status fail(const std::string& what, const Error& e) { return make_error(e.code, what + ": " + e.message); }

// (1) rows/s through RunRecorder, and through one transaction per row.
Status bench_insert(const BenchArgs& a, nlohmann::json& r) {
  const std::string path = a.dir + "/insert.db";
  double writer_s = 0;
  {
    auto rec = RunRecorder::open(path);
    if (!rec) return fail("opening " + path, rec.error());
    RunInfo info;
    info.name = "bench-insert";
    info.method = "fomoe";
    info.n_sites = 4;
    if ((*rec)->begin_run(info) < 0) return fail("begin_run", (*rec)->last_error().error());
    // A realistic call pattern: per step, 4 sites x 4 metrics = 16 points in one on_metrics call.
    const char* names[] = {metric::kTrainLoss, metric::kLearningRate, metric::kGradNorm, metric::kTokensPerSecond};
    std::vector<MetricPoint> pts(16);
    const auto t0 = Clock::now();
    int64_t written = 0;
    for (long step = 0; written < a.rows; ++step) {
      for (int i = 0; i < 16; ++i) {
        MetricPoint& p = pts[i];
        p.name = names[i % 4];
        p.site = i / 4;
        p.step = step;
        p.round = static_cast<int>(step / 100);
        p.value = 1.0 / (1.0 + step) + i;
        p.wall_time = step * 0.01;
      }
      (*rec)->on_metrics(pts);
      written += 16;
    }
    Status s = (*rec)->flush();
    writer_s = seconds_since(t0);
    if (!s) return fail("flushing the writer", s.error());
    r["insert_writer_rows"] = written;
    r["insert_writer_rows_per_s"] = written / writer_s;
  }
  // Naive: the same rows and rollup upkeep, but one transaction per row.
  auto opened = store_detail::open_database(path, {});
  if (!opened) return fail("opening " + path, opened.error());
  store_detail::Db& db = *opened->db;
  auto run = store_detail::insert_run(db, RunInfo{"bench-naive", "fomoe", "", "", 1});
  if (!run) return fail("inserting a run", run.error());
  store_detail::RowWriter w(db);
  std::vector<MetricPoint> one(1);
  const auto t1 = Clock::now();
  for (int64_t i = 0; i < a.naive_rows; ++i) {
    one[0] = MetricPoint{metric::kTrainLoss, 1.0 / (1.0 + i), static_cast<long>(i), 0, 0, i * 0.01};
    Status s = db.exec("BEGIN", "naive insert");
    if (s) s = w.metrics(*run, one);
    if (s) s = w.finish_batch();
    if (s) s = db.exec("COMMIT", "naive insert");
    if (!s) return fail("naive insert", s.error());
  }
  const double naive_s = seconds_since(t1);
  r["insert_naive_rows"] = a.naive_rows;
  r["insert_naive_rows_per_s"] = a.naive_rows / naive_s;
  return Status::ok();
}

// (2) open a store with many runs, and list them all with their summaries.
Status bench_list(const BenchArgs& a, nlohmann::json& r) {
  const std::string path = a.dir + "/many_runs.db";
  {
    auto opened = store_detail::open_database(path, {});
    if (!opened) return fail("opening " + path, opened.error());
    store_detail::Db& db = *opened->db;
    store_detail::RowWriter w(db);
    Status s = db.exec("BEGIN", "filling runs");
    const char* methods[] = {"single", "ddp", "diloco", "photon", "fomoe"};
    std::vector<MetricPoint> pts;
    std::vector<LinkBytes> links;
    for (int64_t i = 0; s && i < a.runs; ++i) {
      RunInfo info{"run-" + std::to_string(i), methods[i % 5], "[model]\nn_experts = 8\n", "abc123", 4};
      auto id = store_detail::insert_run(db, info);
      if (!id) return fail("filling runs", id.error());
      pts.clear();
      links.clear();
      for (int k = 0; k < 40; ++k) pts.push_back({metric::kTrainLoss, 4.0 - k * 0.05, k * 25L, k / 4, k % 4, k * 1.0});
      for (int k = 0; k < 10; ++k) pts.push_back({metric::kEvalLoss, 4.1 - k * 0.1, k * 100L, k, -1, k * 4.0});
      for (int k = 0; k < 8; ++k) links.push_back({k / 2, k % 4, Direction::Sent, "pseudo_grad", 1000000, 0.1});
      s = w.metrics(*id, pts);
      if (s) s = w.links(*id, links);
      if (s) s = w.finish_run(*id, RunStatus::Finished, "", store_detail::unix_now());
    }
    if (s) s = w.finish_batch();
    if (s) s = db.exec("COMMIT", "filling runs");
    if (!s) return fail("filling runs", s.error());
  }
  const auto t0 = Clock::now();
  auto store = RunStore::open(path);
  if (!store) return fail("opening " + path, store.error());
  const double open_s = seconds_since(t0);
  const auto t1 = Clock::now();
  auto runs = (*store)->list_runs();
  const double list_s = seconds_since(t1);
  if (!runs) return fail("listing runs", runs.error());
  r["list_runs"] = static_cast<int64_t>(runs->size());
  r["list_open_ms"] = open_s * 1e3;
  r["list_query_ms"] = list_s * 1e3;
  r["list_total_ms"] = (open_s + list_s) * 1e3;
  return Status::ok();
}

// (3) one series of `points` points: downsampled (rollups), exact GROUP BY, and full read.
Status bench_downsample(const BenchArgs& a, nlohmann::json& r) {
  const std::string path = a.dir + "/long_series.db";
  int64_t run_id = 0;
  {
    auto opened = store_detail::open_database(path, {});
    if (!opened) return fail("opening " + path, opened.error());
    store_detail::Db& db = *opened->db;
    auto id = store_detail::insert_run(db, RunInfo{"bench-long", "single", "", "", 1});
    if (!id) return fail("inserting a run", id.error());
    run_id = *id;
    store_detail::RowWriter w(db);
    std::vector<MetricPoint> pts;
    const int64_t kBatch = 100'000;
    const auto t0 = Clock::now();
    for (int64_t start = 0; start < a.points; start += kBatch) {
      pts.clear();
      for (int64_t i = start; i < std::min(a.points, start + kBatch); ++i) {
        pts.push_back({metric::kTrainLoss, 3.0 + std::sin(i * 1e-4) + 1e-3 * (i % 97), static_cast<long>(i),
                       static_cast<int>(i / 1000), 0, i * 1e-3});
      }
      Status s = db.exec("BEGIN", "filling the series");
      if (s) s = w.metrics(run_id, pts);
      if (s) s = w.finish_batch();
      if (s) s = db.exec("COMMIT", "filling the series");
      if (!s) return fail("filling the series", s.error());
    }
    r["series_fill_rows_per_s"] = a.points / seconds_since(t0);
  }
  auto store = RunStore::open(path);
  if (!store) return fail("opening " + path, store.error());
  RunStore& st = **store;
  const int64_t hi = a.points - 1;
  std::vector<double> fast_ms;
  std::vector<SeriesBucket> fast;
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = Clock::now();
    auto b = st.downsample(run_id, metric::kTrainLoss, 0, 0, hi, a.buckets);
    fast_ms.push_back(seconds_since(t0) * 1e3);
    if (!b) return fail("downsampling", b.error());
    fast = std::move(*b);
  }
  // Unaligned range too: edge buckets come from raw rows.
  const auto t_un = Clock::now();
  auto unaligned = st.downsample(run_id, metric::kTrainLoss, 0, 12345, hi - 6789, a.buckets);
  const double unaligned_ms = seconds_since(t_un) * 1e3;
  if (!unaligned) return fail("downsampling", unaligned.error());
  std::sort(fast_ms.begin(), fast_ms.end());
  auto t1 = Clock::now();
  auto exact = st.downsample_exact(run_id, metric::kTrainLoss, 0, 0, hi, a.buckets);
  const double exact_ms = seconds_since(t1) * 1e3;
  if (!exact) return fail("exact downsampling", exact.error());
  auto t2 = Clock::now();
  auto full = st.read_series(run_id, metric::kTrainLoss, 0, 0, hi);
  const double full_ms = seconds_since(t2) * 1e3;
  if (!full) return fail("reading the series", full.error());
  bool match = exact->size() == fast.size();
  for (size_t i = 0; match && i < fast.size(); ++i) {
    const auto &x = fast[i], &y = (*exact)[i];
    match = x.step_first == y.step_first && x.step_last == y.step_last && x.count == y.count && x.min == y.min &&
            x.max == y.max && x.last == y.last;
  }
  r["series_points"] = a.points;
  r["downsample_buckets"] = static_cast<int64_t>(fast.size());
  r["downsample_ms_median"] = fast_ms[fast_ms.size() / 2];
  r["downsample_unaligned_ms"] = unaligned_ms;
  r["downsample_exact_ms"] = exact_ms;
  r["full_read_ms"] = full_ms;
  r["full_read_points"] = static_cast<int64_t>(full->size());
  r["downsample_matches_exact"] = match;
  return Status::ok();
}

}  // namespace

int run_store_bench(const StoreBenchOptions& options, std::ostream& out) {
  StoreBenchOptions a = options;
  namespace fs = std::filesystem;
  bool made_dir = false;
  if (a.dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "fomoe_store_bench_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      out << "error: cannot create a temporary directory under " << fs::temp_directory_path().string() << "\n";
      return 1;
    }
    a.dir = tmpl;
    made_dir = true;
  } else {
    std::error_code ec;
    fs::create_directories(a.dir, ec);
    for (const char* f : {"insert.db", "many_runs.db", "long_series.db"}) fs::remove(a.dir + "/" + f, ec);
  }
  nlohmann::json r;
  r["dir"] = a.dir;
  r["sqlite_version"] = sqlite3_libversion();
  Status s = bench_insert(a, r);
  if (s) s = bench_list(a, r);
  if (s) s = bench_downsample(a, r);
  if (made_dir && !a.keep) {
    std::error_code ec;
    fs::remove_all(a.dir, ec);
  }
  if (!s) {
    out << "error: " << s.error().message << "\n";
    return 1;
  }
  const double w = r["insert_writer_rows_per_s"], n = r["insert_naive_rows_per_s"];
  const double ds = r["downsample_ms_median"], ex = r["downsample_exact_ms"], full = r["full_read_ms"];
  r["insert_speedup_vs_naive"] = w / n;
  r["downsample_speedup_vs_exact"] = ex / ds;
  r["downsample_speedup_vs_full"] = full / ds;
  r["goals"] = {{"insert_rows_per_s", 500000}, {"list_total_ms", 200}, {"downsample_ms", 50}};
  if (a.json) {
    out << r.dump(2) << "\n";
    return 0;
  }
  auto row = [&](const std::string& what, const std::string& value, const std::string& goal, const std::string& note) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "  %-46s %18s  %-10s %s\n", what.c_str(), value.c_str(), goal.c_str(), note.c_str());
    out << buf;
  };
  auto pass = [](bool ok) { return ok ? "ok" : "MISSED"; };
  out << "store benchmark (SQLite " << sqlite3_libversion() << ", files in " << a.dir << ")\n";
  row("", "measured", "goal", "");
  row("insert via RunRecorder (" + with_commas(r["insert_writer_rows"].get<double>()) + " rows)",
      with_commas(w) + " rows/s", ">= 500k", pass(w >= 500000) + std::string("; ") + fixed(w / n) + "x the naive rate");
  row("insert, one transaction per row (" + with_commas(static_cast<double>(a.naive_rows)) + " rows)",
      with_commas(n) + " rows/s", "", "baseline");
  row("open + list " + with_commas(static_cast<double>(a.runs)) + " runs with summaries",
      fixed(r["list_total_ms"].get<double>()) + " ms", "< 200 ms",
      std::string(pass(r["list_total_ms"].get<double>() < 200)) + " (open " + fixed(r["list_open_ms"].get<double>()) +
          " ms, list " + fixed(r["list_query_ms"].get<double>()) + " ms)");
  row("downsample " + with_commas(static_cast<double>(a.points)) + " points -> " +
          std::to_string(r["downsample_buckets"].get<int64_t>()) + " buckets",
      fixed(ds, 2) + " ms", "< 50 ms",
      std::string(pass(ds < 50)) + " (median of 7; unaligned range " + fixed(r["downsample_unaligned_ms"].get<double>(), 2) +
          " ms)");
  row("same buckets by SQL GROUP BY over raw rows", fixed(ex) + " ms", "",
      fixed(ex / ds) + "x slower; results " + (r["downsample_matches_exact"].get<bool>() ? "identical" : "DIFFER"));
  row("full read of the series", fixed(full) + " ms", "", fixed(full / ds) + "x slower than downsampling");
  return 0;
}

}  // namespace fomoe
