// gui_bench: (1) live loss view with 4 sites x 1,000,000 points per series, each frame
// re-queried through RunStore::downsample and redrawn — frames per second; (2) a store of
// 10,000 runs opened into the run browser's table — seconds until the table is shown.
// Usage: gui_bench [--dir DIR] [--frames N]   (stores are created once in DIR and reused)
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSortFilterProxyModel>
#include <QTableView>

#include <cstdio>

#include <qcustomplot.h>

#include "bridge/store_model.h"
#include "fomoe/store/run_recorder.h"
#include "loss_chart.h"
#include "run_browser.h"

using namespace fomoe;
using namespace fomoe::gui;

namespace {

int64_t makeSeriesStore(const QString& path, int sites, int points) {
  if (QFileInfo::exists(path)) {
    auto s = RunStore::open(path.toStdString());
    if (s) {
      auto runs = (*s)->list_runs();
      if (runs && !runs->empty()) return runs->front().run.id;
    }
  }
  QElapsedTimer t;
  t.start();
  auto rec = RunRecorder::open(path.toStdString());
  if (!rec) qFatal("%s", rec.error().message.c_str());
  RunInfo info;
  info.name = "bench-1M";
  info.method = "fomoe";
  info.n_sites = sites;
  const int64_t id = (*rec)->begin_run(info);
  std::vector<MetricPoint> batch;
  batch.reserve(65536);
  for (int step = 0; step < points; ++step) {
    for (int k = 0; k < sites; ++k)
      batch.push_back(MetricPoint{metric::kTrainLoss, 6.0 * std::exp(-step / 300000.0) + 0.05 * std::sin(step * 0.01 + k) + 0.1 * k,
                                  step, step / 32, k, step * 0.01});
    if (batch.size() >= 65536) {
      (*rec)->on_metrics(batch);
      batch.clear();
    }
  }
  (*rec)->on_metrics(batch);
  (*rec)->on_run_finished(RunStatus::Finished, "");
  std::printf("  wrote %d sites x %d points in %.1f s\n", sites, points, t.elapsed() / 1000.0);
  return id;
}

void makeRunsStore(const QString& path, int runs) {
  if (QFileInfo::exists(path)) return;
  QElapsedTimer t;
  t.start();
  auto rec = RunRecorder::open(path.toStdString());
  if (!rec) qFatal("%s", rec.error().message.c_str());
  const char* methods[] = {"single", "ddp", "diloco", "photon", "fomoe"};
  for (int i = 0; i < runs; ++i) {
    RunInfo info;
    info.name = "run-" + std::to_string(i);
    info.method = methods[i % 5];
    info.n_sites = 1 + i % 8;
    (*rec)->begin_run(info);
    std::vector<MetricPoint> pts;
    for (int s = 1; s <= 4; ++s) pts.push_back(MetricPoint{metric::kTrainLoss, 6.0 - s * 0.1 - i * 1e-5, s * 10, s, 0, s * 1.0});
    pts.push_back(MetricPoint{metric::kEvalLoss, 5.5 - i * 1e-5, 40, 4, -1, 4.0});
    (*rec)->on_metrics(pts);
    (*rec)->on_link_bytes({LinkBytes{0, 0, Direction::Sent, "update", 1 << 20, 0.1}});
    (*rec)->on_run_finished(RunStatus::Finished, "");
  }
  std::printf("  wrote %d runs in %.1f s\n", runs, t.elapsed() / 1000.0);
}

// Frames per second of a 1400 x 600 loss chart re-queried through RunStore::downsample each frame.
double liveViewFps(const QString& dir, int64_t run, int kSites, int64_t kPoints, int frames, const StoreOptions& options) {
  auto store = RunStore::open((dir + "/series.db").toStdString(), options);
  if (!store) qFatal("%s", store.error().message.c_str());
  LossChart chart;
  chart.resize(1400, 600);
  chart.show();
  QCoreApplication::processEvents();
  const int buckets = chart.plot()->axisRect()->width();  // one bucket per pixel column
  QElapsedTimer t;
  t.start();
  double queryMs = 0;
  for (int f = 0; f < frames; ++f) {
    // Alternate the full range and a moving zoom window, as a user panning a live run would.
    const int64_t hi = kPoints - 1 - (f % 2 ? 0 : int64_t(f) * 5000);
    const int64_t lo = f % 2 ? 0 : hi / 2;
    QElapsedTimer q;
    q.start();
    for (int k = 0; k < kSites; ++k) {
      auto b = (*store)->downsample(run, metric::kTrainLoss, k, lo, hi, buckets);
      if (!b) qFatal("%s", b.error().message.c_str());
      // Min/max envelope per bucket keeps spikes visible: two points per bucket.
      QVector<double> x, y;
      x.reserve(int(b->size()) * 2);
      y.reserve(int(b->size()) * 2);
      for (const auto& s : *b) {
        x << double(s.step_first) << double(s.step_last);
        y << s.min << s.max;
      }
      chart.setSiteSeries(k, x, y, false);
    }
    queryMs += q.nsecsElapsed() / 1e6;
    chart.plot()->rescaleAxes();
    chart.plot()->replot(QCustomPlot::rpImmediateRefresh);
    QCoreApplication::processEvents();
  }
  const double s = t.elapsed() / 1000.0;
  std::printf("  %d frames in %.2f s: %.1f frames/s (downsample queries %.1f ms/frame, %d buckets per series)\n", frames, s,
              frames / s, queryMs / frames, buckets);
  return frames / s;
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QString dir = QDir::tempPath() + "/fomoe-gui-bench";
  int frames = 60;
  for (int i = 1; i + 1 < argc; ++i) {
    if (QString(argv[i]) == "--dir") dir = argv[++i];
    else if (QString(argv[i]) == "--frames") frames = QString(argv[++i]).toInt();
  }
  QDir().mkpath(dir);
  const int kSites = 4, kPoints = 1000000;

  std::printf("[1] live view: %d sites x %d points per series, downsampled per frame\n", kSites, kPoints);
  const int64_t run = makeSeriesStore(dir + "/series.db", kSites, kPoints);
  // SQLite's page cache at the store's default cap and at 8x it, alternated, side by side.
  double fps[2] = {0, 0};
  const int cacheKib[2] = {StoreOptions{}.cache_kib, 8 * StoreOptions{}.cache_kib};
  for (int pass = 0; pass < 4; ++pass) {
    StoreOptions options;
    options.cache_kib = cacheKib[pass % 2];
    fps[pass % 2] += liveViewFps(dir, run, kSites, kPoints, frames, options) / 2;
  }
  std::printf("  page cache %d KiB: %.1f frames/s, %d KiB: %.1f frames/s (ratio %.2fx, mean of 2 passes each)\n", cacheKib[0],
              fps[0], cacheKib[1], fps[1], fps[0] / fps[1]);


  std::printf("[2] run browser over a store of 10,000 runs\n");
  makeRunsStore(dir + "/runs10k.db", 10000);
  QElapsedTimer open;
  open.start();
  StoreModel model;
  if (!model.open(dir + "/runs10k.db")) qFatal("%s", qPrintable(model.lastError()));
  RunBrowser browser(&model);
  browser.resize(1400, 800);
  browser.show();
  QCoreApplication::processEvents();
  const double openS = open.elapsed() / 1000.0;
  std::printf("  %d runs listed and the table shown in %.3f s\n", model.rowCount(), openS);
  return 0;
}
