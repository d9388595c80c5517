// How to sample a continuation (fomoe/model/generate.h). Torch-free, for the CLI and the store.
#pragma once

#include <cstdint>

namespace fomoe {

struct SamplingOptions {
  int max_new_tokens = 64;
  bool greedy = false;        // argmax; temperature and top_k are ignored
  double temperature = 1.0;   // > 0
  int top_k = 0;              // 0 = the whole vocabulary
  uint64_t seed = 0;
  int64_t stop_token = -1;    // stop after emitting it (the end-of-document id); -1 = never
};

}  // namespace fomoe
