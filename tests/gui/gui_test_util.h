// Shared by the gui tests that train: a tiny local federation (two real `fomoe agent`
// processes) that finishes in seconds on two cores.
#pragma once

#include <QString>

#include "fomoe/config/experiment.h"

namespace fomoe::gui::test {

inline ExperimentConfig tinyFederation(const QString& dir, const QString& binaryDir, const char* name, int steps = 8) {
  ExperimentConfig c;
  c.run.name = name;
  c.run.method = Method::FoMoE;
  c.run.out_dir = (dir + "/runs").toStdString();
  c.run.device = "cpu";
  c.model.vocab_size = 320;
  c.model.d_model = 32;
  c.model.n_layers = 2;
  c.model.n_heads = 2;
  c.model.seq_len = 32;
  c.model.n_experts = 4;
  c.model.top_k = 2;
  c.model.d_expert = 32;
  c.data.sources = {"fortunes-en", "fortunes-de"};
  c.data.max_bytes = 60000;
  c.data.cache_dir = (binaryDir + "/data-cache").toStdString();
  c.train.steps = steps;
  c.train.batch_size = 4;
  c.train.warmup_steps = 2;
  c.train.eval_every = 4;
  c.train.log_every = 1;
  c.federation.sites = 2;
  c.federation.inner_steps = 4;
  c.federation.replication = 1;
  return c;
}

}  // namespace fomoe::gui::test
