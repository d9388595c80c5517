#include "run_browser.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include "bridge/store_model.h"

namespace fomoe::gui {

namespace {
// Filters on free text (name, tags, id) plus exact method and status.
class RunFilterProxy : public QSortFilterProxyModel {
 public:
  using QSortFilterProxyModel::QSortFilterProxyModel;
  QString text, method, status;
  void update() { invalidateRowsFilter(); }

 protected:
  bool filterAcceptsRow(int row, const QModelIndex& parent) const override {
    auto* m = sourceModel();
    auto cell = [&](int col) { return m->index(row, col, parent).data(Qt::DisplayRole).toString(); };
    if (!method.isEmpty() && cell(StoreModel::ColMethod) != method) return false;
    if (!status.isEmpty() && cell(StoreModel::ColStatus) != status) return false;
    if (!text.isEmpty()) {
      const QString hay = cell(StoreModel::ColName) + ' ' + cell(StoreModel::ColTags) + ' ' + cell(StoreModel::ColId);
      if (!hay.contains(text, Qt::CaseInsensitive)) return false;
    }
    return true;
  }
};
}  // namespace

RunBrowser::RunBrowser(StoreModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  auto* v = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  filter_ = new QLineEdit;
  filter_->setPlaceholderText(tr("filter by name, tag or id"));
  filter_->setClearButtonEnabled(true);
  method_ = new QComboBox;
  method_->addItems({tr("any method"), "single", "ddp", "diloco", "photon", "fomoe"});
  status_ = new QComboBox;
  status_->addItems({tr("any status"), "running", "finished", "failed", "interrupted", "cancelled",
                     "stopped"});
  auto* open = new QPushButton(tr("Open in views"));
  auto* compare = new QPushButton(tr("Compare selected"));
  auto* resume = new QPushButton(tr("Resume"));
  resume->setObjectName("resumeRunButton");
  resume->setToolTip(tr("Go on with a stopped or interrupted run, in its own record"));
  auto* del = new QPushButton(tr("Delete"));
  auto* refresh = new QPushButton(tr("Refresh"));
  count_ = new QLabel;
  bar->addWidget(filter_, 2);
  bar->addWidget(method_);
  bar->addWidget(status_);
  bar->addWidget(count_);
  bar->addStretch(1);
  bar->addWidget(open);
  bar->addWidget(compare);
  bar->addWidget(resume);
  bar->addWidget(del);
  bar->addWidget(refresh);
  v->addLayout(bar);
  auto* proxy = new RunFilterProxy(this);
  proxy_ = proxy;
  proxy_->setSourceModel(model_);
  proxy_->setSortRole(StoreModel::kSortRole);
  view_ = new QTableView;
  view_->setModel(proxy_);
  view_->setSortingEnabled(true);
  view_->sortByColumn(StoreModel::ColId, Qt::DescendingOrder);
  view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  view_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  view_->setAlternatingRowColors(true);
  view_->verticalHeader()->setVisible(false);
  view_->verticalHeader()->setDefaultSectionSize(22);
  view_->horizontalHeader()->setStretchLastSection(true);
  view_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  view_->setColumnWidth(StoreModel::ColId, 60);
  view_->setColumnWidth(StoreModel::ColName, 200);
  view_->setColumnWidth(StoreModel::ColStarted, 140);
  view_->setColumnWidth(StoreModel::ColTrainLoss, 110);
  view_->setColumnWidth(StoreModel::ColEvalLoss, 115);
  view_->setColumnWidth(StoreModel::ColBytes, 110);
  v->addWidget(view_, 1);
  auto* hint = new QLabel(tr("Double-click a row to open it; double-click a tag cell to edit tags; select several rows "
                             "and press Compare; select a stopped run and press Resume to go on with it."));
  hint->setStyleSheet("color: #666;");
  v->addWidget(hint);

  connect(filter_, &QLineEdit::textChanged, this, &RunBrowser::applyFilter);
  connect(method_, &QComboBox::currentIndexChanged, this, &RunBrowser::applyFilter);
  connect(status_, &QComboBox::currentIndexChanged, this, &RunBrowser::applyFilter);
  connect(view_, &QTableView::doubleClicked, this, [this](const QModelIndex& idx) {
    if (idx.column() == StoreModel::ColTags) return;  // editing
    emit openRun(idx.data(StoreModel::kRunIdRole).toLongLong());
  });
  connect(open, &QPushButton::clicked, this, [this] {
    const auto ids = selectedRuns();
    if (!ids.isEmpty()) emit openRun(ids.first());
  });
  connect(compare, &QPushButton::clicked, this, [this] {
    const auto ids = selectedRuns();
    if (!ids.isEmpty()) emit compareRuns(ids);
  });
  connect(resume, &QPushButton::clicked, this, [this] {
    const auto ids = selectedRuns();
    if (!ids.isEmpty()) emit resumeRun(ids.first());
  });
  connect(del, &QPushButton::clicked, this, &RunBrowser::deleteSelected);
  connect(refresh, &QPushButton::clicked, this, &RunBrowser::reload);
  connect(model_, &QAbstractItemModel::modelReset, this, [this] { count_->setText(tr("%1 runs").arg(proxy_->rowCount())); });
  count_->setText(tr("%1 runs").arg(proxy_->rowCount()));
}

void RunBrowser::applyFilter() {
  auto* p = static_cast<RunFilterProxy*>(proxy_);
  p->text = filter_->text().trimmed();
  p->method = method_->currentIndex() > 0 ? method_->currentText() : QString();
  p->status = status_->currentIndex() > 0 ? status_->currentText() : QString();
  p->update();
  count_->setText(tr("%1 of %2 runs").arg(proxy_->rowCount()).arg(model_->rowCount()));
}

void RunBrowser::reload() {
  model_->reload();
  applyFilter();
}

QList<qint64> RunBrowser::selectedRuns() const {
  QList<qint64> ids;
  for (const QModelIndex& idx : view_->selectionModel()->selectedRows()) ids.push_back(idx.data(StoreModel::kRunIdRole).toLongLong());
  return ids;
}

void RunBrowser::selectRun(qint64 runId) {
  const int srcRow = model_->rowOfRun(runId);
  if (srcRow < 0) return;
  const QModelIndex idx = proxy_->mapFromSource(model_->index(srcRow, 0));
  view_->selectionModel()->select(idx, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
  view_->scrollTo(idx);
}

void RunBrowser::deleteSelected() {
  const auto ids = selectedRuns();
  if (ids.isEmpty()) return;
  if (QMessageBox::question(this, tr("Delete runs"), tr("Delete %1 run(s) and all their recorded data?").arg(ids.size())) !=
      QMessageBox::Yes)
    return;
  for (qint64 id : ids) model_->deleteRun(id);
  applyFilter();
}

}  // namespace fomoe::gui
