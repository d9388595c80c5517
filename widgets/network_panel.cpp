#include "network_panel.h"

#include <QComboBox>
#include <QGridLayout>
#include <QSplitter>

#include <map>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "chart_panel.h"
#include "colors.h"
#include "round_timeline.h"
#include "topology_view.h"

namespace fomoe::gui {

NetworkPanel::NetworkPanel(QWidget* parent) : QWidget(parent) {
  auto* grid = new QGridLayout(this);
  grid->setContentsMargins(0, 0, 0, 0);
  topology_ = new TopologyView;
  bytes_ = new ChartPanel(tr("Bytes over rounds"));
  groupBox_ = new QComboBox;
  groupBox_->addItems({tr("per link"), tr("per message type")});
  cumulativeBox_ = new QComboBox;
  cumulativeBox_->addItems({tr("per round"), tr("cumulative")});
  bytes_->controls()->addWidget(groupBox_);
  bytes_->controls()->addWidget(cumulativeBox_);
  connect(groupBox_, &QComboBox::currentIndexChanged, this, &NetworkPanel::refreshBytes);
  connect(cumulativeBox_, &QComboBox::currentIndexChanged, this, &NetworkPanel::refreshBytes);
  bytes_->plot()->xAxis->setLabel(tr("round"));
  bytes_->plot()->yAxis->setLabel(tr("MiB"));
  bytes_->placeLegendBelow();
  timeline_ = new RoundTimeline;
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(topology_);
  split->addWidget(bytes_);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 3);
  auto* vsplit = new QSplitter(Qt::Vertical);
  vsplit->addWidget(split);
  vsplit->addWidget(timeline_);
  vsplit->setStretchFactor(0, 3);
  vsplit->setStretchFactor(1, 2);
  grid->addWidget(vsplit, 0, 0);
  bytes_->setPlaceholder(tr("no link traffic yet"));
}

void NetworkPanel::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  topology_->setData(data);
  timeline_->setData(data);
  if (data_) connect(data_, &RunData::changed, this, &NetworkPanel::refreshBytes);
  refreshBytes();
}

void NetworkPanel::refreshBytes() {
  QCustomPlot* p = bytes_->plot();
  p->clearGraphs();
  bool any = false;
  if (data_) {
    const bool byType = groupBox_->currentIndex() == 1;
    const bool cumulative = cumulativeBox_->currentIndex() == 1;
    std::map<QString, std::map<int, double>> groups;  // label -> round -> bytes
    std::map<QString, int> siteOf;
    for (const auto& l : data_->links()) {
      if (!byType && l.site < 0) continue;  // traffic not yet bound to a site (handshakes)
      const QString key = byType ? QString::fromStdString(l.msg_type) : tr("site %1").arg(l.site);
      groups[key][l.round] += double(l.bytes) / (1024.0 * 1024.0);
      siteOf[key] = byType ? -2 : l.site;
    }
    int i = 0;
    for (auto& [label, rounds] : groups) {
      QVector<double> x, y;
      double acc = 0;
      for (auto& [r, b] : rounds) {
        acc = cumulative ? acc + b : b;
        x.push_back(r);
        y.push_back(acc);
      }
      QCPGraph* g = p->addGraph();
      const int site = siteOf[label];
      const bool dead = site >= 0 && data_->isDead(site);
      g->setName(dead ? label + tr(" (dead)") : label);
      const QColor c = dead ? deadColor() : site >= 0 ? siteColor(site) : layerColor(i);
      g->setPen(QPen(c, 1.8, dead ? Qt::DashLine : Qt::SolidLine));
      g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 4));
      g->setData(x, y, true);
      ++i;
      any = true;
    }
    if (any) {
      p->rescaleAxes();
      p->yAxis->setRangeLower(0);
      p->yAxis->setRangeUpper(p->yAxis->range().upper * 1.1);
      p->xAxis->setRange(p->xAxis->range().lower - 0.5, p->xAxis->range().upper + 0.5);
    }
    bytes_->setProvenance(QString("run id: %1\nname: %2\ngrouping: %3\n%4")
                              .arg(data_->runId()).arg(data_->name())
                              .arg(groupBox_->currentText(), cumulativeBox_->currentText()));
  }
  bytes_->setPlaceholder(any ? QString() : tr("no link traffic yet"));
  p->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace fomoe::gui
