#include "fomoe/store/run_recorder.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "fomoe/base/log.h"
#include "store_internal.h"

namespace fomoe {

namespace {

// One queued call. Only the fields of its kind are used.
struct Op {
  enum Kind { Metrics, Links, Placement, Load, Event, Checkpoint, Samples, Finish, Resume } kind = Metrics;
  int64_t run = -1;
  std::vector<MetricPoint> metrics;
  std::vector<LinkBytes> links;
  std::vector<PlacementEntry> placement;
  std::vector<ExpertLoadEntry> load;
  RunEvent event;
  CheckpointEntry checkpoint;
  std::vector<SampleEntry> samples;
  RunStatus status = RunStatus::Finished;
  std::string message;
  double finished_at = 0.0;
  int from_round = 0;  // Resume

  size_t rows() const {
    switch (kind) {
      case Metrics: return metrics.size();
      case Links: return links.size();
      case Placement: return placement.size();
      case Load: return load.size();
      case Samples: return samples.size();
      default: return 1;
    }
  }
};

}  // namespace

struct RunRecorder::Impl {
  RecorderOptions options;
  store_detail::OpenedDb opened;
  std::unique_ptr<store_detail::RowWriter> writer;
  std::mutex db_mu;  // guards the connection (writer thread, begin_run, resume_run)

  mutable std::mutex mu;
  std::condition_variable cv;       // wakes the writer
  std::condition_variable done_cv;  // wakes flush()
  std::vector<Op> queue;            // enqueued, not yet taken by the writer
  std::vector<Op> kept;             // taken, not yet committed (after an error)
  size_t queued_rows = 0;
  size_t kept_rows = 0;
  uint64_t enqueued_seq = 0;   // ops ever enqueued
  uint64_t attempts_started = 0;
  uint64_t attempts_finished = 0;
  uint64_t written_seq = 0;    // ops committed
  int flush_waiters = 0;
  bool stop = false;
  Status last_error;
  std::atomic<int64_t> current_run{-1};
  bool warned_no_run = false;
  std::thread thread;

  void enqueue(Op op) {
    std::unique_lock<std::mutex> lock(mu);
    queued_rows += op.rows();
    queue.push_back(std::move(op));
    ++enqueued_seq;
    if (queued_rows >= options.batch_rows) cv.notify_one();
  }

  bool need_run(const char* what) {
    if (current_run.load() >= 0) return true;
    std::lock_guard<std::mutex> lock(mu);
    if (!warned_no_run) {
      warned_no_run = true;
      FOMOE_LOG_ERROR("store", "RunRecorder(%s): %s before begin_run()/on_run_started(); these rows are not "
                      "recorded (call begin_run first)", opened.db->path().c_str(), what);
    }
    return false;
  }

  Status write(const std::vector<Op>& ops) {
    std::lock_guard<std::mutex> lock(db_mu);
    store_detail::Db& db = *opened.db;
    Status s = db.exec("BEGIN IMMEDIATE", "starting a write batch");
    if (!s) return s;
    for (const Op& op : ops) {
      switch (op.kind) {
        case Op::Metrics: s = writer->metrics(op.run, op.metrics); break;
        case Op::Links: s = writer->links(op.run, op.links); break;
        case Op::Placement: s = writer->placement(op.run, op.placement); break;
        case Op::Load: s = writer->expert_load(op.run, op.load); break;
        case Op::Event: s = writer->event(op.run, op.event); break;
        case Op::Checkpoint: s = writer->checkpoint(op.run, op.checkpoint); break;
        case Op::Samples: s = writer->samples(op.run, op.samples); break;
        case Op::Finish: s = writer->finish_run(op.run, op.status, op.message, op.finished_at); break;
        case Op::Resume: s = writer->resume(op.run, op.from_round); break;
      }
      if (!s) break;
    }
    if (s) s = writer->finish_batch();
    if (s) s = db.exec("COMMIT", "committing a write batch");
    if (!s) {
      writer->discard_batch();
      (void)db.exec("ROLLBACK", "rolling back a failed write batch");
    }
    return s;
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mu);
    bool failing = false;
    int final_attempts = 0;
    for (;;) {
      const auto wait = failing ? options.retry_interval : options.flush_interval;
      cv.wait_for(lock, wait, [&] {
        return stop || (flush_waiters > 0 && written_seq < enqueued_seq) ||
               (!failing && queued_rows >= options.batch_rows);
      });
      if (queue.empty() && kept.empty()) {
        if (stop) return;
        continue;
      }
      const uint64_t seq = enqueued_seq;
      ++attempts_started;
      for (Op& op : queue) kept.push_back(std::move(op));
      kept_rows += queued_rows;
      queue.clear();
      queued_rows = 0;
      lock.unlock();
      Status s = write(kept);
      lock.lock();
      ++attempts_finished;
      if (s) {
        kept.clear();
        kept_rows = 0;
        written_seq = seq;
        if (failing) {
          FOMOE_LOG_INFO("store", "writing to %s works again; kept rows are now committed",
                         opened.db->path().c_str());
        }
        failing = false;
        last_error = Status::ok();
      } else {
        last_error = s;
        FOMOE_LOG_ERROR("store", "could not write %zu rows to %s: %s (kept in memory, retrying)", kept_rows,
                        opened.db->path().c_str(), s.error().message.c_str());
        failing = true;
        if (stop && ++final_attempts >= options.final_drain_attempts) {
          FOMOE_LOG_ERROR("store", "giving up on %zu rows for %s at shutdown: %s", kept_rows,
                          opened.db->path().c_str(), s.error().message.c_str());
          done_cv.notify_all();
          return;
        }
      }
      done_cv.notify_all();
    }
  }
};

RunRecorder::RunRecorder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Expected<std::unique_ptr<RunRecorder>> RunRecorder::open(const std::string& path, const RecorderOptions& options) {
  auto opened = store_detail::open_database(path, options.store);
  if (!opened) return opened.error();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->opened = std::move(*opened);
  impl->writer = std::make_unique<store_detail::RowWriter>(*impl->opened.db);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<RunRecorder>(new RunRecorder(std::move(impl)));
}

RunRecorder::~RunRecorder() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int64_t RunRecorder::begin_run(const RunInfo& info) {
  Expected<int64_t> id = make_error(ErrorCode::Internal, "");
  {
    std::lock_guard<std::mutex> lock(impl_->db_mu);
    id = store_detail::insert_run(*impl_->opened.db, info);
  }
  if (!id) {
    FOMOE_LOG_ERROR("store", "%s", id.error().message.c_str());
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->last_error = id.error();
    return -1;
  }
  impl_->current_run.store(*id);
  return *id;
}

Status RunRecorder::resume_run(int64_t run_id) {
  // Queued rows first: a kept (unwritten) run end of this run must not land after the resume.
  Status s = flush();
  if (!s) {
    FOMOE_LOG_ERROR("store", "not resuming run %lld: rows queued before could not be written: %s",
                    static_cast<long long>(run_id), s.error().message.c_str());
    return s;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->db_mu);
    s = store_detail::reopen_run(*impl_->opened.db, run_id);
  }
  if (!s) {
    FOMOE_LOG_ERROR("store", "%s", s.error().message.c_str());
    return s;
  }
  impl_->current_run.store(run_id);
  FOMOE_LOG_INFO("store", "resuming run %lld in %s", static_cast<long long>(run_id), path().c_str());
  return Status::ok();
}

int64_t RunRecorder::current_run() const { return impl_->current_run.load(); }

void RunRecorder::on_run_started(int64_t run_id, const RunInfo& info) {
  if (run_id >= 0 && run_id == impl_->current_run.load()) return;
  begin_run(info);
}

void RunRecorder::on_metrics(const std::vector<MetricPoint>& points) {
  if (points.empty() || !impl_->need_run("metrics")) return;
  Op op;
  op.kind = Op::Metrics;
  op.run = impl_->current_run.load();
  op.metrics = points;
  impl_->enqueue(std::move(op));
}

void RunRecorder::on_link_bytes(const std::vector<LinkBytes>& links) {
  if (links.empty() || !impl_->need_run("link bytes")) return;
  Op op;
  op.kind = Op::Links;
  op.run = impl_->current_run.load();
  op.links = links;
  impl_->enqueue(std::move(op));
}

void RunRecorder::on_placement(const std::vector<PlacementEntry>& placement) {
  if (placement.empty() || !impl_->need_run("placement")) return;
  Op op;
  op.kind = Op::Placement;
  op.run = impl_->current_run.load();
  op.placement = placement;
  impl_->enqueue(std::move(op));
}

void RunRecorder::on_expert_load(const std::vector<ExpertLoadEntry>& load) {
  if (load.empty() || !impl_->need_run("expert load")) return;
  Op op;
  op.kind = Op::Load;
  op.run = impl_->current_run.load();
  op.load = load;
  impl_->enqueue(std::move(op));
}

void RunRecorder::on_event(const RunEvent& event) {
  if (!impl_->need_run("an event")) return;
  Op op;
  op.kind = Op::Event;
  op.run = impl_->current_run.load();
  op.event = event;
  impl_->enqueue(std::move(op));
}

void RunRecorder::on_checkpoint(const CheckpointEntry& checkpoint) {
  if (!impl_->need_run("a checkpoint")) return;
  Op op;
  op.kind = Op::Checkpoint;
  op.run = impl_->current_run.load();
  op.checkpoint = checkpoint;
  impl_->enqueue(std::move(op));
}

void RunRecorder::on_samples(const std::vector<SampleEntry>& samples) {
  if (samples.empty() || !impl_->need_run("samples")) return;
  Op op;
  op.kind = Op::Samples;
  op.run = impl_->current_run.load();
  op.samples = samples;
  impl_->enqueue(std::move(op));
}

void RunRecorder::on_run_finished(RunStatus status, const std::string& message) {
  if (!impl_->need_run("the run end")) return;
  Op op;
  op.kind = Op::Finish;
  op.run = impl_->current_run.load();
  op.status = status;
  op.message = message;
  op.finished_at = store_detail::unix_now();
  impl_->enqueue(std::move(op));
  Status s = flush();
  if (!s) FOMOE_LOG_ERROR("store", "run end not yet recorded: %s", s.error().message.c_str());
}

void RunRecorder::on_resumed(int from_round) {
  if (!impl_->need_run("a resume")) return;
  if (from_round < 0) {
    FOMOE_LOG_ERROR("store", "RunRecorder(%s): on_resumed(%d) ignored: rounds count from 0", path().c_str(), from_round);
    return;
  }
  Op op;
  op.kind = Op::Resume;
  op.run = impl_->current_run.load();
  op.from_round = from_round;
  impl_->enqueue(std::move(op));
}

Status RunRecorder::flush() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  const uint64_t target = impl_->enqueued_seq;
  if (impl_->written_seq >= target) return Status::ok();
  const uint64_t attempt = impl_->attempts_started + 1;  // one that starts after this call
  ++impl_->flush_waiters;
  impl_->cv.notify_one();
  impl_->done_cv.wait(lock, [&] {
    return impl_->written_seq >= target || impl_->attempts_finished >= attempt || !impl_->thread.joinable();
  });
  --impl_->flush_waiters;
  if (impl_->written_seq >= target) return Status::ok();
  return impl_->last_error;
}

Status RunRecorder::last_error() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->last_error;
}

size_t RunRecorder::pending_rows() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->queued_rows + impl_->kept_rows;
}

const std::string& RunRecorder::path() const { return impl_->opened.db->path(); }

void RunRecorder::sync() {
  if (auto st = flush(); !st) FOMOE_LOG_WARN("store", "run %lld not yet durable: %s", static_cast<long long>(current_run()), st.error().message.c_str());
}

}  // namespace fomoe
