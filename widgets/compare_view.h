// CompareView: selected runs side by side — one metric overlaid (colour per run, the same as in
// every other panel), the config keys that differ, bytes and loss per byte, and the expert
// load difference of the first two runs.
#pragma once

#include <QList>
#include <QWidget>

#include <memory>
#include <vector>

class QComboBox;
class QTableWidget;

namespace fomoe {
class RunStore;
}

namespace fomoe::gui {

class ChartPanel;
class ExpertLoadPanel;
class RunData;

class CompareView : public QWidget {
  Q_OBJECT
 public:
  explicit CompareView(QWidget* parent = nullptr);
  ~CompareView() override;
  /// Loads the runs from the store. False + error if one cannot be read.
  bool setRuns(RunStore& store, const QList<qint64>& runIds, QString* error = nullptr);
  ChartPanel* overlay() const { return overlay_; }
  QTableWidget* diffTable() const { return diff_; }
  QTableWidget* bytesTable() const { return bytes_; }

 public slots:
  void refreshOverlay();

 private:
  void fillDiff();
  void fillBytes();
  std::vector<std::unique_ptr<RunData>> runs_;
  std::vector<qint64> totalBytes_;
  QComboBox* metric_;
  QComboBox* site_;
  QComboBox* xAxis_;
  ChartPanel* overlay_;
  QTableWidget* diff_;
  QTableWidget* bytes_;
  ExpertLoadPanel* loadDiff_;
};

/// "section.key = value" lines of a canonical TOML text (tables flattened), for the config diff.
QList<QPair<QString, QString>> flattenToml(const QString& toml);

}  // namespace fomoe::gui
