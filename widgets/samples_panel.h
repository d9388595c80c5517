// SamplesPanel: the global model's continuations of the experiment's fixed prompts after each
// evaluation (train.sample_prompts), oldest first, so what the model learned reads round by round.
// A prompt filter shows one prompt's continuations in a column; the live run and recorded runs alike.
#pragma once

#include <QWidget>

class QComboBox;
class QLabel;
class QTableWidget;

namespace fomoe::gui {

class RunData;

class SamplesPanel : public QWidget {
  Q_OBJECT
 public:
  explicit SamplesPanel(QWidget* parent = nullptr);
  void setData(RunData* data);
  int rowCount() const;
  /// The continuation shown in a row (tests read it).
  QString continuationAt(int row) const;

 public slots:
  void refresh();

 private:
  RunData* data_ = nullptr;
  QComboBox* prompt_;
  QLabel* empty_;
  QTableWidget* table_;
  size_t shown_ = static_cast<size_t>(-1);  // samples drawn last time (-1: never)
};

}  // namespace fomoe::gui
