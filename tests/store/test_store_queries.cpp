// Queries: downsampling against a naive computation, list filters, delete, tags.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#include "store_test_util.h"

namespace fomoe {
namespace {

using test::point;

std::vector<SeriesBucket> naive_downsample(const std::vector<SeriesPoint>& pts, int64_t lo, int64_t hi, int n) {
  std::vector<SeriesPoint> in;
  for (const auto& p : pts) {
    if (p.step >= lo && p.step <= hi) in.push_back(p);  // already in (step, write order)
  }
  if (in.empty()) return {};
  const int s = downsample_shift(in.front().step, in.back().step, n);
  std::map<int64_t, SeriesBucket> b;
  for (const auto& p : in) {
    auto [it, fresh] = b.try_emplace(p.step >> s);
    SeriesBucket& x = it->second;
    if (fresh) {
      x = {p.step, p.step, 0, std::nan(""), std::nan(""), p.value};
    }
    x.step_first = std::min(x.step_first, p.step);
    if (p.step >= x.step_last) {
      x.step_last = p.step;
      x.last = p.value;
    }
    if (!std::isnan(p.value)) {
      x.min = std::isnan(x.min) ? p.value : std::min(x.min, p.value);
      x.max = std::isnan(x.max) ? p.value : std::max(x.max, p.value);
    }
    ++x.count;
  }
  std::vector<SeriesBucket> out;
  for (auto& kv : b) out.push_back(kv.second);
  return out;
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void expect_buckets_eq(const std::vector<SeriesBucket>& got, const std::vector<SeriesBucket>& want,
                       const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(what + " bucket " + std::to_string(i));
    EXPECT_EQ(got[i].step_first, want[i].step_first);
    EXPECT_EQ(got[i].step_last, want[i].step_last);
    EXPECT_EQ(got[i].count, want[i].count);
    EXPECT_TRUE(same(got[i].min, want[i].min)) << got[i].min << " vs " << want[i].min;
    EXPECT_TRUE(same(got[i].max, want[i].max)) << got[i].max << " vs " << want[i].max;
    EXPECT_TRUE(same(got[i].last, want[i].last)) << got[i].last << " vs " << want[i].last;
  }
}

TEST(StoreQueries, DownsampleShiftGivesAtMostNBuckets) {
  EXPECT_EQ(downsample_shift(0, 99, 100), 0);
  EXPECT_EQ(downsample_shift(0, 100, 100), 1);
  EXPECT_EQ(downsample_shift(5, 5, 1), 0);
  for (int64_t lo : {0, 7, 1000}) {
    for (int64_t hi : {lo + 1, lo + 999, lo + 123456}) {
      for (int n : {1, 3, 100, 2000}) {
        const int s = downsample_shift(lo, hi, n);
        EXPECT_LE((hi >> s) - (lo >> s) + 1, n);
        if (s > 0) {
          EXPECT_GT((hi >> (s - 1)) - (lo >> (s - 1)) + 1, n);  // the smallest such shift
        }
      }
    }
  }
}

TEST(StoreQueries, DownsampleMatchesNaiveComputation) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  RecorderOptions opt;
  opt.batch_rows = 777;  // many batches: rollup blocks are merged across transactions
  int64_t id;
  {
    auto rec = RunRecorder::open(path, opt);
    ASSERT_TRUE(rec);
    id = (*rec)->begin_run(test::test_run_info("downsample"));
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> val(-5, 5);
    long step = 3;
    std::vector<MetricPoint> pts;
    for (int i = 0; i < 40000; ++i) {
      const int r = static_cast<int>(rng() % 100);
      step += r < 5 ? 0 : (r < 90 ? 1 : static_cast<long>(rng() % 300));  // repeats, unit steps, gaps
      double v = val(rng);
      if (r == 7) v = std::nan("");
      pts.push_back(point(metric::kTrainLoss, step, v, 0));
      if (i % 3 == 0) pts.push_back(point(metric::kTrainLoss, step + (rng() % 5), v * 2, 1));  // other site
      if (r == 13 && step > 50) pts.push_back(point(metric::kTrainLoss, step - 40, v + 1, 0));  // late point
      if (pts.size() >= 50) {
        (*rec)->on_metrics(pts);
        pts.clear();
      }
    }
    (*rec)->on_metrics(pts);
    ASSERT_TRUE((*rec)->flush());
  }
  auto store = RunStore::open(path);
  ASSERT_TRUE(store);
  for (int site : {0, 1}) {
    auto all = (*store)->read_series(id, metric::kTrainLoss, site, INT64_MIN, INT64_MAX);
    ASSERT_TRUE(all);
    ASSERT_GT(all->size(), 1000u);
    const int64_t first = all->front().step, last = all->back().step;
    struct Case {
      int64_t lo, hi;
      int n;
    };
    std::vector<Case> cases = {{INT64_MIN, INT64_MAX, 2000}, {0, last, 50}, {first, last, 1},
                               {12345, last - 4321, 300},   {1000, 1063, 8}, {first + 1, first + 70000, 7},
                               {777, 778, 2000},            {last + 1, last + 100, 10}};
    for (const Case& c : cases) {
      const std::string what = "site " + std::to_string(site) + " [" + std::to_string(c.lo) + ", " +
                               std::to_string(c.hi) + "] n=" + std::to_string(c.n);
      auto want = naive_downsample(*all, c.lo, c.hi, c.n);
      auto fast = (*store)->downsample(id, metric::kTrainLoss, site, c.lo, c.hi, c.n);
      auto exact = (*store)->downsample_exact(id, metric::kTrainLoss, site, c.lo, c.hi, c.n);
      ASSERT_TRUE(fast && exact) << what;
      EXPECT_LE(fast->size(), static_cast<size_t>(c.n)) << what;
      expect_buckets_eq(*fast, want, "fast " + what);
      expect_buckets_eq(*exact, want, "exact " + what);
    }
  }
  auto none = (*store)->downsample(id, "no/such_metric", 0, 0, 100, 10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(StoreQueries, ListFiltersDeleteAndTags) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  std::vector<int64_t> ids;
  {
    auto rec = RunRecorder::open(path);
    ASSERT_TRUE(rec);
    const char* methods[] = {"fomoe", "diloco", "fomoe", "single"};
    for (int i = 0; i < 4; ++i) {
      ids.push_back((*rec)->begin_run(test::test_run_info("exp-" + std::to_string(i), methods[i])));
      (*rec)->on_metrics({point(metric::kTrainLoss, 10, 2.0 + i, 0)});
      (*rec)->on_link_bytes({{0, 0, Direction::Sent, "pseudo_grad", 100 * (i + 1), 0.1}});
      (*rec)->on_event({0.5, -1, "round_started", ""});
      (*rec)->on_placement({{0, 0, 0, 0}});
      (*rec)->on_expert_load({{0, 0, 0, 0, 5}});
      (*rec)->on_checkpoint({0, 10, "/ck"});
      (*rec)->on_samples({{0, 10, 0, "The ", "end of " + std::to_string(i), /*ended=*/i == 2}});
      (*rec)->on_run_finished(i == 3 ? RunStatus::Failed : RunStatus::Finished, "");
    }
  }
  auto store = RunStore::open(path);
  ASSERT_TRUE(store);
  RunStore& st = **store;
  auto all = st.list_runs();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ(all->front().run.id, ids[3]);  // newest first
  RunFilter f;
  f.method = "fomoe";
  EXPECT_EQ(st.list_runs(f)->size(), 2u);
  f = {};
  f.status = "failed";
  ASSERT_EQ(st.list_runs(f)->size(), 1u);
  EXPECT_EQ(st.list_runs(f)->at(0).run.name, "exp-3");
  f = {};
  f.name_contains = "p-1";
  ASSERT_EQ(st.list_runs(f)->size(), 1u);
  f = {};
  f.limit = 3;
  EXPECT_EQ(st.list_runs(f)->size(), 3u);

  ASSERT_TRUE(st.set_tags(ids[1], "baseline,paper"));
  EXPECT_EQ(st.get_run(ids[1])->tags, "baseline,paper");
  EXPECT_EQ(st.set_tags(999, "x").error().code, ErrorCode::NotFound);
  auto samples = st.samples(ids[2]);
  ASSERT_TRUE(samples) << samples.error().message;
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_EQ(samples->at(0).text, "end of 2");
  EXPECT_EQ(samples->at(0).prompt, "The ");
  EXPECT_TRUE(samples->at(0).ended);
  EXPECT_FALSE(st.samples(ids[0])->at(0).ended);

  ASSERT_TRUE(st.delete_run(ids[1]));
  auto gone = st.get_run(ids[1]);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::NotFound);
  EXPECT_NE(gone.error().message.find(std::to_string(ids[1])), std::string::npos);
  EXPECT_EQ(st.delete_run(ids[1]).error().code, ErrorCode::NotFound);
  EXPECT_EQ(st.list_runs()->size(), 3u);
  store->reset();
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  for (const char* table : {"metrics", "metric_rollup", "links", "placement", "expert_load", "events", "checkpoints", "samples"}) {
    for (int64_t id : {ids[1], ids[2]}) {
      sqlite3_stmt* q = nullptr;
      sqlite3_prepare_v2(db, (std::string("SELECT count(*) FROM ") + table + " WHERE run_id = ?").c_str(), -1, &q,
                         nullptr);
      sqlite3_bind_int64(q, 1, id);
      ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
      if (id == ids[1]) {
        EXPECT_EQ(sqlite3_column_int64(q, 0), 0) << table;
      } else {
        EXPECT_GT(sqlite3_column_int64(q, 0), 0) << table;  // other runs untouched
      }
      sqlite3_finalize(q);
    }
  }
  sqlite3_close(db);
}

}  // namespace
}  // namespace fomoe
