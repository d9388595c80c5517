#include "placement_editor.h"

#include <QComboBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include "bridge/experiment_document.h"
#include "bridge/store_model.h"
#include "colors.h"

namespace fomoe::gui {

PlacementEditor::PlacementEditor(ExperimentDocument* doc, StoreModel* store, QWidget* parent)
    : QWidget(parent), doc_(doc), store_(store) {
  auto* v = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  layer_ = new QComboBox;
  policy_ = new QComboBox;
  policy_->addItems({tr("round-robin"), tr("load-aware (recorded run)")});
  replication_ = new QSpinBox;
  replication_->setRange(1, 256);
  replication_->setPrefix(tr("r = "));
  runPicker_ = new QComboBox;
  runPicker_->setMinimumContentsLength(24);
  runPicker_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  runPicker_->setToolTip(tr("recorded run whose expert load drives the load-aware placement"));
  experimentPolicy_ = new QLabel;
  experimentPolicy_->setWordWrap(true);
  auto* generate = new QPushButton(tr("Generate"));
  auto* apply = new QPushButton(tr("Apply to experiment"));
  apply->setDefault(true);
  auto* revert = new QPushButton(tr("Revert"));
  bar->addWidget(new QLabel(tr("MoE layer:")));
  bar->addWidget(layer_);
  bar->addSpacing(16);
  bar->addWidget(new QLabel(tr("policy:")));
  bar->addWidget(policy_);
  bar->addWidget(replication_);
  bar->addWidget(runPicker_);
  bar->addWidget(generate);
  bar->addStretch(1);
  bar->addWidget(revert);
  bar->addWidget(apply);
  v->addLayout(bar);
  v->addWidget(experimentPolicy_);

  auto* split = new QSplitter(Qt::Horizontal);
  grid_ = new QTableWidget;
  grid_->setSelectionMode(QAbstractItemView::NoSelection);
  grid_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  grid_->verticalHeader()->setDefaultSectionSize(24);
  auto* gbox = new QGroupBox(tr("Holders (tick = the site holds the expert)"));
  auto* gl = new QVBoxLayout(gbox);
  gl->addWidget(grid_);
  split->addWidget(gbox);
  costs_ = new QTableWidget(0, 5);
  costs_->setHorizontalHeaderLabels({tr("site"), tr("experts held"), tr("parameters"), tr("memory"), tr("bytes / round")});
  costs_->verticalHeader()->setVisible(false);
  costs_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  costs_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  auto* cbox = new QGroupBox(tr("Per site (updates as you edit)"));
  auto* cl = new QVBoxLayout(cbox);
  cl->addWidget(costs_);
  auto* note = new QLabel(tr("From the system model (the Projection tab and `fomoe project` use the same function). "
                             "memory: weights, gradients, AdamW moments, the round-start copy and one inner step's "
                             "activations at the experiment's batch. bytes / round: parameters down and pseudo-gradients up "
                             "as the experiment's compression and precision send them, framing included."));
  note->setWordWrap(true);
  note->setForegroundRole(QPalette::PlaceholderText);
  cl->addWidget(note);
  split->addWidget(cbox);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  v->addWidget(split, 1);
  status_ = new QLabel;
  status_->setWordWrap(true);
  v->addWidget(status_);

  connect(layer_, &QComboBox::currentIndexChanged, this, &PlacementEditor::refreshGrid);
  connect(generate, &QPushButton::clicked, this, [this] {
    if (policy_->currentIndex() == 0) generateRoundRobin(replication_->value());
    else {
      QString err;
      const qint64 runId = runPicker_->currentData().toLongLong();
      if (runId <= 0) err = tr("no recorded run to take the expert load from: record a run of this model first");
      if (runId <= 0 || !generateLoadAware(runId, replication_->value(), &err)) {
        status_->setText(tr("✗ %1").arg(err));
        status_->setStyleSheet("color: #c0181c; font-weight: bold;");
      }
    }
  });
  connect(apply, &QPushButton::clicked, this, &PlacementEditor::apply);
  connect(revert, &QPushButton::clicked, this, &PlacementEditor::reloadFromDocument);
  connect(grid_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* it) {
    if (updating_) return;
    setHolder(layer_->currentIndex(), it->row(), it->column(), it->checkState() == Qt::Checked);
  });
  connect(policy_, &QComboBox::currentIndexChanged, this, [this](int i) { runPicker_->setEnabled(i == 1); });
  connect(doc_, &ExperimentDocument::configChanged, this, &PlacementEditor::reloadFromDocument);
  if (store_) connect(store_, &StoreModel::reloaded, this, &PlacementEditor::refillRuns);
  refillRuns();
  reloadFromDocument();
}

void PlacementEditor::refillRuns() {
  const qint64 keep = runPicker_->currentData().toLongLong();
  QSignalBlocker block(runPicker_);
  runPicker_->clear();
  // Runs that recorded expert load, newest first (the store model's order); the one picked stays.
  for (int row = 0; store_ && row < store_->rowCount(); ++row) {
    const qint64 id = store_->runIdAt(row);
    const RunSummary* s = store_->summaryOf(id);
    if (!s || s->run.method == "single") continue;
    runPicker_->addItem(tr("run %1 · %2 (%3, %4)").arg(id).arg(QString::fromStdString(s->run.name),
                                                          QString::fromStdString(s->run.method), QString::fromStdString(s->run.status)),
                        id);
  }
  if (runPicker_->count() == 0) runPicker_->addItem(tr("no recorded runs"), qint64(0));
  const int i = runPicker_->findData(keep);
  runPicker_->setCurrentIndex(i >= 0 ? i : 0);
  runPicker_->setEnabled(policy_->currentIndex() == 1);
}

QString PlacementEditor::policyDescription(const ExperimentConfig& c) {
  if (c.run.method != Method::FoMoE)
    return tr("%1 keeps every expert on every site; a plan applies to FoMoE runs.").arg(method_name(c.run.method));
  const auto& f = c.federation;
  const QString every = f.replan_every > 0 ? tr("every %1 rounds").arg(f.replan_every) : tr("after the first round");
  switch (f.placement) {
    case PlacementPolicy::RoundRobin: return tr("The experiment's placement: round-robin, each expert on r = %1 of %2 sites.").arg(f.replication).arg(f.sites);
    case PlacementPolicy::Explicit: return tr("The experiment's placement: an explicit plan (shown below), fixed for the run.");
    case PlacementPolicy::LoadAware:
      return tr("The experiment's placement: load-aware. It starts round-robin (below) and the coordinator re-plans %1 "
                "from the expert load the sites report, spreading heavy experts (r = %2).").arg(every).arg(f.replication);
    case PlacementPolicy::Affinity:
      return tr("The experiment's placement: data affinity. It starts round-robin (below) and the coordinator re-plans %1 "
                "so each site holds the experts its own tokens use most (r = %2).").arg(every).arg(f.replication);
  }
  return QString();
}

void PlacementEditor::reloadFromDocument() {
  plan_ = doc_->currentPlan();
  replication_->setValue(doc_->config().federation.replication);
  const int L = plan_.n_moe_layers();
  if (layer_->count() != L) {
    QSignalBlocker b(layer_);
    layer_->clear();
    for (int l = 0; l < L; ++l) layer_->addItem(QString::number(l));
  }
  experimentPolicy_->setText(policyDescription(doc_->config()));
  {
    QSignalBlocker b(policy_);
    policy_->setCurrentIndex(doc_->config().federation.placement == PlacementPolicy::LoadAware ? 1 : 0);
  }
  runPicker_->setEnabled(policy_->currentIndex() == 1);
  status_->setText(QString());
  refreshGrid();
}

void PlacementEditor::setHolder(int layer, int expert, int site, bool holds) {
  if (layer < 0 || layer >= plan_.n_moe_layers() || expert < 0 || expert >= plan_.n_experts()) return;
  std::vector<int> h = plan_.holders(layer, expert);
  h.erase(std::remove(h.begin(), h.end(), site), h.end());
  if (holds) h.push_back(site);
  std::sort(h.begin(), h.end());
  plan_.set_holders(layer, expert, h);
  const Status st = plan_.validate();
  status_->setText(st ? tr("Edited by hand; press Apply to store it in the experiment.") : tr("✗ %1").arg(QString::fromStdString(st.error().message)));
  status_->setStyleSheet(st ? "color: #444;" : "color: #c0181c; font-weight: bold;");
  refreshGrid();
}

void PlacementEditor::generateRoundRobin(int r) {
  const int K = plan_.n_sites();
  plan_ = PlacementPlan::round_robin(K, plan_.n_moe_layers(), plan_.n_experts(), std::min(std::max(1, r), K));
  status_->setText(tr("Generated round-robin with r = %1; press Apply to store it.").arg(std::min(r, K)));
  status_->setStyleSheet(QString());
  refreshGrid();
}

bool PlacementEditor::generateLoadAware(qint64 runId, int r, QString* error) {
  if (!store_ || !store_->store()) {
    if (error) *error = tr("no run store is open");
    return false;
  }
  auto load = store_->store()->expert_load(runId);
  if (!load) {
    if (error) *error = QString::fromStdString(load.error().message);
    return false;
  }
  std::vector<std::vector<int64_t>> sum(size_t(plan_.n_moe_layers()), std::vector<int64_t>(size_t(plan_.n_experts()), 0));
  bool any = false;
  for (const auto& e : *load)
    if (e.layer < plan_.n_moe_layers() && e.expert < plan_.n_experts()) {
      sum[e.layer][e.expert] += e.tokens;
      any = true;
    }
  if (!any) {
    if (error) *error = tr("run %1 has no expert load for %2 MoE layers x %3 experts: pick a run of the same model")
                            .arg(runId).arg(plan_.n_moe_layers()).arg(plan_.n_experts());
    return false;
  }
  plan_ = PlacementPlan::load_aware(plan_.n_sites(), sum, std::min(std::max(1, r), plan_.n_sites()));
  status_->setText(tr("Generated load-aware from run %1 with r = %2; press Apply to store it.").arg(runId).arg(r));
  status_->setStyleSheet(QString());
  refreshGrid();
  return true;
}

bool PlacementEditor::apply() {
  QString err;
  if (!doc_->applyPlan(plan_, &err)) {
    status_->setText(tr("✗ Plan refused: %1").arg(err));
    status_->setStyleSheet("color: #c0181c; font-weight: bold;");
    return false;
  }
  status_->setText(tr("✓ Plan stored in the experiment (placement = explicit)."));
  status_->setStyleSheet("color: #2a7d2a; font-weight: bold;");
  return true;
}

QString PlacementEditor::errorText() const { return status_->text(); }
QString PlacementEditor::experimentPolicyText() const { return experimentPolicy_->text(); }

void PlacementEditor::refreshGrid() {
  updating_ = true;
  const int layer = std::max(0, layer_->currentIndex());
  const int K = plan_.n_sites(), E = plan_.n_experts();
  grid_->setRowCount(E);
  grid_->setColumnCount(K);
  QStringList cols, rows;
  for (int k = 0; k < K; ++k) cols << tr("site %1").arg(k);
  for (int e = 0; e < E; ++e) rows << tr("expert %1").arg(e);
  grid_->setHorizontalHeaderLabels(cols);
  grid_->setVerticalHeaderLabels(rows);
  for (int e = 0; e < E; ++e) {
    const bool orphan = layer < plan_.n_moe_layers() && plan_.holders(layer, e).empty();
    for (int k = 0; k < K; ++k) {
      auto* it = grid_->item(e, k);
      if (!it) {
        it = new QTableWidgetItem;
        it->setFlags(Qt::ItemIsUserCheckable | Qt::ItemIsEnabled);
        grid_->setItem(e, k, it);
      }
      const bool holds = layer < plan_.n_moe_layers() && plan_.holds(k, layer, e);
      it->setCheckState(holds ? Qt::Checked : Qt::Unchecked);
      // Colours from the palette, so the grid reads in the dark theme too (the orphan warning
      // keeps its light red with dark text).
      const QPalette& pal = grid_->palette();
      it->setBackground(orphan ? QColor(250, 215, 215) : holds ? withAlpha(siteColor(k), 90) : pal.base().color());
      it->setForeground(orphan ? QColor(Qt::black) : pal.text().color());
    }
  }
  updating_ = false;
  refreshCosts();
}

void PlacementEditor::refreshCosts() {
  const auto costs = ExperimentDocument::siteCosts(doc_->config(), plan_);
  costs_->setRowCount(costs.size());
  for (int i = 0; i < costs.size(); ++i) {
    const auto& c = costs[i];
    auto cell = [&](int col, const QString& t) {
      auto* it = new QTableWidgetItem(t);
      it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      costs_->setItem(i, col, it);
    };
    cell(0, tr("site %1").arg(c.site));
    cell(1, QString::number(c.expertsHeld));
    cell(2, QLocale().toString(c.params));
    cell(3, humanBytes(double(c.memoryBytes)));
    cell(4, humanBytes(double(c.bytesPerRound)));
  }
}

}  // namespace fomoe::gui
