// RunData: everything the live and recorded views draw for one run — metric series by
// (name, site), link bytes, expert load per round, placement, events, dead sites. Filled live
// from the EventBridge's batches or at once from the run store; views redraw on changed().
#pragma once

#include <QObject>
#include <QString>
#include <QVector>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bridge/bridge_types.h"
#include "fomoe/config/experiment.h"

namespace fomoe {
class RunStore;
}

namespace fomoe::gui {

/// What a curve is drawn against. Bytes: on the wire, all links and both directions, by the
/// end of the point's step (each round's bytes spread evenly over its inner steps, exact at
/// round ends) — the quantity FoMoE saves.
enum class XAxis { Step, Round, Tokens, WallTime, Bytes };
QString xAxisName(XAxis axis);   // for a combo box: "step", ..., "bytes sent"
QString xAxisLabel(XAxis axis);  // for the axis itself, with its unit

struct Series {
  std::vector<double> step, round, wall, value;
  size_t size() const { return value.size(); }
};

class RunData : public QObject {
  Q_OBJECT
 public:
  explicit RunData(QObject* parent = nullptr);

  /// Forgets everything; cfg gives shapes (sites, layers, experts) and tokens per step.
  void reset(qint64 runId, const ExperimentConfig& cfg, const QString& name);
  /// Replaces the content with a recorded run. Series longer than maxPoints are read through
  /// RunStore::downsample (last value per bucket). False + error on a store error.
  bool loadFromStore(RunStore& store, qint64 runId, int maxPoints = 4000, QString* error = nullptr);

  void appendMetrics(const QVector<MetricPoint>& points);
  void appendLinkBytes(const QVector<LinkBytes>& links);
  void appendExpertLoad(const QVector<ExpertLoadEntry>& load);
  void setPlacement(const QVector<PlacementEntry>& placement);
  void appendEvent(const RunEvent& event);
  void appendSamples(const QVector<SampleEntry>& samples);
  /// Emits changed() once if anything arrived since the last call (batches redraws).
  void notify();

  qint64 runId() const { return runId_; }
  QString name() const { return name_; }
  const ExperimentConfig& config() const { return cfg_; }
  bool hasConfig() const { return hasConfig_; }
  int nSites() const;
  int nLayers() const { return cfg_.model.n_layers; }
  int nExperts() const { return cfg_.model.n_experts; }
  double tokensPerStep() const { return double(cfg_.train.batch_size) * cfg_.model.seq_len; }

  const std::map<std::pair<std::string, int>, Series>& series() const { return series_; }
  /// x of point i of s on the given axis.
  double xOf(XAxis axis, const Series& s, size_t i) const;
  /// Bytes on the wire (all links, both directions) by the end of `step` (see XAxis::Bytes).
  double bytesAtStep(double step) const;
  const Series* find(const std::string& name, int site) const;
  const std::vector<LinkBytes>& links() const { return links_; }
  /// round -> entries of that round
  const std::map<int, std::vector<ExpertLoadEntry>>& expertLoad() const { return load_; }
  const std::vector<PlacementEntry>& placement() const { return placement_; }
  const std::vector<RunEvent>& events() const { return events_; }
  /// The fixed prompts' continuations, in arrival (step) order.
  const std::vector<SampleEntry>& samples() const { return samples_; }
  const std::set<int>& deadSites() const { return dead_; }
  bool isDead(int site) const { return dead_.count(site) > 0; }
  /// Sites that appear in any metric or link row (at least nSites()).
  int maxRound() const { return maxRound_; }

 signals:
  void changed();
  void cleared();

 private:
  void addPoint(const MetricPoint& p);
  qint64 runId_ = -1;
  QString name_;
  ExperimentConfig cfg_;
  bool hasConfig_ = false;
  std::map<std::pair<std::string, int>, Series> series_;
  std::vector<LinkBytes> links_;
  std::map<int, std::vector<ExpertLoadEntry>> load_;
  std::vector<PlacementEntry> placement_;
  std::vector<RunEvent> events_;
  std::vector<SampleEntry> samples_;
  std::set<int> dead_;
  int maxRound_ = -1;
  int maxSite_ = -1;
  bool dirty_ = false;
  mutable std::vector<double> cumBytes_;  // [round + 1]: bytes by the end of round (index 0: before round 0)
  mutable bool bytesStale_ = true;
};

}  // namespace fomoe::gui
