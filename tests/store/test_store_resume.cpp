// Resuming a run: RunRecorder::resume_run continues the same run record and on_resumed drops the
// rows of rounds the saved state does not include, so a stopped and resumed run is one run whose
// rows, rollups and summary are what one uninterrupted recording of the kept rows would give.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#include "store_test_util.h"

namespace fomoe {
namespace {

using test::point;

constexpr int kStepsPerRound = 100;  // crosses rollup blocks (64 steps) inside rounds

// Everything a coordinator records for one round; `session` changes the values so a redone
// round is told apart from the first attempt.
void record_round(RunSink& sink, int round, int session) {
  std::vector<MetricPoint> pts;
  for (int i = 0; i < kStepsPerRound; ++i) {
    const long step = static_cast<long>(round) * kStepsPerRound + i;
    for (int site = 0; site < 2; ++site) {
      pts.push_back(point(metric::kTrainLoss, step, 5.0 - step * 0.001 + site + session * 0.5, site, round));
    }
  }
  const long end = static_cast<long>(round + 1) * kStepsPerRound - 1;
  pts.push_back(point(metric::kEvalLoss, end, 4.0 - round * 0.1 + session * 0.5, -1, round));
  for (int site = 0; site < 2; ++site) {
    pts.push_back(point(metric::kSiteEvalLoss, end, 4.1 - round * 0.1 + site * 0.05 + session, site, round));
  }
  sink.on_metrics(pts);
  sink.on_link_bytes({{round, 0, Direction::Sent, "start_round", 1000 + session, 0.1},
                      {round, 1, Direction::Received, "round_report", 500 + session, 0.2}});
  sink.on_placement({{round, 0, 0, 0}, {round, 0, 1, 1}});
  sink.on_expert_load({{round, 0, 0, 0, 10 + session}, {round, 1, 0, 1, 20 + session}});
  sink.on_event({round * 1.0, -1, "round_started", "round " + std::to_string(round)});
  sink.on_checkpoint({round, end, "/state/run.pt"});
  sink.on_samples({{round, end, 0, "The ", "session " + std::to_string(session)}, {round, end, 1, "Q: ", "a"}});
}

// metric_rollup without the run id, in key order.
using RollupRow = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, double, double>;
std::vector<RollupRow> rollup_rows(const std::string& path) {
  std::vector<RollupRow> out;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT name, level, site, block, step_first, step_last, n, vmin, vmax, last_value "
                               "FROM metric_rollup ORDER BY name, level, site, block",
                               -1, &st, nullptr),
            SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), sqlite3_column_int64(st, 1),
                     sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
                     sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6), sqlite3_column_double(st, 7),
                     sqlite3_column_double(st, 8), sqlite3_column_double(st, 9));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void expect_same_buckets(RunStore& a, int64_t run_a, RunStore& b, int64_t run_b, const std::string& name, int site) {
  for (int n : {1, 3, 7, 16, 50, 1000}) {
    for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, 1 << 20}, {37, 555}, {400, 799}}) {
      SCOPED_TRACE(name + " site " + std::to_string(site) + " n " + std::to_string(n) + " [" + std::to_string(lo) +
                   ", " + std::to_string(hi) + "]");
      auto got = a.downsample(run_a, name, site, lo, hi, n);
      auto exact = a.downsample_exact(run_a, name, site, lo, hi, n);
      auto ref = b.downsample(run_b, name, site, lo, hi, n);
      ASSERT_TRUE(got && exact && ref);
      ASSERT_EQ(got->size(), exact->size());
      ASSERT_EQ(got->size(), ref->size());
      for (size_t i = 0; i < got->size(); ++i) {
        for (const SeriesBucket* w : {&(*exact)[i], &(*ref)[i]}) {
          EXPECT_EQ((*got)[i].step_first, w->step_first);
          EXPECT_EQ((*got)[i].step_last, w->step_last);
          EXPECT_EQ((*got)[i].count, w->count);
          EXPECT_EQ((*got)[i].min, w->min);
          EXPECT_EQ((*got)[i].max, w->max);
          EXPECT_EQ((*got)[i].last, w->last);
        }
      }
    }
  }
}

TEST(StoreResume, StoppedRunResumesIntoTheSameRecord) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  auto browser = RunStore::open(path);  // the workbench: open on the same file throughout
  ASSERT_TRUE(browser) << browser.error().message;
  int64_t id = -1;
  {  // first session: rounds 0..5 recorded, stopped (SIGINT) during round 5 after saving round 3
    auto rec = RunRecorder::open(path);
    ASSERT_TRUE(rec) << rec.error().message;
    id = (*rec)->begin_run(test::test_run_info("resumable"));
    ASSERT_GT(id, 0);
    for (int round = 0; round < 6; ++round) record_round(**rec, round, /*session=*/0);
    (*rec)->on_run_finished(RunStatus::Stopped, "SIGINT: stopped after round 3");
    ASSERT_TRUE((*rec)->last_error()) << (*rec)->last_error().error().message;
  }
  auto stopped = (*browser)->get_summary(id);
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped->run.status, "stopped");  // the status round-trips through the store
  EXPECT_EQ(stopped->run.message, "SIGINT: stopped after round 3");
  EXPECT_TRUE(stopped->run.finished_at);
  EXPECT_EQ(stopped->last_step, 599);
  auto by_status = (*browser)->list_runs({"", "stopped", "", 0});
  ASSERT_TRUE(by_status);
  ASSERT_EQ(by_status->size(), 1u);
  auto dv_before = (*browser)->data_version();
  ASSERT_TRUE(dv_before);

  {  // second session: the saved state holds rounds 0..3, so rounds 4 and 5 are redone, then 6, 7
    auto rec = RunRecorder::open(path);
    ASSERT_TRUE(rec);
    ASSERT_TRUE((*rec)->resume_run(id));
    EXPECT_EQ((*rec)->current_run(), id);
    auto running = (*browser)->get_run(id);  // the other connection sees it at once
    ASSERT_TRUE(running);
    EXPECT_EQ(running->status, "running");
    EXPECT_FALSE(running->finished_at);
    EXPECT_EQ(running->message, "");
    EXPECT_EQ(running->writer_pid, static_cast<int64_t>(getpid()));
    EXPECT_EQ(running->started_at, stopped->run.started_at);
    EXPECT_NE(*(*browser)->data_version(), *dv_before);

    (*rec)->on_run_started(id, test::test_run_info("resumable"));  // the current run: no new record
    (*rec)->on_event({0.0, -1, "resumed", "resumed after round 3"});
    (*rec)->on_resumed(4);
    ASSERT_TRUE((*rec)->flush());
    auto mid = (*browser)->get_summary(id);  // live summary of the kept rows, not the cached one
    ASSERT_TRUE(mid);
    EXPECT_EQ(mid->last_step, 399);
    ASSERT_TRUE(mid->final_eval_loss);
    EXPECT_DOUBLE_EQ(*mid->final_eval_loss, 4.0 - 3 * 0.1);
    EXPECT_EQ(mid->total_bytes, 4 * 1500);

    for (int round = 4; round < 8; ++round) record_round(**rec, round, /*session=*/1);
    (*rec)->on_run_finished(RunStatus::Finished, "");
    ASSERT_TRUE((*rec)->last_error()) << (*rec)->last_error().error().message;
  }

  auto runs = (*browser)->list_runs();
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u) << "one training run, one record";
  const RunSummary& s = runs->front();
  EXPECT_EQ(s.run.id, id);
  EXPECT_EQ(s.run.status, "finished");
  EXPECT_EQ(s.last_step, 799);
  ASSERT_TRUE(s.final_train_loss && s.final_eval_loss && s.best_eval_loss);
  EXPECT_NEAR(*s.final_train_loss, 5.0 - 0.799 + 0.5 + 0.5, 1e-12);  // mean of sites 0, 1 at step 799
  EXPECT_DOUBLE_EQ(*s.final_eval_loss, 4.0 - 0.7 + 0.5);
  EXPECT_DOUBLE_EQ(*s.best_eval_loss, 4.0 - 0.3);  // round 3, first session (redone rounds are worse)
  EXPECT_EQ(s.total_bytes, 4 * 1500 + 4 * 1502);

  // Rows: rounds 0..3 from the first session, 4..7 from the second, nothing twice.
  auto train = (*browser)->read_series(id, metric::kTrainLoss, 1, 0, 1 << 20);
  ASSERT_TRUE(train);
  ASSERT_EQ(train->size(), 8u * kStepsPerRound);
  for (const SeriesPoint& p : *train) {
    const double session = p.round >= 4 ? 1 : 0;
    ASSERT_DOUBLE_EQ(p.value, 5.0 - p.step * 0.001 + 1 + session * 0.5) << "step " << p.step;
    ASSERT_EQ(p.round, p.step / kStepsPerRound);
  }
  auto site_eval = (*browser)->read_series(id, metric::kSiteEvalLoss, 0, 0, 1 << 20);
  ASSERT_EQ(site_eval->size(), 8u);
  EXPECT_DOUBLE_EQ((*site_eval)[3].value, 4.1 - 0.3);
  EXPECT_DOUBLE_EQ((*site_eval)[4].value, 4.1 - 0.4 + 1);
  auto links = (*browser)->links(id);
  ASSERT_EQ(links->size(), 16u);
  for (const LinkBytes& l : *links) EXPECT_EQ(l.bytes % 10, l.round >= 4 ? 1 : 0) << "round " << l.round;
  EXPECT_EQ((*browser)->placement_rounds(id)->size(), 8u);
  EXPECT_EQ((*browser)->placement(id)->size(), 16u);
  auto load = (*browser)->expert_load(id);
  ASSERT_EQ(load->size(), 16u);
  for (const ExpertLoadEntry& e : *load) EXPECT_EQ(e.tokens % 10, e.round >= 4 ? 1 : 0) << "round " << e.round;
  auto cks = (*browser)->checkpoints(id);
  ASSERT_EQ(cks->size(), 8u);
  for (size_t i = 0; i < cks->size(); ++i) EXPECT_EQ((*cks)[i].round, static_cast<int>(i));
  auto samples = (*browser)->samples(id);  // a redone round's continuations replace the first attempt's
  ASSERT_TRUE(samples) << samples.error().message;
  ASSERT_EQ(samples->size(), 16u);
  for (size_t i = 0; i < samples->size(); ++i) {
    const SampleEntry& e = (*samples)[i];
    EXPECT_EQ(e.round, static_cast<int>(i / 2));
    EXPECT_EQ(e.step, static_cast<long>(i / 2 + 1) * kStepsPerRound - 1);
    EXPECT_EQ(e.prompt_index, static_cast<int>(i % 2));
    if (e.prompt_index == 0) EXPECT_EQ(e.text, e.round >= 4 ? "session 1" : "session 0") << "round " << e.round;
  }
  // Events are the log: rounds 4 and 5 really started twice, and the resume is in it.
  auto events = (*browser)->events(id);
  ASSERT_EQ(events->size(), 6u + 1u + 4u);
  int resumed = 0, round4 = 0;
  for (const RunEvent& e : *events) {
    resumed += e.kind == "resumed";
    round4 += e.text == "round 4";
  }
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(round4, 2);

  // Rollups: identical to a store that recorded only the kept rows, in the same order.
  const std::string ref_path = dir.file("reference.db");
  int64_t ref_id = -1;
  {
    auto rec = RunRecorder::open(ref_path);
    ASSERT_TRUE(rec);
    ref_id = (*rec)->begin_run(test::test_run_info("resumable"));
    for (int round = 0; round < 8; ++round) record_round(**rec, round, round >= 4 ? 1 : 0);
    (*rec)->on_run_finished(RunStatus::Finished, "");
  }
  EXPECT_EQ(rollup_rows(path), rollup_rows(ref_path));
  auto ref = RunStore::open(ref_path);
  ASSERT_TRUE(ref);
  for (const auto& [name, site] : std::vector<std::pair<std::string, int>>{
           {metric::kTrainLoss, 0}, {metric::kTrainLoss, 1}, {metric::kEvalLoss, -1}, {metric::kSiteEvalLoss, 1}}) {
    expect_same_buckets(**browser, id, **ref, ref_id, name, site);
  }
  auto series = (*browser)->metric_series(id);
  auto ref_series = (*ref)->metric_series(ref_id);
  ASSERT_TRUE(series && ref_series);
  ASSERT_EQ(series->size(), ref_series->size());
  for (size_t i = 0; i < series->size(); ++i) {
    EXPECT_EQ((*series)[i].name, (*ref_series)[i].name);
    EXPECT_EQ((*series)[i].n_points, (*ref_series)[i].n_points);
    EXPECT_EQ((*series)[i].last, (*ref_series)[i].last);
  }
}

// The op runs in queue order inside the writer's batch: rows queued before on_resumed are dropped
// when their round is >= from_round, rows queued after it are kept. The whole sequence goes into
// one transaction (no flush, no batch trigger), so the rollups of the dropped rows were still in
// the writer's memory when the rows went.
TEST(StoreResume, OnResumedAppliesInQueueOrder) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  RecorderOptions opt;
  opt.flush_interval = std::chrono::hours(1);
  auto rec = RunRecorder::open(path, opt);
  ASSERT_TRUE(rec);
  RunRecorder& r = **rec;
  const int64_t id = r.begin_run(test::test_run_info("ordering"));
  std::vector<MetricPoint> before, after;
  for (long step = 0; step < 300; ++step) before.push_back(point(metric::kTrainLoss, step, 1.0 + step, 0, step / 100));
  for (long step = 200; step < 300; ++step) after.push_back(point(metric::kTrainLoss, step, -1.0 * step, 0, 2));
  r.on_metrics(before);
  r.on_link_bytes({{2, 0, Direction::Sent, "start_round", 7, 0.0}});
  r.on_checkpoint({1, 199, "/state.pt"});
  r.on_resumed(2);
  r.on_metrics(after);
  r.on_link_bytes({{2, 0, Direction::Sent, "start_round", 9, 0.0}});
  r.on_resumed(-1);  // ignored (logged), deletes nothing
  EXPECT_EQ(r.pending_rows(), 300u + 1 + 1 + 1 + 100 + 1);
  ASSERT_TRUE(r.flush());

  auto store = RunStore::open(path);
  ASSERT_TRUE(store);
  auto pts = (*store)->read_series(id, metric::kTrainLoss, 0, 0, 1000);
  ASSERT_TRUE(pts);
  ASSERT_EQ(pts->size(), 300u);
  for (const SeriesPoint& p : *pts) {
    ASSERT_DOUBLE_EQ(p.value, p.step < 200 ? 1.0 + p.step : -1.0 * p.step) << "step " << p.step;
  }
  auto links = (*store)->links(id);
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ(links->at(0).bytes, 9);
  EXPECT_EQ((*store)->checkpoints(id)->size(), 1u);  // round 1 < 2: kept
  for (int n : {1, 5, 64, 300}) {
    auto got = (*store)->downsample(id, metric::kTrainLoss, 0, 0, 1000, n);
    auto want = (*store)->downsample_exact(id, metric::kTrainLoss, 0, 0, 1000, n);
    ASSERT_TRUE(got && want);
    ASSERT_EQ(got->size(), want->size()) << n;
    for (size_t i = 0; i < got->size(); ++i) {
      EXPECT_EQ((*got)[i].count, (*want)[i].count) << n << " " << i;
      EXPECT_EQ((*got)[i].min, (*want)[i].min) << n << " " << i;
      EXPECT_EQ((*got)[i].max, (*want)[i].max) << n << " " << i;
      EXPECT_EQ((*got)[i].last, (*want)[i].last) << n << " " << i;
    }
  }
  auto series = (*store)->metric_series(id);
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ(series->at(0).n_points, 300);
  EXPECT_DOUBLE_EQ(series->at(0).min, -299.0);
  EXPECT_DOUBLE_EQ(series->at(0).max, 200.0);
}

TEST(StoreResume, MissingRunIsNotFound) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  auto rec = RunRecorder::open(path);
  ASSERT_TRUE(rec);
  const int64_t id = (*rec)->begin_run(test::test_run_info("other"));
  Status s = (*rec)->resume_run(4242);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::NotFound);
  EXPECT_NE(s.error().message.find("4242"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
  EXPECT_EQ((*rec)->current_run(), id) << "a failed resume keeps the current run";
}

void exec_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// Only a run still marked running can have a writer. A finished run whose recorded pid is now
// some live process (the workbench that recorded it and is still open, a reused pid) resumes; a
// running one recorded on another host is refused, this host cannot tell.
TEST(StoreResume, WriterIsCheckedOnlyWhileTheRunIsMarkedRunning) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  int64_t finished = -1, elsewhere = -1;
  {
    auto rec = RunRecorder::open(path);
    ASSERT_TRUE(rec);
    finished = (*rec)->begin_run(test::test_run_info("finished"));
    (*rec)->on_run_finished(RunStatus::Stopped, "SIGINT");
    elsewhere = (*rec)->begin_run(test::test_run_info("elsewhere"));
    ASSERT_TRUE((*rec)->flush());
  }
  const std::string live = std::to_string(getppid());  // alive, not us
  exec_sql(path, "UPDATE runs SET writer_pid = " + live + " WHERE id = " + std::to_string(finished));
  exec_sql(path, "UPDATE runs SET writer_pid = " + live + ", writer_host = 'far-away' WHERE id = " +
                     std::to_string(elsewhere));
  auto rec = RunRecorder::open(path);
  ASSERT_TRUE(rec);
  ASSERT_TRUE((*rec)->resume_run(finished));
  Status s = (*rec)->resume_run(elsewhere);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::Busy);
  EXPECT_NE(s.error().message.find("pid " + live + " on far-away, another machine"), std::string::npos)
      << s.error().message;
  EXPECT_EQ((*rec)->current_run(), finished);
}

// Another live process writes the run: refused with its pid and host; once it is gone (killed,
// so the run is still marked running) the same call takes the run over.
TEST(StoreResume, RefusedWhileAnotherLiveProcessIsTheWriter) {
  test::TempDir dir;
  const std::string path = dir.file("runs.db");
  int id_pipe[2], hold_pipe[2];
  ASSERT_EQ(pipe(id_pipe), 0);
  ASSERT_EQ(pipe(hold_pipe), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the writer: begins a run, reports its id, holds it until the pipe closes
    close(id_pipe[0]);
    close(hold_pipe[1]);
    auto rec = RunRecorder::open(path);
    int64_t id = rec ? (*rec)->begin_run(test::test_run_info("held")) : -1;
    if (rec) (void)(*rec)->flush();
    if (write(id_pipe[1], &id, sizeof id) != sizeof id) _exit(3);
    char c;
    while (read(hold_pipe[0], &c, 1) > 0) {
    }
    _exit(0);  // no destructors: the run stays marked running, as after a crash
  }
  close(id_pipe[1]);
  close(hold_pipe[0]);
  int64_t id = -1;
  ASSERT_EQ(read(id_pipe[0], &id, sizeof id), static_cast<ssize_t>(sizeof id));
  close(id_pipe[0]);
  ASSERT_GT(id, 0);

  auto rec = RunRecorder::open(path);  // the child is alive: nothing is marked interrupted
  ASSERT_TRUE(rec) << rec.error().message;
  Status s = (*rec)->resume_run(id);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::Busy);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const std::string want = "run " + std::to_string(id) + " is still being written by pid " + std::to_string(child) +
                           " on " + host;
  EXPECT_NE(s.error().message.find(want), std::string::npos) << s.error().message;
  EXPECT_EQ((*rec)->current_run(), -1);
  auto store = RunStore::open(path);
  ASSERT_TRUE(store);
  EXPECT_EQ((*store)->get_run(id)->writer_pid, static_cast<int64_t>(child)) << "a refused resume changes nothing";

  close(hold_pipe[1]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);  // reaped: kill(pid, 0) no longer sees it
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE((*rec)->resume_run(id)) << "the writer is gone";
  EXPECT_EQ((*rec)->current_run(), id);
  auto run = (*store)->get_run(id);
  EXPECT_EQ(run->status, "running");
  EXPECT_EQ(run->writer_pid, static_cast<int64_t>(getpid()));
}

}  // namespace
}  // namespace fomoe
