// RunRecorder: everything a run emits comes back from RunStore; batching and draining.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#include "store_test_util.h"

namespace fomoe {
namespace {

using test::point;

TEST(StoreRecorder, RoundTripsEveryKindOfRow) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  int64_t id = -1;
  {
    auto rec = RunRecorder::open(path);
    ASSERT_TRUE(rec) << rec.error().message;
    RunRecorder& r = **rec;
    id = r.begin_run(test::test_run_info("round-trip"));
    ASSERT_GT(id, 0);
    r.on_run_started(id, test::test_run_info("round-trip"));  // same id: no second run
    EXPECT_EQ(r.current_run(), id);
    for (long step = 0; step < 100; ++step) {
      r.on_metrics({point(metric::kTrainLoss, step, 4.0 - step * 0.01, 0, static_cast<int>(step / 10)),
                    point(metric::kTrainLoss, step, 4.5 - step * 0.01, 1, static_cast<int>(step / 10))});
    }
    r.on_metrics({point(metric::kEvalLoss, 50, 3.0), point(metric::kEvalLoss, 99, 3.2)});
    r.on_link_bytes({{0, 0, Direction::Sent, "pseudo_grad", 1000, 0.5}, {0, 1, Direction::Received, "update", 300, 0.1}});
    r.on_placement({{0, 0, 1, 0}, {0, 0, 2, 1}});
    r.on_placement({{0, 0, 1, 0}, {0, 0, 2, 1}});  // published again (a resumed run): replaces round 0's
    r.on_placement({{3, 0, 1, 1}});                // re-planned after round 2
    r.on_expert_load({{0, 1, 0, 2, 77}});
    r.on_event({1.25, 1, "site_joined", "hello"});
    r.on_checkpoint({0, 99, "/ck/99.pt"});
    r.on_run_finished(RunStatus::Finished, "done");
    EXPECT_TRUE(r.last_error()) << r.last_error().error().message;
    EXPECT_EQ(r.pending_rows(), 0u);
  }
  auto store = RunStore::open(path);
  ASSERT_TRUE(store) << store.error().message;
  auto runs = (*store)->list_runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
  const RunSummary& s = runs->front();
  EXPECT_EQ(s.run.id, id);
  EXPECT_EQ(s.run.status, "finished");
  EXPECT_EQ(s.run.message, "done");
  EXPECT_TRUE(s.run.finished_at.has_value());
  EXPECT_GT(s.run.writer_pid, 0);
  ASSERT_TRUE(s.final_train_loss);
  EXPECT_NEAR(*s.final_train_loss, (4.0 - 0.99 + 4.5 - 0.99) / 2, 1e-12);  // mean of both sites at step 99
  EXPECT_DOUBLE_EQ(*s.final_eval_loss, 3.2);
  EXPECT_DOUBLE_EQ(*s.best_eval_loss, 3.0);
  EXPECT_EQ(s.total_bytes, 1300);
  EXPECT_EQ(s.last_step, 99);
  EXPECT_EQ((*store)->get_run(id)->config_text, "[model]\nn_experts = 8\n");

  auto names = (*store)->metric_names(id);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{metric::kEvalLoss, metric::kTrainLoss}));
  auto series = (*store)->read_series(id, metric::kTrainLoss, 1, 0, 1000);
  ASSERT_TRUE(series);
  ASSERT_EQ(series->size(), 100u);
  EXPECT_EQ((*series)[42].step, 42);
  EXPECT_EQ((*series)[42].round, 4);
  EXPECT_DOUBLE_EQ((*series)[42].value, 4.5 - 0.42);
  EXPECT_DOUBLE_EQ((*series)[42].wall_time, 21.0);
  auto links = (*store)->link_totals(id);
  ASSERT_TRUE(links);
  ASSERT_EQ(links->size(), 2u);
  EXPECT_EQ((*links)[0].direction, Direction::Sent);
  EXPECT_EQ((*links)[0].bytes, 1000);
  EXPECT_EQ((*links)[1].msg_type, "update");
  EXPECT_EQ((*store)->placement(id, 0)->size(), 2u);
  EXPECT_EQ((*store)->placement(id, 3)->size(), 1u);
  EXPECT_EQ((*store)->placement(id, 5)->size(), 0u);
  EXPECT_EQ((*store)->placement_rounds(id)->size(), 2u);
  EXPECT_EQ((*store)->expert_load(id)->at(0).tokens, 77);
  auto events = (*store)->events(id);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->at(0).kind, "site_joined");
  EXPECT_EQ(events->at(0).site, 1);
  EXPECT_EQ((*store)->checkpoints(id)->at(0).step, 99);
}

TEST(StoreRecorder, WritesWhenBatchFillsAndDrainsOnDestruction) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  RecorderOptions opt;
  opt.batch_rows = 100;
  opt.flush_interval = std::chrono::hours(1);  // only the batch size or a flush triggers a write
  int64_t id = -1;
  {
    auto rec = RunRecorder::open(path, opt);
    ASSERT_TRUE(rec);
    id = (*rec)->begin_run(test::test_run_info("batching"));
    std::vector<MetricPoint> pts;
    for (long i = 0; i < 60; ++i) pts.push_back(point(metric::kTrainLoss, i, 1.0));
    (*rec)->on_metrics(pts);
    EXPECT_EQ((*rec)->pending_rows(), 60u);  // below the batch size: still queued
    pts.clear();
    for (long i = 60; i < 120; ++i) pts.push_back(point(metric::kTrainLoss, i, 1.0));
    (*rec)->on_metrics(pts);
    // 120 >= 100 rows: the writer commits without a flush (wait for it; no timing assertion).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while ((*rec)->pending_rows() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ((*rec)->pending_rows(), 0u);
    auto reader = RunStore::open(path);
    ASSERT_TRUE(reader);
    EXPECT_EQ((*reader)->read_series(id, metric::kTrainLoss, -1, 0, 1000)->size(), 120u);
    pts.clear();
    for (long i = 120; i < 150; ++i) pts.push_back(point(metric::kTrainLoss, i, 1.0));
    (*rec)->on_metrics(pts);  // 30 rows left queued for the destructor
  }
  auto store = RunStore::open(path);
  ASSERT_TRUE(store);
  EXPECT_EQ((*store)->read_series(id, metric::kTrainLoss, -1, 0, 1000)->size(), 150u);
}

TEST(StoreRecorder, RowsBeforeBeginRunAreRefusedNotMisfiled) {
  test::TempDir dir;
  auto rec = RunRecorder::open(dir.file("runs.db"));
  ASSERT_TRUE(rec);
  (*rec)->on_metrics({point(metric::kTrainLoss, 0, 1.0)});
  EXPECT_EQ((*rec)->pending_rows(), 0u);
  EXPECT_EQ((*rec)->current_run(), -1);
  (*rec)->on_run_started(0, test::test_run_info("late"));  // unknown id: the recorder begins a run
  EXPECT_GT((*rec)->current_run(), 0);
}

TEST(StoreRecorder, NanValuesSurvive) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  int64_t id;
  {
    auto rec = RunRecorder::open(path);
    ASSERT_TRUE(rec);
    id = (*rec)->begin_run(test::test_run_info("nan"));
    (*rec)->on_metrics({point(metric::kTrainLoss, 0, 2.0), point(metric::kTrainLoss, 1, std::nan("")),
                        point(metric::kTrainLoss, 2, 1.0)});
    ASSERT_TRUE((*rec)->flush());
  }
  auto store = RunStore::open(path);
  ASSERT_TRUE(store);
  auto s = (*store)->read_series(id, metric::kTrainLoss, -1, 0, 10);
  ASSERT_EQ(s->size(), 3u);
  EXPECT_TRUE(std::isnan((*s)[1].value));
  auto b = (*store)->downsample(id, metric::kTrainLoss, -1, 0, 10, 1);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_DOUBLE_EQ((*b)[0].min, 1.0);
  EXPECT_DOUBLE_EQ((*b)[0].max, 2.0);
  EXPECT_EQ((*b)[0].count, 3);
  EXPECT_EQ((*store)->get_run(id)->status, "running");  // not finished, writer alive (this process)
}

}  // namespace
}  // namespace fomoe
