// ExperimentDocument: the experiment being edited (an ExperimentConfig), its file, undo/redo
// and the placement arithmetic the editor shows (per-site parameters, memory, bytes per round).
// Load/save use the core's parser and to_toml_minimal (the keys that differ from the defaults),
// so the file is the one the CLI runs.
#pragma once

#include <QObject>
#include <QString>
#include <QUndoStack>
#include <QVector>

#include <functional>

#include "fomoe/config/experiment.h"
#include "fomoe/federation/placement.h"

namespace fomoe::gui {

struct SiteCost {
  int site = 0;
  qint64 params = 0;         // parameters held (dense + resident experts)
  qint64 memoryBytes = 0;    // fp32 weights + grads + AdamW moments + round-start copy
  qint64 bytesPerRound = 0;  // pseudo-gradient up + update down, at the wire precision
  int expertsHeld = 0;       // over all MoE layers
};

class ExperimentDocument : public QObject {
  Q_OBJECT
 public:
  explicit ExperimentDocument(QObject* parent = nullptr);
  /// Silences the undo stack first: destroying it emits cleanChanged, and a window connected to
  /// it would read this half-destroyed document (ASan: heap-use-after-free on Quit).
  ~ExperimentDocument() override;

  const ExperimentConfig& config() const { return cfg_; }
  QUndoStack* undoStack() { return &undo_; }
  QString path() const { return path_; }

  bool load(const QString& path, QString* error);
  bool loadText(const QString& toml, const QString& sourceName, QString* error);
  bool save(const QString& path, QString* error);
  /// One undoable edit. Edits with the same mergeKey in a row merge into one step (spin boxes).
  void edit(const QString& label, const std::function<void(ExperimentConfig&)>& change, int mergeKey = -1);
  /// Replaces the config without an undo step (undo commands use it).
  void setConfig(const ExperimentConfig& cfg);
  /// "" when valid, else the core's message.
  QString validationMessage() const;

  /// The plan this config trains with (explicit, else round-robin with r holders; full replicas
  /// for methods other than FoMoE).
  PlacementPlan currentPlan() const;
  static int moeLayerCount(const ExperimentConfig& cfg);
  static QVector<SiteCost> siteCosts(const ExperimentConfig& cfg, const PlacementPlan& plan);
  /// Stores the plan as the explicit placement; refuses (false + message from
  /// PlacementPlan::validate) a plan with an expert without holder, a bad site id, a duplicate.
  bool applyPlan(const PlacementPlan& plan, QString* error);

 signals:
  void configChanged();
  void pathChanged(const QString& path);

 private:
  ExperimentConfig cfg_;
  QUndoStack undo_;
  QString path_;
};

}  // namespace fomoe::gui
