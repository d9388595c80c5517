// RoutingPanel: router entropy per layer over rounds (mean over sites) and the skip rate as a
// site x layer heatmap (latest value; dead sites' rows are marked red).
#pragma once

#include <QWidget>

class QCPColorMap;
class QCPColorScale;
class QCPBars;

namespace fomoe::gui {

class ChartPanel;
class RunData;

class RoutingPanel : public QWidget {
  Q_OBJECT
 public:
  explicit RoutingPanel(QWidget* parent = nullptr);
  void setData(RunData* data);
  ChartPanel* entropyChart() const { return entropy_; }
  ChartPanel* skipChart() const { return skip_; }

 public slots:
  void refresh();

 private:
  RunData* data_ = nullptr;
  ChartPanel* entropy_;
  ChartPanel* skip_;
  QCPColorMap* skipMap_ = nullptr;
  QCPColorScale* skipScale_ = nullptr;
};

}  // namespace fomoe::gui
