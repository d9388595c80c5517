// fomoe-workbench [EXPERIMENT.toml] [--db PATH] [--screenshot-dir DIR --demo-run [--steps N] [--window-size WxH]]
// Opens the workbench with the experiment loaded and a local federation ready to start; without
// arguments, the store and experiment of the last session (QSettings), then the defaults. With no
// display (no DISPLAY / WAYLAND_DISPLAY and no QT_QPA_PLATFORM) it runs the experiment with the
// CLI instead. --demo-run starts the experiment at once; with --screenshot-dir it grabs each
// main view to PNG when the run has finished, then quits.
#include <unistd.h>

#include <iterator>

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QIcon>
#include <QSettings>
#include <QTabWidget>
#include <QTimer>

#include <cstdio>

#include "bridge/experiment_document.h"
#include "bridge/run_controller.h"
#include "bridge/store_model.h"
#include "compare_view.h"
#include "main_window.h"
#include "run_browser.h"
#include "session_settings.h"

using fomoe::gui::MainWindow;
using fomoe::gui::RunController;

namespace {

QString findDefaultExperiment() {
  const QString rel = "experiments/quickstart.toml";
  const QString bin = QCoreApplication::applicationDirPath();
  for (const QString& c : {QDir::currentPath() + "/" + rel, QString(FOMOE_SOURCE_DIR) + "/" + rel, bin + "/../../" + rel,
                           bin + "/../share/fomoe/" + rel})
    if (QFileInfo::exists(c)) return QFileInfo(c).canonicalFilePath();
  return QString();
}

bool headless() {
  return qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&
         qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM");
}

void grabAll(MainWindow& w, const QString& dir, qint64 runId) {
  QDir().mkpath(dir);
  QTabWidget* tabs = w.tabs();
  const char* names[] = {"configure", "placement", "live", "network", "samples", "runs", "compare", "projection"};
  // Compare the demo run with the newest finished run of each other method in the store.
  QList<qint64> ids;
  ids << runId;
  QStringList methods;
  if (const auto* self = w.storeModel()->summaryOf(runId)) methods << QString::fromStdString(self->run.method);
  for (int r = 0; r < w.storeModel()->rowCount() && ids.size() < 3; ++r) {
    const qint64 id = w.storeModel()->runIdAt(r);
    const auto* s = w.storeModel()->summaryOf(id);
    if (id == runId || !s || s->run.status != "finished" || s->last_step <= 0) continue;
    if (methods.contains(QString::fromStdString(s->run.method))) continue;
    methods << QString::fromStdString(s->run.method);
    ids << id;
  }
  w.compareRuns(ids);
  w.runBrowser()->selectRun(runId);
  for (int i = 0; i < tabs->count() && i < int(std::size(names)); ++i) {
    tabs->setCurrentIndex(i);
    for (int k = 0; k < 5; ++k) QCoreApplication::processEvents();
    const QString path = dir + "/" + QString("%1_%2.png").arg(i + 1).arg(names[i]);
    if (w.grab().save(path)) std::printf("screenshot: %s\n", path.toLocal8Bit().constData());
    else std::fprintf(stderr, "cannot write %s\n", path.toLocal8Bit().constData());
  }
}

struct Options {
  QCommandLineOption db{"db", "run store (default: the store's default path)", "PATH"};
  QCommandLineOption shots{"screenshot-dir", "grab each main view to DIR when the demo run finished, then quit", "DIR"};
  QCommandLineOption demo{"demo-run", "start the loaded experiment at once"};
  QCommandLineOption steps{"steps", "override train.steps", "N"};
  QCommandLineOption gui{"gui", "open the window even without a display variable"};
  QCommandLineOption size{"window-size", "window size for --screenshot-dir, e.g. 1280x720", "WxH"};

  void addTo(QCommandLineParser& p) {
    p.setApplicationDescription("FoMoE Workbench: configure federations, watch them live, compare runs.\n"
                                "Without a display it runs the experiment with `fomoe run` instead.");
    p.addHelpOption();
    p.addVersionOption();
    p.addPositionalArgument("experiment", "experiment TOML (default: experiments/quickstart.toml)");
    p.addOptions({db, shots, demo, steps, gui, size});
  }
};

/// No display: the same experiment, store and step count through the CLI (the README's command).
int runHeadless(QCommandLineParser& p, Options& o) {
  const QString cli = RunController::findCli();
  QString exp = p.positionalArguments().value(0);
  if (exp.isEmpty()) exp = findDefaultExperiment();
  if (cli.isEmpty() || exp.isEmpty()) {
    std::fprintf(stderr, "fomoe-workbench: no display, and no `fomoe` CLI or experiment to fall back to\n");
    return 2;
  }
  QList<QByteArray> args = {"fomoe", "run", exp.toLocal8Bit()};
  if (p.isSet(o.db)) args << "--db" << p.value(o.db).toLocal8Bit();
  if (p.isSet(o.steps)) args << "--steps" << p.value(o.steps).toLocal8Bit();
  QByteArray shown;
  for (const auto& a : args.mid(1)) shown += " " + a;
  std::fprintf(stderr, "fomoe-workbench: no display; running `fomoe%s` instead\n", shown.constData());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const QByteArray c = cli.toLocal8Bit();
  execv(c.constData(), argv.data());
  std::perror("fomoe-workbench: exec fomoe");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool wantsGui = false;
  for (int i = 1; i < argc; ++i)
    if (QString(argv[i]) == "--screenshot-dir" || QString(argv[i]) == "--gui") wantsGui = true;
  if (headless() && !wantsGui) {
    QCoreApplication core(argc, argv);
    QCoreApplication::setApplicationName("fomoe-workbench");
    QCoreApplication::setApplicationVersion(FOMOE_VERSION_STRING);
    QCommandLineParser p;
    Options o;
    o.addTo(p);
    p.process(core);  // --help and --version print and exit here, before anything runs
    return runHeadless(p, o);
  }

  QApplication app(argc, argv);
  QApplication::setApplicationName("fomoe-workbench");
  QApplication::setApplicationVersion(FOMOE_VERSION_STRING);
  QApplication::setOrganizationName("fomoe");
  QApplication::setWindowIcon(QIcon(":/fomoe/fomoe.png"));
  QApplication::setStyle("Fusion");
  QFont font = QApplication::font();
  if (font.pointSizeF() < 10) font.setPointSizeF(10);
  QApplication::setFont(font);
  if (QFile qss(":/fomoe/workbench.qss"); qss.open(QIODevice::ReadOnly)) app.setStyleSheet(QString::fromUtf8(qss.readAll()));

  QCommandLineParser p;
  Options o;
  o.addTo(p);
  p.process(app);
  const auto& db = o.db;
  const auto& shots = o.shots;
  const auto& demo = o.demo;
  const auto& steps = o.steps;

  // Screenshots are reproducible: they neither read nor change what the person's sessions remember.
  const bool remember = !p.isSet(shots);
  QSettings remembered("fomoe", "fomoe-workbench");
  using fomoe::gui::session::startupPath;
  const QString defaultDb = QString::fromStdString(fomoe::default_db_path());
  const QString dbPath = remember ? startupPath(p.value(db), remembered, fomoe::gui::session::kStore, defaultDb)
                                  : (p.isSet(db) ? p.value(db) : defaultDb);
  MainWindow w(dbPath);
  QString exp = p.positionalArguments().value(0);
  if (exp.isEmpty() && remember) exp = startupPath(QString(), remembered, fomoe::gui::session::kExperiment, QString());
  if (exp.isEmpty()) exp = findDefaultExperiment();
  QString error;
  bool loaded = !exp.isEmpty() && w.loadExperiment(exp, &error);
  if (!loaded) {
    if (!exp.isEmpty()) std::fprintf(stderr, "fomoe-workbench: %s\n", error.toLocal8Bit().constData());
    QFile f(":/fomoe/default_experiment.toml");
    f.open(QIODevice::ReadOnly);
    if (!w.loadExperimentText(QString::fromUtf8(f.readAll()), "embedded default", &error)) {
      std::fprintf(stderr, "fomoe-workbench: embedded default: %s\n", error.toLocal8Bit().constData());
      return 1;
    }
  }
  if (p.isSet(steps)) {
    bool numeric = false;
    const int n = p.value(steps).toInt(&numeric);
    if (!numeric || n <= 0) {
      std::fprintf(stderr, "fomoe-workbench: --steps: '%s' is not a positive whole number\n", p.value(steps).toLocal8Bit().constData());
      return 2;
    }
    w.document()->edit("steps", [n](fomoe::ExperimentConfig& c) {
      c.train.steps = n;
      c.train.warmup_steps = std::min(c.train.warmup_steps, n);
    });
  }
  if (remember) w.useSettings(new QSettings("fomoe", "fomoe-workbench", &w));
  if (p.isSet(o.size)) {
    const QStringList wh = p.value(o.size).split('x');
    const int width = wh.value(0).toInt(), height = wh.value(1).toInt();
    if (wh.size() != 2 || width < 200 || height < 200) {
      std::fprintf(stderr, "fomoe-workbench: --window-size: '%s' is not WIDTHxHEIGHT\n", p.value(o.size).toLocal8Bit().constData());
      return 2;
    }
    w.resize(width, height);
  }
  w.show();

  const QString shotDir = p.value(shots);
  if (p.isSet(demo) || !shotDir.isEmpty()) {
    QObject::connect(w.controller(), &RunController::runStateChanged, &w, [&](RunController::State s, const QString& msg) {
      if (s == RunController::State::Failed) std::fprintf(stderr, "demo run failed: %s\n", msg.toLocal8Bit().constData());
      const bool done = s == RunController::State::Finished || s == RunController::State::Failed ||
                        s == RunController::State::Cancelled;
      if (!done || shotDir.isEmpty()) return;
      // Let the last batch reach the views, then grab.
      QTimer::singleShot(800, &w, [&w, shotDir, s] {
        w.storeModel()->reload();
        w.runBrowser()->reload();
        grabAll(w, shotDir, w.controller()->currentRunId());
        QApplication::exit(s == RunController::State::Finished ? 0 : 1);
      });
    });
    QTimer::singleShot(300, &w, [&w] { w.startRun(); });
  }
  return app.exec();
}
