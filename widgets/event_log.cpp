#include "event_log.h"

#include <QHeaderView>
#include <QTableWidget>
#include <QVBoxLayout>

#include "bridge/run_data.h"
#include "colors.h"

namespace fomoe::gui {

EventLog::EventLog(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(2, 2, 2, 2);
  table_ = new QTableWidget(0, 4);
  table_->setHorizontalHeaderLabels({tr("time (s)"), tr("site"), tr("kind"), tr("message")});
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setColumnWidth(0, 80);
  table_->setColumnWidth(1, 70);
  table_->setColumnWidth(2, 130);
  table_->verticalHeader()->setDefaultSectionSize(20);
  v->addWidget(table_);
}

int EventLog::rowCount() const { return table_->rowCount(); }

void EventLog::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  table_->setRowCount(0);
  shown_ = 0;
  if (data_) {
    connect(data_, &RunData::changed, this, &EventLog::refresh);
    connect(data_, &RunData::cleared, this, [this] {
      table_->setRowCount(0);
      shown_ = 0;
    });
  }
  refresh();
}

void EventLog::addRow(double time, int site, const QString& kind, const QString& text, bool red) {
  const int row = table_->rowCount();
  table_->insertRow(row);
  auto* t = new QTableWidgetItem(time >= 0 ? QString::number(time, 'f', 1) : QString());
  t->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  table_->setItem(row, 0, t);
  table_->setItem(row, 1, new QTableWidgetItem(site >= 0 ? tr("site %1").arg(site) : tr("coord.")));
  table_->setItem(row, 2, new QTableWidgetItem(kind));
  table_->setItem(row, 3, new QTableWidgetItem(text));
  if (red)
    for (int c = 0; c < 4; ++c) table_->item(row, c)->setForeground(deadColor());
  table_->scrollToBottom();
}

void EventLog::addMessage(const QString& kind, const QString& text, bool error) { addRow(-1, -1, kind, text, error); }

void EventLog::refresh() {
  if (!data_) return;
  const auto& ev = data_->events();
  if (ev.size() < shown_) {
    table_->setRowCount(0);
    shown_ = 0;
  }
  for (; shown_ < ev.size(); ++shown_) {
    const RunEvent& e = ev[shown_];
    const bool red = e.kind == "site_dead" || e.kind == "fault";
    addRow(e.time, e.site, QString::fromStdString(e.kind), QString::fromStdString(e.text), red);
  }
}

}  // namespace fomoe::gui
