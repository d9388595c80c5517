#include "compare_view.h"

#include <QComboBox>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>

#include <map>
#include <set>

#include <qcustomplot.h>

#include "bridge/run_data.h"
#include "bridge/store_model.h"
#include "chart_panel.h"
#include "colors.h"
#include "expert_load_panel.h"

namespace fomoe::gui {

QList<QPair<QString, QString>> flattenToml(const QString& toml) {
  QList<QPair<QString, QString>> out;
  QString section;
  for (QString line : toml.split('\n')) {
    line = line.trimmed();
    if (line.isEmpty() || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      section = line.mid(1, line.indexOf(']') - 1).remove('[');
      continue;
    }
    const int eq = line.indexOf('=');
    if (eq < 0) continue;
    out.push_back({section + "." + line.left(eq).trimmed(), line.mid(eq + 1).trimmed()});
  }
  return out;
}

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(0, 0, 0, 0);
  auto* split = new QSplitter(Qt::Horizontal);
  overlay_ = new ChartPanel(tr("Overlay"));
  metric_ = new QComboBox;
  metric_->setMinimumWidth(200);
  site_ = new QComboBox;
  overlay_->controls()->addWidget(new QLabel(tr("metric:")));
  overlay_->controls()->addWidget(metric_);
  overlay_->controls()->addWidget(site_);
  xAxis_ = new QComboBox;
  for (XAxis a : {XAxis::Step, XAxis::Round, XAxis::Tokens, XAxis::WallTime, XAxis::Bytes})
    xAxis_->addItem(xAxisName(a), int(a));
  xAxis_->setToolTip(tr("x axis; bytes sent: all links, both directions, by the end of each step"));
  overlay_->controls()->addWidget(new QLabel(tr("against:")));
  overlay_->controls()->addWidget(xAxis_);
  connect(xAxis_, &QComboBox::currentIndexChanged, this, &CompareView::refreshOverlay);
  overlay_->plot()->xAxis->setLabel(tr("step"));
  overlay_->plot()->legend->setVisible(true);
  overlay_->setPlaceholder(tr("select runs in the Runs tab and press Compare selected"));
  connect(metric_, &QComboBox::currentIndexChanged, this, &CompareView::refreshOverlay);
  connect(site_, &QComboBox::currentIndexChanged, this, &CompareView::refreshOverlay);
  split->addWidget(overlay_);
  auto* tabs = new QTabWidget;
  diff_ = new QTableWidget;
  diff_->verticalHeader()->setVisible(false);
  diff_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  bytes_ = new QTableWidget;
  bytes_->verticalHeader()->setVisible(false);
  bytes_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  loadDiff_ = new ExpertLoadPanel;
  tabs->addTab(diff_, tr("Config diff"));
  tabs->addTab(bytes_, tr("Bytes and loss per byte"));
  tabs->addTab(loadDiff_, tr("Expert load difference"));
  split->addWidget(tabs);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  v->addWidget(split);
}

CompareView::~CompareView() = default;

bool CompareView::setRuns(RunStore& store, const QList<qint64>& runIds, QString* error) {
  runs_.clear();
  totalBytes_.clear();
  for (qint64 id : runIds) {
    auto d = std::make_unique<RunData>();
    if (!d->loadFromStore(store, id, 4000, error)) return false;
    auto summary = store.get_summary(id);
    totalBytes_.push_back(summary ? summary->total_bytes : 0);
    runs_.push_back(std::move(d));
  }
  std::set<std::string> names;
  for (auto& r : runs_)
    for (auto& [key, s] : r->series()) names.insert(key.first);
  {
    QSignalBlocker b1(metric_), b2(site_);
    const QString keep = metric_->currentText();
    metric_->clear();
    for (auto& n : names) metric_->addItem(QString::fromStdString(n));
    const int i = metric_->findText(keep.isEmpty() ? QString(metric::kTrainLoss) : keep);
    metric_->setCurrentIndex(i >= 0 ? i : 0);
    site_->clear();
    site_->addItem(tr("global / mean over sites"), -2);
    int maxSites = 0;
    for (auto& r : runs_) maxSites = std::max(maxSites, r->nSites());
    for (int k = 0; k < maxSites; ++k) site_->addItem(tr("site %1").arg(k), k);
  }
  refreshOverlay();
  fillDiff();
  fillBytes();
  if (runs_.size() >= 2) loadDiff_->setDifference(runs_[0].get(), runs_[1].get());
  return true;
}

void CompareView::refreshOverlay() {
  QCustomPlot* p = overlay_->plot();
  p->clearGraphs();
  const std::string name = metric_->currentText().toStdString();
  const int site = site_->currentData().toInt();
  QStringList prov;
  const XAxis axis = static_cast<XAxis>(xAxis_->currentData().toInt());
  for (auto& r : runs_) {
    struct Acc {
      double sum = 0, x = 0;
      int n = 0;
    };
    std::map<double, Acc> acc;  // step -> mean over the series at that step
    auto add = [&](const Series* s) {
      if (!s) return;
      for (size_t i = 0; i < s->size(); ++i) {
        auto& a = acc[s->step[i]];
        a.sum += s->value[i];
        a.x = std::max(a.x, r->xOf(axis, *s, i));
        a.n += 1;
      }
    };
    if (site >= -1) add(r->find(name, site));
    else if (const Series* g = r->find(name, -1)) add(g);
    else
      for (int k = 0; k < r->nSites(); ++k) add(r->find(name, k));
    QVector<double> x, y;
    for (auto& [step, a] : acc) {
      x.push_back(a.x);
      y.push_back(a.sum / a.n);
    }
    QCPGraph* g = p->addGraph();
    const size_t index = size_t(&r - &runs_[0]);
    const QString role = index == 0 ? tr("A: ") : index == 1 ? tr("B: ") : QString();
    g->setName(role + tr("run %1 · %2 (%3)").arg(r->runId()).arg(r->name()).arg(method_name(r->config().run.method)));
    g->setPen(QPen(runColor(r->runId()), 2));
    if (x.size() < 40) g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    g->setData(x, y, true);
    prov << QString("run %1: %2, method %3, sites %4").arg(r->runId()).arg(r->name())
                .arg(method_name(r->config().run.method)).arg(r->nSites());
  }
  overlay_->setTitle(tr("Overlay: %1").arg(metric_->currentText()));
  p->yAxis->setLabel(metric_->currentText());
  p->xAxis->setLabel(xAxisLabel(axis));
  overlay_->setProvenance(prov.join('\n') + "\nmetric: " + metric_->currentText() + "\nsite: " + site_->currentText() +
                          "\nx: " + xAxisLabel(axis));
  overlay_->setPlaceholder(runs_.empty() ? tr("select runs in the Runs tab and press Compare selected") : QString());
  overlay_->rescaleWithMargin();
  p->replot(QCustomPlot::rpQueuedReplot);
}

void CompareView::fillDiff() {
  std::vector<std::map<QString, QString>> cfgs;
  std::set<QString> keys;
  for (auto& r : runs_) {
    std::map<QString, QString> m;
    for (auto& [k, val] : flattenToml(QString::fromStdString(to_toml(r->config())))) {
      if (k == "run.name") continue;
      m[k] = val;
      keys.insert(k);
    }
    cfgs.push_back(std::move(m));
  }
  QStringList headers{tr("key")};
  for (size_t i = 0; i < runs_.size(); ++i)
    headers << (i == 0 ? tr("A: run %1") : i == 1 ? tr("B: run %1") : tr("run %1")).arg(runs_[i]->runId());
  diff_->clear();
  diff_->setColumnCount(headers.size());
  diff_->setHorizontalHeaderLabels(headers);
  diff_->setRowCount(0);
  for (const QString& k : keys) {
    std::set<QString> values;
    for (auto& c : cfgs) values.insert(c.count(k) ? c[k] : QString("—"));
    if (values.size() <= 1) continue;  // only what differs
    const int row = diff_->rowCount();
    diff_->insertRow(row);
    diff_->setItem(row, 0, new QTableWidgetItem(k));
    for (size_t i = 0; i < cfgs.size(); ++i) {
      auto* it = new QTableWidgetItem(cfgs[i].count(k) ? cfgs[i][k] : QString("—"));
      it->setForeground(runColor(runs_[i]->runId()).darker(130));
      diff_->setItem(row, int(i) + 1, it);
    }
  }
  if (diff_->rowCount() == 0 && runs_.size() > 1) {
    diff_->insertRow(0);
    diff_->setItem(0, 0, new QTableWidgetItem(tr("(the configs are identical apart from the name)")));
  }
  diff_->horizontalHeader()->setStretchLastSection(true);
  diff_->resizeColumnToContents(0);
}

void CompareView::fillBytes() {
  bytes_->clear();
  const QStringList headers{tr("run"), tr("method"), tr("final held-out loss"), tr("total bytes"), tr("loss drop per GiB")};
  const QStringList meaning{
      tr("A is the first run selected, B the second; the expert load difference is A − B"),
      tr("training method"),
      tr("held-out (eval) loss at the run's last evaluation, nats per token; the last train loss when it never evaluated"),
      tr("bytes on the wire over the whole run: every link, both directions, as counted by the ByteCounter"),
      tr("(first train loss − final loss) / total GiB: how much loss each GiB on the wire bought")};
  bytes_->setColumnCount(headers.size());
  bytes_->setHorizontalHeaderLabels(headers);
  for (int c = 0; c < headers.size(); ++c) bytes_->horizontalHeaderItem(c)->setToolTip(meaning[c]);
  bytes_->setRowCount(int(runs_.size()));
  for (size_t i = 0; i < runs_.size(); ++i) {
    RunData* r = runs_[i].get();
    double first = -1, last = -1;
    if (const Series* ev = r->find(metric::kEvalLoss, -1); ev && ev->size()) last = ev->value.back();
    for (int k = -1; k < r->nSites(); ++k)
      if (const Series* tl = r->find(metric::kTrainLoss, k); tl && tl->size()) {
        first = std::max(first, tl->value.front());
        if (last < 0) last = tl->value.back();
      }
    const double gib = double(totalBytes_[i]) / (1024.0 * 1024 * 1024);
    const QString role = i == 0 ? tr("A: ") : i == 1 ? tr("B: ") : QString();
    auto* name = new QTableWidgetItem(role + tr("run %1 · %2").arg(r->runId()).arg(r->name()));
    name->setForeground(runColor(r->runId()).darker(130));
    bytes_->setItem(int(i), 0, name);
    bytes_->setItem(int(i), 1, new QTableWidgetItem(method_name(r->config().run.method)));
    bytes_->setItem(int(i), 2, new QTableWidgetItem(last >= 0 ? QString::number(last, 'f', 4) : "—"));
    bytes_->setItem(int(i), 3, new QTableWidgetItem(humanBytes(double(totalBytes_[i]))));
    bytes_->setItem(int(i), 4, new QTableWidgetItem(gib > 0 && first > 0 && last > 0 ? QString::number((first - last) / gib, 'f', 3)
                                                                                      : QString("—")));
  }
  bytes_->horizontalHeader()->setStretchLastSection(true);
  bytes_->resizeColumnsToContents();
}

}  // namespace fomoe::gui
