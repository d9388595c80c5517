// ExpertLoadPanel: expert placement x load as a site x expert heatmap for one MoE layer and
// one round (round slider), non-resident cells marked. In difference mode it shows the load
// share of run A minus run B over all rounds (compare view).
#pragma once

#include "chart_panel.h"

class QComboBox;
class QSlider;
class QLabel;

class QCPColorMap;
class QCPColorScale;
class QCPBars;

namespace fomoe::gui {

class RunData;

class ExpertLoadPanel : public ChartPanel {
  Q_OBJECT
 public:
  explicit ExpertLoadPanel(QWidget* parent = nullptr);
  void setData(RunData* data);
  /// Difference mode: share of tokens per (site, expert) in a minus in b, all rounds.
  void setDifference(RunData* a, RunData* b);
  QSlider* roundSlider() const { return slider_; }

 public slots:
  void refresh();

 private:
  RunData* data_ = nullptr;
  RunData* other_ = nullptr;
  QComboBox* layerBox_;
  QSlider* slider_;
  QLabel* roundLabel_;
  QCPColorMap* map_;
  QCPColorScale* scale_;
  bool followLatest_ = true;
};

}  // namespace fomoe::gui
