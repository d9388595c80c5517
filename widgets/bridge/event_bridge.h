// EventBridge: the RunSink the engine talks to during a run. Producer threads only append to a
// locked buffer (and forward to the recorder); a GUI-thread timer flushes the buffer every
// ~75 ms as batched signals, so widgets never see the training thread and never stall.
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>
#include <QVector>

#include <atomic>
#include <mutex>

#include "bridge/bridge_types.h"

namespace fomoe::gui {

class EventBridge : public QObject, public RunSink {
  Q_OBJECT
 public:
  explicit EventBridge(QObject* parent = nullptr, int flushIntervalMs = 75);
  ~EventBridge() override;

  /// Sink that also receives every call, on the producer's thread (the run recorder). Set it
  /// before a run starts and clear it after; not owned.
  void setForward(RunSink* forward);

  // RunSink: any thread, never blocks on the GUI.
  void on_run_started(int64_t run_id, const RunInfo& info) override;
  void on_metrics(const std::vector<MetricPoint>& points) override;
  void on_link_bytes(const std::vector<LinkBytes>& links) override;
  void on_placement(const std::vector<PlacementEntry>& placement) override;
  void on_expert_load(const std::vector<ExpertLoadEntry>& load) override;
  void on_event(const RunEvent& event) override;
  void on_checkpoint(const CheckpointEntry& checkpoint) override;
  void on_samples(const std::vector<SampleEntry>& samples) override;
  void on_run_finished(RunStatus status, const std::string& message) override;

  /// Emits whatever is buffered now (GUI thread). The timer calls it; tests may too.
  void flushNow();
  int flushIntervalMs() const { return timer_.interval(); }
  /// Number of flushes that emitted something (for tests and the bench).
  int flushCount() const { return flushes_; }

 signals:
  void runStarted(qint64 runId, const QString& name, const QString& method, int nSites);
  void metricsArrived(const QVector<fomoe::MetricPoint>& points);
  void linkBytesArrived(const QVector<fomoe::LinkBytes>& links);
  void placementArrived(const QVector<fomoe::PlacementEntry>& placement);
  void expertLoadArrived(const QVector<fomoe::ExpertLoadEntry>& load);
  void eventArrived(const fomoe::RunEvent& event);
  void samplesArrived(const QVector<fomoe::SampleEntry>& samples);
  /// status is a fomoe::RunStatus value.
  void runFinished(int status, const QString& message);

 private:
  struct Pending {
    bool started = false;
    qint64 runId = 0;
    RunInfo info;
    QVector<MetricPoint> metrics;
    QVector<LinkBytes> links;
    QVector<PlacementEntry> placement;
    QVector<ExpertLoadEntry> load;
    QVector<RunEvent> events;
    QVector<SampleEntry> samples;
    bool finished = false;
    RunStatus status = RunStatus::Finished;
    std::string message;
    bool empty() const {
      return !started && metrics.isEmpty() && links.isEmpty() && placement.isEmpty() && load.isEmpty() &&
             events.isEmpty() && samples.isEmpty() && !finished;
    }
  };
  QTimer timer_;
  std::mutex mutex_;
  Pending pending_;
  std::atomic<RunSink*> forward_{nullptr};
  int flushes_ = 0;
};

}  // namespace fomoe::gui
