// The tiny model and data the process tests share (a round takes seconds on 2 cores). Each test
// sets what it is about on top (method, sites, steps, folders).
#pragma once

#include <string>

#include "fomoe/config/experiment.h"

namespace fomoe::test {

inline ExperimentConfig tiny_experiment(Method method, int sites) {
  ExperimentConfig c;
  c.run.method = method;
  c.run.device = "cpu";  // federation mechanics, not devices: the same numbers on a GPU machine
  c.model.vocab_size = 320;
  c.model.d_model = 32;
  c.model.n_layers = 2;
  c.model.n_heads = 2;
  c.model.seq_len = 32;
  c.model.n_experts = 4;
  c.model.top_k = 2;
  c.model.d_expert = 32;
  c.data.max_bytes = 60000;
#ifdef FOMOE_BINARY_DIR
  c.data.cache_dir = std::string(FOMOE_BINARY_DIR) + "/test-data-cache";
#endif
  c.federation.sites = sites;
  return c;
}

}  // namespace fomoe::test
