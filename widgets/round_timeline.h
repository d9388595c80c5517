// RoundTimeline: per-site horizontal bars of one round split into compute, communication and
// waiting, so a straggler shows at once. With federation.overlap the communication trained
// through (round/overlap_s) is drawn as a narrower bar over the start of compute, and only the
// rest stays stacked after it. A slider picks the round (latest by default).
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
  QCPBars* underCompute_;  // communication under compute: unstacked, over the compute bar

 public:
  /// The bars' values for site k in the shown round (tests; 0 where none).
  struct SiteBars {
    double compute = 0, comm = 0, wait = 0, underCompute = 0;
  };
  SiteBars barsAt(int site) const;
};

}  // namespace fomoe::gui
