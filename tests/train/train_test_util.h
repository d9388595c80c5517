// A tiny experiment for trainer tests: trains in milliseconds on 2 cores.
#pragma once

#include "fomoe/config/experiment.h"

namespace fomoe::test {

inline ExperimentConfig tiny_train_config() {
  ExperimentConfig c;
  c.model.vocab_size = 64;
  c.model.d_model = 32;
  c.model.n_layers = 2;
  c.model.n_heads = 2;
  c.model.seq_len = 16;
  c.model.n_experts = 4;
  c.model.top_k = 2;
  c.model.d_expert = 32;
  c.train.steps = 40;
  c.train.warmup_steps = 2;
  c.train.lr = 1e-2;
  c.train.batch_size = 4;
  return c;
}

}  // namespace fomoe::test
