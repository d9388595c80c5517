#include "bridge/experiment_document.h"

#include <QFile>
#include <QUndoCommand>

#include "fomoe/sysmodel/model_shape.h"
#include "fomoe/sysmodel/presets.h"
#include "fomoe/sysmodel/projection.h"
#include "fomoe/sysmodel/wire_bytes.h"

namespace fomoe::gui {

namespace {

class ConfigCommand : public QUndoCommand {
 public:
  ConfigCommand(ExperimentDocument* doc, ExperimentConfig before, ExperimentConfig after, const QString& label, int mergeKey)
      : QUndoCommand(label), doc_(doc), before_(std::move(before)), after_(std::move(after)), mergeKey_(mergeKey) {}
  void undo() override { doc_->setConfig(before_); }
  void redo() override { doc_->setConfig(after_); }
  int id() const override { return mergeKey_; }
  bool mergeWith(const QUndoCommand* other) override {
    if (other->id() != id() || mergeKey_ < 0) return false;
    after_ = static_cast<const ConfigCommand*>(other)->after_;
    return true;
  }

 private:
  ExperimentDocument* doc_;
  ExperimentConfig before_, after_;
  int mergeKey_;
};

sysmodel::ModelShape shapeOf(const ExperimentConfig& cfg) { return sysmodel::model_shape_from(cfg.model); }

}  // namespace

ExperimentDocument::ExperimentDocument(QObject* parent) : QObject(parent) {}

ExperimentDocument::~ExperimentDocument() {
  undo_.blockSignals(true);
  blockSignals(true);
}

bool ExperimentDocument::loadText(const QString& toml, const QString& sourceName, QString* error) {
  auto cfg = parse_experiment(toml.toStdString(), sourceName.toStdString());
  if (!cfg) {
    if (error) *error = QString::fromStdString(cfg.error().message);
    return false;
  }
  undo_.clear();
  setConfig(*cfg);
  return true;
}

bool ExperimentDocument::load(const QString& path, QString* error) {
  auto cfg = load_experiment(path.toStdString());
  if (!cfg) {
    if (error) *error = QString::fromStdString(cfg.error().message);
    return false;
  }
  undo_.clear();
  setConfig(*cfg);
  path_ = path;
  undo_.setClean();
  emit pathChanged(path_);
  return true;
}

bool ExperimentDocument::save(const QString& path, QString* error) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) {
    if (error) *error = tr("cannot write %1: %2").arg(path, f.errorString());
    return false;
  }
  // The file is for people: only the keys they set, in short numbers. Runs still record the
  // complete canonical to_toml text.
  const std::string text = to_toml_minimal(cfg_);
  if (f.write(text.data(), qint64(text.size())) != qint64(text.size())) {
    if (error) *error = tr("cannot write %1: %2").arg(path, f.errorString());
    return false;
  }
  path_ = path;
  undo_.setClean();
  emit pathChanged(path_);
  return true;
}

void ExperimentDocument::edit(const QString& label, const std::function<void(ExperimentConfig&)>& change, int mergeKey) {
  ExperimentConfig after = cfg_;
  change(after);
  undo_.push(new ConfigCommand(this, cfg_, after, label, mergeKey));
}

void ExperimentDocument::setConfig(const ExperimentConfig& cfg) {
  cfg_ = cfg;
  emit configChanged();
}

QString ExperimentDocument::validationMessage() const {
  Status st = validate_experiment(cfg_);
  return st ? QString() : QString::fromStdString(st.error().message);
}

int ExperimentDocument::moeLayerCount(const ExperimentConfig& cfg) {
  return static_cast<int>(shapeOf(cfg).n_moe_layers());
}

PlacementPlan ExperimentDocument::currentPlan() const {
  const int K = cfg_.run.method == Method::Single ? 1 : cfg_.federation.sites;
  const int L = moeLayerCount(cfg_);
  if (cfg_.run.method == Method::FoMoE && cfg_.federation.placement == PlacementPolicy::Explicit) {
    auto plan = PlacementPlan::from_holders(K, cfg_.federation.explicit_plan);
    if (plan && plan->n_moe_layers() == L && plan->n_experts() == cfg_.model.n_experts) return *plan;
  }
  const int r = cfg_.run.method == Method::FoMoE ? std::min(cfg_.federation.replication, K) : K;
  return PlacementPlan::round_robin(K, L, cfg_.model.n_experts, std::max(1, r));
}

QVector<SiteCost> ExperimentDocument::siteCosts(const ExperimentConfig& cfg, const PlacementPlan& plan) {
  // The system model's numbers, the same function the Projection tab and `fomoe project` use:
  // memory with activations for the experiment's batch, bytes with the wire framing.
  QVector<SiteCost> out;
  sysmodel::FederationShape f = sysmodel::federation_shape_from(cfg);
  f.n_sites = plan.n_sites();
  f.method = cfg.run.method == Method::Single ? Method::FoMoE : cfg.run.method;
  if (f.method == Method::FoMoE) f.holders = plan.holders();
  sysmodel::MethodProjection mp;
  try {
    mp = sysmodel::project_method(shapeOf(cfg), f);
  } catch (const std::exception&) {
    return out;  // an invalid setup shows no numbers (the configure panel names the problem)
  }
  for (const auto& s : mp.sites) {
    SiteCost c;
    c.site = s.site;
    c.expertsHeld = int(s.experts_held);
    c.params = s.params;
    c.memoryBytes = qint64(s.memory.total());
    c.bytesPerRound = qint64(s.up.total() + s.down.total());
    out.push_back(c);
  }
  return out;
}

bool ExperimentDocument::applyPlan(const PlacementPlan& plan, QString* error) {
  if (Status st = plan.validate(); !st) {
    if (error) *error = QString::fromStdString(st.error().message);
    return false;
  }
  if (plan.n_moe_layers() != moeLayerCount(cfg_) || plan.n_experts() != cfg_.model.n_experts ||
      plan.n_sites() != cfg_.federation.sites) {
    if (error) *error = tr("the plan's shape (%1 sites, %2 MoE layers, %3 experts) does not match the experiment (%4, %5, %6)")
                            .arg(plan.n_sites()).arg(plan.n_moe_layers()).arg(plan.n_experts())
                            .arg(cfg_.federation.sites).arg(moeLayerCount(cfg_)).arg(cfg_.model.n_experts);
    return false;
  }
  const auto holders = plan.holders();
  edit(tr("apply placement"), [&](ExperimentConfig& c) {
    c.federation.placement = PlacementPolicy::Explicit;
    c.federation.explicit_plan = holders;
  });
  return true;
}

}  // namespace fomoe::gui
