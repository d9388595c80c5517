// ConfigurePanel: edits the experiment (sites local/remote with their live state, method and
// its settings, model size, data and split, H, precision, link emulation). Every change is one
// undoable edit of the ExperimentDocument; the TOML it saves is the one the CLI runs.
#pragma once

#include <QString>
#include <QStringList>
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

  /// Commits a value typed into the focused field but not yet entered (Undo/Redo come first).
  void commitPendingEdits();
  /// The config key ("model.top_k") the validation message names first; "" when valid.
  QString invalidKey() const;
  QWidget* editorFor(const QString& key) const;
  /// The label under a field that says why its value is invalid.
  QLabel* reasonFor(const QString& key) const;
  /// The per-site parameters and bytes, or what to fix first.
  QString summaryText() const;

 protected:
  void changeEvent(QEvent* e) override;

 private:
  struct Field {
    QStringList keys;    // config keys this editor sets: how validation messages name it
    QWidget* editor = nullptr;
    QLabel* reason = nullptr;  // under the editor, shown while its value is the invalid one
    QLabel* label = nullptr;   // the form's row label
    QString tip;
    std::function<bool(const ExperimentConfig&)> applies;  // null: applies to every method
    QString appliesNote;                                   // added to the tip while disabled
    std::function<void()> commit;                          // text fields: take the typed text
  };

  QFormLayout* group(QWidget* parent, const QString& title, class QLayout* into);
  QWidget* addField(QFormLayout* f, const QString& key, const QString& label, QWidget* editor, const QString& tip);
  Field* field(const QString& key);
  /// Disables the field (and says why in its tip) while `applies` is false for the config.
  void appliesWhen(const QString& key, const QString& note, std::function<bool(const ExperimentConfig&)> applies);
  QString keyNamedIn(const QString& message) const;
  void applyMethodRules();
  QSpinBox* addInt(QFormLayout* f, const QString& key, const QString& label, int lo, int hi,
                   std::function<int(const ExperimentConfig&)> get, std::function<void(ExperimentConfig&, int)> set,
                   const QString& tip = {});
  QDoubleSpinBox* addDouble(QFormLayout* f, const QString& key, const QString& label, double lo, double hi, int decimals,
                            std::function<double(const ExperimentConfig&)> get,
                            std::function<void(ExperimentConfig&, double)> set, const QString& tip = {});
  void addChoice(QFormLayout* f, const QString& key, const QString& label, const QStringList& items,
                 std::function<int(const ExperimentConfig&)> get, std::function<void(ExperimentConfig&, int)> set,
                 const QString& tip = {});
  void addText(QFormLayout* f, const QString& key, const QString& label, std::function<QString(const ExperimentConfig&)> get,
               std::function<void(ExperimentConfig&, const QString&)> set, const QString& tip = {});
  void addCheck(QFormLayout* f, const QString& key, const QString& label, std::function<bool(const ExperimentConfig&)> get,
                std::function<void(ExperimentConfig&, bool)> set, const QString& tip = {});
  void refreshSites();

  ExperimentDocument* doc_;
  std::vector<std::function<void()>> refreshers_;
  std::vector<Field> fields_;
  int nextKey_ = 1000;
  QTableWidget* sites_;
  QLabel* validation_;
  QLabel* summary_;
  QVector<QString> states_;
  bool refreshingSites_ = false;  // refreshSites() rewrites cells: not an edit
};

}  // namespace fomoe::gui
