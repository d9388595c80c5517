// A Hugging Face model folder as the engine sees it, torch-free for the CLI: the model section
// its config.json gives (hf_import.h has the loader; hf_export.h the check that weights load).
#pragma once

#include <cstdint>
#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"

namespace fomoe::interop {

/// The engine's model section for the folder's config.json (gate mode from norm_topk_prob;
/// init_from = dir). Errors (InvalidArgument / Unsupported) name config.json and the key.
Expected<ModelSection> hf_model_section(const std::string& dir);

}  // namespace fomoe::interop
