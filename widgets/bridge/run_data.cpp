#include "bridge/run_data.h"

#include <algorithm>
#include <cmath>

#include "fomoe/store/run_store.h"

namespace fomoe::gui {

RunData::RunData(QObject* parent) : QObject(parent) {}

void RunData::reset(qint64 runId, const ExperimentConfig& cfg, const QString& name) {
  runId_ = runId;
  cfg_ = cfg;
  hasConfig_ = true;
  name_ = name;
  series_.clear();
  links_.clear();
  load_.clear();
  placement_.clear();
  events_.clear();
  samples_.clear();
  dead_.clear();
  maxRound_ = -1;
  maxSite_ = -1;
  dirty_ = false;
  emit cleared();
  emit changed();
}

int RunData::nSites() const {
  const int cfgSites = cfg_.run.method == Method::Single ? 1 : cfg_.federation.sites;
  return std::max(cfgSites, maxSite_ + 1);
}

const Series* RunData::find(const std::string& name, int site) const {
  auto it = series_.find({name, site});
  return it == series_.end() ? nullptr : &it->second;
}

void RunData::addPoint(const MetricPoint& p) {
  Series& s = series_[{p.name, p.site}];
  s.step.push_back(double(p.step));
  s.round.push_back(double(p.round));
  s.wall.push_back(p.wall_time);
  s.value.push_back(p.value);
  if (p.round > maxRound_) maxRound_ = p.round;
  if (p.site > maxSite_) maxSite_ = p.site;
}

void RunData::appendMetrics(const QVector<MetricPoint>& points) {
  for (const auto& p : points) addPoint(p);
  dirty_ = dirty_ || !points.isEmpty();
}

QString xAxisName(XAxis axis) {
  static const char* names[] = {"step", "round", "tokens", "wall time", "bytes sent"};
  return RunData::tr(names[int(axis)]);
}

QString xAxisLabel(XAxis axis) {
  static const char* labels[] = {"step", "round", "tokens (per site)", "wall time (s)",
                                 "bytes on the wire (all links, both directions)"};
  return RunData::tr(labels[int(axis)]);
}

double RunData::xOf(XAxis axis, const Series& s, size_t i) const {
  switch (axis) {
    case XAxis::Step: return s.step[i];
    case XAxis::Round: return s.round[i] >= 0 ? s.round[i] : s.step[i];
    case XAxis::Tokens: return s.step[i] * tokensPerStep();
    case XAxis::WallTime: return s.wall[i];
    case XAxis::Bytes: return bytesAtStep(s.step[i]);
  }
  return s.step[i];
}

double RunData::bytesAtStep(double step) const {
  if (bytesStale_) {
    std::vector<double> perRound(static_cast<size_t>(std::max(0, maxRound_ + 2)), 0.0);
    for (const auto& l : links_) perRound[static_cast<size_t>(std::max(-1, l.round) + 1)] += double(l.bytes);
    cumBytes_.assign(perRound.size(), 0.0);
    double sum = 0;
    for (size_t i = 0; i < perRound.size(); ++i) cumBytes_[i] = (sum += perRound[i]);
    bytesStale_ = false;
  }
  if (cumBytes_.empty()) return 0.0;
  const double H = std::max(1, cfg_.run.method == Method::Single ? 1 : round_steps(cfg_.federation));
  // Step s (1-based) lies in round ceil(s / H) - 1; index r + 1 holds the bytes by that round's end.
  const double r = std::max(0.0, std::ceil(step / H) - 1);
  const size_t hi = std::min(cumBytes_.size() - 1, static_cast<size_t>(r) + 1);
  const double before = cumBytes_[hi - 1], after = cumBytes_[hi];
  const double frac = std::clamp((step - r * H) / H, 0.0, 1.0);
  return before + frac * (after - before);
}

void RunData::appendLinkBytes(const QVector<LinkBytes>& links) {
  bytesStale_ = bytesStale_ || !links.isEmpty();
  for (const auto& l : links) {
    links_.push_back(l);
    if (l.round > maxRound_) maxRound_ = l.round;
    if (l.site > maxSite_) maxSite_ = l.site;
  }
  dirty_ = dirty_ || !links.isEmpty();
}

void RunData::appendExpertLoad(const QVector<ExpertLoadEntry>& load) {
  for (const auto& e : load) load_[e.round].push_back(e);
  dirty_ = dirty_ || !load.isEmpty();
}

void RunData::setPlacement(const QVector<PlacementEntry>& placement) {
  placement_.assign(placement.begin(), placement.end());
  for (const auto& e : placement) maxSite_ = std::max(maxSite_, e.site);  // a site that joined shows at once
  dirty_ = true;
}

void RunData::appendEvent(const RunEvent& e) {
  events_.push_back(e);
  if (e.kind == "site_dead") dead_.insert(e.site);
  if (e.kind == "site_rejoined" || e.kind == "site_joined") dead_.erase(e.site);
  if (e.kind == "site_joined") maxSite_ = std::max(maxSite_, e.site);
  dirty_ = true;
}

void RunData::appendSamples(const QVector<SampleEntry>& samples) {
  // A resumed run redoes rounds: a later sample of the same step and prompt replaces the earlier.
  for (const auto& s : samples) {
    auto same = std::find_if(samples_.begin(), samples_.end(), [&](const SampleEntry& o) {
      return o.step == s.step && o.prompt_index == s.prompt_index;
    });
    if (same != samples_.end()) *same = s;
    else samples_.push_back(s);
  }
  dirty_ = dirty_ || !samples.isEmpty();
}

void RunData::notify() {
  if (!dirty_) return;
  dirty_ = false;
  emit changed();
}

bool RunData::loadFromStore(RunStore& store, qint64 runId, int maxPoints, QString* error) {
  auto fail = [&](const Error& e) {
    if (error) *error = QString::fromStdString(e.message);
    return false;
  };
  auto run = store.get_run(runId);
  if (!run) return fail(run.error());
  ExperimentConfig cfg;
  if (auto parsed = parse_experiment(run->config_text, "run " + std::to_string(runId)); parsed) cfg = *parsed;
  else {
    cfg.federation.sites = run->n_sites;
    cfg.run.method = run->n_sites > 1 ? Method::FoMoE : Method::Single;
  }
  cfg.run.name = run->name;
  reset(runId, cfg, QString::fromStdString(run->name));
  auto list = store.metric_series(runId);
  if (!list) return fail(list.error());
  for (const auto& ms : *list) {
    Series& s = series_[{ms.name, ms.site}];
    if (ms.site > maxSite_) maxSite_ = ms.site;
    if (ms.n_points > maxPoints) {
      auto buckets = store.downsample(runId, ms.name, ms.site, ms.step_first, ms.step_last, maxPoints);
      if (!buckets) return fail(buckets.error());
      for (const auto& b : *buckets) {
        s.step.push_back(double(b.step_last));
        s.round.push_back(-1);
        s.wall.push_back(0);
        s.value.push_back(b.last);
      }
    } else {
      auto pts = store.read_series(runId, ms.name, ms.site, ms.step_first, ms.step_last);
      if (!pts) return fail(pts.error());
      for (const auto& p : *pts) {
        s.step.push_back(double(p.step));
        s.round.push_back(p.round);
        s.wall.push_back(p.wall_time);
        s.value.push_back(p.value);
        if (p.round > maxRound_) maxRound_ = p.round;
      }
    }
  }
  auto links = store.links(runId);
  if (!links) return fail(links.error());
  appendLinkBytes(QVector<LinkBytes>(links->begin(), links->end()));
  auto load = store.expert_load(runId);
  if (!load) return fail(load.error());
  appendExpertLoad(QVector<ExpertLoadEntry>(load->begin(), load->end()));
  auto rounds = store.placement_rounds(runId);
  if (rounds && !rounds->empty()) {
    auto pl = store.placement(runId, rounds->back());
    if (pl) setPlacement(QVector<PlacementEntry>(pl->begin(), pl->end()));
  }
  auto events = store.events(runId);
  if (!events) return fail(events.error());
  for (const auto& e : *events) appendEvent(e);
  auto samples = store.samples(runId);
  if (!samples) return fail(samples.error());
  appendSamples(QVector<SampleEntry>(samples->begin(), samples->end()));
  dirty_ = false;
  emit changed();
  return true;
}

}  // namespace fomoe::gui
