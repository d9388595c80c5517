// EventLog: the run's events and faults, newest last; faults and dead sites in red.
#pragma once

#include <QWidget>

class QTableWidget;

namespace fomoe::gui {

class RunData;

class EventLog : public QWidget {
  Q_OBJECT
 public:
  explicit EventLog(QWidget* parent = nullptr);
  void setData(RunData* data);
  /// Workbench messages (errors of the GUI itself) go in the same pane.
  void addMessage(const QString& kind, const QString& text, bool error);
  int rowCount() const;

 public slots:
  void refresh();

 private:
  void addRow(double time, int site, const QString& kind, const QString& text, bool red);
  RunData* data_ = nullptr;
  QTableWidget* table_;
  size_t shown_ = 0;
};

}  // namespace fomoe::gui
