// ProjectionPanel: the system model in the workbench — the experiment's model or a public
// preset projected to K sites for DDP, DiLoCo, Photon and FoMoE: parameters and memory per
// site, bytes per round, communication time; bars of bytes per round (log scale).
#pragma once

#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QTableWidget;

namespace fomoe::gui {

class ChartPanel;
class ExperimentDocument;

class ProjectionPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ProjectionPanel(ExperimentDocument* doc, QWidget* parent = nullptr);
  QTableWidget* table() const { return table_; }

 public slots:
  void refresh();
  void takeFromExperiment();

 private:
  ExperimentDocument* doc_;
  QComboBox* preset_;
  QSpinBox* sites_;
  QSpinBox* r_;
  QSpinBox* h_;
  QDoubleSpinBox* gbps_;
  QComboBox* precision_;
  QLabel* summary_;
  QTableWidget* table_;
  ChartPanel* bars_;
};

}  // namespace fomoe::gui
