// StoreModel: the run store's run list as a Qt table (one row per run, summary columns), plus
// the store operations the browser needs (tags, delete). Sort and filter with a
// QSortFilterProxyModel on top (sort roles hold numbers, not formatted text).
#pragma once

#include <QAbstractTableModel>
#include <QString>
#include <QTimer>
#include <QVector>

#include <memory>

#include "fomoe/store/run_store.h"

namespace fomoe::gui {

class StoreModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { ColId, ColName, ColMethod, ColStatus, ColStarted, ColSites, ColSteps, ColTrainLoss, ColEvalLoss,
                ColBytes, ColTags, ColCount };
  static constexpr int kSortRole = Qt::UserRole + 1;
  static constexpr int kRunIdRole = Qt::UserRole + 2;

  explicit StoreModel(QObject* parent = nullptr);
  ~StoreModel() override;

  /// Opens (or re-opens) the store at path and loads the run list. False + lastError() on failure.
  bool open(const QString& path);
  QString path() const { return path_; }
  QString lastError() const { return error_; }
  /// Re-reads the run list and updates rows in place (inserts, removals, changed cells).
  bool reload();
  /// The model follows the store by itself: every kFollowIntervalMs it asks SQLite whether any
  /// connection (the CLI, another window, this window's recorder) committed, and reloads if so.
  static constexpr int kFollowIntervalMs = 1000;
  void setFollowing(bool on);
  /// The open connection (GUI thread only), or null.
  RunStore* store() { return store_.get(); }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role) override;

  qint64 runIdAt(int row) const;
  int rowOfRun(qint64 runId) const;
  const RunSummary* summaryOf(qint64 runId) const;
  bool deleteRun(qint64 runId);
  bool setTags(qint64 runId, const QString& tags);

 signals:
  void errorOccurred(const QString& message);
  void reloaded();  // after every reload(), changed or not

 private:
  std::unique_ptr<RunStore> store_;
  QString path_;
  QString error_;
  QVector<RunSummary> runs_;
  QTimer follow_;
  int64_t version_ = -1;

  void followStore();
};

QString humanBytes(double bytes);
/// 0.4 ms, 12.50 s, 7.5 min, 3.2 h, 6.8 days.
QString humanDuration(double seconds);

}  // namespace fomoe::gui
