// Shared by the gui tests that train: a tiny local federation (two real `fomoe agent`
// processes) that finishes in seconds on two cores.
#pragma once

#include <QString>

#include "../tiny_experiment.h"
#include "fomoe/config/experiment.h"

namespace fomoe::gui::test {

inline ExperimentConfig tinyFederation(const QString& dir, const QString& binaryDir, const char* name, int steps = 8) {
  ExperimentConfig c = fomoe::test::tiny_experiment(Method::FoMoE, 2);
  c.run.name = name;
  c.run.out_dir = (dir + "/runs").toStdString();
  c.data.sources = {"fortunes-en", "fortunes-de"};
  c.data.cache_dir = (binaryDir + "/data-cache").toStdString();
  c.train.steps = steps;
  c.train.batch_size = 4;
  c.train.warmup_steps = 2;
  c.train.eval_every = 4;
  c.train.log_every = 1;
  c.federation.inner_steps = 4;
  c.federation.replication = 1;
  return c;
}

}  // namespace fomoe::gui::test
