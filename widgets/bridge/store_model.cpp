#include "bridge/store_model.h"

#include <QColor>
#include <QDateTime>

#include <cmath>

namespace fomoe::gui {

QString humanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (std::fabs(b) >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return QString::number(b, 'f', u == 0 ? 0 : 2) + " " + units[u];
}

QString humanDuration(double s) {
  if (!std::isfinite(s)) return QStringLiteral("—");
  if (s < 1) return QObject::tr("%1 ms").arg(s * 1000, 0, 'f', 1);
  if (s < 120) return QObject::tr("%1 s").arg(s, 0, 'f', 2);
  if (s < 2 * 3600) return QObject::tr("%1 min").arg(s / 60, 0, 'f', 1);
  if (s < 2 * 86400) return QObject::tr("%1 h").arg(s / 3600, 0, 'f', 1);
  return QObject::tr("%1 days").arg(s / 86400, 0, 'f', 1);
}

StoreModel::StoreModel(QObject* parent) : QAbstractTableModel(parent) {
  follow_.setInterval(kFollowIntervalMs);
  connect(&follow_, &QTimer::timeout, this, &StoreModel::followStore);
}
StoreModel::~StoreModel() = default;

bool StoreModel::open(const QString& path) {
  auto s = RunStore::open(path.toStdString());
  if (!s) {
    error_ = QString::fromStdString(s.error().message);
    emit errorOccurred(error_);
    return false;
  }
  beginResetModel();
  store_ = std::move(*s);
  runs_.clear();
  endResetModel();
  path_ = path;
  if (auto v = store_->data_version()) version_ = *v;
  follow_.start();
  return reload();
}

void StoreModel::setFollowing(bool on) {
  if (on && store_) follow_.start();
  else follow_.stop();
}

void StoreModel::followStore() {
  if (!store_) return;
  auto v = store_->data_version();
  if (!v || *v == version_) return;
  version_ = *v;
  reload();
}

namespace {
bool sameRow(const RunSummary& a, const RunSummary& b) {
  return a.run.name == b.run.name && a.run.status == b.run.status && a.run.tags == b.run.tags && a.run.message == b.run.message &&
         a.run.finished_at == b.run.finished_at && a.last_step == b.last_step && a.total_bytes == b.total_bytes &&
         a.final_train_loss == b.final_train_loss && a.final_eval_loss == b.final_eval_loss && a.run.n_sites == b.run.n_sites;
}
}  // namespace

bool StoreModel::reload() {
  if (!store_) return false;
  auto runs = store_->list_runs();
  if (!runs) {
    error_ = QString::fromStdString(runs.error().message);
    emit errorOccurred(error_);
    return false;
  }
  // Both lists are newest first (id descending). Update in place with row inserts, removals and
  // dataChanged, so a view's selection, scroll position and editor survive the store moving on.
  const std::vector<RunSummary>& fresh = *runs;
  int row = 0;
  size_t k = 0;
  while (row < runs_.size() || k < fresh.size()) {
    if (k == fresh.size() || (row < runs_.size() && runs_[row].run.id > fresh[k].run.id)) {
      int end = row;  // removed runs: a contiguous block until the next id the store still has
      while (end + 1 < runs_.size() && (k == fresh.size() || runs_[end + 1].run.id > fresh[k].run.id)) ++end;
      beginRemoveRows({}, row, end);
      runs_.remove(row, end - row + 1);
      endRemoveRows();
    } else if (row == runs_.size() || runs_[row].run.id < fresh[k].run.id) {
      size_t kend = k;  // new runs: a contiguous block
      while (kend + 1 < fresh.size() && (row == runs_.size() || runs_[row].run.id < fresh[kend + 1].run.id)) ++kend;
      beginInsertRows({}, row, row + int(kend - k));
      for (size_t i = k; i <= kend; ++i) runs_.insert(row + int(i - k), fresh[i]);
      endInsertRows();
      row += int(kend - k) + 1;
      k = kend + 1;
    } else {
      if (!sameRow(runs_[row], fresh[k])) {
        runs_[row] = fresh[k];
        emit dataChanged(index(row, 0), index(row, ColCount - 1));
      }
      ++row;
      ++k;
    }
  }
  emit reloaded();
  return true;
}

int StoreModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : runs_.size(); }
int StoreModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColCount; }

QVariant StoreModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* names[] = {"Id", "Name", "Method", "Status", "Started", "Sites", "Steps", "Train loss", "Held-out loss",
                                "Total bytes", "Tags"};
  return section >= 0 && section < ColCount ? tr(names[section]) : QVariant();
}

Qt::ItemFlags StoreModel::flags(const QModelIndex& index) const {
  auto f = QAbstractTableModel::flags(index);
  if (index.column() == ColTags) f |= Qt::ItemIsEditable;
  return f;
}

QVariant StoreModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= runs_.size()) return {};
  const RunSummary& s = runs_[index.row()];
  const RunRecord& r = s.run;
  if (role == kRunIdRole) return QVariant::fromValue<qint64>(r.id);
  const bool sort = role == kSortRole;
  if (role == Qt::ForegroundRole && index.column() == ColStatus) {
    if (r.status == "failed" || r.status == "interrupted") return QColor(200, 40, 40);
    if (r.status == "running") return QColor(30, 110, 200);
    return {};  // finished, cancelled, stopped (ended on request, resumable): not errors
  }
  if (role == Qt::TextAlignmentRole && index.column() != ColName && index.column() != ColTags &&
      index.column() != ColMethod && index.column() != ColStatus)
    return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole && role != Qt::EditRole && !sort && role != Qt::ToolTipRole) return {};
  auto loss = [&](const std::optional<double>& v) -> QVariant {
    if (!v) return sort ? QVariant(1e300) : QVariant(QStringLiteral("—"));
    return sort ? QVariant(*v) : QVariant(QString::number(*v, 'f', 4));
  };
  switch (index.column()) {
    case ColId: return QVariant::fromValue<qint64>(r.id);
    case ColName: return role == Qt::ToolTipRole ? QString::fromStdString(r.message.empty() ? r.name : r.name + "\n" + r.message)
                                                 : QString::fromStdString(r.name);
    case ColMethod: return QString::fromStdString(r.method);
    case ColStatus: return QString::fromStdString(r.status);
    case ColStarted:
      if (sort) return r.started_at;
      return QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(r.started_at * 1000)).toString("yyyy-MM-dd HH:mm");
    case ColSites: return r.n_sites;
    case ColSteps: return QVariant::fromValue<qint64>(s.last_step < 0 ? 0 : s.last_step);
    case ColTrainLoss: return loss(s.final_train_loss);
    case ColEvalLoss: return loss(s.final_eval_loss);
    case ColBytes: return sort ? QVariant::fromValue<qint64>(s.total_bytes) : QVariant(humanBytes(double(s.total_bytes)));
    case ColTags: return QString::fromStdString(r.tags);
  }
  return {};
}

bool StoreModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (!index.isValid() || index.column() != ColTags || role != Qt::EditRole) return false;
  return setTags(runs_[index.row()].run.id, value.toString());
}

qint64 StoreModel::runIdAt(int row) const { return row >= 0 && row < runs_.size() ? runs_[row].run.id : -1; }

int StoreModel::rowOfRun(qint64 runId) const {
  for (int i = 0; i < runs_.size(); ++i)
    if (runs_[i].run.id == runId) return i;
  return -1;
}

const RunSummary* StoreModel::summaryOf(qint64 runId) const {
  const int row = rowOfRun(runId);
  return row < 0 ? nullptr : &runs_[row];
}

bool StoreModel::deleteRun(qint64 runId) {
  if (!store_) return false;
  if (Status st = store_->delete_run(runId); !st) {
    error_ = QString::fromStdString(st.error().message);
    emit errorOccurred(error_);
    return false;
  }
  const int row = rowOfRun(runId);
  if (row >= 0) {
    beginRemoveRows({}, row, row);
    runs_.remove(row);
    endRemoveRows();
  }
  return true;
}

bool StoreModel::setTags(qint64 runId, const QString& tags) {
  if (!store_) return false;
  if (Status st = store_->set_tags(runId, tags.toStdString()); !st) {
    error_ = QString::fromStdString(st.error().message);
    emit errorOccurred(error_);
    return false;
  }
  const int row = rowOfRun(runId);
  if (row >= 0) {
    runs_[row].run.tags = tags.toStdString();
    emit dataChanged(index(row, ColTags), index(row, ColTags));
  }
  return true;
}

}  // namespace fomoe::gui
