// RoundTimeline: per-site horizontal bars of one round split into compute, communication and
// waiting, so a straggler shows at once. A slider picks the round (latest by default).
#pragma once

#include "chart_panel.h"

class QSlider;
class QLabel;

class QCPColorMap;
class QCPColorScale;
class QCPBars;

namespace fomoe::gui {

class RunData;

class RoundTimeline : public ChartPanel {
  Q_OBJECT
 public:
  explicit RoundTimeline(QWidget* parent = nullptr);
  void setData(RunData* data);

 public slots:
  void refresh();

 private:
  RunData* data_ = nullptr;
  QSlider* slider_;
  QLabel* label_;
  bool followLatest_ = true;
  QCPBars* compute_;
  QCPBars* comm_;
  QCPBars* wait_;
};

}  // namespace fomoe::gui
