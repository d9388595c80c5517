#include "routing_panel.h"

#include <QHBoxLayout>

#include <map>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "chart_panel.h"
#include "colors.h"

namespace fomoe::gui {

RoutingPanel::RoutingPanel(QWidget* parent) : QWidget(parent) {
  auto* h = new QHBoxLayout(this);
  h->setContentsMargins(0, 0, 0, 0);
  entropy_ = new ChartPanel(tr("Routing entropy per layer"));
  entropy_->plot()->xAxis->setLabel(tr("round (step for single-site runs)"));
  entropy_->plot()->yAxis->setLabel(tr("router entropy / log E"));
  entropy_->plot()->legend->setVisible(true);
  entropy_->plot()->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
  skip_ = new ChartPanel(tr("Skip rate (site x layer)"));
  skip_->plot()->xAxis->setLabel(tr("MoE layer"));
  skip_->plot()->yAxis->setLabel(tr("site"));
  skipMap_ = new QCPColorMap(skip_->plot()->xAxis, skip_->plot()->yAxis);
  skipMap_->setName(tr("skip rate"));
  skipScale_ = new QCPColorScale(skip_->plot());
  skip_->plot()->plotLayout()->addElement(0, 1, skipScale_);
  skipScale_->setLabel(tr("skipped picks / all picks"));
  skipMap_->setColorScale(skipScale_);
  QCPColorGradient g;  // white (nothing skipped) -> orange -> dark red (everything skipped)
  g.setColorStopAt(0.0, QColor(255, 255, 255));
  g.setColorStopAt(0.5, QColor(253, 174, 97));
  g.setColorStopAt(1.0, QColor(120, 10, 20));
  g.setNanHandling(QCPColorGradient::nhTransparent);
  skipMap_->setGradient(g);
  skipMap_->setDataRange(QCPRange(0, 1));
  skipMap_->setInterpolate(false);
  for (QCPAxis* a : {skip_->plot()->xAxis, skip_->plot()->yAxis}) {
    a->setTicker(QSharedPointer<QCPAxisTickerFixed>::create());
    qSharedPointerCast<QCPAxisTickerFixed>(a->ticker())->setTickStep(1.0);
    a->grid()->setVisible(false);
  }
  h->addWidget(entropy_, 3);
  h->addWidget(skip_, 2);
  entropy_->setPlaceholder(tr("no routing statistics yet"));
  skip_->setPlaceholder(tr("no skip rates yet"));
}

void RoutingPanel::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  if (data_) connect(data_, &RunData::changed, this, &RoutingPanel::refresh);
  refresh();
}

void RoutingPanel::refresh() {
  QCustomPlot* p = entropy_->plot();
  p->clearGraphs();
  bool anyEntropy = false, anySkip = false;
  if (data_) {
    const int L = data_->nLayers();
    for (int l = 0; l < L; ++l) {
      const std::string name = metric::layer_metric(metric::kRouterEntropy, l);
      std::map<double, std::pair<double, int>> byX;  // x -> (sum, n) over sites
      for (int k = -1; k < data_->nSites(); ++k)
        if (const Series* s = data_->find(name, k))
          for (size_t i = 0; i < s->size(); ++i) {
            const double x = s->round[i] >= 0 ? s->round[i] : s->step[i];
            auto& acc = byX[x];
            acc.first += s->value[i];
            acc.second += 1;
          }
      if (byX.empty()) continue;
      QVector<double> xs, ys;
      for (auto& [x, acc] : byX) {
        xs.push_back(x);
        ys.push_back(acc.first / acc.second);
      }
      QCPGraph* g = p->addGraph();
      g->setName(tr("layer %1").arg(l));
      g->setPen(QPen(layerColor(l), 1.8));
      g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));
      g->setData(xs, ys, true);
      anyEntropy = true;
    }
    if (anyEntropy) {
      p->rescaleAxes();
      p->yAxis->setRange(p->yAxis->range().lower - 0.02, std::min(1.05, p->yAxis->range().upper + 0.02));
    }
    // Skip rate heatmap: latest value per (site, layer).
    const int K = std::max(1, data_->nSites());
    skipMap_->data()->setSize(std::max(1, L), K);
    skipMap_->data()->setRange(QCPRange(0, std::max(1, L) - 1), QCPRange(0, K - 1));
    skipMap_->data()->fill(std::nan(""));
    for (int l = 0; l < L; ++l)
      for (int k = -1; k < K; ++k)
        if (const Series* s = data_->find(metric::layer_metric(metric::kSkipRate, l), k); s && s->size()) {
          skipMap_->data()->setCell(l, std::max(0, k), s->value.back());
          anySkip = true;
        }
    skip_->plot()->xAxis->setRange(-0.5, std::max(1, L) - 0.5);
    skip_->plot()->yAxis->setRange(-0.5, K - 0.5);
    // Dead sites: red labels on the site axis.
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (int k = 0; k < K; ++k) ticker->addTick(k, data_->isDead(k) ? tr("site %1 ✕").arg(k) : tr("site %1").arg(k));
    skip_->plot()->yAxis->setTicker(ticker);
    skip_->plot()->yAxis->setTickLabelColor(data_->deadSites().empty() ? chartColors().text : deadColor());
    const QString prov = QString("run id: %1\nname: %2").arg(data_->runId()).arg(data_->name());
    entropy_->setProvenance(prov);
    skip_->setProvenance(prov);
  }
  entropy_->setPlaceholder(anyEntropy ? QString() : tr("no routing statistics yet"));
  skip_->setPlaceholder(anySkip ? QString() : tr("no skip rates yet (every site holds every expert)"));
  p->replot(QCustomPlot::rpQueuedReplot);
  skip_->plot()->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace fomoe::gui
