#include "round_timeline.h"

#include <QLabel>
#include <QSlider>

#include <algorithm>
#include <set>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "colors.h"

namespace fomoe::gui {

RoundTimeline::RoundTimeline(QWidget* parent) : ChartPanel(tr("Round timeline"), parent) {
  slider_ = new QSlider(Qt::Horizontal);
  slider_->setFixedWidth(160);
  label_ = new QLabel(tr("round –"));
  label_->setMinimumWidth(70);
  controls()->addWidget(slider_);
  controls()->addWidget(label_);
  connect(slider_, &QSlider::valueChanged, this, [this](int v) {
    followLatest_ = v == slider_->maximum();
    refresh();
  });
  QCustomPlot* p = plot();
  compute_ = new QCPBars(p->yAxis, p->xAxis);
  comm_ = new QCPBars(p->yAxis, p->xAxis);
  wait_ = new QCPBars(p->yAxis, p->xAxis);
  compute_->setName(tr("compute"));
  comm_->setName(tr("communication"));
  wait_->setName(tr("waiting"));
  compute_->setBrush(QColor(44, 160, 44));
  comm_->setBrush(QColor(31, 119, 180));
  wait_->setBrush(QColor(200, 200, 200));
  for (QCPBars* b : {compute_, comm_, wait_}) {
    b->setPen(Qt::NoPen);
    b->setWidth(0.6);
  }
  comm_->moveAbove(compute_);
  wait_->moveAbove(comm_);
  // Added last, so drawn on top: the communication that ran while the site trained.
  underCompute_ = new QCPBars(p->yAxis, p->xAxis);
  underCompute_->setName(tr("communication under compute"));
  underCompute_->setPen(QPen(QColor(31, 119, 180), 1));
  underCompute_->setBrush(QBrush(QColor(31, 119, 180), Qt::BDiagPattern));
  underCompute_->setWidth(0.3);
  p->xAxis->setLabel(tr("seconds"));
  placeLegendBelow();
  p->yAxis->grid()->setVisible(false);
  setPlaceholder(tr("no completed round yet"));
}

void RoundTimeline::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  followLatest_ = true;
  if (data_) connect(data_, &RunData::changed, this, &RoundTimeline::refresh);
  refresh();
}

void RoundTimeline::refresh() {
  QCustomPlot* p = plot();
  for (QCPBars* b : {compute_, comm_, wait_, underCompute_}) b->data()->clear();
  bool any = false;
  if (data_) {
    const int K = data_->nSites();
    std::set<int> rounds;
    for (int k = 0; k < K; ++k)
      if (const Series* s = data_->find(metric::kRoundCompute, k))
        for (double r : s->round) rounds.insert(int(r));
    std::vector<int> rv(rounds.begin(), rounds.end());
    {
      QSignalBlocker b(slider_);
      slider_->setRange(0, std::max(0, int(rv.size()) - 1));
      if (followLatest_) slider_->setValue(slider_->maximum());
    }
    if (!rv.empty()) {
      const int round = rv[std::min<size_t>(slider_->value(), rv.size() - 1)];
      label_->setText(tr("round %1").arg(round));
      auto valueAt = [&](const char* name, int k) {
        if (const Series* s = data_->find(name, k))
          for (size_t i = 0; i < s->size(); ++i)
            if (int(s->round[i]) == round) return s->value[i];
        return 0.0;
      };
      bool anyHidden = false;
      auto ticker = QSharedPointer<QCPAxisTickerText>::create();
      for (int k = 0; k < K; ++k) {
        compute_->addData(k, valueAt(metric::kRoundCompute, k));
        const double hidden = valueAt(metric::kRoundOverlap, k);
        comm_->addData(k, std::max(0.0, valueAt(metric::kRoundComm, k) - hidden));
        underCompute_->addData(k, hidden);
        anyHidden |= hidden > 0;
        wait_->addData(k, valueAt(metric::kRoundWait, k));
        ticker->addTick(k, data_->isDead(k) ? tr("site %1 ✕").arg(k) : tr("site %1").arg(k));
      }
      // Only runs that overlap show the fourth legend entry.
      underCompute_->setVisible(anyHidden);
      if (anyHidden) underCompute_->addToLegend();
      else underCompute_->removeFromLegend();
      p->yAxis->setTicker(ticker);
      p->yAxis->setTickLabelColor(data_->deadSites().empty() ? chartColors().text : deadColor());
      p->yAxis->setRange(-0.6, K - 0.4);
      p->xAxis->rescale();
      p->xAxis->setRangeLower(0);
      p->xAxis->setRangeUpper(p->xAxis->range().upper * 1.08 + 1e-3);
      any = true;
    }
    setProvenance(QString("run id: %1\nname: %2\nround index: %3").arg(data_->runId()).arg(data_->name()).arg(slider_->value()));
  }
  setPlaceholder(any ? QString() : tr("no completed round yet"));
  p->replot(QCustomPlot::rpQueuedReplot);
}

RoundTimeline::SiteBars RoundTimeline::barsAt(int site) const {
  auto at = [site](QCPBars* b) {
    auto it = b->data()->findBegin(site, false);
    return it != b->data()->constEnd() && it->key == site ? it->value : 0.0;
  };
  return {at(compute_), at(comm_), at(wait_), at(underCompute_)};
}

}  // namespace fomoe::gui
