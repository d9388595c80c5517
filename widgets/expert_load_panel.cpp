#include "expert_load_panel.h"

#include <QComboBox>
#include <QLabel>
#include <QSlider>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "colors.h"

namespace fomoe::gui {

namespace {
QCPColorGradient loadGradient() {  // viridis
  QCPColorGradient g;
  g.setColorStopAt(0.0, QColor(68, 1, 84));
  g.setColorStopAt(0.25, QColor(59, 82, 139));
  g.setColorStopAt(0.5, QColor(33, 145, 140));
  g.setColorStopAt(0.75, QColor(94, 201, 98));
  g.setColorStopAt(1.0, QColor(253, 231, 37));
  return g;
}
}  // namespace

ExpertLoadPanel::ExpertLoadPanel(QWidget* parent) : ChartPanel(tr("Expert load (site x expert; ✕ = not held)"), parent) {
  layerBox_ = new QComboBox;
  slider_ = new QSlider(Qt::Horizontal);
  slider_->setFixedWidth(160);
  slider_->setRange(0, 0);
  roundLabel_ = new QLabel(tr("round –"));
  roundLabel_->setMinimumWidth(80);
  controls()->addWidget(new QLabel(tr("layer:")));
  controls()->addWidget(layerBox_);
  controls()->addWidget(slider_);
  controls()->addWidget(roundLabel_);
  connect(layerBox_, &QComboBox::currentIndexChanged, this, [this] { refresh(); });
  connect(slider_, &QSlider::valueChanged, this, [this](int v) {
    followLatest_ = v == slider_->maximum();
    refresh();
  });
  map_ = new QCPColorMap(plot()->xAxis, plot()->yAxis);
  map_->setName(tr("tokens"));
  scale_ = new QCPColorScale(plot());
  plot()->plotLayout()->addElement(0, 1, scale_);
  map_->setColorScale(scale_);
  map_->setGradient(loadGradient());
  map_->setInterpolate(false);
  plot()->xAxis->setLabel(tr("expert"));
  plot()->yAxis->setLabel(tr("site"));
  for (QCPAxis* a : {plot()->xAxis, plot()->yAxis}) {
    auto t = QSharedPointer<QCPAxisTickerFixed>::create();
    t->setTickStep(1.0);
    a->setTicker(t);
    a->grid()->setVisible(false);
  }
  setPlaceholder(tr("no expert load yet"));
}

void ExpertLoadPanel::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  other_ = nullptr;
  if (data_) connect(data_, &RunData::changed, this, &ExpertLoadPanel::refresh);
  followLatest_ = true;
  refresh();
}

void ExpertLoadPanel::setDifference(RunData* a, RunData* b) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = a;
  other_ = b;
  slider_->setVisible(false);
  roundLabel_->setVisible(false);
  setTitle(a && b ? tr("Expert load difference: share in A (run %1) − share in B (run %2)").arg(a->runId()).arg(b->runId())
                  : tr("Expert load difference (share A − share B)"));
  plot()->legend->setVisible(false);
  QCPColorGradient polar;  // blue (B heavier) - white - red (A heavier)
  polar.setColorStopAt(0.0, QColor(33, 102, 172));
  polar.setColorStopAt(0.5, QColor(247, 247, 247));
  polar.setColorStopAt(1.0, QColor(178, 24, 43));
  map_->setGradient(polar);
  refresh();
}

void ExpertLoadPanel::refresh() {
  for (int i = plot()->itemCount() - 1; i >= 0; --i)
    if (plot()->item(i)->property("cellMark").toBool()) plot()->removeItem(i);
  if (!data_) {
    plot()->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  const int L = std::max(1, data_->nLayers());
  if (layerBox_->count() != L) {
    QSignalBlocker b(layerBox_);
    layerBox_->clear();
    for (int l = 0; l < L; ++l) layerBox_->addItem(QString::number(l));
  }
  const int layer = std::max(0, layerBox_->currentIndex());
  const int E = std::max(1, data_->nExperts());
  const int K = std::max(1, data_->nSites());
  map_->data()->setSize(E, K);
  map_->data()->setRange(QCPRange(0, E - 1), QCPRange(0, K - 1));
  map_->data()->fill(0);
  bool any = false;
  auto shares = [&](RunData* d) {
    std::vector<double> cells(size_t(E) * K, 0.0);
    double total = 0;
    for (const auto& [round, entries] : d->expertLoad())
      for (const auto& e : entries)
        if (e.layer == layer && e.expert < E && e.site < K) {
          cells[size_t(e.site) * E + e.expert] += double(e.tokens);
          total += double(e.tokens);
        }
    if (total > 0)
      for (auto& c : cells) c /= total;
    return cells;
  };
  if (other_) {
    auto a = shares(data_), b = shares(other_);
    double m = 1e-9;
    for (int k = 0; k < K; ++k)
      for (int e = 0; e < E; ++e) {
        const double v = a[size_t(k) * E + e] - b[size_t(k) * E + e];
        map_->data()->setCell(e, k, v);
        m = std::max(m, std::fabs(v));
        any = any || a[size_t(k) * E + e] > 0 || b[size_t(k) * E + e] > 0;
      }
    map_->setDataRange(QCPRange(-m, m));
    scale_->setLabel(tr("share of layer tokens, A − B"));
    setProvenance(QString("run A: %1 (%2)\nrun B: %3 (%4)\nlayer: %5")
                      .arg(data_->runId()).arg(data_->name()).arg(other_->runId()).arg(other_->name()).arg(layer));
  } else {
    const auto& load = data_->expertLoad();
    const int nRounds = int(load.size());
    {
      QSignalBlocker b(slider_);
      slider_->setRange(0, std::max(0, nRounds - 1));
      if (followLatest_) slider_->setValue(slider_->maximum());
    }
    if (nRounds > 0) {
      auto it = load.begin();
      std::advance(it, std::min(slider_->value(), nRounds - 1));
      roundLabel_->setText(data_->config().run.method == Method::Single ? tr("step %1").arg(it->first)
                                                                         : tr("round %1").arg(it->first));
      double maxV = 1;
      for (const auto& e : it->second)
        if (e.layer == layer && e.expert < E && e.site < K) {
          map_->data()->setCell(e.expert, e.site, double(e.tokens));
          maxV = std::max(maxV, double(e.tokens));
          any = true;
        }
      map_->setDataRange(QCPRange(0, maxV));
      scale_->setLabel(tr("tokens routed"));
    }
    // Mark experts a site does not hold (placement), so placement and load read together.
    std::set<std::pair<int, int>> held;
    for (const auto& p : data_->placement())
      if (p.layer == layer) held.insert({p.site, p.expert});
    if (!held.empty())
      for (int k = 0; k < K; ++k)
        for (int e = 0; e < E; ++e)
          if (!held.count({k, e})) {
            auto* t = new QCPItemText(plot());
            t->setProperty("cellMark", true);
            t->position->setCoords(e, k);
            t->setText(QStringLiteral("✕"));
            t->setColor(QColor(255, 255, 255, 230));
            QFont f = t->font();
            f.setPointSize(13);
            f.setBold(true);
            t->setFont(f);
          }
    setProvenance(QString("run id: %1\nname: %2\nlayer: %3\nround index: %4")
                      .arg(data_->runId()).arg(data_->name()).arg(layer).arg(slider_->value()));
  }
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (int k = 0; k < K; ++k) ticker->addTick(k, data_->isDead(k) ? tr("site %1 ✕").arg(k) : tr("site %1").arg(k));
  plot()->yAxis->setTicker(ticker);
  plot()->yAxis->setTickLabelColor(data_->deadSites().empty() ? chartColors().text : deadColor());
  plot()->xAxis->setRange(-0.5, E - 0.5);
  plot()->yAxis->setRange(-0.5, K - 0.5);
  setPlaceholder(any ? QString() : tr("no expert load yet"));
  plot()->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace fomoe::gui
