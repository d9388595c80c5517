// ConfigurePanel: edits the experiment (sites local/remote with their live state, method and
// its settings, model size, data and split, H, precision, link emulation). Every change is one
// undoable edit of the ExperimentDocument; the TOML it saves is the one the CLI runs.
#pragma once

#include <QString>
#include <QVector>
#include <QWidget>

#include <functional>
#include <vector>

class QDoubleSpinBox;
class QSpinBox;
class QFormLayout;
class QLabel;
class QTableWidget;

namespace fomoe {
struct ExperimentConfig;
struct RunEvent;
struct LinkBytes;
}  // namespace fomoe

namespace fomoe::gui {

class ExperimentDocument;

class ConfigurePanel : public QWidget {
  Q_OBJECT
 public:
  explicit ConfigurePanel(ExperimentDocument* doc, QWidget* parent = nullptr);

  /// Site states shown in the sites table: connecting, idle, training, reporting, dead.
  void setSiteState(int site, const QString& state);
  QString siteState(int site) const;
  void resetSiteStates(const QString& state);
  void onRunEvent(const fomoe::RunEvent& event);
  void onLinkBytes(const QVector<fomoe::LinkBytes>& links);

 public slots:
  void refresh();

 private:
  QFormLayout* group(QWidget* parent, const QString& title, class QLayout* into);
  QSpinBox* addInt(QFormLayout* f, const QString& label, int lo, int hi, std::function<int(const ExperimentConfig&)> get,
                         std::function<void(ExperimentConfig&, int)> set, const QString& tip = {});
  QDoubleSpinBox* addDouble(QFormLayout* f, const QString& label, double lo, double hi, int decimals,
                 std::function<double(const ExperimentConfig&)> get, std::function<void(ExperimentConfig&, double)> set,
                 const QString& tip = {});
  void addChoice(QFormLayout* f, const QString& label, const QStringList& items, std::function<int(const ExperimentConfig&)> get,
                 std::function<void(ExperimentConfig&, int)> set, const QString& tip = {});
  void addText(QFormLayout* f, const QString& label, std::function<QString(const ExperimentConfig&)> get,
               std::function<void(ExperimentConfig&, const QString&)> set, const QString& tip = {});
  void addCheck(QFormLayout* f, const QString& label, std::function<bool(const ExperimentConfig&)> get,
                std::function<void(ExperimentConfig&, bool)> set, const QString& tip = {});
  void refreshSites();

  ExperimentDocument* doc_;
  std::vector<std::function<void()>> refreshers_;
  int nextKey_ = 1000;
  QTableWidget* sites_;
  QLabel* validation_;
  QLabel* summary_;
  QVector<QString> states_;
  bool refreshingSites_ = false;  // refreshSites() rewrites cells: not an edit
};

}  // namespace fomoe::gui
