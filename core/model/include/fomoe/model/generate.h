// Autoregressive sampling from a Transformer: greedy, or temperature with optional top-k, seeded.
// No KV cache: each new token runs the model over the last max_seq_len tokens, which is what a
// model of this size needs and keeps the forward pass the one training uses.
#pragma once

#include <cstdint>
#include <vector>

#include "fomoe/model/sampling_options.h"
#include "fomoe/model/transformer.h"

namespace fomoe {

/// The new tokens (not the prompt). The prompt must be non-empty with ids in [0, vocab_size).
std::vector<int64_t> generate(Transformer& model, const std::vector<int64_t>& prompt, const SamplingOptions& options);

}  // namespace fomoe
