#include "bridge/event_bridge.h"

#include <exception>

#include "fomoe/base/log.h"

namespace fomoe::gui {

void registerBridgeTypes() {
  static const bool done = [] {
    qRegisterMetaType<fomoe::MetricPoint>();
    qRegisterMetaType<fomoe::LinkBytes>();
    qRegisterMetaType<fomoe::PlacementEntry>();
    qRegisterMetaType<fomoe::ExpertLoadEntry>();
    qRegisterMetaType<fomoe::RunEvent>();
    qRegisterMetaType<fomoe::SampleEntry>();
    qRegisterMetaType<QVector<fomoe::SampleEntry>>();
    qRegisterMetaType<QVector<fomoe::MetricPoint>>();
    qRegisterMetaType<QVector<fomoe::LinkBytes>>();
    qRegisterMetaType<QVector<fomoe::PlacementEntry>>();
    qRegisterMetaType<QVector<fomoe::ExpertLoadEntry>>();
    return true;
  }();
  (void)done;
}

EventBridge::EventBridge(QObject* parent, int flushIntervalMs) : QObject(parent) {
  registerBridgeTypes();
  timer_.setInterval(flushIntervalMs);
  timer_.setTimerType(Qt::CoarseTimer);
  connect(&timer_, &QTimer::timeout, this, &EventBridge::flushNow);
  timer_.start();
}

EventBridge::~EventBridge() = default;

void EventBridge::setForward(RunSink* forward) { forward_.store(forward); }

void EventBridge::on_run_started(int64_t run_id, const RunInfo& info) {
  if (auto* f = forward_.load()) f->on_run_started(run_id, info);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.started = true;
  pending_.runId = run_id;
  pending_.info = info;
}

void EventBridge::on_metrics(const std::vector<MetricPoint>& points) {
  if (auto* f = forward_.load()) f->on_metrics(points);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& p : points) pending_.metrics.push_back(p);
}

void EventBridge::on_link_bytes(const std::vector<LinkBytes>& links) {
  if (auto* f = forward_.load()) f->on_link_bytes(links);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& l : links) pending_.links.push_back(l);
}

void EventBridge::on_placement(const std::vector<PlacementEntry>& placement) {
  if (auto* f = forward_.load()) f->on_placement(placement);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& p : placement) pending_.placement.push_back(p);
}

void EventBridge::on_expert_load(const std::vector<ExpertLoadEntry>& load) {
  if (auto* f = forward_.load()) f->on_expert_load(load);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& e : load) pending_.load.push_back(e);
}

void EventBridge::on_event(const RunEvent& event) {
  if (auto* f = forward_.load()) f->on_event(event);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.events.push_back(event);
}

void EventBridge::on_checkpoint(const CheckpointEntry& checkpoint) {
  if (auto* f = forward_.load()) f->on_checkpoint(checkpoint);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.events.push_back(RunEvent{-1.0, -1, "checkpoint", "checkpoint at step " + std::to_string(checkpoint.step) + ": " + checkpoint.path});
}

void EventBridge::on_samples(const std::vector<SampleEntry>& samples) {
  if (auto* f = forward_.load()) f->on_samples(samples);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& s : samples) pending_.samples.push_back(s);
}

void EventBridge::on_run_finished(RunStatus status, const std::string& message) {
  if (auto* f = forward_.load()) f->on_run_finished(status, message);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.finished = true;
  pending_.status = status;
  pending_.message = message;
}

void EventBridge::flushNow() {
  Pending batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_.empty()) return;
    std::swap(batch, pending_);
  }
  ++flushes_;
  // Nothing may leave a slot: receivers are widgets, but guard anyway and report.
  try {
    if (batch.started)
      emit runStarted(batch.runId, QString::fromStdString(batch.info.name), QString::fromStdString(batch.info.method),
                      batch.info.n_sites);
    if (!batch.placement.isEmpty()) emit placementArrived(batch.placement);
    if (!batch.metrics.isEmpty()) emit metricsArrived(batch.metrics);
    if (!batch.links.isEmpty()) emit linkBytesArrived(batch.links);
    if (!batch.load.isEmpty()) emit expertLoadArrived(batch.load);
    for (const auto& e : batch.events) emit eventArrived(e);
    if (!batch.samples.isEmpty()) emit samplesArrived(batch.samples);
    if (batch.finished) emit runFinished(static_cast<int>(batch.status), QString::fromStdString(batch.message));
  } catch (const std::exception& e) {
    FOMOE_LOG_ERROR("gui", "event flush failed: %s", e.what());
  }
}

}  // namespace fomoe::gui
