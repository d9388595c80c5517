// NetworkPanel: the topology view, bytes over rounds per link or per message type, and the
// round timeline, side by side.
#pragma once

#include <QWidget>

class QComboBox;

namespace fomoe::gui {

class ChartPanel;
class RunData;
class RoundTimeline;
class TopologyView;

class NetworkPanel : public QWidget {
  Q_OBJECT
 public:
  explicit NetworkPanel(QWidget* parent = nullptr);
  void setData(RunData* data);
  TopologyView* topology() const { return topology_; }
  ChartPanel* bytesChart() const { return bytes_; }
  RoundTimeline* timeline() const { return timeline_; }

 public slots:
  void refreshBytes();

 private:
  RunData* data_ = nullptr;
  TopologyView* topology_;
  ChartPanel* bytes_;
  QComboBox* groupBox_;
  QComboBox* cumulativeBox_;
  RoundTimeline* timeline_;
};

}  // namespace fomoe::gui
