#include "loss_chart.h"

#include <QComboBox>
#include <QLabel>
#include <QSlider>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "colors.h"
#include "smoothing.h"

namespace fomoe::gui {

namespace {
QString rawName(int site) { return site < 0 ? QStringLiteral("held-out (raw)") : QString("site %1 (raw)").arg(site); }
QString smoothName(int site) { return site < 0 ? QStringLiteral("held-out loss") : QString("site %1").arg(site); }
}  // namespace

LossChart::LossChart(QWidget* parent) : ChartPanel(tr("Loss"), parent) {
  axisBox_ = new QComboBox;
  for (XAxis a : {XAxis::Step, XAxis::Round, XAxis::Tokens, XAxis::WallTime, XAxis::Bytes}) axisBox_->addItem(xAxisName(a));
  axisBox_->setToolTip(tr("x axis"));
  smoothSlider_ = new QSlider(Qt::Horizontal);
  smoothSlider_->setRange(0, 99);
  smoothSlider_->setValue(int(smoothing_ * 100));
  smoothSlider_->setFixedWidth(110);
  smoothSlider_->setToolTip(tr("smoothing (centred moving average: no lag, no bias); the raw series stays faint behind"));
  controls()->addWidget(new QLabel(tr("x:")));
  controls()->addWidget(axisBox_);
  controls()->addWidget(new QLabel(tr("smoothing:")));
  controls()->addWidget(smoothSlider_);
  connect(axisBox_, &QComboBox::currentIndexChanged, this, [this](int i) { setXAxis(static_cast<XAxis>(i)); });
  connect(smoothSlider_, &QSlider::valueChanged, this, [this](int v) { setSmoothing(v / 100.0); });
  plot()->yAxis->setLabel(tr("loss (nats/token)"));
  plot()->xAxis->setLabel(tr("step"));
  plot()->legend->setVisible(true);
  plot()->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  setPlaceholder(tr("no run yet: start one or open a recorded run"));
}

void LossChart::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  if (data_) connect(data_, &RunData::changed, this, &LossChart::refresh);
  refresh();
}

void LossChart::setXAxis(XAxis axis) {
  xAxis_ = axis;
  if (axisBox_->currentIndex() != int(axis)) axisBox_->setCurrentIndex(int(axis));
  plot()->xAxis->setLabel(xAxisLabel(axis));
  refresh();
}

void LossChart::setSmoothing(double alpha) {
  smoothing_ = std::clamp(alpha, 0.0, 0.99);
  refresh();
}

int LossChart::pointCount(int site) const {
  for (int i = 0; i < plot()->graphCount(); ++i)
    if (plot()->graph(i)->name() == rawName(site)) return plot()->graph(i)->dataCount();
  return -1;
}

void LossChart::setSiteSeries(int site, const QVector<double>& x, const QVector<double>& y, bool dead) {
  const std::vector<double> smoothed = centredSmooth(std::vector<double>(y.begin(), y.end()), site < 0 ? 0.0 : smoothing_);
  setSiteSeries(site, x, y, x, QVector<double>(smoothed.begin(), smoothed.end()), dead);
}

void LossChart::setSiteSeries(int site, const QVector<double>& x, const QVector<double>& y, const QVector<double>& x2,
                              const QVector<double>& y2, bool dead) {
  QCPGraph* raw = nullptr;
  QCPGraph* smooth = nullptr;
  for (int i = 0; i < plot()->graphCount(); ++i) {
    if (plot()->graph(i)->name() == rawName(site)) raw = plot()->graph(i);
    if (plot()->graph(i)->property("site").toInt() == site && plot()->graph(i)->property("smooth").toBool())
      smooth = plot()->graph(i);
  }
  if (!raw) {
    raw = plot()->addGraph();
    raw->setName(rawName(site));
    raw->setProperty("site", site);
    raw->removeFromLegend();
    smooth = plot()->addGraph();
    smooth->setProperty("site", site);
    smooth->setProperty("smooth", true);
  }
  const QColor c = dead ? deadColor() : siteColor(site);
  raw->setPen(QPen(withAlpha(c, 60), 1));
  QPen sp(c, site < 0 ? 2.6 : 1.8);
  if (dead) sp.setStyle(Qt::DashLine);
  smooth->setPen(sp);
  smooth->setName(dead ? smoothName(site) + tr(" (dead)") : smoothName(site));
  if (site < 0) {
    smooth->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, c, Qt::white, 6));
    raw->setVisible(false);  // evaluations are sparse: the smoothed line is the data
  }
  raw->setData(x, y, site >= 0);  // sorted by step already; wall time too (monotonic per site)
  smooth->setData(x2, y2, site >= 0);
}

void LossChart::fillFrom(int site, const Series& s, bool dead) {
  const int n = int(s.size());
  QVector<double> x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = data_ ? data_->xOf(xAxis_, s, size_t(i)) : s.step[i];
    y[i] = s.value[i];
  }
  if (n <= kMaxDrawnPoints) {
    setSiteSeries(site, x, y, dead);
    return;
  }
  // Long live series: smooth over every point, then draw a min/max envelope per chunk (spikes
  // stay visible) and the smoothed value at each chunk's end.
  const int chunk = (n + kMaxDrawnPoints / 2 - 1) / (kMaxDrawnPoints / 2);
  QVector<double> rx, ry, sx, sy;
  rx.reserve(kMaxDrawnPoints + 2);
  ry.reserve(kMaxDrawnPoints + 2);
  const std::vector<double> smoothed = centredSmooth(std::vector<double>(y.begin(), y.end()), site < 0 ? 0.0 : smoothing_);
  for (int start = 0; start < n; start += chunk) {
    const int end = std::min(n, start + chunk);
    int lo = start, hi = start;
    for (int i = start; i < end; ++i) {
      if (y[i] < y[lo]) lo = i;
      if (y[i] > y[hi]) hi = i;
    }
    const int first = std::min(lo, hi), second = std::max(lo, hi);
    rx << x[first] << x[second];
    ry << y[first] << y[second];
    sx << x[end - 1];
    sy << smoothed[static_cast<size_t>(end - 1)];
  }
  setSiteSeries(site, rx, ry, sx, sy, dead);
}

void LossChart::refresh() {
  plot()->clearGraphs();
  bool any = false;
  if (data_) {
    for (int k = 0; k < data_->nSites(); ++k)
      if (const Series* s = data_->find(metric::kTrainLoss, k); s && s->size()) {
        fillFrom(k, *s, data_->isDead(k));
        any = true;
      }
    if (const Series* s = data_->find(metric::kTrainLoss, -1); s && s->size()) {  // single-site runs
      fillFrom(0, *s, false);
      any = true;
    }
    if (const Series* s = data_->find(metric::kEvalLoss, -1); s && s->size()) {
      fillFrom(-1, *s, false);
      any = true;
    }
    // Data that stays at its site: each site's held-out loss on its own split, dashed in its colour.
    for (int k = 0; k < data_->nSites(); ++k)
      if (const Series* s = data_->find(metric::kSiteEvalLoss, k); s && s->size()) {
        QVector<double> x, y;
        for (size_t i = 0; i < s->size(); ++i) {
          x << data_->xOf(xAxis_, *s, i);
          y << s->value[i];
        }
        QCPGraph* g = plot()->addGraph();
        g->setName(tr("site %1 held-out (own data)").arg(k));
        g->setProperty("site", k);
        QPen pen(siteColor(k), 1.6, Qt::DashLine);
        g->setPen(pen);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, siteColor(k), Qt::white, 6));
        g->setData(x, y, true);
        any = true;
      }
    setTitle(data_->runId() >= 0 ? tr("Loss — run %1 (%2)").arg(data_->runId()).arg(data_->name()) : tr("Loss"));
    setProvenance(QString("run id: %1\nname: %2\nmethod: %3\nsites: %4")
                      .arg(data_->runId())
                      .arg(data_->name())
                      .arg(method_name(data_->config().run.method))
                      .arg(data_->nSites()));
  }
  setPlaceholder(any ? QString() : tr("waiting for the first loss values"));
  if (any) rescaleWithMargin();
  plot()->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace fomoe::gui
