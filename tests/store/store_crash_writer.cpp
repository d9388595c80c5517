// Test helper: records one run forever, a "round" at a time (20 metric rows, 2 link rows, 1 event),
// flushing at each round boundary and then printing the round number. test_store_crash SIGKILLs it.
// usage: store_crash_writer DB_PATH
#include <cstdio>
#include <string>

#include "fomoe/base/metric_names.h"
#include "fomoe/store/run_recorder.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: store_crash_writer DB_PATH\n");
    return 2;
  }
  auto rec = fomoe::RunRecorder::open(argv[1]);
  if (!rec) {
    std::fprintf(stderr, "store_crash_writer: %s\n", rec.error().message.c_str());
    return 1;
  }
  fomoe::RunInfo info;
  info.name = "crash-victim";
  info.method = "fomoe";
  info.n_sites = 2;
  const int64_t run = (*rec)->begin_run(info);
  if (run < 0) return 1;
  std::printf("run %lld\n", static_cast<long long>(run));
  std::fflush(stdout);
  for (int round = 0;; ++round) {
    std::vector<fomoe::MetricPoint> pts;
    for (int i = 0; i < 10; ++i) {
      for (int site = 0; site < 2; ++site) {
        fomoe::MetricPoint p;
        p.name = fomoe::metric::kTrainLoss;
        p.step = round * 10 + i;
        p.round = round;
        p.site = site;
        p.value = 5.0 - 0.01 * p.step;
        pts.push_back(p);
      }
    }
    (*rec)->on_metrics(pts);
    (*rec)->on_link_bytes({{round, 0, fomoe::Direction::Sent, "pseudo_grad", 1000, 0.01},
                           {round, 1, fomoe::Direction::Sent, "pseudo_grad", 1000, 0.01}});
    (*rec)->on_event({round * 1.0, -1, "round_finished", "round " + std::to_string(round)});
    fomoe::Status s = (*rec)->flush();
    if (!s) {
      std::fprintf(stderr, "store_crash_writer: %s\n", s.error().message.c_str());
      return 1;
    }
    std::printf("%d\n", round);
    std::fflush(stdout);
  }
}
