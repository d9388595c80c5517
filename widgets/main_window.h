// MainWindow: composes the panels (configure, placement, live, network, runs, compare, event
// log) around one ExperimentDocument, one RunController and one StoreModel. Only wiring here.
#pragma once

#include <QMainWindow>
#include <QString>

class QLabel;
class QProgressBar;
class QTabWidget;
class QAction;

namespace fomoe::gui {

class CompareView;
class ConfigurePanel;
class EventLog;
class ExpertLoadPanel;
class ExperimentDocument;
class LossChart;
class NetworkPanel;
class PlacementEditor;
class RoutingPanel;
class RunBrowser;
class RunController;
class RunData;
class StoreModel;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const QString& dbPath, QWidget* parent = nullptr);
  ~MainWindow() override;

  bool loadExperiment(const QString& path, QString* error = nullptr);
  bool loadExperimentText(const QString& toml, const QString& name, QString* error = nullptr);
  /// Shows a recorded run in the live views (and selects it in the browser).
  bool openRun(qint64 runId, QString* error = nullptr);
  bool compareRuns(const QList<qint64>& ids, QString* error = nullptr);
  /// Opens (creating if new) the run store the browser shows and runs record into.
  bool openStore(const QString& path);

  ExperimentDocument* document() const { return doc_; }
  RunController* controller() const { return controller_; }
  StoreModel* storeModel() const { return store_; }
  RunData* liveData() const { return live_; }
  RunData* viewedData() const { return viewed_; }
  QTabWidget* tabs() const { return tabs_; }
  LossChart* lossChart() const { return loss_; }
  RoutingPanel* routingPanel() const { return routing_; }
  ExpertLoadPanel* expertLoadPanel() const { return load_; }
  NetworkPanel* networkPanel() const { return network_; }
  RunBrowser* runBrowser() const { return browser_; }
  CompareView* compareView() const { return compare_; }
  PlacementEditor* placementEditor() const { return placement_; }
  ConfigurePanel* configurePanel() const { return configure_; }
  EventLog* eventLog() const { return log_; }
  QWidget* liveTab() const { return liveTab_; }

 public slots:
  void startRun();
  void stopRun();

 protected:
  void closeEvent(class QCloseEvent* e) override;

 private:
  void buildActions();
  void showData(RunData* data);
  void updateTitle();
  bool maybeSave();

  ExperimentDocument* doc_;
  RunController* controller_;
  StoreModel* store_;
  RunData* live_;
  RunData* recorded_;
  RunData* viewed_ = nullptr;
  QTabWidget* tabs_;
  ConfigurePanel* configure_;
  PlacementEditor* placement_;
  QWidget* liveTab_;
  LossChart* loss_;
  RoutingPanel* routing_;
  ExpertLoadPanel* load_;
  NetworkPanel* network_;
  RunBrowser* browser_;
  CompareView* compare_;
  EventLog* log_;
  QLabel* stateLabel_;
  QLabel* storeLabel_ = nullptr;
  QProgressBar* progress_;
  QAction* startAction_;
  QAction* stopAction_;
};

}  // namespace fomoe::gui
