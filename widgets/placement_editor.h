// PlacementEditor: the layer x expert x site grid of the experiment's placement plan. Generate
// by policy (round-robin with r holders, load-aware from a recorded run), edit by hand, see
// per-site parameters, memory and predicted bytes per round as you edit. Applying an invalid
// plan is refused with PlacementPlan::validate's message.
#pragma once

#include <QWidget>

#include "bridge/experiment_document.h"  // PlacementPlan

class QComboBox;
class QLabel;
class QSpinBox;
class QTableWidget;
class QPushButton;

namespace fomoe::gui {

class ExperimentDocument;
class StoreModel;

class PlacementEditor : public QWidget {
  Q_OBJECT
 public:
  explicit PlacementEditor(ExperimentDocument* doc, StoreModel* store = nullptr, QWidget* parent = nullptr);

  const PlacementPlan& workingPlan() const { return plan_; }
  /// Toggles one holder in the working plan (what a click in the grid does).
  void setHolder(int layer, int expert, int site, bool holds);
  void generateRoundRobin(int replication);
  /// Load-aware from a recorded run's expert load (summed over rounds). False + message if the
  /// run has no load for this model shape.
  bool generateLoadAware(qint64 runId, int replication, QString* error = nullptr);
  /// Validates and stores the plan in the experiment. False (plan refused) with the message shown.
  bool apply();
  QString errorText() const;
  QTableWidget* grid() const { return grid_; }
  QTableWidget* costTable() const { return costs_; }
  /// Recorded runs offered for load-aware plans (item data: run id; 0 = none recorded).
  QComboBox* runPicker() const { return runPicker_; }
  /// What the experiment's placement policy does, in a sentence (shown above the grid).
  static QString policyDescription(const ExperimentConfig& cfg);
  QString experimentPolicyText() const;

 public slots:
  void reloadFromDocument();

 private:
  void refreshGrid();
  void refreshCosts();
  void refillRuns();
  ExperimentDocument* doc_;
  StoreModel* store_;
  PlacementPlan plan_;
  QComboBox* layer_;
  QComboBox* policy_;
  QSpinBox* replication_;
  QComboBox* runPicker_;
  QLabel* experimentPolicy_;
  QTableWidget* grid_;
  QTableWidget* costs_;
  QLabel* status_;
  bool updating_ = false;
};

}  // namespace fomoe::gui
