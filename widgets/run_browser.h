// RunBrowser: the run store as a sortable, filterable table (method, status, date, losses,
// bytes, tags editable in place); open one run in the views, compare several, delete.
#pragma once

#include <QList>
#include <QWidget>

class QComboBox;
class QLineEdit;
class QSortFilterProxyModel;
class QTableView;
class QLabel;

namespace fomoe::gui {

class StoreModel;

class RunBrowser : public QWidget {
  Q_OBJECT
 public:
  explicit RunBrowser(StoreModel* model, QWidget* parent = nullptr);
  QTableView* view() const { return view_; }
  QSortFilterProxyModel* proxy() const { return proxy_; }
  QList<qint64> selectedRuns() const;
  void selectRun(qint64 runId);

 signals:
  void openRun(qint64 runId);
  void compareRuns(const QList<qint64>& runIds);
  /// Resume pressed with a run selected (the controller says why when it cannot go on).
  void resumeRun(qint64 runId);

 public slots:
  void reload();

 private:
  void applyFilter();
  void deleteSelected();
  StoreModel* model_;
  QSortFilterProxyModel* proxy_;
  QTableView* view_;
  QLineEdit* filter_;
  QComboBox* method_;
  QComboBox* status_;
  QLabel* count_;
};

}  // namespace fomoe::gui
