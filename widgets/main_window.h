// MainWindow: composes the panels (configure, placement, live, network, runs, compare, event
// log) around one ExperimentDocument, one RunController and one StoreModel. Only wiring here.
#pragma once

#include <QMainWindow>
#include <QString>

class QLabel;
class QProgressBar;
class QSettings;
class QTabWidget;
class QAction;
class QDockWidget;
class QToolBar;

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

  /// From now on remembers the store, experiment, geometry, layout and theme in `settings`
  /// (parented to the window if it has no parent), and restores the geometry, layout and theme
  /// it holds. Without a call nothing is remembered (tests, screenshots).
  void useSettings(QSettings* settings);
  /// Writes geometry and layout (closing the window does it too).
  void saveSession();
  /// Back to the layout the window was built with: every dock and toolbar shown, docked.
  void resetLayout();
  void setDarkTheme(bool dark);
  bool darkTheme() const;
  /// Help > About: the version and build (QCoreApplication::applicationVersion()), Qt.
  QString aboutText() const;

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
  class SamplesPanel* samplesPanel() const { return samples_; }
  QWidget* liveTab() const { return liveTab_; }
  QDockWidget* eventsDock() const { return eventsDock_; }
  QToolBar* mainToolBar() const { return mainToolBar_; }
  QAction* darkThemeAction() const { return darkAction_; }
  QAction* resetLayoutAction() const { return resetLayoutAction_; }

 public slots:
  void startRun();
  void stopRun();

 protected:
  void closeEvent(class QCloseEvent* e) override;

 private:
  void buildActions();
  void buildViewMenu();
  void rememberExperimentPath(const QString& path);
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
  class SamplesPanel* samples_;
  QLabel* stateLabel_;
  QLabel* storeLabel_ = nullptr;
  QProgressBar* progress_;
  QAction* startAction_;
  QAction* stopAction_;
  QAction* escapeStopAction_ = nullptr;  // Esc: stops only while running and nothing pops up
  QAction* undoAction_ = nullptr;
  QAction* redoAction_ = nullptr;
  QAction* darkAction_ = nullptr;
  QAction* resetLayoutAction_ = nullptr;
  QDockWidget* eventsDock_ = nullptr;
  QToolBar* mainToolBar_ = nullptr;
  QSettings* settings_ = nullptr;
  QByteArray builtLayout_;  // saveState() right after construction: Reset layout returns to it
};

}  // namespace fomoe::gui
