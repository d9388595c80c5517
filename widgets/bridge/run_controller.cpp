#include "bridge/run_controller.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QPointer>

#include <chrono>
#include <exception>
#include <filesystem>

#include "fomoe_git_revision.h"  // generated at build time (cmake/git_revision.cmake)
#include "fomoe/base/log.h"
#include "fomoe/net/event_stream.h"
#include "fomoe/net/keys.h"
#include "fomoe/store/run_recorder.h"
#include "fomoe/store/run_store.h"
#ifndef FOMOE_BRIDGE_NO_TRAINING
#include "fomoe/federation/local_federation.h"
#include "fomoe/train/single_site.h"
#endif

namespace fomoe::gui {

RunController::RunController(QObject* parent) : QObject(parent), bridge_(new EventBridge(this)) {
  qRegisterMetaType<fomoe::gui::RunController::State>();
  dbPath_ = QString::fromStdString(default_db_path());
  cliPath_ = findCli();
}

RunController::~RunController() {
  cancel();
  if (thread_) {
    thread_->wait();
    delete thread_;
    thread_ = nullptr;
  }
}

QString RunController::findCli() {
  const QByteArray env = qgetenv("FOMOE_CLI");
  if (!env.isEmpty()) return QString::fromLocal8Bit(env);
  const QString dir = QCoreApplication::applicationDirPath();
  for (const QString& c : {dir + "/fomoe", dir + "/../fomoe", dir + "/../../app/fomoe", dir + "/../app/fomoe"}) {
    QFileInfo fi(c);
    if (fi.exists() && fi.isExecutable()) return fi.canonicalFilePath();
  }
  return QString();
}

QString RunController::stateName(State s) {
  switch (s) {
    case State::Idle: return QStringLiteral("idle");
    case State::Starting: return QStringLiteral("starting");
    case State::Running: return QStringLiteral("running");
    case State::Finished: return QStringLiteral("finished");
    case State::Failed: return QStringLiteral("failed");
    case State::Cancelled: return QStringLiteral("cancelled");
    case State::Stopped: return QStringLiteral("stopped");
  }
  return QString();
}

void RunController::setState(State s, const QString& message) {
  state_ = s;
  emit runStateChanged(s, message);
}

bool RunController::start(const ExperimentConfig& cfg) { return launch(cfg, ResumePoint{}); }

// The run directory of a workbench federation run: its keys, agent logs and coordinator state.
static std::filesystem::path workbench_run_dir(const ExperimentConfig& cfg, qint64 id) {
  return std::filesystem::path(cfg.run.out_dir) / (cfg.run.name + "-" + std::to_string(id));
}

bool RunController::resume(qint64 runId) {
  try {
    if (thread_) {
      emit errorOccurred(tr("A run is already in progress; stop it first."));
      return false;
    }
    StoreOptions readOnly;
    readOnly.read_only = true;
    auto store = RunStore::open(dbPath_.toStdString(), readOnly);
    if (!store) {
      emit errorOccurred(tr("cannot resume run %1: %2").arg(runId).arg(QString::fromStdString(store.error().message)));
      return false;
    }
    auto run = (*store)->get_run(runId);
    if (!run) {
      emit errorOccurred(tr("cannot resume run %1: %2").arg(runId).arg(QString::fromStdString(run.error().message)));
      return false;
    }
    if (run->status == "finished") {
      emit errorOccurred(tr("Run %1 finished: there is nothing to resume.").arg(runId));
      return false;
    }
    auto cfg = parse_experiment(run->config_text, "run " + std::to_string(runId) + "'s recorded config");
    if (!cfg) {
      emit errorOccurred(tr("cannot resume run %1: %2").arg(runId).arg(QString::fromStdString(cfg.error().message)));
      return false;
    }
    ResumePoint r;
    r.runId = runId;
    r.wallOffsetS = run->seconds_since_start();
    if (cfg->run.method == Method::Single) {
      auto cps = (*store)->checkpoints(runId);
      if (cps && !cps->empty()) r.checkpoint = cps->back().path;
      if (r.checkpoint.empty() || !std::filesystem::exists(r.checkpoint)) {
        emit errorOccurred(tr("Run %1 left no checkpoint to go on from%2.")
                               .arg(runId)
                               .arg(r.checkpoint.empty() ? QString() : tr(" (%1 is gone)").arg(QString::fromStdString(r.checkpoint))));
        return false;
      }
    } else {
      const auto state = workbench_run_dir(*cfg, runId) / "coordinator.pt";
      if (!std::filesystem::exists(state)) {
        emit errorOccurred(tr("Run %1 has no saved coordinator state at %2 (no round completed, or it was not started "
                              "from this workbench: resume it with `fomoe run --resume`).")
                               .arg(runId)
                               .arg(QString::fromStdString(state.string())));
        return false;
      }
    }
    return launch(*cfg, r);
  } catch (const std::exception& e) {
    emit errorOccurred(tr("cannot resume run %1: %2").arg(runId).arg(e.what()));
    return false;
  }
}

bool RunController::launch(const ExperimentConfig& cfg, const ResumePoint& resume) {
  try {
    if (thread_) {
      emit errorOccurred(tr("A run is already in progress; stop it first."));
      return false;
    }
#ifdef FOMOE_BRIDGE_NO_TRAINING
    (void)resume;
    emit errorOccurred(tr("This build has no LibTorch: it can browse runs but not train. Rebuild with -DFOMOE_WITH_TORCH=ON."));
    return false;
#else
    if (Status st = validate_experiment(cfg); !st) {
      emit errorOccurred(QString::fromStdString(st.error().message));
      return false;
    }
    if (cfg.run.method != Method::Single && cfg.federation.agents.empty() && cliPath_.isEmpty()) {
      emit errorOccurred(tr("Cannot find the `fomoe` CLI binary that local sites run as agents: set FOMOE_CLI or put "
                            "fomoe beside fomoe-workbench."));
      return false;
    }
    cancel_ = false;
    runId_ = -1;
    setState(State::Starting, resume.runId >= 0 ? tr("resuming run %1").arg(resume.runId)
                                                 : tr("starting %1").arg(QString::fromStdString(cfg.run.name)));
    thread_ = QThread::create([this, cfg, resume] { work(cfg, resume); });
    thread_->setObjectName(QStringLiteral("fomoe-run"));
    connect(thread_, &QThread::finished, this, [this] {
      if (thread_) {
        thread_->deleteLater();
        thread_ = nullptr;
      }
    });
    thread_->start();
    return true;
#endif
  } catch (const std::exception& e) {
    emit errorOccurred(tr("cannot start the run: %1").arg(e.what()));
    return false;
  }
}

void RunController::cancel() { cancel_ = true; }

bool RunController::attach(const QString& address, const QString& keyDir, const QString& keyName) {
  try {
    if (thread_) {
      emit errorOccurred(tr("A run is already in progress; stop it first."));
      return false;
    }
    if (!address.startsWith("tcp://") && !address.startsWith("ipc://") && !address.startsWith("inproc://")) {
      emit errorOccurred(tr("'%1' is not a ZeroMQ address: give the coordinator's event stream as tcp://HOST:PORT").arg(address));
      return false;
    }
    net::ClientKeys keys;
    const bool curve = !keyDir.isEmpty();
    if (curve) {
      if (keyName.isEmpty()) {
        emit errorOccurred(tr("Give the watcher's name too: the key directory holds NAME.key and server.pub."));
        return false;
      }
      auto k = net::load_client_keys(keyDir.toStdString(), keyName.toStdString());
      if (!k) {
        emit errorOccurred(tr("cannot attach: %1").arg(QString::fromStdString(k.error().message)));
        return false;
      }
      keys = *k;
    }
    cancel_ = false;
    attached_ = true;
    runId_ = -1;
    setState(State::Starting, tr("attaching to %1").arg(address));
    thread_ = QThread::create([this, address, curve, keys] {
      watch(address, curve, keys.keys.public_key, keys.keys.secret_key, keys.server_public_key);
    });
    thread_->setObjectName(QStringLiteral("fomoe-watch"));
    connect(thread_, &QThread::finished, this, [this] {
      attached_ = false;
      if (thread_) {
        thread_->deleteLater();
        thread_ = nullptr;
      }
    });
    thread_->start();
    return true;
  } catch (const std::exception& e) {
    emit errorOccurred(tr("cannot attach: %1").arg(e.what()));
    return false;
  }
}

void RunController::watch(QString address, bool curve, std::string clientPublic, std::string clientSecret,
                          std::string serverPublic) {
  auto post = [this](auto fn) { QMetaObject::invokeMethod(this, fn, Qt::QueuedConnection); };
  // Forwards to the bridge and notices the end of the run and its id.
  struct Watcher : RunSink {
    RunSink* out = nullptr;
    RunController* self = nullptr;
    bool finished = false;
    RunStatus status = RunStatus::Finished;
    void on_run_started(int64_t id, const RunInfo& i) override {
      out->on_run_started(id, i);
      QMetaObject::invokeMethod(self, [s = self, id] {
        s->runId_ = id;
        emit s->runIdAssigned(id);
      }, Qt::QueuedConnection);
    }
    void on_metrics(const std::vector<MetricPoint>& p) override { out->on_metrics(p); }
    void on_link_bytes(const std::vector<LinkBytes>& l) override { out->on_link_bytes(l); }
    void on_placement(const std::vector<PlacementEntry>& p) override { out->on_placement(p); }
    void on_expert_load(const std::vector<ExpertLoadEntry>& l) override { out->on_expert_load(l); }
    void on_event(const RunEvent& e) override { out->on_event(e); }
    void on_checkpoint(const CheckpointEntry& c) override { out->on_checkpoint(c); }
    void on_samples(const std::vector<SampleEntry>& s) override { out->on_samples(s); }
    void on_run_finished(RunStatus st, const std::string& m) override {
      out->on_run_finished(st, m);
      finished = true;
      status = st;
    }
  };
  try {
    net::EventSubscriberOptions o;
    o.connect_address = address.toStdString();
    if (curve) {
      o.curve = true;
      o.client_keys = net::CurveKeyPair{std::move(clientPublic), std::move(clientSecret)};
      o.server_public_key = std::move(serverPublic);
    }
    auto sub = net::EventSubscriber::create(o);
    if (!sub) {
      post([this, m = QString::fromStdString(sub.error().message)] { emit errorOccurred(m); setState(State::Failed, m); });
      return;
    }
    post([this, address] { setState(State::Running, tr("watching %1 (remote coordinator)").arg(address)); });
    Watcher w;
    w.out = bridge_;
    w.self = this;
    // ZeroMQ says nothing when a handshake fails: after a few quiet seconds, say what the
    // socket monitor saw (no publisher, keys needed, key refused), once per new reason.
    const auto start = std::chrono::steady_clock::now();
    bool any = false;
    std::string said;
    while (!cancel_.load() && !w.finished) {
      any = (*sub)->pump(w, std::chrono::milliseconds(200)) > 0 || any;
      if (any || std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) continue;
      std::string problem = (*sub)->connection_problem();
      if (problem.empty() || problem == said) continue;
      said = problem;
      post([this, address, m = QString::fromStdString(problem)] {
        const QString text = tr("nothing arrived from %1 yet: %2").arg(address, m);
        emit errorOccurred(text);
        if (attached_ && thread_) setState(State::Running, text);
      });
    }
    const bool finished = w.finished;
    const RunStatus st = w.status;
    post([this, finished, st, address] {
      bridge_->flushNow();
      if (!finished) setState(State::Cancelled, tr("detached from %1").arg(address));
      else setState(st == RunStatus::Finished                                    ? State::Finished
                    : st == RunStatus::Cancelled ? State::Cancelled
                    : st == RunStatus::Stopped   ? State::Stopped  // on request, resumable where it runs
                                                 : State::Failed,
                    tr("remote run %1 ended: %2").arg(runId_).arg(run_status_name(st)));
    });
  } catch (const std::exception& e) {
    FOMOE_LOG_ERROR("gui", "watch failed: %s", e.what());
    post([this, m = QString::fromUtf8(e.what())] { emit errorOccurred(m); setState(State::Failed, m); });
  }
}

bool RunController::wait(int timeoutMs) {
  if (!thread_) return true;
  QThread* t = thread_;
  const bool ok = t->wait(QDeadlineTimer(timeoutMs));
  QCoreApplication::sendPostedEvents(this);  // deliver the worker's queued state changes
  return ok;
}

void RunController::postProgress(int done, int total, double trainLoss, double evalLoss, double elapsedS, bool force) {
  const qint64 now = QDateTime::currentMSecsSinceEpoch();
  if (!force && now - lastProgressMs_.load() < 100) return;  // at most 10 updates a second
  lastProgressMs_ = now;
  QMetaObject::invokeMethod(
      this, [this, done, total, trainLoss, evalLoss, elapsedS] { emit progressChanged(done, total, trainLoss, evalLoss, elapsedS); },
      Qt::QueuedConnection);
}

void RunController::work(ExperimentConfig cfg, ResumePoint resume) {
#ifndef FOMOE_BRIDGE_NO_TRAINING
  auto post = [this](auto fn) { QMetaObject::invokeMethod(this, fn, Qt::QueuedConnection); };
  auto fail = [&](const QString& msg) {
    post([this, msg] {
      emit errorOccurred(msg);
      setState(State::Failed, msg);
    });
  };
  try {
    const std::string db = cfg.run.db.empty() ? dbPath_.toStdString() : cfg.run.db;
    auto rec = RunRecorder::open(db);
    if (!rec) {
      fail(QString::fromStdString(rec.error().message));
      return;
    }
    std::unique_ptr<RunRecorder> recorder = std::move(*rec);
    const int nSites = cfg.run.method == Method::Single ? 1 : cfg.federation.sites;
    RunInfo info;
    info.name = cfg.run.name;
    info.method = method_name(cfg.run.method);
    info.config_text = to_toml(cfg);
    info.git_revision = FOMOE_GIT_REVISION;  // the workbench's own build
    info.n_sites = nSites;
    const bool resuming = resume.runId >= 0;
    int64_t id = -1;
    if (resuming) {
      // The same record goes on (a second process writing it is refused by the recorder).
      if (Status st = recorder->resume_run(resume.runId); !st) {
        fail(tr("cannot resume run %1: %2").arg(resume.runId).arg(QString::fromStdString(st.error().message)));
        return;
      }
      id = resume.runId;
    } else {
      id = recorder->begin_run(info);
    }
    if (id < 0) {
      fail(tr("cannot record the run in %1: %2")
               .arg(QString::fromStdString(db))
               .arg(recorder->last_error().is_ok() ? QString("unknown error")
                                                   : QString::fromStdString(recorder->last_error().error().message)));
      return;
    }
    bridge_->setForward(recorder.get());
    bridge_->on_run_started(id, info);  // the recorder sees its own id and only the GUI learns it
    post([this, id, resuming, name = QString::fromStdString(cfg.run.name)] {
      runId_ = id;
      if (resuming) emit runResumed(id);
      else emit runIdAssigned(id);
      setState(State::Running, resuming ? tr("run %1 (%2) resumed").arg(id).arg(name) : tr("run %1 (%2) running").arg(id).arg(name));
    });

    QString error;
    bool stopped = false;
    QString stoppedAt;
    if (cfg.run.method == Method::Single) {
      if (resuming)
        bridge_->on_event(RunEvent{resume.wallOffsetS, -1, "resumed", "resumed from " + resume.checkpoint});
      auto r = run_single_site(cfg, bridge_, [this](const TrainProgress& p) {
        postProgress(static_cast<int>(p.step), static_cast<int>(p.total_steps), p.train_loss, p.eval_loss, p.elapsed_s, false);
        return !cancel_.load();
      }, resume.checkpoint, resume.wallOffsetS);
      if (!r) error = QString::fromStdString(r.error().message);
      else if (r->stopped) {
        stopped = true;
        stoppedAt = tr("after step %1 of %2").arg(r->steps).arg(cfg.train.steps);
      }
    } else {
      LocalFederationOptions o;
      o.self_exe = cliPath_.toStdString();
      o.run_dir = workbench_run_dir(cfg, id).string();
      o.sink = bridge_;
      o.run_id = static_cast<uint64_t>(id);
      o.resume = resuming;
      o.wall_offset_s = resume.wallOffsetS;
      o.stop_now = &cancel_;  // Stop: at the next safe point, the state of the last completed round kept
      auto r = run_federation(cfg, o, [this](const RoundProgress& p) {
        postProgress(p.round, p.total_rounds, p.train_loss, p.eval_loss, p.elapsed_s, true);
        return !cancel_.load();
      });
      if (!r) error = QString::fromStdString(r.error().message);
      else if (r->stopped) {
        stopped = true;
        stoppedAt = tr("after round %1").arg(r->rounds);
      }
    }
    const RunStatus status = !error.isEmpty() ? RunStatus::Failed : stopped ? RunStatus::Stopped : RunStatus::Finished;
    const QString why = stopped ? tr("stopped from the workbench %1").arg(stoppedAt) : error;
    bridge_->on_run_finished(status, why.toStdString());
    bridge_->setForward(nullptr);
    recorder.reset();  // drains the writer queue before the GUI re-reads the store
    post([this, status, why] {
      bridge_->flushNow();
      if (status == RunStatus::Failed) {
        emit errorOccurred(why);
        setState(State::Failed, why);
      } else if (status == RunStatus::Stopped) {
        setState(State::Stopped, tr("run %1 %2; Resume in the run browser goes on from there").arg(runId_).arg(why));
      } else {
        setState(State::Finished, tr("run %1 finished").arg(runId_));
      }
    });
  } catch (const std::exception& e) {
    bridge_->setForward(nullptr);
    FOMOE_LOG_ERROR("gui", "run worker failed: %s", e.what());
    fail(tr("the run failed: %1").arg(e.what()));
  }
#endif
}

}  // namespace fomoe::gui
