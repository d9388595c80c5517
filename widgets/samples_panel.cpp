#include "samples_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>

#include <set>

#include "bridge/run_data.h"

namespace fomoe::gui {

namespace {

// Line breaks and tabs of a continuation made visible, so one row reads as the text ran on.
QString shown(const std::string& text) {
  QString s = QString::fromStdString(text);
  s.replace('\n', QString::fromUtf8("\u23CE "));
  s.replace('\t', QString::fromUtf8("\u21E5"));
  return s;
}

}  // namespace

SamplesPanel::SamplesPanel(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(6, 6, 6, 6);
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Prompt:")));
  prompt_ = new QComboBox;
  prompt_->setObjectName("samplesPromptFilter");
  prompt_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  top->addWidget(prompt_);
  top->addStretch(1);
  v->addLayout(top);
  empty_ = new QLabel;
  empty_->setWordWrap(true);
  empty_->setStyleSheet("color: palette(mid);");
  v->addWidget(empty_);
  table_ = new QTableWidget(0, 4);
  table_->setObjectName("samplesTable");
  table_->setHorizontalHeaderLabels({tr("step"), tr("round"), tr("prompt"), tr("greedy continuation")});
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setWordWrap(true);
  table_->setColumnWidth(0, 70);
  table_->setColumnWidth(1, 60);
  table_->setColumnWidth(2, 160);
  v->addWidget(table_, 1);
  connect(prompt_, &QComboBox::currentIndexChanged, this, [this] {
    shown_ = static_cast<size_t>(-1);
    refresh();
  });
}

int SamplesPanel::rowCount() const { return table_->rowCount(); }

QString SamplesPanel::continuationAt(int row) const {
  auto* item = table_->item(row, 3);
  return item ? item->data(Qt::UserRole).toString() : QString();
}

void SamplesPanel::setData(RunData* data) {
  if (data_) disconnect(data_, nullptr, this, nullptr);
  data_ = data;
  shown_ = static_cast<size_t>(-1);
  if (data_) {
    connect(data_, &RunData::changed, this, &SamplesPanel::refresh);
    connect(data_, &RunData::cleared, this, [this] { shown_ = static_cast<size_t>(-1); });
  }
  refresh();
}

void SamplesPanel::refresh() {
  const std::vector<SampleEntry> none;
  const auto& samples = data_ ? data_->samples() : none;
  if (samples.size() == shown_) return;
  shown_ = samples.size();
  // The filter lists every prompt seen, in prompt order; the choice survives a refresh.
  const QString chosen = prompt_->currentIndex() > 0 ? prompt_->currentText() : QString();
  std::set<std::pair<int, std::string>> prompts;
  for (const auto& s : samples) prompts.insert({s.prompt_index, s.prompt});
  {
    const QSignalBlocker block(prompt_);
    prompt_->clear();
    prompt_->addItem(tr("every prompt"));
    for (const auto& p : prompts) prompt_->addItem(QString::fromStdString(p.second));
    const int at = chosen.isEmpty() ? 0 : prompt_->findText(chosen);
    prompt_->setCurrentIndex(at < 0 ? 0 : at);
  }
  const std::string filter = prompt_->currentIndex() > 0 ? prompt_->currentText().toStdString() : std::string();
  table_->setRowCount(0);
  for (const auto& s : samples) {
    if (!filter.empty() && s.prompt != filter) continue;
    const int row = table_->rowCount();
    table_->insertRow(row);
    auto* step = new QTableWidgetItem(QString::number(s.step));
    step->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    table_->setItem(row, 0, step);
    auto* round = new QTableWidgetItem(s.round >= 0 ? QString::number(s.round + 1) : QString::fromUtf8("\u2014"));
    round->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    table_->setItem(row, 1, round);
    table_->setItem(row, 2, new QTableWidgetItem(shown(s.prompt)));
    // A continuation the model ended itself reads so, rather than as an empty or cut-off cell.
    auto* text = new QTableWidgetItem(shown(s.text) + (s.ended ? QStringLiteral("  [end of document]") : QString()));
    text->setData(Qt::UserRole, QString::fromStdString(s.text));
    text->setToolTip(QString::fromStdString(s.prompt + s.text));
    table_->setItem(row, 3, text);
  }
  table_->resizeRowsToContents();
  table_->scrollToBottom();
  if (samples.empty()) {
    empty_->setText(tr("No samples yet. After each evaluation the global model continues the experiment's "
                       "prompts (train.sample_prompts, train.sample_tokens tokens, greedy); they appear here "
                       "and are kept with the run."));
    empty_->show();
  } else {
    empty_->hide();
  }
}

}  // namespace fomoe::gui
