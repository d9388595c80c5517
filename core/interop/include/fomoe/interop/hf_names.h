// The engine's parameters as Hugging Face Qwen2-MoE tensors and back (see hf_export.h for why
// each mapping is exact). Torch header: used by the exporter, the importer and their tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/model/transformer.h"

namespace fomoe::interop {

/// Every tensor of the HF checkpoint, in HF order (embeddings, layers, final norm, head), fp32 on
/// the CPU. Fails (Unsupported) for a parameter this mapping does not know.
Expected<std::vector<std::pair<std::string, torch::Tensor>>> to_hf_tensors(Transformer& model);

}  // namespace fomoe::interop
