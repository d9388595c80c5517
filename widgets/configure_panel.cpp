#include "configure_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QMessageBox>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include "bridge/experiment_document.h"
#include "bridge/store_model.h"
#include "colors.h"

namespace fomoe::gui {

namespace {
const QStringList kMethods{"single", "ddp", "diloco", "photon", "fomoe"};
}

ConfigurePanel::ConfigurePanel(ExperimentDocument* doc, QWidget* parent) : QWidget(parent), doc_(doc) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* page = new QWidget;
  auto* grid = new QGridLayout(page);
  grid->setHorizontalSpacing(14);
  scroll->setWidget(page);
  outer->addWidget(scroll, 1);

  auto* col0 = new QVBoxLayout;
  auto* col1 = new QVBoxLayout;
  auto* col2 = new QVBoxLayout;
  grid->addLayout(col0, 0, 0);
  grid->addLayout(col1, 0, 1);
  grid->addLayout(col2, 0, 2);

  QFormLayout* run = group(page, tr("Run"), col0);
  addText(run, tr("name"), [](auto& c) { return QString::fromStdString(c.run.name); },
          [](auto& c, const QString& v) { c.run.name = v.toStdString(); });
  addChoice(run, tr("method"), {"single site", "DDP", "DiLoCo", "Photon", "FoMoE"}, [](auto& c) { return int(c.run.method); },
            [](auto& c, int v) { c.run.method = Method(v); },
            tr("DDP syncs gradients every step; DiLoCo and Photon keep full replicas and sync every H steps; FoMoE holds "
               "only some experts per site"));
  addInt(run, tr("seed"), 0, 1 << 30, [](auto& c) { return int(c.run.seed); }, [](auto& c, int v) { c.run.seed = uint64_t(v); });
  addText(run, tr("device"), [](auto& c) { return QString::fromStdString(c.run.device); },
          [](auto& c, const QString& v) { c.run.device = v.trimmed().toStdString(); },
          tr("auto, cpu, cuda or cuda:N; a comma list (cuda:0,cuda:1) trains each site data parallel on those devices"));

  QFormLayout* model = group(page, tr("Model"), col0);
  addInt(model, tr("vocabulary"), 64, 1 << 20, [](auto& c) { return c.model.vocab_size; }, [](auto& c, int v) { c.model.vocab_size = v; });
  addInt(model, tr("d_model"), 8, 1 << 16, [](auto& c) { return c.model.d_model; }, [](auto& c, int v) { c.model.d_model = v; });
  addInt(model, tr("layers"), 1, 512, [](auto& c) { return c.model.n_layers; }, [](auto& c, int v) { c.model.n_layers = v; });
  addInt(model, tr("heads"), 1, 256, [](auto& c) { return c.model.n_heads; }, [](auto& c, int v) { c.model.n_heads = v; });
  addInt(model, tr("sequence length"), 8, 1 << 16, [](auto& c) { return c.model.seq_len; }, [](auto& c, int v) { c.model.seq_len = v; });
  addInt(model, tr("experts per layer"), 1, 1024, [](auto& c) { return c.model.n_experts; }, [](auto& c, int v) { c.model.n_experts = v; });
  addInt(model, tr("top-k"), 1, 64, [](auto& c) { return c.model.top_k; }, [](auto& c, int v) { c.model.top_k = v; });
  addInt(model, tr("expert width"), 8, 1 << 18, [](auto& c) { return c.model.d_expert; }, [](auto& c, int v) { c.model.d_expert = v; });
  addInt(model, tr("MoE every n layers"), 1, 16, [](auto& c) { return c.model.moe_every; }, [](auto& c, int v) { c.model.moe_every = v; });
  addCheck(model, tr("shared expert"), [](auto& c) { return c.model.shared_expert; }, [](auto& c, bool v) { c.model.shared_expert = v; });
  addChoice(model, tr("non-resident picks"), {"skip, keep gates", "skip, renormalise gates", "reroute to resident experts"},
            [](auto& c) { return int(c.model.gate); }, [](auto& c, int v) { c.model.gate = GateMode(v); },
            tr("skip-token drops a token's picks of experts the site does not hold (renormalising its remaining gates to sum "
               "to 1, or not); reroute sends it to its top-k among the held experts instead (no skip, no throughput gain)"));

  QFormLayout* data = group(page, tr("Data"), col1);
  addText(data, tr("sources"),
          [](auto& c) {
            QStringList l;
            for (auto& s : c.data.sources) l << QString::fromStdString(s);
            return l.join(", ");
          },
          [](auto& c, const QString& v) {
            c.data.sources.clear();
            for (const QString& s : v.split(',', Qt::SkipEmptyParts)) c.data.sources.push_back(s.trimmed().toStdString());
          },
          tr("comma separated: fortunes-en, fortunes-de, fortunes-es, fortunes-it, jargon, ..."));
  addChoice(data, tr("split across sites"), {"IID", "non-IID (one source per site)"}, [](auto& c) { return int(c.data.split); },
            [](auto& c, int v) { c.data.split = ShardSplit(v); });
  addDouble(data, tr("held-out fraction"), 0.0, 0.5, 3, [](auto& c) { return c.data.heldout_fraction; },
            [](auto& c, double v) { c.data.heldout_fraction = v; });
  addInt(data, tr("max bytes per source"), 0, 2000000000, [](auto& c) { return int(c.data.max_bytes); },
         [](auto& c, int v) { c.data.max_bytes = v; }, tr("0 = all"));

  QFormLayout* train = group(page, tr("Training"), col1);
  addInt(train, tr("steps per site"), 1, 10000000, [](auto& c) { return c.train.steps; }, [](auto& c, int v) { c.train.steps = v; });
  addInt(train, tr("batch size"), 1, 65536, [](auto& c) { return c.train.batch_size; }, [](auto& c, int v) { c.train.batch_size = v; });
  addDouble(train, tr("learning rate"), 1e-6, 1.0, 5, [](auto& c) { return c.train.lr; }, [](auto& c, double v) { c.train.lr = v; });
  addInt(train, tr("warm-up steps"), 0, 1000000, [](auto& c) { return c.train.warmup_steps; },
         [](auto& c, int v) { c.train.warmup_steps = v; });
  addInt(train, tr("evaluate every"), 0, 1000000, [](auto& c) { return c.train.eval_every; },
         [](auto& c, int v) { c.train.eval_every = v; }, tr("steps; 0 = only at the end"));
  addInt(train, tr("log every"), 1, 100000, [](auto& c) { return c.train.log_every; }, [](auto& c, int v) { c.train.log_every = v; });

  QFormLayout* fed = group(page, tr("Federation"), col2);
  addInt(fed, tr("sites (K)"), 1, 256, [](auto& c) { return c.federation.sites; }, [](auto& c, int v) { c.federation.sites = v; });
  addInt(fed, tr("inner steps (H)"), 1, 100000, [](auto& c) { return c.federation.inner_steps; },
         [](auto& c, int v) { c.federation.inner_steps = v; });
  addInt(fed, tr("holders per expert (r)"), 1, 256, [](auto& c) { return c.federation.replication; },
         [](auto& c, int v) { c.federation.replication = v; }, tr("FoMoE: each expert lives on r sites"));
  addChoice(fed, tr("placement"), {"round-robin", "load-aware", "explicit (placement editor)", "data affinity"},
            [](auto& c) { return int(c.federation.placement); }, [](auto& c, int v) { c.federation.placement = PlacementPolicy(v); },
            tr("load-aware spreads heavy experts; data affinity gives each site the experts its own tokens use most; both "
               "start round-robin and re-plan from the load the sites report"));
  addInt(fed, tr("re-plan every (rounds)"), 0, 1000000, [](auto& c) { return c.federation.replan_every; },
         [](auto& c, int v) { c.federation.replan_every = v; }, tr("load-aware and data affinity only"))
      ->setSpecialValueText(tr("once, after round 1"));
  addChoice(fed, tr("wire precision"), {"fp32", "bf16", "fp16"}, [](auto& c) { return int(c.federation.precision); },
            [](auto& c, int v) { c.federation.precision = WirePrecision(v); });
  addDouble(fed, tr("outer learning rate"), 0.0, 10.0, 3, [](auto& c) { return c.federation.outer_lr; },
            [](auto& c, double v) { c.federation.outer_lr = v; });
  addDouble(fed, tr("expert outer learning rate"), 0.0, 10.0, 3, [](auto& c) { return c.federation.expert_outer_lr; },
            [](auto& c, double v) { c.federation.expert_outer_lr = v; }, tr("0 = the outer learning rate"))
      ->setSpecialValueText(tr("same as outer"));
  addDouble(fed, tr("outer momentum"), 0.0, 0.999, 3, [](auto& c) { return c.federation.outer_momentum; },
            [](auto& c, double v) { c.federation.outer_momentum = v; });
  addCheck(fed, tr("Nesterov"), [](auto& c) { return c.federation.nesterov; }, [](auto& c, bool v) { c.federation.nesterov = v; });
  addInt(fed, tr("quorum"), 1, 256, [](auto& c) { return c.federation.quorum; }, [](auto& c, int v) { c.federation.quorum = v; });
  addDouble(fed, tr("link bandwidth (Mbit/s)"), 0.0, 1e6, 1, [](auto& c) { return c.federation.bandwidth_mbps; },
            [](auto& c, double v) { c.federation.bandwidth_mbps = v; }, tr("link emulation; 0 = off"));
  addDouble(fed, tr("link latency (ms)"), 0.0, 1e5, 1, [](auto& c) { return c.federation.latency_ms; },
            [](auto& c, double v) { c.federation.latency_ms = v; });

  // Sites: local agents (started on this machine) or remote agents by address and key.
  auto* sitesBox = new QGroupBox(tr("Sites"));
  auto* sv = new QVBoxLayout(sitesBox);
  sites_ = new QTableWidget(0, 6);
  sites_->setHorizontalHeaderLabels({tr("site"), tr("where"), tr("public key"), tr("state"), tr("link Mbit/s"), tr("latency ms")});
  sites_->horizontalHeader()->setStretchLastSection(true);
  sites_->verticalHeader()->setVisible(false);
  // Only the per-site link emulation cells are editable (double-click); 0 = no emulation.
  sites_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  sites_->setToolTip(tr("Double-click a site's link bandwidth or latency to emulate its WAN link"));
  connect(sites_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
    if (refreshingSites_ || (item->column() != 4 && item->column() != 5)) return;
    bool ok = false;
    const double v = item->text().toDouble(&ok);
    const int site = item->row();
    const bool bandwidth = item->column() == 4;
    if (!ok || v < 0) {
      QMessageBox::warning(this, tr("Invalid link setting"),
                           tr("Site %1: \"%2\" is not a non-negative number.").arg(site).arg(item->text()));
      QTimer::singleShot(0, this, [this] { refreshSites(); });
      return;
    }
    doc_->edit(tr("set site %1 link").arg(site), [&](ExperimentConfig& c) {
      auto& f = c.federation;
      auto& list = bandwidth ? f.site_bandwidth_mbps : f.site_latency_ms;
      if (static_cast<int>(list.size()) != f.sites) list.assign(static_cast<size_t>(f.sites), bandwidth ? f.bandwidth_mbps : f.latency_ms);
      if (site < static_cast<int>(list.size())) list[static_cast<size_t>(site)] = v;
    });
  });
  sites_->setMinimumHeight(150);
  sv->addWidget(sites_);
  auto* sb = new QHBoxLayout;
  auto* addRemote = new QPushButton(tr("Add remote site..."));
  auto* removeRemote = new QPushButton(tr("Remove remote site"));
  auto* allLocal = new QPushButton(tr("All local"));
  sb->addWidget(addRemote);
  sb->addWidget(removeRemote);
  sb->addWidget(allLocal);
  sb->addStretch(1);
  sv->addLayout(sb);
  grid->addWidget(sitesBox, 1, 0, 1, 3);
  connect(addRemote, &QPushButton::clicked, this, [this] {
    bool ok = false;
    const QString addr = QInputDialog::getText(this, tr("Remote site"), tr("Address (tcp://host:port):"), QLineEdit::Normal,
                                               "tcp://", &ok);
    if (!ok || addr.trimmed().isEmpty()) return;
    const QString key = QInputDialog::getText(this, tr("Remote site"), tr("Public key (Z85, 40 characters):"), QLineEdit::Normal,
                                              QString(), &ok);
    if (!ok) return;
    doc_->edit(tr("add remote site"), [&](ExperimentConfig& c) {
      c.federation.agents.push_back(RemoteAgent{addr.trimmed().toStdString(), key.trimmed().toStdString()});
      c.federation.sites = int(c.federation.agents.size());
    });
  });
  connect(removeRemote, &QPushButton::clicked, this, [this] {
    if (doc_->config().federation.agents.empty()) return;
    const int row = sites_->currentRow();
    doc_->edit(tr("remove remote site"), [&](ExperimentConfig& c) {
      const int i = row >= 0 && row < int(c.federation.agents.size()) ? row : int(c.federation.agents.size()) - 1;
      c.federation.agents.erase(c.federation.agents.begin() + i);
      if (!c.federation.agents.empty()) c.federation.sites = int(c.federation.agents.size());
    });
  });
  connect(allLocal, &QPushButton::clicked, this, [this] {
    doc_->edit(tr("all sites local"), [](ExperimentConfig& c) { c.federation.agents.clear(); });
  });

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  validation_ = new QLabel;
  validation_->setWordWrap(true);
  grid->addWidget(summary_, 2, 0, 1, 3);
  grid->addWidget(validation_, 3, 0, 1, 3);
  grid->setRowStretch(4, 1);
  connect(doc_, &ExperimentDocument::configChanged, this, &ConfigurePanel::refresh);
  refresh();
}

QFormLayout* ConfigurePanel::group(QWidget* parent, const QString& title, QLayout* into) {
  auto* box = new QGroupBox(title, parent);
  auto* f = new QFormLayout(box);
  f->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  f->setLabelAlignment(Qt::AlignRight);
  static_cast<QBoxLayout*>(into)->addWidget(box);
  return f;
}

QSpinBox* ConfigurePanel::addInt(QFormLayout* f, const QString& label, int lo, int hi, std::function<int(const ExperimentConfig&)> get,
                                 std::function<void(ExperimentConfig&, int)> set, const QString& tip) {
  auto* w = new QSpinBox;
  w->setRange(lo, hi);
  w->setToolTip(tip);
  w->setKeyboardTracking(false);
  const int key = nextKey_++;
  f->addRow(label, w);
  connect(w, &QSpinBox::valueChanged, this, [this, set, label, key](int v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); }, key);
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setValue(get(doc_->config()));
  });
  return w;
}

QDoubleSpinBox* ConfigurePanel::addDouble(QFormLayout* f, const QString& label, double lo, double hi, int decimals,
                               std::function<double(const ExperimentConfig&)> get,
                               std::function<void(ExperimentConfig&, double)> set, const QString& tip) {
  auto* w = new QDoubleSpinBox;
  w->setRange(lo, hi);
  w->setDecimals(decimals);
  w->setSingleStep(std::pow(10.0, -std::min(decimals, 3)) * (decimals > 2 ? 10 : 1));
  w->setToolTip(tip);
  w->setKeyboardTracking(false);
  const int key = nextKey_++;
  f->addRow(label, w);
  connect(w, &QDoubleSpinBox::valueChanged, this, [this, set, label, key](double v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); }, key);
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setValue(get(doc_->config()));
  });
  return w;
}

void ConfigurePanel::addChoice(QFormLayout* f, const QString& label, const QStringList& items,
                               std::function<int(const ExperimentConfig&)> get, std::function<void(ExperimentConfig&, int)> set,
                               const QString& tip) {
  auto* w = new QComboBox;
  w->addItems(items);
  w->setToolTip(tip);
  f->addRow(label, w);
  connect(w, &QComboBox::currentIndexChanged, this, [this, set, label](int v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); });
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setCurrentIndex(get(doc_->config()));
  });
}

void ConfigurePanel::addText(QFormLayout* f, const QString& label, std::function<QString(const ExperimentConfig&)> get,
                             std::function<void(ExperimentConfig&, const QString&)> set, const QString& tip) {
  auto* w = new QLineEdit;
  w->setToolTip(tip);
  f->addRow(label, w);
  connect(w, &QLineEdit::editingFinished, this, [this, w, set, get, label] {
    if (w->text() == get(doc_->config())) return;
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, w->text()); });
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setText(get(doc_->config()));
  });
}

void ConfigurePanel::addCheck(QFormLayout* f, const QString& label, std::function<bool(const ExperimentConfig&)> get,
                              std::function<void(ExperimentConfig&, bool)> set, const QString& tip) {
  auto* w = new QCheckBox;
  w->setToolTip(tip);
  f->addRow(label, w);
  connect(w, &QCheckBox::toggled, this, [this, set, label](bool v) {
    doc_->edit(tr("set %1").arg(label), [&](ExperimentConfig& c) { set(c, v); });
  });
  refreshers_.push_back([this, w, get] {
    QSignalBlocker b(w);
    w->setChecked(get(doc_->config()));
  });
}

void ConfigurePanel::refresh() {
  for (auto& r : refreshers_) r();
  refreshSites();
  const auto& c = doc_->config();
  const QString msg = doc_->validationMessage();
  validation_->setText(msg.isEmpty() ? tr("✓ valid experiment") : tr("✗ %1").arg(msg));
  validation_->setStyleSheet(msg.isEmpty() ? "color: #2a7d2a; font-weight: bold;" : "color: #c0181c; font-weight: bold;");
  const auto costs = ExperimentDocument::siteCosts(c, doc_->currentPlan());
  qint64 bytes = 0, params = 0;
  for (auto& s : costs) {
    bytes += s.bytesPerRound;
    params = std::max(params, s.params);
  }
  const int rounds = c.run.method == Method::Single ? 0 : (c.train.steps + c.federation.inner_steps - 1) / c.federation.inner_steps;
  summary_->setText(c.run.method == Method::Single
                        ? tr("Single site: %1 steps of %2 tokens.").arg(c.train.steps).arg(c.train.batch_size * c.model.seq_len)
                        : tr("%1 sites × %2 steps (H = %3, %4 rounds). Largest site holds %5 parameters; %6 on the wire per "
                             "round (all links), %7 for the run.")
                              .arg(c.federation.sites).arg(c.train.steps).arg(c.federation.inner_steps).arg(rounds)
                              .arg(QLocale().toString(params)).arg(humanBytes(double(bytes)))
                              .arg(humanBytes(double(bytes) * rounds)));
}

void ConfigurePanel::refreshSites() {
  refreshingSites_ = true;
  const auto& c = doc_->config();
  const int K = c.run.method == Method::Single ? 1 : c.federation.sites;
  states_.resize(K);
  sites_->setRowCount(K);
  for (int k = 0; k < K; ++k) {
    const bool remote = k < int(c.federation.agents.size());
    sites_->setItem(k, 0, new QTableWidgetItem(tr("site %1").arg(k)));
    sites_->setItem(k, 1, new QTableWidgetItem(remote ? QString::fromStdString(c.federation.agents[k].address)
                                                      : tr("local agent process")));
    sites_->setItem(k, 2, new QTableWidgetItem(remote ? QString::fromStdString(c.federation.agents[k].public_key)
                                                      : tr("generated per run")));
    const QString st = states_[k].isEmpty() ? tr("idle") : states_[k];
    auto* it = new QTableWidgetItem(st);
    it->setForeground(st == "dead" ? deadColor() : st == "training" ? QColor(44, 160, 44) : QColor(60, 60, 60));
    if (st == "dead") {
      QFont f = it->font();
      f.setBold(true);
      it->setFont(f);
    }
    sites_->setItem(k, 3, it);
    for (int col = 0; col < 4; ++col) sites_->item(k, col)->setFlags(sites_->item(k, col)->flags() & ~Qt::ItemIsEditable);
    sites_->setItem(k, 4, new QTableWidgetItem(QString::number(site_bandwidth_mbps(c.federation, k))));
    sites_->setItem(k, 5, new QTableWidgetItem(QString::number(site_latency_ms(c.federation, k))));
  }
  sites_->resizeColumnsToContents();
  refreshingSites_ = false;
}

void ConfigurePanel::setSiteState(int site, const QString& state) {
  if (site < 0) return;
  if (site >= states_.size()) states_.resize(site + 1);
  if (states_[site] == "dead" && state != "connecting" && state != "idle") return;  // only a rejoin revives
  states_[site] = state;
  refreshSites();
}

QString ConfigurePanel::siteState(int site) const { return site >= 0 && site < states_.size() ? states_[site] : QString(); }

void ConfigurePanel::resetSiteStates(const QString& state) {
  for (auto& s : states_) s = state;
  refreshSites();
}

void ConfigurePanel::onRunEvent(const RunEvent& e) {
  const QString kind = QString::fromStdString(e.kind);
  if (kind == "site_joined" || kind == "site_rejoined") {
    if (e.site >= 0 && e.site < states_.size()) states_[e.site].clear();
    setSiteState(e.site, "idle");
  } else if (kind == "site_dead") {
    setSiteState(e.site, "dead");
  } else if (kind == "round_started") {
    for (int k = 0; k < states_.size(); ++k)
      if (states_[k] != "dead") states_[k] = "training";
    refreshSites();
  } else if (kind == "round_finished") {
    for (int k = 0; k < states_.size(); ++k)
      if (states_[k] != "dead") states_[k] = "idle";
    refreshSites();
  }
}

void ConfigurePanel::onLinkBytes(const QVector<LinkBytes>& links) {
  bool changed = false;
  for (const auto& l : links)
    if (l.direction == Direction::Received && l.site >= 0 && l.site < states_.size() && states_[l.site] == "training") {
      states_[l.site] = "reporting";
      changed = true;
    }
  if (changed) refreshSites();
}

}  // namespace fomoe::gui
