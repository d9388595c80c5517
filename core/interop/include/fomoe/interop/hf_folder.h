// A Hugging Face model folder as the engine sees it, torch-free for the CLI: the model section
// its config.json gives, and a check that its weights load (hf_import.h has the loader).
#pragma once

#include <cstdint>
#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"

namespace fomoe::interop {

/// The engine's model section for the folder's config.json (gate mode from norm_topk_prob;
/// init_from = dir). Errors (InvalidArgument / Unsupported) name config.json and the key.
Expected<ModelSection> hf_model_section(const std::string& dir);

/// Loads the folder's weights into a model of cfg's shape once, so what the engine cannot
/// represent is reported before a run starts. Returns the model's parameter count.
Expected<int64_t> check_hf_weights(const ExperimentConfig& cfg, const std::string& dir);

}  // namespace fomoe::interop
