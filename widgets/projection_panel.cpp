#include "projection_panel.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "bridge/experiment_document.h"
#include "bridge/projection_source.h"
#include "bridge/store_model.h"
#include "chart_panel.h"
#include "colors.h"

namespace fomoe::gui {

ProjectionPanel::ProjectionPanel(ExperimentDocument* doc, QWidget* parent) : QWidget(parent), doc_(doc) {
  auto* v = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  preset_ = new QComboBox;
  preset_->addItem(tr("this experiment's model"), QString());
  for (const QString& p : projectionPresets()) preset_->addItem(p, p);
  sites_ = new QSpinBox;
  sites_->setRange(1, 4096);
  sites_->setPrefix(tr("K = "));
  r_ = new QSpinBox;
  r_->setRange(1, 4096);
  r_->setPrefix(tr("r = "));
  h_ = new QSpinBox;
  h_->setRange(1, 100000);
  h_->setPrefix(tr("H = "));
  gbps_ = new QDoubleSpinBox;
  gbps_->setRange(0.001, 10000);
  gbps_->setDecimals(3);
  gbps_->setSuffix(tr(" Gbit/s"));
  precision_ = new QComboBox;
  precision_->addItems({"fp32", "bf16", "fp16"});
  auto* take = new QPushButton(tr("From experiment"));
  bar->addWidget(new QLabel(tr("model:")));
  bar->addWidget(preset_);
  for (QWidget* w : std::initializer_list<QWidget*>{sites_, r_, h_, gbps_, precision_}) bar->addWidget(w);
  bar->addWidget(take);
  bar->addStretch(1);
  v->addLayout(bar);
  summary_ = new QLabel;
  summary_->setWordWrap(true);
  v->addWidget(summary_);
  auto* split = new QSplitter(Qt::Vertical);
  table_ = new QTableWidget(0, 7);
  table_->setHorizontalHeaderLabels({tr("method"), tr("params/site"), tr("memory/site"), tr("bytes/round (site)"),
                                     tr("bytes/round (coord.)"), tr("comm./round"), tr("× FoMoE")});
  table_->horizontalHeaderItem(3)->setToolTip(tr("the busiest site, up + down"));
  table_->horizontalHeaderItem(4)->setToolTip(tr("coordinator in + out"));
  table_->horizontalHeaderItem(5)->setToolTip(tr("coordinator link, all sites serialised"));
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  split->addWidget(table_);
  bars_ = new ChartPanel(tr("Coordinator bytes per round (log scale)"));
  bars_->plot()->yAxis->setScaleType(QCPAxis::stLogarithmic);
  bars_->plot()->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
  bars_->plot()->yAxis->setLabel(tr("bytes per round"));
  split->addWidget(bars_);
  v->addWidget(split, 1);
  auto* note = new QLabel(tr("Parameters and bytes are exact for the engine's wire format; memory is an estimate "
                             "(core/sysmodel/README.md). DDP's round is H steps, each synchronised."));
  note->setStyleSheet("color: #666;");
  note->setWordWrap(true);
  v->addWidget(note);
  for (QSpinBox* s : {sites_, r_, h_}) connect(s, &QSpinBox::valueChanged, this, &ProjectionPanel::refresh);
  connect(gbps_, &QDoubleSpinBox::valueChanged, this, &ProjectionPanel::refresh);
  connect(preset_, &QComboBox::currentIndexChanged, this, &ProjectionPanel::refresh);
  connect(precision_, &QComboBox::currentIndexChanged, this, &ProjectionPanel::refresh);
  connect(take, &QPushButton::clicked, this, &ProjectionPanel::takeFromExperiment);
  connect(doc_, &ExperimentDocument::configChanged, this, &ProjectionPanel::takeFromExperiment);
  takeFromExperiment();
}

void ProjectionPanel::takeFromExperiment() {
  const auto& f = doc_->config().federation;
  for (QWidget* w : std::initializer_list<QWidget*>{sites_, r_, h_, gbps_, precision_}) w->blockSignals(true);
  sites_->setValue(f.sites);
  r_->setValue(f.replication);
  h_->setValue(f.inner_steps);
  gbps_->setValue(f.bandwidth_mbps > 0 ? f.bandwidth_mbps / 1000.0 : 1.0);
  precision_->setCurrentIndex(int(f.precision));
  for (QWidget* w : std::initializer_list<QWidget*>{sites_, r_, h_, gbps_, precision_}) w->blockSignals(false);
  refresh();
}

void ProjectionPanel::refresh() {
  ProjectionInput in;
  in.preset = preset_->currentData().toString();
  in.sites = sites_->value();
  in.replication = std::min(r_->value(), sites_->value());
  in.innerSteps = h_->value();
  in.bandwidthGbps = gbps_->value();
  in.precision = precision_->currentIndex();
  QVector<ProjectionRow> rows;
  QString err, model;
  QCustomPlot* p = bars_->plot();
  p->clearPlottables();
  if (!projectExperiment(doc_->config(), in, &rows, &err, &model)) {
    summary_->setText(tr("✗ %1").arg(err));
    summary_->setStyleSheet("color: #c0181c; font-weight: bold;");
    table_->setRowCount(0);
    p->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  summary_->setText(model);
  summary_->setStyleSheet("");
  table_->setRowCount(rows.size());
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  auto* bars = new QCPBars(p->xAxis, p->yAxis);
  bars->setName(tr("coordinator bytes / round"));
  bars->setWidth(0.6);
  bars->setPen(Qt::NoPen);
  bars->setBrush(QColor(31, 119, 180));
  double lo = 1e300, hi = 1;
  for (int i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    auto cell = [&](int c, const QString& t) {
      auto* it = new QTableWidgetItem(t);
      it->setTextAlignment(c == 0 ? Qt::AlignLeft | Qt::AlignVCenter : Qt::AlignRight | Qt::AlignVCenter);
      if (r.method == "fomoe") {
        QFont f = it->font();
        f.setBold(true);
        it->setFont(f);
      }
      table_->setItem(i, c, it);
    };
    cell(0, r.method);
    cell(1, QLocale().toString(r.maxParamsPerSite));
    cell(2, humanBytes(r.maxMemoryBytes));
    cell(3, humanBytes(r.bytesPerRoundSite));
    cell(4, humanBytes(r.bytesPerRoundCoord));
    cell(5, humanDuration(r.commSecondsPerRound));
    cell(6, QString::number(r.ratioVsFomoe, 'f', 2) + "×");
    bars->addData(i, std::max(1.0, r.bytesPerRoundCoord));
    ticker->addTick(i, r.method);
    lo = std::min(lo, std::max(1.0, r.bytesPerRoundCoord));
    hi = std::max(hi, r.bytesPerRoundCoord);
  }
  p->xAxis->setTicker(ticker);
  p->xAxis->setRange(-0.6, rows.size() - 0.4);
  p->yAxis->setRange(lo / 3, hi * 3);
  bars_->setProvenance(QString("model: %1\nK=%2 r=%3 H=%4 bandwidth=%5 Gbit/s precision=%6")
                           .arg(model).arg(in.sites).arg(in.replication).arg(in.innerSteps).arg(in.bandwidthGbps)
                           .arg(precision_->currentText()));
  p->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace fomoe::gui
